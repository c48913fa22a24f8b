"""The normalized records every source produces and the store keeps.

They sit below both listeners/ and store/, so neither has to import the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class AuthorRecord:
    platform: str
    external_id: str
    handle: str
    name: str | None = None
    followers: int | None = None
    verified: bool = False
    url: str | None = None


@dataclass(frozen=True)
class MentionRecord:
    platform: str
    external_id: str
    text: str
    created_at: datetime  # timezone-aware UTC
    author: AuthorRecord
    url: str | None = None
    language: str | None = None  # as the platform reports it; None when it does not
    # likes, reposts, replies, quotes (whatever the platform reports)
    metrics: Mapping[str, int] = field(default_factory=dict)
    # ("retweet" | "quote" | "reply", external id of the referenced post)
    reference: tuple[str, str] | None = None
    conversation_id: str | None = None
    raw: Mapping[str, Any] = field(default_factory=dict)
    # The fields cut to fit harken's limits ("text", "raw", "author.name"...): see
    # harken.platforms.base; counted as "cut to fit" by imports and polls.
    cut: tuple[str, ...] = ()
    # The brand the post is about by where it was posted (a comment on the brand's own
    # YouTube channel), kept even when its text does not name the brand; None: by its text.
    about: str | None = None
    # Written by the brand's own account, as the source knows it (its YouTube channel, its
    # Facebook Page, its Instagram account, its Bluesky DIDs; ``about`` names the brand).
    # Ingest keeps the brand's answers, to mark the items they answer responded; drops the rest.
    own: bool = False
