"""Replies on Facebook: a comment as the Page, ``POST /{object-id}/comments`` with ``message``.

A comment is answered in its thread (a reply to a reply goes to the comment that opened the
thread: Facebook threads are one level deep); a post is answered with a comment on it. The
Page access token needs ``pages_manage_engagement`` (and a person with the Page's moderate
task behind it).
"""

from __future__ import annotations

from typing import ClassVar

from harken.platforms.base import text_or_none
from harken.platforms.meta.reply import GraphReply
from harken.platforms.reply import ReplyTarget
from harken.platforms.source import SourceSettings

MAX_LENGTH = 8_000  # characters of a comment


class FacebookReply(GraphReply):
    name, label = "facebook", "Facebook"
    max_length = MAX_LENGTH
    needs = "a Page access token with pages_manage_engagement"
    token_variable = "FACEBOOK_PAGE_TOKEN"
    credentials: ClassVar[dict[str, str | None]] = {"access_token": "FACEBOOK_PAGE_TOKEN"}

    def settings_class(self) -> type[SourceSettings]:
        from harken.platforms.facebook.source import FacebookSettings

        return FacebookSettings

    def reply_path(self, target: ReplyTarget) -> str:
        parent = target.raw.get("parent")
        thread = text_or_none(parent.get("id")) if isinstance(parent, dict) else None
        return f"{thread or target.external_id}/comments"
