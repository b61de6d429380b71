"""Who may see and write which records.

* A salesperson: customers they own, plus the unassigned pool (no owner).
* A manager: customers owned by anyone in their team (themselves included), plus the pool.
* An admin: everything.

Contacts, follow-ups and deals follow their customer. Seeing a record and writing it go
together: whoever sees a customer may edit it and its children.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, and_, false, not_, or_, select, true

from server.accounts import Account, Role
from server.models import Revocation, User, table_of

_users = table_of(User)
_revocations = table_of(Revocation)


def visible_owner_clause(
    account: Account, owner_col: ColumnElement[str | None]
) -> ColumnElement[bool]:
    """SQL condition: a customer whose ``owner_id`` is ``owner_col`` is visible."""
    if account.role is Role.ADMIN:
        return true()
    if account.role is Role.MANAGER and account.team:
        team_members = select(_users.c.username).where(_users.c.team == account.team)
        return or_(owner_col.is_(None), owner_col == account.username, owner_col.in_(team_members))
    return or_(owner_col.is_(None), owner_col == account.username)


def revocation_clause(
    account: Account, current_owner_col: ColumnElement[str | None]
) -> ColumnElement[bool]:
    """SQL condition on a revocation row (joined to its customer's current ``owner_id``):
    the account could see the record under its old owner and cannot see it now."""
    if account.role is Role.ADMIN:
        return false()
    old_owner = _revocations.c.old_owner_id
    could_see = or_(old_owner.is_(None), old_owner == account.username)
    if account.role is Role.MANAGER and account.team:
        could_see = or_(could_see, _revocations.c.old_team == account.team)
    return and_(could_see, not_(visible_owner_clause(account, current_owner_col)))


def team_of(conn: Connection, username: str | None) -> str | None:
    if username is None:
        return None
    team: str | None = conn.execute(
        select(_users.c.team).where(_users.c.username == username)
    ).scalar()
    return team


def can_see_owner(account: Account, owner_id: str | None, owner_team: str | None) -> bool:
    """Python twin of :func:`visible_owner_clause` for one customer."""
    if account.role is Role.ADMIN or owner_id is None or owner_id == account.username:
        return True
    return account.role is Role.MANAGER and account.team is not None and owner_team == account.team


def may_assign(account: Account, new_owner: str | None, new_owner_team: str | None) -> bool:
    """Whether the account may give a customer to ``new_owner`` (``None``: the pool).

    A salesperson may claim a customer or release it to the pool; a manager may assign it
    within their team; an admin to anyone.
    """
    if new_owner is None or new_owner == account.username:
        return True
    if account.role is Role.ADMIN:
        return True
    return (
        account.role is Role.MANAGER and account.team is not None and new_owner_team == account.team
    )


def visibility_fingerprint(account: Account) -> str:
    """What a pull cursor remembers of the account's sight; when it changes (new role or
    team), an old cursor would miss records that just became visible: a full resync."""
    return f"{account.role.value}/{account.team or ''}/{account.username}"
