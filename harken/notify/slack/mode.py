"""How Slack reaches a department: through a bot token or an incoming webhook."""

from __future__ import annotations

from harken.config import Config, DepartmentConfig


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
