"""Facebook live source: a brand's Pages through the Graph API (harken/platforms/meta).

**What it reads**, per configured Page (``pages: {Acme: ["1234567890"]}``, with a Page access
token that can read it):

* posts others wrote on the Page (``/{page-id}/feed``: visitor posts, which Pages of the New
  Pages Experience no longer list on ``visitor_posts``) and posts that tag it
  (``/{page-id}/tagged``), asked with ``since`` (Meta documents no order for either, so each walk
  reads what changed since the last one, to its end);
* the comments on the Page's posts of the last ``watch_window`` (its own and visitors'), as
  ``/{post-id}/comments`` with ``filter=stream`` (replies included) and
  ``order=reverse_chronological``, read when the post's comment count moved (see
  harken/platforms/meta/walk.py).

All of it is about the brand by where it was posted, so it is kept whether or not it names the
brand (``MentionRecord.about``). What the Page itself wrote is marked ``own``: its replies mark
the comments they answer responded, its other posts are left out (harken.pipeline.ingest).
The token needs ``pages_read_engagement`` and ``pages_read_user_content`` (without the latter,
Meta hides who wrote a comment); replies need ``pages_manage_engagement`` (reply.py).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any, ClassVar

from pydantic import Field, field_validator

from harken.config import StrList
from harken.errors import ConfigError
from harken.platforms.base import ParseResult, dict_or_empty
from harken.platforms.facebook import parse as facebook_parser
from harken.platforms.meta.graph import (
    GraphSettings,
    RetryLater,
    Stored,
    UnknownAccount,
    nothing_stored,
)
from harken.platforms.meta.walk import Edge, GraphSource, time_field
from harken.platforms.source import Page

AUTHOR = "from{id,name}"
POST_FIELDS = f"id,message,created_time,{AUTHOR},permalink_url"
# message_tags: whom a reply tags (its people by id: which comment of a thread it answers)
COMMENT_FIELDS = (
    f"id,message,created_time,{AUTHOR},parent{{id}},permalink_url,like_count,comment_count,"
    "message_tags"
)
COUNTED = "comments.filter(stream).limit(0).summary(true)"
ID = re.compile(r"\d{1,40}")


class FacebookSettings(GraphSettings):
    token_help: ClassVar[str] = (
        "a Page access token (Meta for Developers: Graph API Explorer or a system user of the "
        "business, with pages_read_engagement and pages_read_user_content); give it as the "
        "variable FACEBOOK_PAGE_TOKEN"
    )
    pages: dict[str, StrList] = Field(default_factory=dict)  # brand -> its Page ids
    tagged: bool = True

    @field_validator("pages")
    @classmethod
    def _page_ids(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for brand, ids in value.items():
            bad = next((i for i in ids if not ID.fullmatch(i)), None)
            if bad is not None:
                raise ValueError(
                    f"{brand}: {bad!r} is not a Page id (the number in the Page's About, "
                    "Page transparency)"
                )
        return value


class FacebookSource(GraphSource):
    platform = "facebook"
    Settings = FacebookSettings
    settings: FacebookSettings
    token_hint: ClassVar[str] = (
        "make a new Page access token (a long-lived one, or a system user's) and set "
        "FACEBOOK_PAGE_TOKEN"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        known = {b.name for b in self.brands}
        unknown = [b for b in self.settings.pages if b not in known]
        if unknown:
            raise ConfigError(
                f"sources.{self.name}.pages: {unknown[0]!r} is not a brand",
                hint=f"name one of: {', '.join(sorted(known)) or 'no brands configured'}",
            )
        if not any(self.settings.pages.values()):
            raise ConfigError(
                f"sources.{self.name}.pages: no Page to read",
                hint="name each brand's Page ids: pages: {Acme: ['1234567890']}",
            )
        self.accounts = {p: b for b, ids in self.settings.pages.items() for p in ids}

    def pages(self, cursor: str | None) -> Iterator[Page]:
        self.load(cursor)
        self.forget_accounts(set(self.accounts))
        for page, brand in self.accounts.items():
            where = f"brand {brand}, page {page}"
            yield self._list_posts(page, brand, where)
            yield from self.walk(self._posts_edge(page, brand, where, "feed"))
            if self.settings.tagged:
                yield from self.walk(self._posts_edge(page, brand, where, "tagged"))
            for post_id, known in self.due(page):
                yield from self.walk(self._comments_edge(post_id, known, page, brand, where))

    def _list_posts(self, page: str, brand: str, where: str) -> Page:
        """The Page's posts of the window with their comment counts: the watch list."""
        return self.list_own(
            page,
            brand,
            where,
            "feed",
            f"id,created_time,permalink_url,{COUNTED}",
            lambda item: dict_or_empty(dict_or_empty(item.get("comments")).get("summary")).get(
                "total_count"
            ),
        )

    def _posts_edge(self, page: str, brand: str, where: str, edge: str) -> Edge:
        words = "visitors' posts" if edge == "feed" else "posts tagging it"
        return Edge(
            key=f"{edge}:{page}",
            label=f"{where}, {words}",
            path=f"{page}/{edge}",
            params={
                "fields": f"{POST_FIELDS},comments.limit(0).summary(true),"
                "reactions.limit(0).summary(true),shares",
                "limit": 50,
            },
            parse=lambda data: self._about(data, page, brand),
            time_of=time_field("created_time"),
            newest_first=False,
            since=True,
            first_pages=self.settings.first_poll_pages,
        )

    def _comments_edge(
        self, post_id: str, known: dict[str, Any], page: str, brand: str, where: str
    ) -> Edge:
        def parse(data: list[Any]) -> list[ParseResult]:
            # Each comment names its post, as a webhook would: the parser's conversation.
            named = [{**c, "post_id": post_id} if isinstance(c, dict) else c for c in data]
            return self._about(named, page, brand)

        new = self.is_new(time_field("published")(known) or self.runtime.now())
        return Edge(
            key=f"comments:{post_id}",
            label=f"{where}, comments on {post_id}",
            path=f"{post_id}/comments",
            params={
                "fields": COMMENT_FIELDS,
                "filter": "stream",
                "order": "reverse_chronological",
                "limit": 100,
            },
            parse=parse,
            time_of=time_field("created_time"),
            first_pages=None if new else self.settings.first_poll_pages,
            vanishes=True,
            count=known.get("count"),
            on_done=self.read_done(post_id),
        )

    def _about(self, data: list[Any], page: str, brand: str) -> list[ParseResult]:
        """The page's items as mentions about the brand; the Page's own words marked."""
        worded = [i for i in data if facebook_parser.has_words(i)]  # a photo alone is no mention
        return self.marked(facebook_parser.parse({"data": worded}), brand, set(self.accounts))

    # -- webhooks -----------------------------------------------------------------------------

    webhook_object = "page"

    def delivered(
        self, entry: dict[str, Any], until: float = math.inf, stored: Stored = nothing_stored
    ) -> list[ParseResult | RetryLater]:
        """A Page's ``feed`` changes: visitors' posts and comments, as they are written
        (nothing to fetch)."""
        brand = self.accounts.get(str(entry.get("id")))
        if brand is None:
            raise UnknownAccount(f"Page {str(entry.get('id'))[:40]!r}")
        parsed = facebook_parser.parse({"object": "page", "entry": [entry]})
        return list(self.marked(parsed, brand, set(self.accounts)))

    def brand_of_account(self, account: str) -> str | None:
        return self.accounts.get(account)
