"""The PagerDuty sink's plug-in: departments with a routing key (alerts.pagerduty) are paged
for critical items (alerts.critical: urgent, or risk 0.85 and above; impostors are urgent)
and spikes, and the page is resolved when the item is resolved or dismissed."""

from __future__ import annotations

from rich.console import Console

from harken.config import Config, DepartmentConfig
from harken.notify.contract import Closures, Gate, Sink, Switch


def routing_key(config: Config, department: str | None) -> str | None:
    pagerduty = config.alerts.pagerduty
    return pagerduty.routing_keys.get(department or "") if pagerduty else None


class PagerDutyPlugin:
    name = "pagerduty"

    def serves_alerts(self, config: Config, department: DepartmentConfig | None) -> Switch:
        return routing_key(config, department.name if department else None) is not None

    def serves_threads(self, config: Config, department: DepartmentConfig | None) -> bool:
        return False

    def serves_digests(self, config: Config, department: DepartmentConfig | None) -> Switch:
        return False

    def serves_closures(self, config: Config, department: DepartmentConfig | None) -> Closures:
        # The page on each service the item reached.
        return "department" if self.serves_alerts(config, department) is True else None

    def serves_tickets(self, config: Config) -> bool:
        return False

    def gate(self, config: Config) -> Gate | None:
        critical = config.alerts.critical
        return Gate(critical.priority, critical.risk)

    def digest_forms(self, config: Config) -> tuple[str, ...]:
        return ()

    def build(self, config: Config, console: Console) -> Sink:
        from harken.notify.pagerduty.sink import PagerDutySink

        return PagerDutySink(config)
