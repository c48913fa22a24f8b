"""The Teams sink's plug-in: alerts for departments with a Workflows URL (alerts.teams), the
digest summary to the digest department's. Teams webhooks return no message id: no threads."""

from __future__ import annotations

from rich.console import Console

from harken.config import Config, DepartmentConfig
from harken.notify.contract import NoHandoffs, Sink, Switch


def teams_url(config: Config, department: str | None) -> str | None:
    """The Workflows URL that reaches this department's channel, if any."""
    teams = config.alerts.teams
    if teams is None:
        return None
    return teams.departments.get(department or "") or teams.webhook_url


class TeamsPlugin(NoHandoffs):
    name = "teams"

    def serves_alerts(self, config: Config, department: DepartmentConfig | None) -> Switch:
        return teams_url(config, department.name if department else None) is not None

    def serves_threads(self, config: Config, department: DepartmentConfig | None) -> bool:
        return False

    def serves_digests(self, config: Config, department: DepartmentConfig | None) -> Switch:
        teams = config.alerts.teams
        return bool(teams and teams.digest) and self.serves_alerts(config, department) is True

    def digest_forms(self, config: Config) -> tuple[str, ...]:
        return ()  # the plain summary every digest payload carries

    def build(self, config: Config, console: Console) -> Sink:
        from harken.notify.teams.sink import TeamsSink

        return TeamsSink(config)
