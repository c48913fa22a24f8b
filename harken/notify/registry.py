"""The one place sinks are registered, and the questions asked of them all.

``SINKS`` lists every sink's plug-in (contract.py ``SinkPlugin``), one line each, or a family
of them (``PluginFamily``: one webhook plug-in per receiver the config lists). Its order is
the order an alert's copies are written for the sinks (and so their ids). A new sink is one
folder under harken/notify/ (its ``Sink`` and its ``plugin.py``) plus one line here.
"""

from __future__ import annotations

from rich.console import Console

from harken.config import Config
from harken.notify.console.plugin import ConsolePlugin
from harken.notify.contract import Closures, Gate, PluginFamily, Sink, SinkPlugin, Switch
from harken.notify.email.plugin import EmailPlugin
from harken.notify.pagerduty.plugin import PagerDutyPlugin
from harken.notify.slack.plugin import SlackPlugin
from harken.notify.teams.plugin import TeamsPlugin
from harken.notify.tickets import TicketPlugin
from harken.notify.webhook.plugin import Webhooks

SINKS: tuple[SinkPlugin | PluginFamily, ...] = (
    ConsolePlugin(),
    SlackPlugin(),
    EmailPlugin(),
    TeamsPlugin(),
    PagerDutyPlugin(),
    Webhooks(),
    TicketPlugin("jira"),
    TicketPlugin("zendesk"),
)


def plugins(config: Config) -> list[SinkPlugin]:
    """Every plug-in, with each family expanded as this config lists its members."""
    found: list[SinkPlugin] = []
    for entry in SINKS:
        if isinstance(entry, PluginFamily):
            found += entry.plugins(config)
        else:
            found.append(entry)
    return found


def alert_sinks(
    config: Config, department: str, priority: str | None = None, risk: float | None = None
) -> list[str]:
    """Sinks an alert for this department is written for. With ``priority`` (and ``risk``),
    those with a threshold of their own (``gate``) only when the item passes it; the caller
    has decided for the department's threshold."""
    found = config.find_department(department)
    return [
        p.name
        for p in plugins(config)
        if _on(config, p, p.serves_alerts(config, found))
        and (priority is None or (gate := p.gate(config)) is None or gate.passes(priority, risk))
    ]


def sink_gates(config: Config) -> dict[str, Gate]:
    """The sinks with a threshold of their own, and theirs."""
    return {p.name: gate for p in plugins(config) if (gate := p.gate(config)) is not None}


def thread_sinks(config: Config, department: str) -> list[str]:
    """Sinks that keep one thread per incident: later posts become replies in it."""
    found = config.find_department(department)
    return [p.name for p in plugins(config) if p.serves_threads(config, found)]


def closure_sinks(config: Config, department: str) -> dict[str, Closures]:
    """Sinks told when an item they were alerted of in this department is resolved or
    dismissed, each with how often (once per item, or per department it was alerted in)."""
    found = config.find_department(department)
    return {
        p.name: scope
        for p in plugins(config)
        if (scope := p.serves_closures(config, found)) is not None
    }


def ticket_sinks(config: Config) -> list[str]:
    """The ticket systems set up (tickets:): `harken queue ticket --to` names one."""
    return [p.name for p in plugins(config) if p.serves_tickets(config)]


def digest_plugins(config: Config) -> list[SinkPlugin]:
    """The plug-ins of the sinks the daily digest is written for."""
    found = config.find_department(config.digest.department)
    return [p for p in plugins(config) if _on(config, p, p.serves_digests(config, found))]


def digest_sinks(config: Config) -> list[str]:
    return [p.name for p in digest_plugins(config)]


def active_sink_names(config: Config) -> list[str]:
    """Every sink some alert may be written for."""
    digests = digest_sinks(config)
    return [
        p.name
        for p in plugins(config)
        if p.name in digests
        or p.serves_tickets(config)
        or any(_on(config, p, p.serves_alerts(config, d)) for d in config.departments)
    ]


def build_sinks(config: Config, console: Console) -> dict[str, Sink]:
    names = active_sink_names(config)
    return {p.name: p.build(config, console) for p in plugins(config) if p.name in names}


def _on(config: Config, plugin: SinkPlugin, answer: Switch) -> bool:
    """A plug-in's answer, with "auto" resolved: on while no other sink alerts anyone (another
    "auto" does not count, nor a sink with a threshold of its own: PagerDuty pages only
    critical items, and a webhook's receiver is a machine)."""
    if answer == "auto":
        return not any(
            other.serves_alerts(config, department) is True
            for other in plugins(config)
            if other.name != plugin.name and other.gate(config) is None
            for department in config.departments
        )
    return bool(answer)
