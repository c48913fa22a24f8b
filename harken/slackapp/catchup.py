"""At the Slack app's start, the alert messages brought up to date: an action is committed
before its message is updated, so a process stopped in between (or an action taken from the
CLI meanwhile) leaves a message that no longer says where its item stands."""

from __future__ import annotations

import logging

from slack_sdk import WebClient

from harken.config import Config
from harken.notify.slack.rendered import stale_items
from harken.slackapp.updates import refresh_alerts
from harken.store import Store

log = logging.getLogger(__name__)


def catch_up(client: WebClient, store: Store, config: Config) -> int:
    """chat.update the messages of every item acted on since its message was last rendered;
    returns how many were updated. Never raises: the app serves clicks either way."""
    try:
        with store.session() as session:
            items = stale_items(session)
    except Exception as error:  # the database out of reach: the next start tries again
        log.warning("alerts not brought up to date: %s", type(error).__name__)
        return 0
    return sum(refresh_alerts(client, store, config, item_id) for item_id in items)
