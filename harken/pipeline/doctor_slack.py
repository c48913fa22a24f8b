"""``harken doctor``'s checks of the Slack app's settings (``alerts.slack.bot_token``,
``app_token``, ``signing_secret``): each token's shape, then Slack's own word on it (the bot
token by ``auth.test``, the app-level token by ``apps.connections.open``).

Nothing here prints a token: a check names the key and what Slack answered, never a value.
"""

from __future__ import annotations

from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from harken.config import Config, SlackConfig
from harken.notify.slack.api import api_base, read_timeout
from harken.pipeline.doctor import Check

BOT_FIX = "copy the Bot User OAuth Token (xoxb-...) of the Slack app's OAuth & Permissions page"
APP_FIX = (
    "make an app-level token under Basic Information > App-Level Tokens "
    "(xapp-..., scope connections:write) and turn Socket Mode on"
)


def slack_app_checks(config: Config) -> list[Check]:
    """The Slack app's checks, when the app is configured (an app-level token or a signing
    secret, set or referenced); none otherwise. A key whose ``${VAR}`` is unset is left to
    the credential check, which already failed for it."""
    slack = config.alerts.slack or SlackConfig()
    referenced = set(config.env_refs)
    if not (slack.app_token or slack.signing_secret) and not referenced & {
        "alerts.slack.app_token",
        "alerts.slack.signing_secret",
    }:
        return []
    client = _client(slack)
    checks = []
    if slack.bot_token or "alerts.slack.bot_token" not in referenced:
        checks.append(_bot_token_check(client, slack.bot_token))
    if slack.app_token:
        checks.append(_app_token_check(client, slack.app_token))
    secret = _signing_secret_check(slack)
    return checks + ([secret] if secret else [])


def _client(slack: SlackConfig) -> WebClient:
    return WebClient(base_url=api_base(slack), timeout=read_timeout(slack))


def _bot_token_check(client: WebClient, token: str | None) -> Check:
    name = "slack bot token"
    if not token:
        return Check(
            name,
            "fail",
            "alerts.slack.bot_token is not set: the Slack app updates the alerts with it",
            'set alerts.slack.bot_token: "${SLACK_BOT_TOKEN}" (xoxb-...)',
        )
    if not token.startswith("xoxb-"):
        return Check(
            name,
            "fail",
            "alerts.slack.bot_token is not a bot token (those start with xoxb-)",
            BOT_FIX,
        )
    try:
        answer = client.auth_test(token=token)
    except SlackApiError as error:
        code = _code(error.response)
        return Check(name, "fail", f"Slack refused alerts.slack.bot_token ({code})", BOT_FIX)
    except Exception as error:  # urllib's errors: refused, timed out, bad address
        return _unreachable(name, client, error)
    team, user = answer.get("team") or "?", answer.get("user") or "?"
    return Check(name, "ok", f"accepted by Slack (auth.test: bot {user} of {team})")


def _app_token_check(client: WebClient, token: str) -> Check:
    name = "slack app token"
    if not token.startswith("xapp-"):
        return Check(
            name,
            "fail",
            "alerts.slack.app_token is not an app-level token (those start with xapp-)",
            APP_FIX,
        )
    try:
        # Hands out a Socket Mode URL and opens nothing: the URL is left unused.
        client.apps_connections_open(app_token=token)
    except SlackApiError as error:
        code = _code(error.response)
        return Check(name, "fail", f"Slack refused alerts.slack.app_token ({code})", APP_FIX)
    except Exception as error:
        return _unreachable(name, client, error)
    return Check(name, "ok", "accepted by Slack: `harken slack serve` can use Socket Mode")


def _signing_secret_check(slack: SlackConfig) -> Check | None:
    """Present, or not needed (Socket Mode); HTTP mode without one was the credential
    check's failure already (its ``${VAR}`` unset)."""
    name = "slack signing secret"
    if slack.signing_secret:
        return Check(name, "ok", "set: `harken slack serve --http` checks requests with it")
    if slack.app_token:
        return Check(
            name, "ok", "not set: Socket Mode only (`harken slack serve --http` would need it)"
        )
    return None


def _unreachable(name: str, client: WebClient, error: Exception) -> Check:
    return Check(
        name,
        "fail",
        f"cannot reach Slack at {client.base_url}: {type(error).__name__}",
        "check alerts.slack.api_base_url and the network",
    )


def _code(response: Any) -> str:
    try:
        return str(response.get("error") or "unknown error")
    except Exception:
        return "unknown error"
