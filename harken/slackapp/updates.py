"""What the app says back in Slack: the item's alerts updated in place after an action (and
its incident's thread root in every channel), an alert a transfer queued delivered at once,
and a refusal told to the one who clicked."""

from __future__ import annotations

import logging

from rich.console import Console
from slack_sdk import WebClient

from harken.config import Config
from harken.logs import redact
from harken.notify.outbox import deliver_pending
from harken.notify.registry import build_sinks
from harken.notify.slack.api import error_code
from harken.notify.slack.refresh import item_alerts_now
from harken.notify.slack.rendered import mark_rendered
from harken.store import Store
from harken.text import for_slack

log = logging.getLogger(__name__)

EPHEMERAL_MAX = 3000


def refresh_alerts(
    client: WebClient, store: Store, config: Config, item_id: int, *, done: set[int] | None = None
) -> int:
    """chat.update every Slack message that alerted the item, and every thread root of its
    incident, to show where they stand now. Returns how many were updated; a failure is
    logged (the action itself is done). ``done``: the alerts already updated in this pass
    (skipped, then added to)."""
    with store.session() as session:
        posted = item_alerts_now(session, config, item_id)
    updated = 0
    for alert in posted:
        if done is not None and alert.alert_id in done:
            continue
        try:
            client.chat_update(
                channel=alert.channel,
                ts=alert.ts,
                text=alert.message.text,
                blocks=alert.message.blocks,
            )
            updated += 1
            with store.session() as session:  # what it shows now: a restart skips it
                mark_rendered(session, alert.alert_id, alert.event_id, alert.section)
            if done is not None:
                done.add(alert.alert_id)
        except Exception as error:  # SlackApiError, or Slack out of reach
            log.warning(
                "item %s: alert %s not updated: %s", item_id, alert.alert_id, why_failed(error)
            )
    return updated


def deliver_alerts(store: Store, config: Config) -> None:
    """Send what the outbox holds now (a transfer's alert to the receiving department), as
    the notify stage would: exactly once, whoever else is sending."""
    try:
        result = deliver_pending(store, config, build_sinks(config, Console(stderr=True)))
        log.info("outbox after a transfer: %s", result)
    except Exception as error:  # the next `harken run` / `harken alerts send` pass sends it
        log.warning("outbox not run after a transfer: %s", why_failed(error))


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
        log.warning("could not tell %s: %s", user, why_failed(error))


def why_failed(error: Exception) -> str:
    """A failed Slack call in words for the log: Slack's error code, else the exception
    (redacted: an exception's text may quote a token)."""
    code = error_code(error)
    if code is not None:
        return code
    return redact(f"{type(error).__name__}: {error}")[:300]
