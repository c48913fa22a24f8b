"""``harken doctor``'s checks of the Slack app's settings (``alerts.slack.bot_token``,
``app_token``, ``signing_secret``): each token's shape, then Slack's own word on it (the bot
token by ``auth.test``, the app-level token by ``apps.connections.open``), and the bot token's
OAuth scopes against ``BOT_SCOPES``, the one list the app's manifest in docs/alerts.md declares
(Slack names a token's scopes in the ``X-OAuth-Scopes`` header of every Web API answer).

Nothing here prints a token: a check names the key and what Slack answered, never a value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web import SlackResponse

from harken.config import Config, SlackConfig
from harken.notify.slack.api import api_base, error_code, read_timeout
from harken.pipeline.doctor import Check

BOT_FIX = "copy the Bot User OAuth Token (xoxb-...) of the Slack app's OAuth & Permissions page"
APP_FIX = (
    "make an app-level token under Basic Information > App-Level Tokens "
    "(xapp-..., scope connections:write) and turn Socket Mode on"
)


@dataclass(frozen=True)
class Scope:
    """A bot token scope the app needs, what for (doctor says it when the scope is missing),
    and whether a config needs it at all."""

    name: str
    why: str
    needed: Callable[[Config], bool] = lambda config: True


# The bot token's scopes: what the manifest in docs/alerts.md asks for (tests/test_slack_doctor.py
# holds the two to the same list).
BOT_SCOPES = (
    Scope("chat:write", "post alerts and drafts, update them, answer only the person who clicked"),
    Scope("channels:read", "find a channel's id by its name, to look for an interrupted alert"),
    Scope("channels:history", "find an alert whose delivery was interrupted"),
    Scope("groups:read", "find a private channel's id by its name"),
    Scope("groups:history", "find an interrupted alert in a private channel"),
    Scope("commands", "/harken"),
    Scope("files:write", "only for digest.upload", lambda config: config.digest.upload),
)
SCOPES_FIX = (
    "add them under OAuth & Permissions > Bot Token Scopes (the manifest in docs/alerts.md "
    "lists them all), then reinstall the app to the workspace so the token gets them"
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
        checks += _bot_token_checks(client, slack.bot_token, config)
    if slack.app_token:
        checks.append(_app_token_check(client, slack.app_token))
    secret = _signing_secret_check(slack)
    return checks + ([secret] if secret else [])


def _client(slack: SlackConfig) -> WebClient:
    return WebClient(base_url=api_base(slack), timeout=read_timeout(slack))


def _bot_token_checks(client: WebClient, token: str | None, config: Config) -> list[Check]:
    """The token, then (once Slack took it) its scopes, from the same ``auth.test`` answer."""
    check, answer = _bot_token_check(client, token)
    return [check] if answer is None else [check, _scopes_check(answer, config)]


def _bot_token_check(client: WebClient, token: str | None) -> tuple[Check, SlackResponse | None]:
    name = "slack bot token"
    if not token:
        return Check(
            name,
            "fail",
            "alerts.slack.bot_token is not set: the Slack app updates the alerts with it",
            'set alerts.slack.bot_token: "${SLACK_BOT_TOKEN}" (xoxb-...)',
        ), None
    if not token.startswith("xoxb-"):
        return Check(
            name,
            "fail",
            "alerts.slack.bot_token is not a bot token (those start with xoxb-)",
            BOT_FIX,
        ), None
    try:
        answer = client.auth_test(token=token)
    except SlackApiError as error:
        code = error_code(error) or "unknown error"
        return Check(name, "fail", f"Slack refused alerts.slack.bot_token ({code})", BOT_FIX), None
    except Exception as error:  # urllib's errors: refused, timed out, bad address
        return _unreachable(name, client, error), None
    team, user = answer.get("team") or "?", answer.get("user") or "?"
    return Check(name, "ok", f"accepted by Slack (auth.test: bot {user} of {team})"), answer


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
        code = error_code(error) or "unknown error"
        return Check(name, "fail", f"Slack refused alerts.slack.app_token ({code})", APP_FIX)
    except Exception as error:
        return _unreachable(name, client, error)
    return Check(name, "ok", "accepted by Slack: `harken slack serve` can use Socket Mode")


def _scopes_check(answer: SlackResponse, config: Config) -> Check:
    """The scopes this config needs that the token lacks, each with what it is for."""
    name = "slack scopes"
    granted = _granted_scopes(answer.headers)
    if granted is None:
        return Check(
            name,
            "warn",
            "Slack did not say which scopes the bot token has (no X-OAuth-Scopes header)",
            "if a proxy sits in alerts.slack.api_base_url, let it pass that header",
        )
    needed = [scope for scope in BOT_SCOPES if scope.needed(config)]
    missing = [scope for scope in needed if scope.name not in granted]
    if not missing:
        return Check(name, "ok", f"the bot token has the {len(needed)} scopes the app needs")
    lacks = "; ".join(f"{scope.name} ({scope.why})" for scope in missing)
    return Check(name, "fail", f"the bot token lacks {lacks}", SCOPES_FIX)


def _granted_scopes(headers: Any) -> set[str] | None:
    """The ``X-OAuth-Scopes`` header's scopes (header names are case-insensitive, and
    slack_sdk hands them over as the server spelled them); None without the header."""
    for key, value in dict(headers or {}).items():
        if str(key).lower() == "x-oauth-scopes":
            text = value[0] if isinstance(value, list) else value
            return {part.strip() for part in str(text).split(",") if part.strip()}
    return None


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
