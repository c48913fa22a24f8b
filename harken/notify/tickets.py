"""Ticket systems as sinks: an alert of kind "ticket" (written by `harken queue ticket`, a rule's
``ticket:`` or the web API) is delivered by creating the ticket, and its key is recorded on the
item's ``tickets`` row. Each system (jira/, zendesk/) gives a ``TicketClient``; this module is
the sink and plug-in they share.

Creating is not idempotent in Jira's API, so each ticket carries its mark (the item's id and a
random part, ``harken-item-12-3f9a1c2b``; Jira: a label, Zendesk: ``external_id`` and the
create's ``Idempotency-Key``). After an interrupted attempt, an answer it cannot read, or a key
it could not record, the sink searches for the mark before creating again (``verifiable``):
a ticket that arrived is recorded, not made twice. A ticket asked for an item that is closed
before it is made is not made.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol

from rich.console import Console

from harken.config import Config, DepartmentConfig
from harken.notify.contract import (
    Closures,
    Delivered,
    DeliveryError,
    Gate,
    Sink,
    Skip,
    Switch,
    Thread,
)
from harken.store import Store
from harken.store.repo import OPEN_STATUSES, AlertView
from harken.store.tables import Alert, Ticket, utcnow
from harken.store.tickets import record_ticket, ticket_of
from harken.text import clip, one_line, safe_link, strip_controls

SUMMARY_MAX = 250
POST_MAX = 30_000  # Jira's description holds 32,767 characters in all


@dataclass(frozen=True)
class RemoteTicket:
    key: str
    url: str | None
    status: str  # as the system names it: "Done", "solved"
    done: bool


class TicketClient(Protocol):
    system: str  # jira | zendesk
    # How long its search may take to show a ticket just created: after an interrupted
    # create, no second one is made before then (Jira's search lags; Zendesk's creates are
    # idempotent by key, so it needs no wait).
    settle: timedelta

    def create(self, view: AlertView, mark: str) -> RemoteTicket: ...

    def find(self, mark: str) -> RemoteTicket | None:
        """The ticket carrying this mark, if one was created."""
        ...

    def statuses(self, keys: list[str]) -> dict[str, RemoteTicket]:
        """The tickets of these keys as they are now; a key the system no longer has is
        left out."""
        ...


def ticket_summary(view: AlertView) -> str:
    """One line (Jira refuses a summary with a line break), at most SUMMARY_MAX."""
    item, mention, author = view.item, view.mention, view.author
    assert item is not None and mention is not None
    who = author.handle if author else "unknown author"
    return one_line(f"[{item.priority}] {who} on {mention.platform}: {mention.text}", SUMMARY_MAX)


def ticket_body(view: AlertView) -> list[tuple[str, str | None]]:
    """The ticket's text as (paragraph, link) pairs, plain text: each system renders it in its
    own format (Jira: ADF text nodes; Zendesk: a plain comment), never as markup."""
    item, mention, author, c = view.item, view.mention, view.author, view.classification
    assert item is not None and mention is not None
    who = author.handle if author else "unknown author"
    if author and author.name and author.name != author.handle:
        who += f" ({author.name})"
    reach = f", {author.followers:,} followers" if author and author.followers is not None else ""
    lines: list[tuple[str, str | None]] = [
        (f"{who} on {mention.platform}{reach}, {mention.created_at:%Y-%m-%d %H:%M} UTC:", None),
        (clip(mention.text, POST_MAX) or "(no text)", None),
    ]
    if c is not None:
        factors = "; ".join(c.risk_factors[:6])
        scores = f"{c.sentiment}, complaint {c.complaint:.2f}, risk {c.risk:.2f}"
        lines.append((f"Scores: {scores}" + (f" ({factors})" if factors else ""), None))
    lines.append((f"Why {item.department}: {strip_controls(item.reason)}", None))
    lines.append((f"harken item #{item.id}: `harken queue show {item.id}`", None))
    link = safe_link(mention.url)
    if link:
        lines.append(("The post", link))
    return lines


class TicketSink:
    verifiable = True  # it searches for the ticket's mark before creating again
    budgeted = False

    def __init__(self, client: TicketClient, clock: Callable[[], datetime] = utcnow) -> None:
        self.client = client
        self.name = client.system
        self.clock = clock
        self.store: Store | None = None

    def use_store(self, store: Store) -> None:
        self.store = store

    def lane(self, alert: Alert) -> str:
        return "tickets"

    def deliver(self, view: AlertView, thread: Thread | None = None) -> Delivered:
        ticket = self._ticket(view)
        if ticket.key:  # created before (an alert put back by `harken alerts retry`)
            return Delivered(remote_channel=ticket.key, note=f"{ticket.key} exists already")
        return self._recorded(ticket, self.client.create(view, ticket.mark))

    def verify(self, view: AlertView, thread: Thread | None = None) -> Delivered | None:
        # Whatever became of the item since: a ticket an earlier attempt made is recorded.
        ticket = self._ticket(view, to_create=False)
        if ticket.key:
            return Delivered(remote_channel=ticket.key, note=f"{ticket.key} exists already")
        found = self.client.find(ticket.mark)
        if found is not None:
            return self._recorded(ticket, found)
        tried = view.alert.sending_at
        if tried is not None and self.clock() - tried < self.client.settle:
            # The system's search may not show a ticket made moments ago: creating one now
            # could make a second. Asked again after the outbox's backoff.
            raise DeliveryError(
                f"{self.name}: the ticket of an interrupted attempt is not found yet; "
                f"looked for again before creating one (its search can lag "
                f"{int(self.client.settle.total_seconds() / 60)} min)",
                transient=True,
                in_doubt=True,
            )
        return None

    def _ticket(self, view: AlertView, to_create: bool = True) -> Ticket:
        item = view.item
        if view.alert.kind != "ticket" or item is None or item.id is None:
            raise Skip(f"{self.name} takes tickets, not {view.alert.kind} alerts")
        assert self.store is not None, "the outbox hands a ticket sink its store"
        with self.store.session() as session:
            ticket = ticket_of(session, item.id, self.name)
        if ticket is None:
            raise Skip(f"item #{item.id} has no {self.name} ticket asked for any more")
        if to_create and not ticket.key and item.status not in OPEN_STATUSES:
            raise Skip(f"item #{item.id} is {item.status}: no {self.name} ticket made")
        return ticket

    def _recorded(self, ticket: Ticket, made: RemoteTicket) -> Delivered:
        """Keep the key on the item's ticket row. If that fails, the ticket exists anyway: the
        alert stays in doubt, and the next attempt finds it by its mark."""
        assert self.store is not None and ticket.id is not None
        try:
            with self.store.session() as session:
                record_ticket(session, ticket.id, made.key, made.url)
                session.commit()
        except Exception as err:
            raise DeliveryError(
                f"{self.name} made {made.key}, but harken could not record it "
                f"({type(err).__name__}); it is found by its mark next time",
                transient=True,
                in_doubt=True,
            ) from err
        return Delivered(remote_channel=made.key, note=f"{made.key} {made.url or ''}".strip())


class TicketPlugin:
    """A ticket system's plug-in: on when ``tickets.<system>`` is set; it serves no alerts
    but the tickets asked of it."""

    def __init__(self, system: str) -> None:
        self.name = system

    def serves_alerts(self, config: Config, department: DepartmentConfig | None) -> Switch:
        return False

    def serves_threads(self, config: Config, department: DepartmentConfig | None) -> bool:
        return False

    def serves_digests(self, config: Config, department: DepartmentConfig | None) -> Switch:
        return False

    def serves_closures(self, config: Config, department: DepartmentConfig | None) -> Closures:
        return None

    def serves_tickets(self, config: Config) -> bool:
        return self.name in config.tickets.systems()

    def gate(self, config: Config) -> Gate | None:
        return None

    def digest_forms(self, config: Config) -> tuple[str, ...]:
        return ()

    def build(self, config: Config, console: Console) -> Sink:
        return TicketSink(ticket_client(config, self.name))


def ticket_client(config: Config, system: str) -> TicketClient:
    """The client of a configured system (imported when used)."""
    if system == "jira" and config.tickets.jira is not None:
        from harken.notify.jira.client import JiraClient

        return JiraClient(config.tickets.jira)
    if system == "zendesk" and config.tickets.zendesk is not None:
        from harken.notify.zendesk.client import ZendeskClient

        return ZendeskClient(config.tickets.zendesk)
    raise ValueError(f"tickets.{system} is not configured")
