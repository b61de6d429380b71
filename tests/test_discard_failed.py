"""Failed edits on a replica: discarding one (``sync.conflicts.discard_failed``) puts its
record back as the server has it and keeps (rebased) or drops what was queued behind it;
retrying one (``retry_failed``) queues it again under a new mutation id.

Records "from the server" are pulled pages applied by the engine's own
``apply_pull_page``; refusals are the engine's own ``apply_push_result`` of a rejected
answer — what a sync does with a real server's reply (the end-to-end tests with the real
server are in tests/server/test_sync_discard.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from sync import outbox, search, wire
from sync.conflicts import (
    FailedEditError,
    discard_failed,
    list_failed,
    retry_failed,
)
from sync.engine import apply_pull_page, apply_push_result, held_child_deletes
from sync.outbox import FieldChange, Mutation
from sync.replica import Replica
from sync.schema import ENTITIES, new_record_id
from sync.transport import ChangeIn, MutationResultIn

NOW = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def pulled(entity: str, record_id: str, version: int, **values: Any) -> ChangeIn:
    """A pulled change: the record as the server has it at ``version``."""
    spec = ENTITIES[entity]
    full: dict[str, Any] = {
        "id": record_id,
        "version": version,
        "created_at": NOW,
        "updated_at": NOW,
        "updated_by": "s1",
        "deleted": False,
        "owner_id": "s1" if entity == "customer" else None,
        **values,
    }
    record = {f.name: wire.encode_value(f, full.get(f.name, f.default)) for f in spec.fields}
    return ChangeIn(
        seq=version,
        entity=entity,  # type: ignore[arg-type]
        id=record_id,
        op="upsert",
        version=version,
        record=record,
    )


def pull(replica: Replica, *changes: ChangeIn) -> None:
    with replica.write() as conn:
        apply_pull_page(conn, list(changes))


def queue(replica: Replica) -> list[Mutation]:
    with replica.read() as conn:
        return outbox.list_mutations(conn)


def refuse(replica: Replica, mutation: Mutation, code: str = "forbidden") -> None:
    """The server's answer to a push of ``mutation``: rejected with ``code``."""
    answer = MutationResultIn(
        mutation_id=mutation.mutation_id, status="rejected", code=code, message=f"no ({code})"
    )
    with replica.write() as conn:
        apply_push_result(conn, mutation, answer)


def by_id(replica: Replica, mutation_id: str | None) -> Mutation:
    assert mutation_id is not None
    (found,) = [m for m in queue(replica) if m.mutation_id == mutation_id]
    return found


def server_customer(replica: Replica, **values: Any) -> str:
    cid = new_record_id()
    values = {"name": "甲公司", "status": "active", "city": "杭州", "phone": "0571-1", **values}
    pull(replica, pulled("customer", cid, 3, **values))
    return cid


def base_of(replica: Replica, entity: str, record_id: str) -> Any:
    from sqlalchemy import text

    table = {"customer": "customers", "contact": "contacts"}[entity]
    with replica.read() as conn:
        raw = conn.execute(text(f"SELECT base FROM {table} WHERE id = :i"), {"i": record_id})
        return raw.scalar()


def test_discarding_a_failed_update_keeps_and_rebases_later_edits(replica: Replica) -> None:
    """A refused edit (a new owner and a city) with two later edits of the record behind
    it: one of the city, one of the phone. Discarding it gives the owner back the server's
    value; the later city edit stays (the user's latest city) and is now based on the
    server's city, so the server applies it; the phone edit stays as it was."""
    cid = server_customer(replica)
    refused = replica.customers.update(cid, {"owner_id": "s2", "city": "苏州"}).mutation_id
    city = replica.customers.update(cid, {"city": "无锡"}).mutation_id
    phone = replica.customers.update(cid, {"phone": "0571-2"}).mutation_id
    refuse(replica, by_id(replica, refused))
    assert [m.status for m in queue(replica)] == ["failed", "pending", "pending"]
    assert replica.customers.get(cid).sync_state == "failed"  # type: ignore[union-attr]

    result = discard_failed(replica, by_id(replica, refused).seq)

    assert (result.mutation_id, result.entity, result.record_id, result.op) == (
        refused, "customer", cid, "update",
    )  # fmt: skip
    assert (result.discarded, result.kept) == ((refused,), (city, phone))
    assert result.changed == {"customer": frozenset({cid})} and result.removed == {}
    record = replica.customers.get(cid)
    assert record is not None
    assert (record["owner_id"], record["city"], record["phone"]) == ("s1", "无锡", "0571-2")
    assert record.sync_state == "pending"
    rebased = by_id(replica, city)
    assert dict(rebased.fields) == {"city": FieldChange("无锡", "杭州")}  # on the server's
    assert dict(by_id(replica, phone).fields) == {"phone": FieldChange("0571-2", "0571-1")}
    assert list_failed(replica) == []


def test_a_later_edit_that_undid_the_failed_one_goes_with_it(replica: Replica) -> None:
    """The user changed the city (refused), then set it back; meanwhile the server changed
    the city and the notes. Discarding the refused edit also drops the edit that only
    undid it, and the record is exactly the server's latest: nothing left queued, no
    local divergence (the next sync has nothing to fix)."""
    cid = server_customer(replica)
    refused = replica.customers.update(cid, {"city": "苏州"}).mutation_id
    undo = replica.customers.update(cid, {"city": "杭州"}).mutation_id
    refuse(replica, by_id(replica, refused), "invalid_owner")
    pull(
        replica,
        pulled("customer", cid, 4, name="甲公司", status="active", city="宁波", phone="0571-1",
               notes="服务器的备注"),
    )  # fmt: skip
    assert replica.customers.get(cid)["city"] == "杭州"  # type: ignore[index]  # pending: mine

    assert refused is not None
    result = discard_failed(replica, refused)  # by mutation id

    assert result.discarded == (refused, undo) and result.kept == ()
    assert queue(replica) == []
    record = replica.customers.get(cid)
    assert record is not None and record.sync_state == "synced" and record.version == 4
    assert (record["city"], record["notes"]) == ("宁波", "服务器的备注")
    assert base_of(replica, "customer", cid) is None
    assert replica.check_integrity() == []


def test_discarding_a_failed_create_removes_the_record_and_its_local_children(
    replica: Replica,
) -> None:
    """A new customer the server refused, with a contact and a follow-up made under it
    (the contact's create refused too, the follow-up's still queued): discarding the
    customer's create removes all three records and their queued edits, and says so. An
    unrelated record's edit stays."""
    cid = replica.customers.create({"name": "拒绝的客户", "owner_id": "s3"}).record_id
    contact = replica.contacts.create({"customer_id": cid, "name": "李四"}).record_id
    follow_up = replica.follow_ups.create(
        {"customer_id": cid, "kind": "call", "content": "打过电话", "happened_at": NOW}
    ).record_id
    other = replica.customers.create({"name": "无关客户"}).record_id
    created, contact_create, follow_up_create, other_create = queue(replica)
    refuse(replica, created)
    refuse(replica, contact_create, "parent_missing")

    result = discard_failed(replica, created.seq)

    assert result.discarded == (
        created.mutation_id, contact_create.mutation_id, follow_up_create.mutation_id,
    )  # fmt: skip
    assert result.removed == {
        "customer": frozenset({cid}),
        "contact": frozenset({contact}),
        "follow_up": frozenset({follow_up}),
    }
    assert result.changed == result.removed
    assert [m.mutation_id for m in queue(replica)] == [other_create.mutation_id]
    assert replica.customers.get(cid, include_deleted=True) is None
    assert replica.contacts.get(contact, include_deleted=True) is None
    assert replica.follow_ups.get(follow_up, include_deleted=True) is None
    assert [r.id for r in replica.customers.query(search="拒绝")] == []
    assert replica.customers.get(other) is not None
    assert replica.check_integrity() == []


def test_discarding_a_failed_cascade_delete_brings_the_children_back(replica: Replica) -> None:
    """A customer and its contact from the server, deleted here with ``cascade``: the
    contact's delete is held back behind the customer's. The customer's delete is refused;
    discarding it brings back the customer and the contact (their deletes go together),
    as the server has them. A contact deleted on its own earlier (another edit came in
    between) is not part of the cascade: its delete stays queued."""
    cid = server_customer(replica)
    contact = new_record_id()
    alone = new_record_id()
    pull(
        replica,
        pulled("contact", contact, 2, customer_id=cid, name="王五"),
        pulled("contact", alone, 2, customer_id=cid, name="赵六"),
    )
    replica.contacts.delete(alone)
    other = replica.customers.create({"name": "中间的编辑"}).record_id
    change = replica.customers.delete(cid, cascade=True)
    assert [c.record_id for c in change.children] == [contact]
    alone_delete, other_create, contact_delete, customer_delete = queue(replica)
    with replica.read() as conn:
        assert held_child_deletes(conn) == {alone_delete.seq, contact_delete.seq}
    refuse(replica, customer_delete)

    result = discard_failed(replica, customer_delete.seq)

    assert result.discarded == (customer_delete.mutation_id, contact_delete.mutation_id)
    assert result.kept == ()
    assert result.changed == {"customer": frozenset({cid}), "contact": frozenset({contact})}
    assert replica.customers.get(cid) is not None
    back = replica.contacts.get(contact)
    assert back is not None and back["name"] == "王五" and back.sync_state == "synced"
    assert replica.contacts.get(alone) is None  # still deleted here, its delete queued
    assert [m.mutation_id for m in queue(replica)] == [
        alone_delete.mutation_id, other_create.mutation_id,
    ]  # fmt: skip
    with replica.read() as conn:
        assert held_child_deletes(conn) == set()  # nothing holds the lone delete back now
    assert replica.customers.get(other) is not None
    assert replica.check_integrity() == []
    with replica.read() as conn:
        search.check_index(conn)


def test_retry_queues_the_edit_again_under_a_new_id(replica: Replica) -> None:
    """A refusal that may not last (forbidden) is queued again in its place, pending, with
    a new mutation id (the server remembers its answer to the old one); one the server
    refused as wrong in itself (invalid) cannot be retried; nor can an edit that has not
    failed, or one that does not exist."""
    cid = server_customer(replica)
    first = replica.customers.update(cid, {"owner_id": "s2"}).mutation_id
    later = replica.customers.update(cid, {"city": "无锡"}).mutation_id
    assert later is not None
    refused = by_id(replica, first)
    refuse(replica, refused)

    result = retry_failed(replica, refused.seq)

    assert (result.old_mutation_id, result.entity, result.record_id) == (first, "customer", cid)
    assert result.mutation_id not in (first, later)
    again = queue(replica)[0]
    assert (again.seq, again.mutation_id, again.status, again.last_error) == (
        refused.seq, result.mutation_id, "pending", None,
    )  # fmt: skip
    assert dict(again.fields) == dict(refused.fields)
    assert replica.customers.get(cid).sync_state == "pending"  # type: ignore[union-attr]

    refuse(replica, again, "invalid")
    with pytest.raises(FailedEditError, match="invalid"):
        retry_failed(replica, again.seq)
    with pytest.raises(FailedEditError, match="has not failed"):
        retry_failed(replica, later)
    with pytest.raises(FailedEditError, match="no queued edit"):
        discard_failed(replica, 999)
    with pytest.raises(FailedEditError, match="has not failed"):
        discard_failed(replica, later)


def test_a_refused_cascade_delete_of_a_customer_taken_away_settles_on_pull(
    replica: Replica,
) -> None:
    """The race that makes a delete fail in practice: the customer was handed to another
    team just before the user deleted it with its contact. The customer's delete is
    refused (forbidden) and the contact's waits behind it; the pull then revokes both:
    they leave the replica with their queued deletes, nothing failed is left over."""
    cid = server_customer(replica)
    contact = new_record_id()
    pull(replica, pulled("contact", contact, 2, customer_id=cid, name="王五"))
    replica.customers.delete(cid, cascade=True)
    _, customer_delete = queue(replica)
    refuse(replica, customer_delete)

    revoked = [
        ChangeIn(seq=10, entity="contact", id=contact, op="revoke", version=None, record=None),
        ChangeIn(seq=11, entity="customer", id=cid, op="revoke", version=None, record=None),
    ]
    pull(replica, *revoked)

    assert queue(replica) == []
    assert replica.customers.get(cid, include_deleted=True) is None
    assert replica.contacts.get(contact, include_deleted=True) is None
    assert replica.check_integrity() == []
