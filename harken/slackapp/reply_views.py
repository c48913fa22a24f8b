"""What the reply flow shows in Slack: the reply modal (the platform, the post it answers, the
text to edit, the platform's limit) and the draft an approver sees (Approve / Edit).

Everything people wrote (the post, the reply, names) is escaped for mrkdwn: ``<!channel>`` in a
reply goes to the platform as text, and shows in Slack as text too. Only the modal's input
holds the reply as it is (plain text, never rendered as mrkdwn).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harken.platforms.replies import MAX_LENGTH
from harken.queue.replies import Draft, ReplyPlan
from harken.text import for_slack

Block = dict[str, Any]

MODAL = "harken:reply"  # the modal's callback_id
APPROVE, EDIT = "harken:reply_approve", "harken:reply_edit"  # the approver's buttons
DRAFT_PREFIX = "harken:draft:"  # the approver's actions block: harken:draft:<event id>
INPUT_BLOCK, INPUT_ACTION = "reply", "text"
TITLE_MAX, POST_MAX, PROBLEMS_MAX, METADATA_MAX = 24, 2500, 1500, 3000


@dataclass(frozen=True)
class ModalState:
    """What the modal carries back on submit (``private_metadata``): the item, where to answer
    the person, and, when an approver edits a draft, the draft and its message."""

    item_id: int
    channel: str | None
    draft_id: int | None = None
    message_ts: str | None = None

    def dump(self) -> str:
        return json.dumps(
            {
                "item": self.item_id,
                "channel": self.channel,
                "draft": self.draft_id,
                "ts": self.message_ts,
            }
        )


def load_state(raw: Any) -> ModalState | None:
    """The modal's state, or None when it is not one harken wrote."""
    try:
        data = json.loads(raw) if isinstance(raw, str) and len(raw) <= METADATA_MAX else None
    except ValueError:
        return None
    if not isinstance(data, Mapping) or not isinstance(data.get("item"), int):
        return None
    channel, draft, ts = data.get("channel"), data.get("draft"), data.get("ts")
    return ModalState(
        data["item"],
        channel if isinstance(channel, str) else None,
        draft if isinstance(draft, int) else None,
        ts if isinstance(ts, str) else None,
    )


def reply_modal(
    plan: ReplyPlan, post: Mapping[str, Any], state: ModalState, *, approval: bool
) -> Block:
    """The modal to write (or, for an approver, edit) the reply to ``post`` (the item's
    mention, as ``harken.queue.views.show_item`` gives it)."""
    limit = MAX_LENGTH.get(plan.platform)
    where = f"*Item #{plan.item_id}* · reply on *{for_slack(plan.platform, 40)}*"
    where += f" · up to {limit} characters" if limit else ""
    blocks: list[Block] = [_section(where), _section(_post_line(post))]
    if plan.problems and plan.text.strip():  # no template fitted: nothing written yet
        said = for_slack("; ".join(plan.problems), PROBLEMS_MAX)
        blocks.append(_context(f":warning: cannot send as it is: {said}"))
    blocks.append(
        {
            "type": "input",
            "block_id": INPUT_BLOCK,
            "label": {"type": "plain_text", "text": "Your reply"},
            "element": {
                "type": "plain_text_input",
                "action_id": INPUT_ACTION,
                "multiline": True,
                **({"initial_value": plan.text} if plan.text else {}),
            },
        }
    )
    if approval and state.draft_id is None:
        blocks.append(_context("An approver in the social team's channel sends it."))
    submit = "Send for approval" if approval and state.draft_id is None else "Send"
    return {
        "type": "modal",
        "callback_id": MODAL,
        "title": _plain(f"Reply on {plan.platform}"[:TITLE_MAX]),
        "submit": _plain(submit),
        "close": _plain("Cancel"),
        "private_metadata": state.dump(),
        "blocks": blocks,
    }


def draft_message(draft: Draft, post: Mapping[str, Any]) -> tuple[str, list[Block]]:
    """The approver channel's message for ``draft``: its text and blocks."""
    author = for_slack(draft.author.name, 80, one_line=True)
    platform = for_slack(str(post.get("platform") or ""), 40)
    head = f"*Reply to approve* · item #{draft.item_id} on {platform} · written by {author}"
    blocks = [
        _section(head),
        _section(_post_line(post)),
        _section("*Reply:*\n" + _quote(draft.text)),
        {
            "type": "actions",
            "block_id": f"{DRAFT_PREFIX}{draft.event_id}",
            "elements": [
                _button("Approve and send", APPROVE, str(draft.item_id), "primary"),
                _button("Edit", EDIT, str(draft.item_id)),
            ],
        },
    ]
    return f"Reply to approve for item #{draft.item_id}, written by {author}", blocks


def settled_message(draft: Draft, said: str) -> tuple[str, list[Block]]:
    """The approver's message once the draft is sent (``said`` is plain words)."""
    text = f"Reply to item #{draft.item_id}: {for_slack(said, 500)}"
    return text, [_section(text), _section(_quote(draft.text))]


def draft_id_of(block_id: Any) -> int | None:
    """The draft an approver's control names ("harken:draft:42" -> 42), or None."""
    if not isinstance(block_id, str) or not block_id.startswith(DRAFT_PREFIX):
        return None
    raw = block_id[len(DRAFT_PREFIX) :]
    return int(raw) if raw.isdigit() and len(raw) <= 18 else None


def submitted_text(view: Mapping[str, Any]) -> str:
    """The reply as typed in the modal ("" when the field is missing or empty)."""
    values = view.get("state", {}).get("values", {}) if isinstance(view, Mapping) else {}
    field = values.get(INPUT_BLOCK, {}).get(INPUT_ACTION, {}) if isinstance(values, dict) else {}
    value = field.get("value") if isinstance(field, dict) else None
    return value if isinstance(value, str) else ""


def _post_line(post: Mapping[str, Any]) -> str:
    author = post.get("author") or {}
    handle = for_slack(str(author.get("handle") or "someone"), 80, one_line=True)
    line = f"*{handle}* wrote:\n" + _quote(str(post.get("text") or ""))
    url = post.get("url")
    if isinstance(url, str) and url.startswith(("https://", "http://")) and "|" not in url:
        line += f"\n<{for_slack(url, 500, one_line=True)}|the post>"
    return line


def _quote(text: str) -> str:
    return "\n".join("> " + line for line in for_slack(text, POST_MAX).splitlines() or [""])


def _section(text: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}


def _context(text: str) -> Block:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text[:3000]}]}


def _plain(text: str) -> dict[str, str]:
    return {"type": "plain_text", "text": text}


def _button(label: str, action_id: str, value: str, style: str | None = None) -> Block:
    button: Block = {"type": "button", "action_id": action_id, "text": _plain(label)}
    return button | {"value": value} | ({"style": style} if style else {})
