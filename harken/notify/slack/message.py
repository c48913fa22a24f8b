"""A rendered Slack message: what format.py builds for an alert and digest/render.py for the
digest, and what the Slack sink posts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class SlackMessage:
    """``text`` is the notification fallback (mrkdwn, escaped); ``blocks`` the Block Kit."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)
