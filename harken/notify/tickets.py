"""Ticket systems as sinks: an alert of kind "ticket" (written by `harken queue ticket` or a
rule's ``ticket:``) is delivered by creating the ticket, and its key is recorded on the
item's ``tickets`` row. Each system (jira/, zendesk/) gives a ``TicketClient``; this module
is the sink and plug-in they share.

Creating a ticket is not idempotent in either API, so each ticket carries the item's mark
(Jira: the label ``harken-item-12``; Zendesk: ``external_id``): after an interrupted
attempt the sink searches for it before creating again (``verifiable``), and a ticket that
arrived is recorded, not made twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rich.console import Console

from harken.config import Config, DepartmentConfig
from harken.notify.contract import Closures, Delivered, Gate, Sink, Skip, Switch, Thread
from harken.store import Store
from harken.store.repo import AlertView, record_ticket
from harken.store.tables import Alert
from harken.text import safe_link, strip_controls

SUMMARY_MAX = 250


@dataclass(frozen=True)
class RemoteTicket:
    key: str
    url: str | None
    status: str  # as the system names it: "Done", "solved"
    done: bool


class TicketClient(Protocol):
    system: str  # jira | zendesk

    def create(self, view: AlertView, mark: str) -> RemoteTicket: ...

    def find(self, mark: str) -> RemoteTicket | None:
        """The ticket carrying this mark, if one was created."""
        ...

    def statuses(self, keys: list[str]) -> dict[str, RemoteTicket]:
        """The tickets of these keys as they are now (one call per page of keys)."""
        ...


def item_mark(item_id: int) -> str:
    return f"harken-item-{item_id}"


def ticket_summary(view: AlertView) -> str:
    item, mention, author = view.item, view.mention, view.author
    assert item is not None and mention is not None
    who = author.handle if author else "unknown author"
    text = " ".join(strip_controls(mention.text).split())
    line = f"[{item.priority}] {who} on {mention.platform}: {text}"
    return line if len(line) <= SUMMARY_MAX else line[: SUMMARY_MAX - 1] + "…"


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
        (strip_controls(mention.text) or "(no text)", None),
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
    verifiable = True  # it searches for the item's mark before creating again
    budgeted = False

    def __init__(self, client: TicketClient) -> None:
        self.client = client
        self.name = client.system
        self.store: Store | None = None

    def use_store(self, store: Store) -> None:
        self.store = store

    def lane(self, alert: Alert) -> str:
        return "tickets"

    def deliver(self, view: AlertView, thread: Thread | None = None) -> Delivered:
        item = self._item(view)
        return self._recorded(view, self.client.create(view, item_mark(item)))

    def verify(self, view: AlertView, thread: Thread | None = None) -> Delivered | None:
        found = self.client.find(item_mark(self._item(view)))
        return self._recorded(view, found) if found is not None else None

    def _item(self, view: AlertView) -> int:
        if view.alert.kind != "ticket" or view.item is None or view.item.id is None:
            raise Skip(f"{self.name} takes tickets, not {view.alert.kind} alerts")
        return view.item.id

    def _recorded(self, view: AlertView, ticket: RemoteTicket) -> Delivered:
        assert self.store is not None and view.item is not None and view.item.id is not None
        with self.store.session() as session:
            record_ticket(session, view.item.id, self.name, ticket.key, ticket.url)
            session.commit()
        return Delivered(remote_channel=ticket.key, note=f"{ticket.key} {ticket.url or ''}".strip())


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
