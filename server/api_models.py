"""Request and response bodies of the HTTP API (they make the OpenAPI description).

Field values inside records and mutations are wire-encoded (``sync.wire``) and checked
per mutation by the push logic, so that one bad mutation is rejected on its own instead
of failing its whole batch with a 422.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from server.push import MAX_BATCH


def _no_nul(value: str) -> str:
    # PostgreSQL text cannot hold NUL: such a string would fail in the database (a 500).
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    return value


NulFreeStr = Annotated[str, AfterValidator(_no_nul), Field(pattern=r"^[^\x00]*$")]


class ErrorBody(BaseModel):
    """Every error answer: a machine-readable code and an English message."""

    code: str = Field(examples=["invalid_request"])
    message: str
    detail: list[dict[str, Any]] | None = None


class LoginRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    username: NulFreeStr = Field(min_length=1, max_length=200)
    password: str = Field(min_length=1, max_length=1024)
    device_name: NulFreeStr = Field(default="Outpost", max_length=100)


class UserOut(BaseModel):
    username: str
    display_name: str
    role: Literal["sales", "manager", "admin"]
    team: str | None
    disabled: bool = False


class LoginResponse(BaseModel):
    token: str
    token_id: int
    user: UserOut


class TokenOut(BaseModel):
    id: int
    device_name: str
    created_at: str
    last_used_at: str | None
    current: bool


class OkResponse(BaseModel):
    ok: bool = True


class Change(BaseModel):
    """One entry of the change feed."""

    seq: int
    entity: Literal["customer", "contact", "follow_up", "deal"]
    id: str
    op: Literal["upsert", "delete", "revoke"]
    version: int | None
    record: dict[str, Any] | None = Field(
        description="The whole record, wire-encoded; null for op=revoke"
    )


class PullResponse(BaseModel):
    changes: list[Change]
    cursor: str = Field(description="Opaque; pass it to the next pull")
    has_more: bool
    remaining: int | None = Field(
        default=None,
        ge=0,
        description="Only with count=true: the changes visible to this account after the "
        "request's cursor, this page's included (customers riding along at the start of a "
        "page, before their own place in the feed, are not counted)",
    )


class FieldChangeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    new: Any = None
    base: Any = None


class MutationBody(BaseModel):
    # Strict: false is not a base_version, "3" is not 3.
    model_config = ConfigDict(extra="forbid", strict=True)

    mutation_id: NulFreeStr = Field(min_length=1, max_length=200)
    entity: str = Field(
        min_length=1, max_length=32, description="customer, contact, follow_up or deal"
    )
    record_id: str = Field(min_length=1, max_length=100)
    op: str = Field(min_length=1, max_length=16, description="create, update or delete")
    base_version: int = Field(default=0, ge=0, le=2**31 - 1)
    fields: dict[str, FieldChangeBody] = Field(default_factory=dict)


class PushRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    client_id: NulFreeStr = Field(min_length=1, max_length=100)
    mutations: list[MutationBody] = Field(max_length=MAX_BATCH)


class ConflictField(BaseModel):
    field: str
    mine: Any = None
    base: Any = None
    theirs: Any = None
    changed_by: str | None = None
    changed_at: str | None = None


class MutationResult(BaseModel):
    mutation_id: str
    status: Literal["applied", "conflict", "rejected"]
    version: int | None = None
    kind: Literal["field", "deleted", "delete_vs_change"] | None = None
    conflicts: list[ConflictField] | None = None
    record: dict[str, Any] | None = None
    code: str | None = None
    message: str | None = None
    fields: dict[str, str] | None = None


class PushResponse(BaseModel):
    results: list[MutationResult]


class HealthResponse(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unreachable"]
    version: str
