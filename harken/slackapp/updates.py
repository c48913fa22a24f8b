"""What the app says back in Slack: the item's alerts updated in place after an action, an
alert a transfer queued delivered at once, and a refusal told to the one who clicked."""

from __future__ import annotations

import logging

from rich.console import Console
from slack_sdk import WebClient

from harken.config import Config
from harken.logs import redact
from harken.notify.outbox import deliver_pending
from harken.notify.registry import build_sinks
from harken.notify.slack.refresh import item_alerts_now
from harken.notify.slack.rendered import mark_rendered
from harken.store import Store
from harken.text import for_slack

log = logging.getLogger(__name__)

EPHEMERAL_MAX = 3000


def refresh_alerts(client: WebClient, store: Store, config: Config, item_id: int) -> int:
    """chat.update every Slack message that alerted the item, to show where it stands now.
    Returns how many were updated; a failure is logged (the action itself is done)."""
    with store.session() as session:
        posted = item_alerts_now(session, config, item_id)
    updated = 0
    for alert in posted:
        try:
            client.chat_update(
                channel=alert.channel,
                ts=alert.ts,
                text=alert.message.text,
                blocks=alert.message.blocks,
            )
            updated += 1
            with store.session() as session:  # what it shows now: a restart skips it
                mark_rendered(session, alert.alert_id, alert.event_id)
        except Exception as error:  # SlackApiError, or Slack out of reach
            log.warning("item %s: alert %s not updated: %s", item_id, alert.alert_id, _why(error))
    return updated


def deliver_alerts(store: Store, config: Config) -> None:
    """Send what the outbox holds now (a transfer's alert to the receiving department), as
    the notify stage would: exactly once, whoever else is sending."""
    try:
        result = deliver_pending(store, config, build_sinks(config, Console(stderr=True)))
        log.info("outbox after a transfer: %s", result)
    except Exception as error:  # the next `harken run` / `harken alerts send` pass sends it
        log.warning("outbox not run after a transfer: %s", _why(error))


def tell(client: WebClient, channel: str | None, user: str, text: str) -> None:
    """A message only ``user`` sees, in the channel they clicked in; ``text`` is plain words
    (escaped here: names and reasons in it may come from anyone)."""
    if not channel:
        log.info("no channel to answer %s in: %s", user, text)
        return
    try:
        client.chat_postEphemeral(
            channel=channel, user=user, text=for_slack(text, limit=EPHEMERAL_MAX)
        )
    except Exception as error:
        log.warning("could not tell %s: %s", user, _why(error))


def _why(error: Exception) -> str:
    response = getattr(error, "response", None)
    if response is not None:
        try:
            return str(response.get("error"))
        except Exception:
            pass
    return redact(f"{type(error).__name__}: {error}")[:300]
