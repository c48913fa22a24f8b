"""A draft's message in the approver channel (``replies.approver_channel``), posted once: when
it is drafted, and at the app's start for a draft whose post a stopped process never made
(harken.queue.drafts). Each message carries its draft in Slack message metadata, so that a
start first looks for it (conversations.history) and records it rather than posting again.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from slack_sdk import WebClient

from harken.config import Config
from harken.queue.drafts import Unposted, record_posted, unposted_drafts
from harken.queue.replies import Draft
from harken.queue.views import show_item
from harken.slackapp.reply_views import draft_message
from harken.slackapp.updates import why_failed
from harken.store import Store

log = logging.getLogger(__name__)

EVENT_TYPE = "harken_draft"
PAGES = 20  # of 200 messages each, since the draft was written


def post_draft(client: WebClient, store: Store, channel: str, draft: Draft) -> None:
    """Post the draft for approvers, then record that it is posted."""
    post = show_item(store, draft.item_id, history_limit=0)["mention"]
    text, blocks = draft_message(draft, post)
    response = client.chat_postMessage(
        channel=channel, text=text, blocks=blocks, metadata=_metadata(draft)
    )
    try:
        record_posted(store, draft, f"{response.get('channel')} {response.get('ts')}")
    except Exception as error:  # posted: the next start finds it by its metadata
        log.warning("draft %s posted, not recorded: %s", draft.event_id, type(error).__name__)


def post_missed_drafts(client: WebClient, store: Store, config: Config) -> int:
    """Post each draft awaiting approval that was never posted (found already in the channel:
    recorded, not posted again); returns how many were posted. Never raises."""
    channel = config.replies.approver_channel
    if not channel:
        return 0
    try:
        missed = unposted_drafts(store)
    except Exception as error:  # the database out of reach: the next start tries again
        log.warning("drafts awaiting approval not checked: %s", type(error).__name__)
        return 0
    posted = 0
    for unposted in missed:
        try:
            posted += _post_once(client, store, channel, unposted)
        except Exception as error:
            log.warning("draft %s not posted: %s", unposted.draft.event_id, why_failed(error))
    return posted


def _post_once(client: WebClient, store: Store, channel: str, unposted: Unposted) -> int:
    draft = unposted.draft
    try:
        found = _find(client, channel, unposted)
    except Exception as error:  # cannot look (no channels:history): approvers must see it
        log.warning("draft %s: approver channel not read: %s", draft.event_id, why_failed(error))
        found = None
    if found is not None:
        record_posted(store, draft, found)
        return 0
    post_draft(client, store, channel, draft)
    return 1


def _find(client: WebClient, channel: str, unposted: Unposted) -> str | None:
    """The draft's message (its channel and ts) if it is in the channel already."""
    channel_id = _channel_id(client, channel)
    if channel_id is None:
        return None
    oldest = f"{(unposted.at - timedelta(minutes=1)).timestamp():.6f}"
    cursor = None
    for _ in range(PAGES):
        response = client.conversations_history(
            channel=channel_id,
            oldest=oldest,
            limit=200,
            include_all_metadata=True,
            **({"cursor": cursor} if cursor else {}),
        )
        messages: list[dict[str, Any]] = response.get("messages") or []
        for message in messages:
            if _metadata_key(message) == _key(unposted.draft):
                return f"{channel_id} {message['ts']}"
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
    return None


def _channel_id(client: WebClient, name: str) -> str | None:
    """History needs the channel's id; the config may name it."""
    bare = name.lstrip("#")
    if bare[:1] in "CGD" and bare.isupper() and bare.isalnum():
        return bare
    cursor = None
    for _ in range(PAGES):
        response = client.conversations_list(
            types="public_channel,private_channel",
            limit=1000,
            exclude_archived=True,
            **({"cursor": cursor} if cursor else {}),
        )
        channels: list[dict[str, Any]] = response.get("channels") or []
        for found in channels:
            if found.get("name") == bare:
                return str(found["id"])
        cursor = (response.get("response_metadata") or {}).get("next_cursor")
        if not cursor:
            return None
    return None


def _key(draft: Draft) -> str:
    return f"draft-{draft.event_id}"


def _metadata(draft: Draft) -> dict[str, Any]:
    return {"event_type": EVENT_TYPE, "event_payload": {"key": _key(draft)}}


def _metadata_key(message: dict[str, Any]) -> Any:
    return ((message.get("metadata") or {}).get("event_payload") or {}).get("key")
