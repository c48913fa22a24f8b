"""Queries of the tickets harken asked Jira or Zendesk for (the ``tickets`` table). Callers own
the session (one transaction)."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import Session

from harken.store.tables import Ticket


def record_ticket(session: Session, ticket_id: int, key: str, url: str | None) -> None:
    """The key and address the system gave the ticket, on its row."""
    ticket = session.get(Ticket, ticket_id)
    if ticket is not None:
        ticket.key, ticket.url = key[:64], (url or None) and url[:2048]
        session.add(ticket)


def ticket_of(session: Session, item_id: int, system: str) -> Ticket | None:
    return session.execute(
        select(Ticket).where(Ticket.queue_item_id == item_id, Ticket.system == system)
    ).scalar()


def tickets_of(session: Session, item_id: int) -> list[Ticket]:
    statement = select(Ticket).where(Ticket.queue_item_id == item_id).order_by(Ticket.id)  # type: ignore[arg-type]
    return list(session.execute(statement).scalars())


def open_tickets(session: Session, system: str) -> list[Ticket]:
    """Created tickets of this system that are not done yet, oldest first."""
    return list(
        session.execute(
            select(Ticket)
            .where(Ticket.system == system, Ticket.status == "open", Ticket.key.is_not(None))  # type: ignore[union-attr]
            .order_by(Ticket.id)  # type: ignore[arg-type]
        ).scalars()
    )
