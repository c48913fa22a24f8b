"""The webhooks' plug-ins: one per receiver in ``alerts.webhooks``, named ``webhook:NAME``,
so each has its own outbox lane, retries and health. A receiver hears of every item of its
departments (a threshold of its own: the lowest), of thread updates (incident.grown), of
closures and of the digest, as its ``events`` list says."""

from __future__ import annotations

from rich.console import Console

from harken.config import Config, DepartmentConfig, Priority
from harken.config.sinks import WebhookConfig
from harken.notify.contract import Closures, Gate, Sink, SinkPlugin, Switch

EVERY_ITEM = Gate(Priority.low, 0.0)


class Webhooks:
    """The family: a plug-in per enabled receiver."""

    def plugins(self, config: Config) -> list[SinkPlugin]:
        return [WebhookPlugin(hook.name) for hook in config.alerts.webhooks if hook.enabled]


class WebhookPlugin:
    def __init__(self, receiver: str) -> None:
        self.receiver = receiver
        self.name = f"webhook:{receiver}"

    def settings(self, config: Config) -> WebhookConfig | None:
        return next((h for h in config.alerts.webhooks if h.name == self.receiver), None)

    def _serves(self, config: Config, department: DepartmentConfig | None) -> bool:
        hook = self.settings(config)
        if hook is None or not hook.enabled:
            return False
        return not hook.departments or (
            department is not None and department.name in hook.departments
        )

    def _hears(self, config: Config, *events: str) -> bool:
        hook = self.settings(config)
        return hook is not None and any(e in hook.events for e in events)

    def serves_alerts(self, config: Config, department: DepartmentConfig | None) -> Switch:
        return self._serves(config, department)

    def serves_threads(self, config: Config, department: DepartmentConfig | None) -> bool:
        return self._serves(config, department) and self._hears(config, "incident.grown")

    def serves_digests(self, config: Config, department: DepartmentConfig | None) -> Switch:
        return self._hears(config, "digest")

    def serves_closures(self, config: Config, department: DepartmentConfig | None) -> Closures:
        hears = self._hears(config, "item.resolved", "item.dismissed")
        return "item" if self._serves(config, department) and hears else None  # one receiver

    def serves_tickets(self, config: Config) -> bool:
        return False

    def gate(self, config: Config) -> Gate | None:
        return EVERY_ITEM

    def digest_forms(self, config: Config) -> tuple[str, ...]:
        return ()  # the plain summary every digest payload carries

    def build(self, config: Config, console: Console) -> Sink:
        from harken.notify.webhook.sink import WebhookSink

        hook = self.settings(config)
        assert hook is not None
        return WebhookSink(self.name, hook)
