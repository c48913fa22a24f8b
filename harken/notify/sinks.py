"""Alert sinks and the one place they are registered.

A sink renders an alert for its medium and delivers it, or raises NotifyError. Post text is
untrusted: each sink escapes it for its own medium.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from rich.console import Console

from harken.config import Config
from harken.store.repo import AlertView
from harken.text import for_terminal


class Sink(Protocol):
    name: str

    def deliver(self, view: AlertView) -> None: ...


class ConsoleSink:
    """Prints alerts to the terminal: the sink used when no Slack is configured."""

    name = "console"

    def __init__(self, console: Console) -> None:
        self.console = console

    def deliver(self, view: AlertView) -> None:
        if view.spike is not None:
            self._spike(view)
            return
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


SinkFactory = Callable[[Config, Console], Sink]

SINKS: dict[str, SinkFactory] = {
    "console": lambda _config, console: ConsoleSink(console),
}


def active_sink_names(config: Config) -> list[str]:
    """Sinks alerts are written for. Slack delivery arrives in a later version."""
    return ["console"] if config.alerts.console else []


def build_sinks(config: Config, console: Console) -> dict[str, Sink]:
    return {name: SINKS[name](config, console) for name in active_sink_names(config)}
