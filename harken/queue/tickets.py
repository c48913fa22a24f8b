"""Tickets: hand a queue item to Jira or Zendesk, and close the item when its ticket is done.

``open_ticket`` is the queue action (`harken queue ticket ID --to jira`); a rule's
``ticket:`` asks for one when it opens an item (harken.routing.items.queue_ticket, which both
use). Either writes the item's ``tickets`` row and an outbox alert; the outbox creates the
ticket (harken.notify.tickets: retried, never made twice) and records its key.
``sync_tickets`` (`harken queue sync-tickets`, and `harken run` every
``tickets.sync_interval``) reads the open tickets' statuses and resolves the items whose
ticket the system calls done.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harken.config import Config
from harken.errors import QueueError
from harken.notify.contract import DeliveryError
from harken.notify.registry import ticket_sinks
from harken.notify.tickets import TicketClient, ticket_client
from harken.queue.actions import resolve
from harken.queue.actors import Actor, Permission, as_actor, check_permission
from harken.queue.items import Change, load_item, record
from harken.routing.items import queue_ticket
from harken.store import Store
from harken.store.repo import OPEN_STATUSES
from harken.store.tables import Ticket, utcnow
from harken.store.tickets import open_tickets, ticket_of


def open_ticket(
    store: Store,
    config: Config,
    item_id: int,
    actor: Actor | str,
    system: str,
    *,
    may: Permission | None = None,
) -> Change:
    """Ask for a ticket for the item in ``system``; the outbox creates it (deliver it to have
    the key at once)."""
    who = as_actor(actor)
    systems = ticket_sinks(config)
    if system not in systems:
        raise QueueError(
            f"no ticket system {system!r} is set up",
            hint=f"set up tickets.{system} in the config"
            + (f" (set up: {', '.join(systems)})" if systems else ""),
        )
    with store.session() as session:
        item = load_item(session, item_id)
        check_permission(may, who, "ticket", item)
        if item.status not in OPEN_STATUSES:
            raise QueueError(f"item #{item_id} is {item.status}; only open items get tickets")
        existing = ticket_of(session, item_id, system)
        if existing is not None:
            have = existing.key or "one on its way"
            raise QueueError(f"item #{item_id} has a {system} ticket already: {have}")
        queue_ticket(session, item, system, who.name, utcnow(), event=False)
        change = record(
            session, item, who, "ticket", system, f"#{item_id}: {system} ticket asked for"
        )
        session.commit()
        return change


@dataclass
class TicketSync:
    checked: int = 0
    done: int = 0  # tickets the system calls done since the last sync
    resolved: int = 0  # items that closed with them (the others were closed already)
    missing: int = 0  # tickets the system no longer has (deleted or moved)
    errors: list[str] = field(default_factory=list)


def sync_tickets(
    store: Store, config: Config, clients: dict[str, TicketClient] | None = None
) -> TicketSync:
    """Read every open ticket's status; resolve the items of those done (as the system: the
    item's history says "resolved by jira: OPS-12 is Done"). A system that cannot be reached
    is reported and asked again next time."""
    result = TicketSync()
    for system in ticket_sinks(config):
        client = (clients or {}).get(system) or ticket_client(config, system)
        with store.session() as session:
            pending = [(t.id, t.key, t.queue_item_id) for t in open_tickets(session, system)]
        if not pending:
            continue
        try:
            remote = client.statuses([key for _, key, _ in pending if key])
        except DeliveryError as err:
            result.errors.append(f"{system}: {err}")
            continue
        for ticket_id, key, item_id in pending:
            result.checked += 1
            found = remote.get(key or "")
            if found is not None and found.done:
                note = f"{system} ticket {key} is {found.status}"
                try:
                    resolve(store, item_id, Actor(system, via="api"), note, config=config)
                    result.resolved += 1
                except QueueError:
                    pass  # closed in harken already
                result.done += 1
            result.missing += found is None
            _synced(
                store, ticket_id, found.status if found else "not found", bool(found and found.done)
            )
    return result


def _synced(store: Store, ticket_id: int | None, status: str, done: bool) -> None:
    with store.session() as session:
        ticket = session.get(Ticket, ticket_id)
        if ticket is None:
            return
        now = utcnow()
        ticket.remote_status, ticket.synced_at = status[:64], now
        if done:
            ticket.status, ticket.done_at = "done", now
        session.add(ticket)
        session.commit()
