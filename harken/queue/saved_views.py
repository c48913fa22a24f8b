"""Inbox views people named: a filter's query string (checked by the face that saved it, with
the same ``item_filter`` that lists it), kept for its owner or shared with everyone."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError

from harken.errors import AccountError, InputError
from harken.queue.accounts import Account
from harken.store import Store
from harken.store.tables import SavedView, User

MAX_NAME = 80
MAX_QUERY = 2000
MAX_VIEWS = 50  # per person: a list that long is no longer a shortcut


@dataclass(frozen=True)
class View:
    id: int
    name: str
    query: str
    shared: bool
    owner: str
    mine: bool


def save_view(store: Store, account: Account, name: str, query: str, shared: bool) -> View:
    name = " ".join(name.split())
    if not name or len(name) > MAX_NAME or not name.isprintable():
        raise InputError(f"a view's name is 1 to {MAX_NAME} printable characters")
    if len(query) > MAX_QUERY:
        raise InputError(f"a view's filters are at most {MAX_QUERY} characters")
    with store.session() as session:
        count = len(
            session.execute(select(SavedView.id).where(SavedView.user_id == account.id)).all()
        )
        if count >= MAX_VIEWS:
            raise InputError(f"{account.name} has {MAX_VIEWS} views already: delete one first")
        row = SavedView(user_id=account.id, name=name, query=query, shared=shared)
        session.add(row)
        try:
            session.flush()
        except IntegrityError as err:
            raise InputError(f"you have a view named {name!r} already") from err
        assert row.id is not None
        return View(row.id, name, query, shared, account.name, True)


def views_for(store: Store, account: Account) -> list[View]:
    """Their own views and everyone's shared ones, by name."""
    with store.session() as session:
        rows = session.execute(
            select(SavedView, User.name)
            .join(User, User.id == SavedView.user_id)
            .where(or_(SavedView.user_id == account.id, SavedView.shared.is_(True)))  # type: ignore[attr-defined]
            .order_by(SavedView.name, SavedView.id)
        ).all()
    return [
        View(v.id, v.name, v.query, v.shared, owner, v.user_id == account.id)  # type: ignore[arg-type]
        for v, owner in rows
    ]


def delete_view(store: Store, account: Account, view_id: int) -> None:
    """Its owner, or an admin, deletes it."""
    with store.session() as session:
        row = session.get(SavedView, view_id)
        if row is None:
            raise InputError(f"no saved view #{view_id}")
        if row.user_id != account.id and account.role != "admin":
            raise AccountError("only its owner or an admin deletes a saved view")
        session.delete(row)
