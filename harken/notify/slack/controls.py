"""The Slack app's controls on an alert: the buttons and selects a department member acts with
(`harken slack serve` answers them, harken/slackapp/).

They appear only when the app is configured (``alerts.slack.app_token`` or
``alerts.slack.signing_secret``): without an app to answer them, a button would do nothing.

Contract (other tools rely on it): buttons ``harken:claim``, ``harken:resolve``,
``harken:reply`` (on posts harken can answer: see ``answerable``), ``harken:reopen`` (and
``harken:dismiss`` when sent as a button: "not actionable"), each with the queue item id as
its ``value``; the selects ``harken:transfer`` (option values: department
names) and ``harken:dismiss`` (option values: the dismiss reasons) carry the item id in their
block's ``block_id``, ``harken:item:<id>``.
"""

from __future__ import annotations

from typing import Any

from harken.config import Config
from harken.store.repo import OPEN_STATUSES
from harken.store.tables import QueueItem
from harken.text import for_slack

Block = dict[str, Any]

CLAIM, RESOLVE, DISMISS, REOPEN, TRANSFER = (
    "harken:claim",
    "harken:resolve",
    "harken:dismiss",
    "harken:reopen",
    "harken:transfer",
)
REPLY = "harken:reply"
# The platforms whose posts can be answered (harken.platforms.registry.max_reply_lengths();
# notify/ never imports platforms/, so the names are repeated and a test keeps them the same).
ANSWERABLE = ("x", "reddit", "bluesky", "mastodon", "youtube", "facebook", "instagram")
BLOCK_PREFIX = "harken:item:"
# The dismiss reasons people choose from (harken.queue.actions.DISMISS_REASONS; notify/ sits
# below queue/, so the words are repeated here and a test keeps the two the same).
DISMISS_REASONS = (
    "not ours",
    "not actionable",
    "spam or bot",
    "own or partner account",
    "already handled",
)
MAX_OPTIONS = 100  # Block Kit: a static_select's options
OPTION_TEXT_MAX = 75
OPTION_VALUE_MAX = 150


def app_enabled(config: Config) -> bool:
    """Whether the Slack app answers interactions (so alerts may carry controls)."""
    slack = config.alerts.slack
    return slack is not None and bool(slack.app_token or slack.signing_secret)


def item_controls(
    item: QueueItem, kind: str, channel: str, config: Config, *, platform: str | None = None
) -> list[Block]:
    """The actions block for an item's alert of ``kind`` sent to department ``channel``, about
    a post on ``platform`` (a Reply button when harken can answer it): none
    when the app is off, or on a new-item alert whose item has since moved to another
    department (that department's own alert carries them). An escalation sent up to another
    department keeps them: it is there so that someone acts."""
    if not app_enabled(config) or item.id is None:
        return []
    if kind == "item" and item.department != channel:
        return []
    ident = str(item.id)
    if item.status not in OPEN_STATUSES:
        elements = [_button("Reopen", REOPEN, ident)]
    else:
        elements = [
            *([_button("Claim", CLAIM, ident, "primary")] if item.status != "responded" else []),
            *([_button("Reply", REPLY, ident)] if answerable(config, platform) else []),
            _button("Resolve", RESOLVE, ident),
            _select("Dismiss as…", DISMISS, DISMISS_REASONS),
        ]
        others = [
            d.name
            for d in config.departments
            if d.name != item.department and len(d.name) <= OPTION_VALUE_MAX
        ]
        if others:
            elements.append(_select("Transfer to…", TRANSFER, others))
    return [{"type": "actions", "block_id": f"{BLOCK_PREFIX}{ident}", "elements": elements}]


def answerable(config: Config, platform: str | None) -> bool:
    """Whether a post on ``platform`` gets a Reply button: harken can answer the platform and
    the config has a source of it, where the account that replies is set (the reply modal
    says what, if anything, it still lacks)."""
    if platform not in ANSWERABLE:
        return False
    kinds = {
        (entry.model_extra or {}).get("type") or name for name, entry in config.sources.items()
    }
    return platform in kinds


def item_id_of(block_id: str | None) -> str | None:
    """The item id a control's block carries ("harken:item:42" -> "42"), or None."""
    if not block_id or not block_id.startswith(BLOCK_PREFIX):
        return None
    return block_id[len(BLOCK_PREFIX) :]


def _button(label: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {
        "type": "button",
        "action_id": action_id,
        "text": {"type": "plain_text", "text": label},
        "value": value,
    }
    return button | ({"style": style} if style else {})


def _select(placeholder: str, action_id: str, values: tuple[str, ...] | list[str]) -> Block:
    options = [{"text": {"type": "plain_text", "text": _label(v)}, "value": v} for v in values]
    return {
        "type": "static_select",
        "action_id": action_id,
        "placeholder": {"type": "plain_text", "text": placeholder},
        "options": options[:MAX_OPTIONS],
    }


def _label(value: str) -> str:
    text = for_slack(value, limit=OPTION_TEXT_MAX, one_line=True)
    return text if len(text) <= OPTION_TEXT_MAX else text[: OPTION_TEXT_MAX - 1] + "…"
