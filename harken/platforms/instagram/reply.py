"""Replies on Instagram: ``POST /{ig-comment-id}/replies`` with ``message``, as the brand's
account.

Instagram answers top-level comments only: a reply to a reply goes to the comment that opened
its thread. Media that tag the brand are others' posts, which the API cannot comment on. A
comment or caption that @mentions the brand (received by webhook: harken.platforms.meta.hooks)
is answered with ``POST /{ig-user-id}/mentions`` (``media_id``, and ``comment_id`` for a
comment). The token needs ``instagram_manage_comments``.
"""

from __future__ import annotations

from typing import ClassVar

from harken.platforms.base import text_or_none
from harken.platforms.meta.reply import GraphReply
from harken.platforms.reply import ReplyTarget
from harken.platforms.source import SourceSettings

MAX_LENGTH = 2_200  # characters, as a caption (Meta documents no other limit for comments)


class InstagramReply(GraphReply):
    name, label = "instagram", "Instagram"
    max_length = MAX_LENGTH
    needs = "an access token with instagram_manage_comments"
    token_variable = "INSTAGRAM_ACCESS_TOKEN"
    credentials: ClassVar[dict[str, str | None]] = {"access_token": "INSTAGRAM_ACCESS_TOKEN"}

    def settings_class(self) -> type[SourceSettings]:
        from harken.platforms.instagram.source import InstagramSettings

        return InstagramSettings

    def target_problems(self, target: ReplyTarget) -> list[str]:
        if _mention(target) is not None:
            return []
        if "text" not in target.raw and "caption" in target.raw:
            return [
                "Instagram: a post that tags the brand is someone else's media, which the API "
                "cannot comment on; answer it in the Instagram app"
            ]
        return []

    def reply_path(self, target: ReplyTarget) -> str:
        if (mention := _mention(target)) is not None:
            return f"{mention['account']}/mentions"
        thread = text_or_none(target.raw.get("parent_id"))
        return f"{thread or target.external_id}/replies"

    def reply_fields(self, target: ReplyTarget) -> dict[str, str]:
        mention = _mention(target)
        if mention is None:
            return {}
        return {k: mention[k] for k in ("media_id", "comment_id") if mention.get(k)}


def _mention(target: ReplyTarget) -> dict[str, str] | None:
    """The ids an @mention elsewhere is answered with (kept by the webhook receiver), or None."""
    kept = target.raw.get("harken_mention")
    if not isinstance(kept, dict):
        return None
    ids = {k: v for k, v in kept.items() if isinstance(v, str) and v.isdigit() and len(v) <= 40}
    return ids if "account" in ids and "media_id" in ids else None
