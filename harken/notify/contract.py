"""What a sink is: the contract every sink implements, and what it hands back to the outbox.

Two halves, so that a slow client library is imported only when its sink is used:

* a **plug-in** (``SinkPlugin``), listed once in registry.py, answers questions about a config
  without building anything: which alerts it serves (per department), whether it keeps one
  thread per incident, whether it gets the digest and which renderings of the digest its
  payload carries; and it builds the sink.
* a **sink** (``Sink``) renders an alert for its medium and delivers it, or raises
  ``DeliveryError`` (what went wrong, whether to retry), or ``Skip`` (nothing left to do).

Post text is untrusted: each sink escapes it for its own medium. The outbox (outbox.py) decides
when and in what order; sinks only deliver. Each sink lives in its own folder (console/,
slack/, email/, webhook/, teams/, pagerduty/) with a ``plugin.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

from rich.console import Console

from harken.config import Config, DepartmentConfig, Priority
from harken.errors import NotifyError
from harken.store import Store
from harken.store.repo import AlertView
from harken.store.tables import Alert


@dataclass(frozen=True)
class Delivered:
    """Where a delivered alert landed (Slack: channel id and message ts)."""

    remote_channel: str | None = None
    message_ts: str | None = None
    thread_ts: str | None = None
    note: str | None = None
    # What the message shows, kept in the alert's payload with its delivery (Slack: a thread
    # root's incident section, harken.notify.slack.rendered).
    shown: dict[str, Any] | None = None


@dataclass(frozen=True)
class Thread:
    """The incident's thread in this channel: its root alert, as delivered."""

    remote_channel: str
    thread_ts: str
    root: AlertView


class Skip(Exception):
    """Nothing to deliver any more (a thread update whose thread was never posted)."""


class DeliveryError(NotifyError):
    """A sink could not deliver an alert.

    transient: worth retrying (5xx, timeouts, connection refused, 429) - the outbox backs off;
        otherwise the alert fails at once (bad token, unknown channel, invalid payload) and
        the message says what to fix.
    retry_after: seconds the far end asked us to wait (429 Retry-After): nothing is sent to
        this sink before then, from any process.
    in_doubt: the request may have been delivered (a timeout or 5xx after the request was
        sent): the outbox checks before sending again, where the sink can check.
    """

    def __init__(
        self,
        message: str,
        *,
        transient: bool = True,
        retry_after: float | None = None,
        in_doubt: bool = False,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, hint)
        self.transient = transient
        self.retry_after = retry_after
        self.in_doubt = in_doubt


class Sink(Protocol):
    name: str
    verifiable: bool  # can tell whether an interrupted delivery arrived (verify)
    # Its pings are held by the noise budget (budget.py): people read it. A machine that
    # receives events (a webhook, PagerDuty) gets each one when it happens.
    budgeted: bool
    # Optional, 1 when absent: how many of its lanes may be delivered side by side, from
    # threads (harken.notify.outbox); above 1 its calls must share no connection or state.
    # parallel_lanes: int

    def lane(self, alert: Alert) -> str:
        """Alerts of one lane are delivered in order, one after the other."""
        ...

    def deliver(self, view: AlertView, thread: Thread | None) -> Delivered: ...

    def verify(self, view: AlertView, thread: Thread | None) -> Delivered | None:
        """The delivery of an interrupted attempt, if it arrived; None if it did not."""
        ...


@runtime_checkable
class ReadsStore(Protocol):
    """A sink that reads the store while it delivers (Slack: an incident's other items and
    thread roots): the outbox hands it its store before delivering."""

    def use_store(self, store: Store) -> None: ...


# A plug-in's answer to "is it on?": yes, no, or "auto": only while no other sink serves
# alerts to any department (the console's ``alerts.console: auto``, so that alerts are seen
# somewhere). The registry resolves "auto".
Switch = bool | Literal["auto"]

# How a sink hears of an item's closing (SinkPlugin.serves_closures).
Closures = Literal["item", "department"] | None


@dataclass(frozen=True)
class Gate:
    """A sink's own threshold for item alerts, in place of the department's (``alerts:``
    min_priority and min_risk, and rules' ``alert:``): PagerDuty pages critical items only,
    a webhook hears of every item."""

    min_priority: Priority
    min_risk: float

    def passes(self, priority: str, risk: float | None) -> bool:
        if Priority(priority).rank >= self.min_priority.rank:
            return True
        return risk is not None and risk >= self.min_risk


class SinkPlugin(Protocol):
    """A kind of sink, as registry.py lists it."""

    # The alert's ``sink`` column and the first part of its idempotency key ("slack:spike-3").
    name: str

    def serves_alerts(self, config: Config, department: DepartmentConfig | None) -> Switch:
        """Whether an alert for this department (None: one the config does not name) is
        written for this sink."""
        ...

    def serves_threads(self, config: Config, department: DepartmentConfig | None) -> bool:
        """Whether this sink keeps one thread per incident for the department: later posts
        of an incident are written for it as thread updates."""
        ...

    def serves_digests(self, config: Config, department: DepartmentConfig | None) -> Switch:
        """Whether the daily digest is written for this sink (``department``: the config of
        ``digest.department``)."""
        ...

    def serves_closures(self, config: Config, department: DepartmentConfig | None) -> Closures:
        """Whether an item this sink was alerted of tells it when it is resolved or dismissed
        (kind "closed"), and how often: once per item ("item": a webhook's item.resolved) or
        once per department it was alerted in ("department": PagerDuty resolves the page on
        each service it reached); None: never."""
        ...

    def serves_tickets(self, config: Config) -> bool:
        """Whether it opens tickets (kind "ticket": `harken queue ticket`, rules' ticket:)."""
        ...

    def gate(self, config: Config) -> Gate | None:
        """Its own threshold for item alerts; None: the department's."""
        ...

    def digest_forms(self, config: Config) -> tuple[str, ...]:
        """The renderings of the digest its payload carries, besides ``date`` and the plain
        ``summary`` every digest payload has: names from harken.digest.job FORMS, which
        are also the payload's keys (the digest is rendered where it is made, a snapshot
        of its day; the sink only delivers what it carries)."""
        ...

    def build(self, config: Config, console: Console) -> Sink: ...


class NoHandoffs:
    """What a plug-in of people's channels (the terminal, Slack, e-mail, Teams) answers to the
    hand-off questions: it follows no closures, opens no tickets, and alerts by the
    department's threshold. Such plug-ins inherit it; the others answer themselves."""

    def serves_closures(self, config: Config, department: DepartmentConfig | None) -> Closures:
        return None

    def serves_tickets(self, config: Config) -> bool:
        return False

    def gate(self, config: Config) -> Gate | None:
        return None


@runtime_checkable
class PluginFamily(Protocol):
    """Sinks of one kind that the config lists (a webhook per receiver): each is a plug-in of
    its own, named after its entry ("webhook:ops"), with its own outbox lane and health."""

    def plugins(self, config: Config) -> list[SinkPlugin]: ...
