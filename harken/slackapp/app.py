"""The slack_bolt ``App``, built from config: the bot token posts and updates messages, the
signing secret checks HTTP requests (Socket Mode needs none: Slack's envelopes arrive on a
connection the app opened with its app-level token)."""

from __future__ import annotations

import logging
from concurrent.futures import Executor
from dataclasses import dataclass

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from harken.config import Config, SlackConfig
from harken.errors import HarkenError
from harken.notify.slack.api import api_base, error_code, read_timeout
from harken.store import Store

log = logging.getLogger(__name__)


class SlackAppError(HarkenError):
    """The Slack app cannot start: a token missing, refused, or Slack out of reach."""


@dataclass(frozen=True)
class Settings:
    """What the app runs with, checked: never printed (tokens)."""

    bot_token: str
    api_base_url: str
    timeout: int
    app_token: str | None
    signing_secret: str | None


def settings(config: Config, *, http: bool) -> Settings:
    """The app's settings for Socket Mode (``http=False``) or HTTP mode; SlackAppError naming
    the key that is missing."""
    slack = config.alerts.slack or SlackConfig()
    if not slack.bot_token:
        raise SlackAppError(
            "alerts.slack.bot_token is not set",
            hint='the app updates alerts with it: set it to "${SLACK_BOT_TOKEN}" (xoxb-...)',
        )
    if http and not slack.signing_secret:
        raise SlackAppError(
            "alerts.slack.signing_secret is not set",
            hint='HTTP mode checks every request with it: set it to "${SLACK_SIGNING_SECRET}", '
            "from the Slack app's Basic Information page",
        )
    if not http and not slack.app_token:
        raise SlackAppError(
            "alerts.slack.app_token is not set",
            hint="Socket Mode needs an app-level token (xapp-..., scope connections:write), "
            'e.g. "${SLACK_APP_TOKEN}"; or run `harken slack serve --http`',
        )
    if not http and not str(slack.app_token).startswith("xapp-"):
        raise SlackAppError(
            "alerts.slack.app_token is not an app-level token (those start with xapp-)",
            hint="make one under Basic Information > App-Level Tokens, scope connections:write",
        )
    return Settings(
        bot_token=slack.bot_token,
        api_base_url=api_base(slack),
        timeout=read_timeout(slack),
        app_token=slack.app_token,
        signing_secret=slack.signing_secret,
    )


def web_client(found: Settings) -> WebClient:
    return WebClient(token=found.bot_token, base_url=found.api_base_url, timeout=found.timeout)


def build_app(
    config: Config, store: Store, *, http: bool, listener_executor: Executor | None = None
) -> App:
    """The app with harken's handlers; the bot token checked once (auth.test) so that a bad
    one fails here, with its key, rather than at the first click. ``listener_executor`` runs
    the work after each ack (bolt's own thread pool by default)."""
    from harken.slackapp import commands, home, replies
    from harken.slackapp.handlers import register

    found = settings(config, http=http)
    client = web_client(found)
    _check_token(client)
    app = App(
        client=client,
        signing_secret=found.signing_secret or "",
        # Socket Mode requests carry no signature (bolt skips the check for them); HTTP ones
        # are refused with 401 unless signed with the secret within the last 5 minutes.
        request_verification_enabled=http,
        token_verification_enabled=False,  # done above, with a clearer error
        logger=_bolt_logger(),
        listener_executor=listener_executor,
    )
    register(app, config, store)
    commands.register(app, config, store)  # /harken
    home.register(app, config, store)  # the App Home tab
    replies.register(app, config, store)  # Reply, its modal, the approver's buttons
    return app


class _GivenClient(logging.Filter):
    """bolt warns that the token is unused when SLACK_BOT_TOKEN is in the environment and a
    client is given: harken's client has that very token."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not record.getMessage().startswith("As you gave `client` as well")


def _bolt_logger() -> logging.Logger:
    logger = logging.getLogger("harken.slackapp.bolt")
    if not any(isinstance(f, _GivenClient) for f in logger.filters):
        logger.addFilter(_GivenClient())
    return logger


def _check_token(client: WebClient) -> None:
    try:
        client.auth_test()
    except SlackApiError as error:
        code = error_code(error) or "unknown error"
        raise SlackAppError(
            f"Slack refused alerts.slack.bot_token ({code})",
            hint="copy the Bot User OAuth Token (xoxb-...) of the app's OAuth & Permissions page",
        ) from None
    except Exception as error:  # urllib's errors: refused, timed out, bad address
        raise SlackAppError(
            f"cannot reach Slack at {client.base_url}: {type(error).__name__}",
            hint="check alerts.slack.api_base_url and the network",
        ) from None
