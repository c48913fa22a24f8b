"""The one place sinks are registered, and the questions asked of them all.

``SINKS`` lists every sink's plug-in (contract.py ``SinkPlugin``), one line each. Its order is
the order an alert's copies are written for the sinks (and so their ids). A new sink is one
folder under harken/notify/ (its ``Sink`` and its ``plugin.py``) plus one line here.
"""

from __future__ import annotations

from rich.console import Console

from harken.config import Config
from harken.notify.console.plugin import ConsolePlugin
from harken.notify.contract import Sink, SinkPlugin, Switch
from harken.notify.email.plugin import EmailPlugin
from harken.notify.slack.plugin import SlackPlugin

SINKS: tuple[SinkPlugin, ...] = (
    ConsolePlugin(),
    SlackPlugin(),
    EmailPlugin(),
)


def alert_sinks(config: Config, department: str) -> list[str]:
    """Sinks an alert for this department is written for."""
    found = config.find_department(department)
    return [p.name for p in SINKS if _on(config, p, p.serves_alerts(config, found))]


def thread_sinks(config: Config, department: str) -> list[str]:
    """Sinks that keep one thread per incident: later posts become replies in it."""
    found = config.find_department(department)
    return [p.name for p in SINKS if p.serves_threads(config, found)]


def digest_plugins(config: Config) -> list[SinkPlugin]:
    """The plug-ins of the sinks the daily digest is written for."""
    found = config.find_department(config.digest.department)
    return [p for p in SINKS if _on(config, p, p.serves_digests(config, found))]


def digest_sinks(config: Config) -> list[str]:
    return [p.name for p in digest_plugins(config)]


def active_sink_names(config: Config) -> list[str]:
    """Every sink some alert may be written for."""
    digests = digest_sinks(config)
    return [
        p.name
        for p in SINKS
        if p.name in digests
        or any(_on(config, p, p.serves_alerts(config, d)) for d in config.departments)
    ]


def build_sinks(config: Config, console: Console) -> dict[str, Sink]:
    names = active_sink_names(config)
    return {p.name: p.build(config, console) for p in SINKS if p.name in names}


def _on(config: Config, plugin: SinkPlugin, answer: Switch) -> bool:
    """A plug-in's answer, with "auto" resolved: on while no other sink alerts anyone (another
    "auto" does not count)."""
    if answer == "auto":
        return not any(
            other.serves_alerts(config, department) is True
            for other in SINKS
            if other is not plugin
            for department in config.departments
        )
    return bool(answer)
