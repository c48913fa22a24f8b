"""The console sink's plug-in: alerts and the digest printed in the terminal, for every
department, as alerts.console says: always, never, or "auto" (while no other sink alerts)."""

from __future__ import annotations

from rich.console import Console

from harken.config import Config, DepartmentConfig
from harken.notify.console.sink import ConsoleSink
from harken.notify.contract import NoHandoffs, Sink, Switch


class ConsolePlugin(NoHandoffs):
    name = "console"

    def serves_alerts(self, config: Config, department: DepartmentConfig | None) -> Switch:
        return config.alerts.console

    def serves_threads(self, config: Config, department: DepartmentConfig | None) -> bool:
        return False

    def serves_digests(self, config: Config, department: DepartmentConfig | None) -> Switch:
        return config.alerts.console

    def digest_forms(self, config: Config) -> tuple[str, ...]:
        return ()  # it prints the plain summary every digest payload carries

    def build(self, config: Config, console: Console) -> Sink:
        return ConsoleSink(console)
