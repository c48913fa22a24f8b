"""Where Slack's Web API is, how long a read may take and what a refusal says, as every Slack client
(the alert sink, the Slack app, ``harken doctor``) reads them from ``alerts.slack``."""

from __future__ import annotations

from harken.config.schema import SlackConfig

DEFAULT_API = "https://slack.com/api/"


def api_base(slack: SlackConfig) -> str:
    """``alerts.slack.api_base_url`` (tests, proxies), else Slack's; slack_sdk joins method
    names onto it, so it ends with a slash."""
    base = slack.api_base_url or DEFAULT_API
    return base if base.endswith("/") else base + "/"


def error_code(error: BaseException) -> str | None:
    """Slack's error code ("invalid_auth") of a failed Web API call; None where Slack gave
    none (out of reach, or not a Slack answer)."""
    response = getattr(error, "response", None)
    if response is None:
        return None
    try:
        code = response.get("error")
    except Exception:
        return None
    return None if code is None else str(code)


def read_timeout(slack: SlackConfig) -> int:
    """slack_sdk's per-read timeout in whole seconds (it takes no fractions), at least 1."""
    return max(1, int(slack.timeout.total_seconds()))
