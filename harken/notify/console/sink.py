"""The console sink: alerts, spikes and the digest printed in the terminal (rich markup; post
text escaped with harken.text.for_terminal)."""

from __future__ import annotations

from rich.console import Console
from rich.text import Text

from harken.notify.contract import Delivered, Skip, Thread
from harken.store.repo import AlertView
from harken.store.tables import Alert
from harken.text import for_terminal, strip_controls


class ConsoleSink:
    """Prints alerts to the terminal: the sink used when no Slack is configured."""

    name = "console"
    verifiable = False
    budgeted = True

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
            # The department it was sent to; an item moved on since says where it is now.
            to = view.alert.channel or item.department
            moved = f" (item now in {item.department})" if to != item.department else ""
            self.console.print(
                f"[{style}]ALERT[/] [bold]{for_terminal(to)}[/]{moved} {item.priority}{size}"
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
