"""The Slack sink's plug-in: alerts and digests for departments Slack reaches (alerts.slack,
departments[].slack_channel or slack_webhook_url), one thread per incident with a bot token."""

from __future__ import annotations

from rich.console import Console

from harken.config import Config, DepartmentConfig
from harken.notify.contract import NoHandoffs, Sink, Switch
from harken.notify.slack.mode import slack_mode


class SlackPlugin(NoHandoffs):
    name = "slack"

    def serves_alerts(self, config: Config, department: DepartmentConfig | None) -> Switch:
        return slack_mode(config, department) is not None

    def serves_threads(self, config: Config, department: DepartmentConfig | None) -> bool:
        return slack_mode(config, department) == "bot"  # webhooks return no message id

    def serves_digests(self, config: Config, department: DepartmentConfig | None) -> Switch:
        return slack_mode(config, department) is not None

    def digest_forms(self, config: Config) -> tuple[str, ...]:
        # "html": the page, attached to the post (digest.upload).
        return ("slack", "html") if config.digest.upload else ("slack",)

    def build(self, config: Config, console: Console) -> Sink:
        from harken.notify.slack.client import SlackSink  # slack_sdk: imported only when used

        return SlackSink(config)
