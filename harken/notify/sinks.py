"""Alert sinks and the one place they are registered.

A sink renders an alert for its medium and delivers it, or raises DeliveryError (what went
wrong, whether to retry). Post text is untrusted: each sink escapes it for its own medium.
The outbox (outbox.py) decides when and in what order; sinks only deliver.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from rich.console import Console
from rich.text import Text

from harken.config import Config, DepartmentConfig
from harken.notify.delivery import DeliveryError
from harken.store.repo import AlertView
from harken.store.tables import Alert
from harken.text import for_terminal, strip_controls


@dataclass(frozen=True)
class Delivered:
    """Where a delivered alert landed (Slack: channel id and message ts)."""

    remote_channel: str | None = None
    message_ts: str | None = None
    thread_ts: str | None = None
    note: str | None = None


@dataclass(frozen=True)
class Thread:
    """The incident's thread in this channel: its root alert, as delivered."""

    remote_channel: str
    thread_ts: str
    root: AlertView


class Skip(Exception):
    """Nothing to deliver any more (a thread update whose thread was never posted)."""


class Sink(Protocol):
    name: str
    verifiable: bool  # can tell whether an interrupted delivery arrived (verify)

    def lane(self, alert: Alert) -> str:
        """Alerts of one lane are delivered in order, one after the other."""
        ...

    def deliver(self, view: AlertView, thread: Thread | None) -> Delivered: ...

    def verify(self, view: AlertView, thread: Thread | None) -> Delivered | None:
        """The delivery of an interrupted attempt, if it arrived; None if it did not."""
        ...


class ConsoleSink:
    """Prints alerts to the terminal: the sink used when no Slack is configured."""

    name = "console"
    verifiable = False

    def __init__(self, console: Console) -> None:
        self.console = console

    def lane(self, alert: Alert) -> str:
        return alert.channel

    def verify(self, view: AlertView, thread: Thread | None = None) -> Delivered | None:
        return None  # a line printed before a crash is printed again: harmless

    def deliver(self, view: AlertView, thread: Thread | None = None) -> Delivered:
        kind = view.alert.kind
        if kind == "digest":
            self._digest(view)
        elif kind == "spike":
            self._spike(view)
        elif kind in ("item", "escalation"):
            self._item(view)
        else:
            raise Skip(f"the console does not show {kind} alerts")
        return Delivered()

    def _item(self, view: AlertView) -> None:
        item, mention, author, c = view.item, view.mention, view.author, view.classification
        assert item is not None and mention is not None and author is not None and c is not None
        reach = f", {author.followers:,} followers" if author.followers is not None else ""
        verified = ", verified" if author.verified else ""
        size = f" · incident #{view.incident.id} ({view.incident.size})" if view.incident else ""
        style = "bold red" if item.priority == "urgent" else "bold yellow"
        factors = "; ".join(c.risk_factors) or "no strong factor"
        link = f" · {for_terminal(mention.url)}" if mention.url else ""
        if view.alert.kind == "escalation":
            late = f"OVERDUE (level {item.escalation_level}, due {item.due_at:%H:%M} UTC)"
            self.console.print(
                f"[bold red]ESCALATED[/] [bold]{for_terminal(view.alert.channel)}[/] "
                f"item #{item.id} of {item.department} · {item.priority}{size} · {late}"
                f" · {item.status} · `harken queue claim {item.id}`"
            )
        else:
            self.console.print(
                f"[{style}]ALERT[/] [bold]{item.department}[/] {item.priority}{size}"
                f" · due {item.due_at:%H:%M} UTC · {for_terminal(item.reason)}"
            )
        self.console.print(
            f"  {for_terminal(author.handle)} ({mention.platform}{reach}{verified}): "
            f"“{for_terminal(mention.text, limit=160)}”"
        )
        self.console.print(f"  risk {c.risk:.2f} ({factors}){link}", highlight=False)

    def _spike(self, view: AlertView) -> None:
        spike = view.spike
        assert spike is not None
        terms = ", ".join(spike.terms[:6]) or "no single term"
        incidents = ", ".join(f"#{i}" for i in spike.top_incidents[:5]) or "none"
        self.console.print(
            f"[bold magenta]SPIKE[/] [bold]{for_terminal(spike.brand or 'all brands')}[/] "
            f"{for_terminal(spike.series)} · {spike.count} posts in the hour from "
            f"{spike.hour_start:%m-%d %H:00} UTC, {spike.ratio:.1f}x the usual "
            f"{spike.baseline:.1f} · terms: {for_terminal(terms)} · incidents {incidents}"
        )

    def _digest(self, view: AlertView) -> None:
        # Rendered when the digest was made (a snapshot); the lines are escaped there.
        payload = view.alert.payload
        self.console.print(Text(strip_controls(payload.get("summary", "")), style=""))


SinkFactory = Callable[[Config, Console], Sink]


def _slack(config: Config, _console: Console) -> Sink:
    from harken.notify.slack.client import SlackSink

    return SlackSink(config)


def _email(config: Config, _console: Console) -> Sink:
    from harken.notify.email.sink import EmailSink

    return EmailSink(config)


SINKS: dict[str, SinkFactory] = {
    "console": lambda _config, console: ConsoleSink(console),
    "slack": _slack,
    "email": _email,
}


def slack_mode(config: Config, department: DepartmentConfig | None) -> str | None:
    """How Slack reaches a department: "bot" (chat.postMessage to its channel, threads),
    "webhook" (its own or the default incoming webhook), or None."""
    slack = config.alerts.slack
    if slack is None or department is None:
        return None
    if slack.bot_token and department.slack_channel:
        return "bot"
    if department.slack_webhook_url or slack.webhook_url:
        return "webhook"
    return None


def slack_configured(config: Config) -> bool:
    return any(slack_mode(config, d) for d in config.departments)


def console_on(config: Config) -> bool:
    console = config.alerts.console
    return not slack_configured(config) if console == "auto" else bool(console)


def alert_sinks(config: Config, department: str) -> list[str]:
    """Sinks an alert for this department is written for."""
    found = next((d for d in config.departments if d.name == department), None)
    names = ["console"] if console_on(config) else []
    return names + (["slack"] if slack_mode(config, found) else [])


def thread_sinks(config: Config, department: str) -> list[str]:
    """Sinks that keep one thread per incident: later posts become replies in it."""
    found = next((d for d in config.departments if d.name == department), None)
    return ["slack"] if slack_mode(config, found) == "bot" else []


def digest_sinks(config: Config) -> list[str]:
    names = alert_sinks(config, config.digest.department)
    return names + (["email"] if config.digest.email else [])


def active_sink_names(config: Config) -> list[str]:
    """Every sink some alert may be written for."""
    names = ["console"] if console_on(config) else []
    names += ["slack"] if slack_configured(config) else []
    return names + (["email"] if config.digest.email else [])


def build_sinks(config: Config, console: Console) -> dict[str, Sink]:
    return {name: SINKS[name](config, console) for name in active_sink_names(config)}


__all__ = ["Delivered", "DeliveryError", "Skip", "Thread"]
