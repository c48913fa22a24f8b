"""At the Slack app's start, the alert messages brought up to date: an action is committed
before its message is updated, so a process stopped in between (or an action taken from the
CLI meanwhile) leaves a message that no longer says where its item stands. Likewise a draft
is committed before it is posted for approval: those never posted are posted (approvals.py)."""

from __future__ import annotations

import logging

from slack_sdk import WebClient

from harken.config import Config
from harken.notify.slack.rendered import stale_items
from harken.slackapp.approvals import post_missed_drafts
from harken.slackapp.updates import refresh_alerts
from harken.store import Store

log = logging.getLogger(__name__)


def catch_up(client: WebClient, store: Store, config: Config) -> int:
    """chat.update the messages of every item acted on since its message was last rendered,
    and post the drafts awaiting approval that were never posted; returns how many messages
    were updated. Never raises: the app serves clicks either way."""
    drafts = post_missed_drafts(client, store, config)
    if drafts:
        log.warning("posted %d draft(s) awaiting approval that were never posted", drafts)
    try:
        with store.session() as session:
            items = stale_items(session)
    except Exception as error:  # the database out of reach: the next start tries again
        log.warning("alerts not brought up to date: %s", type(error).__name__)
        return 0
    done: set[int] = set()  # a thread root is shared by its incident's items: updated once
    return sum(refresh_alerts(client, store, config, item_id, done=done) for item_id in items)
