"""Instagram live source: a brand's Instagram professional accounts through the Graph API
("Instagram API with Facebook Login", harken/platforms/meta).

**What it reads**, per configured account (``accounts: {Acme: ["17841400000000000"]}``, the
Instagram account id its Facebook Page is linked to):

* the comments on the account's media of the last ``watch_window``, as ``/{media-id}/comments``
  (50 threads a page, each with its replies: 50 nested in it, more from
  ``/{comment-id}/replies``), read to the end when the media's
  ``comments_count`` moved (see harken/platforms/meta/walk.py): a late reply sits in its old
  thread, not on the first page;
* media others posted that tag the account (``/{ig-user-id}/tags``), newest first.

Both are about the brand by where they were posted, so they are kept whether or not they name
it (``MentionRecord.about``); the account's own comments are marked ``own``: its replies mark
the comments they answer responded (harken.pipeline.ingest). @mentions in captions and comments
elsewhere reach an app only through Meta's ``mentions`` webhook, which ``harken web`` receives
(``delivered``; harken.platforms.meta.hooks). The token (a Page or system user token) needs
``instagram_basic``, ``instagram_manage_comments`` and ``pages_read_engagement``.
"""

from __future__ import annotations

import logging
import math
import re
import time
from collections.abc import Iterator
from typing import Any, ClassVar

import httpx
from pydantic import Field, field_validator

from harken.config import StrList
from harken.errors import ConfigError, RateLimited, TransientSourceError
from harken.net.limits import AnswerTooLarge
from harken.platforms.base import ParseResult, Rejection, dict_or_empty
from harken.platforms.instagram import parse as instagram_parser
from harken.platforms.instagram.parse import PLATFORM
from harken.platforms.meta.graph import (
    GraphError,
    GraphSettings,
    RetryLater,
    Stored,
    UnknownAccount,
    nothing_stored,
    source_error,
)
from harken.platforms.meta.walk import Edge, GraphSource, after_cursor, time_field
from harken.platforms.source import Page

log = logging.getLogger(__name__)

COMMENT = "id,text,timestamp,username,from{id,username},like_count,parent_id"
COMMENT_FIELDS = f"{COMMENT},replies.limit(50){{{COMMENT}}}"
TAGGED_FIELDS = "id,caption,timestamp,username,permalink,comments_count,like_count"
ID = re.compile(r"\d{1,40}")
# What Meta gives of a comment or caption that @mentions the account (documented fields only:
# who wrote a mentioned comment is not among them).
MENTIONED_COMMENT = "id,text,timestamp,like_count,media{id,permalink}"
MENTIONED_MEDIA = "id,caption,timestamp,username,permalink,comments_count,like_count"


class InstagramSettings(GraphSettings):
    token_help: ClassVar[str] = (
        "an access token of the Facebook Page linked to the Instagram account (or of a system "
        "user of the business), with instagram_basic, instagram_manage_comments and "
        "pages_read_engagement; give it as the variable INSTAGRAM_ACCESS_TOKEN"
    )
    accounts: dict[str, StrList] = Field(default_factory=dict)  # brand -> IG account ids
    tags: bool = True

    @field_validator("accounts")
    @classmethod
    def _account_ids(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for brand, ids in value.items():
            bad = next((i for i in ids if not ID.fullmatch(i)), None)
            if bad is not None:
                raise ValueError(
                    f"{brand}: {bad!r} is not an Instagram account id (a number: GET "
                    "/{page-id}?fields=instagram_business_account gives it)"
                )
        return value


class InstagramSource(GraphSource):
    platform = "instagram"
    Settings = InstagramSettings
    settings: InstagramSettings
    token_hint: ClassVar[str] = (
        "make a new token of the linked Facebook Page (or a system user's) and set "
        "INSTAGRAM_ACCESS_TOKEN"
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        known = {b.name for b in self.brands}
        unknown = [b for b in self.settings.accounts if b not in known]
        if unknown:
            raise ConfigError(
                f"sources.{self.name}.accounts: {unknown[0]!r} is not a brand",
                hint=f"name one of: {', '.join(sorted(known)) or 'no brands configured'}",
            )
        if not any(self.settings.accounts.values()):
            raise ConfigError(
                f"sources.{self.name}.accounts: no Instagram account to read",
                hint="name each brand's account ids: accounts: {Acme: ['17841400000000000']}",
            )
        self.owners = {a: b for b, ids in self.settings.accounts.items() for a in ids}
        self.usernames: dict[str, str | None] = {}  # account id -> its username (webhooks)

    def pages(self, cursor: str | None) -> Iterator[Page]:
        self.load(cursor)
        self.forget_accounts(set(self.owners))
        for account, brand in self.owners.items():
            where = f"brand {brand}, account {account}"
            yield self._list_media(account, brand, where)
            if self.settings.tags:
                yield from self.walk(
                    Edge(
                        key=f"tags:{account}",
                        label=f"{where}, media tagging it",
                        path=f"{account}/tags",
                        params={"fields": TAGGED_FIELDS, "limit": 50},
                        parse=lambda data, brand=brand: self._about(data, brand),
                        time_of=time_field("timestamp"),
                        first_pages=self.settings.first_poll_pages,
                    )
                )
            for media_id, known in self.due(account):
                yield from self.walk(self._comments_edge(media_id, known, brand, where))

    def _list_media(self, account: str, brand: str, where: str) -> Page:
        """The account's media of the window with their comment counts: the watch list."""
        fields = "id,timestamp,permalink,comments_count"
        return self.list_own(
            account, brand, where, "media", fields, lambda item: item.get("comments_count")
        )

    def _comments_edge(self, media_id: str, known: dict[str, Any], brand: str, where: str) -> Edge:
        media = {"id": media_id, **({"permalink": known["link"]} if known.get("link") else {})}

        def parse(data: list[Any]) -> list[ParseResult]:
            # Each comment names its media (the link to show, the conversation).
            named = [
                {**self._all_replies(c, where), "media": media} if isinstance(c, dict) else c
                for c in data
            ]
            return self._about(named, brand)

        new = self.is_new(time_field("published")(known) or self.runtime.now())
        return Edge(
            key=f"comments:{media_id}",
            label=f"{where}, comments on {media_id}",
            path=f"{media_id}/comments",
            params={"fields": COMMENT_FIELDS, "limit": 50},
            parse=parse,
            time_of=time_field("timestamp"),
            # Threads come newest first, but a reply sits in its thread wherever that is: a
            # moved count is read to the end (a page of 50 threads a call).
            newest_first=False,
            first_pages=None if new else self.settings.first_poll_pages,
            vanishes=True,
            count=known.get("count"),
            on_done=self.read_done(media_id),
        )

    def _all_replies(self, comment: dict[str, Any], where: str) -> dict[str, Any]:
        """The comment with every reply of its thread: the first 50 come nested in it, the
        rest from ``/{comment-id}/replies`` (up to ``max_pages`` pages of 50)."""
        nested = dict_or_empty(comment.get("replies"))
        after = after_cursor(nested)
        if after is None or not isinstance(comment.get("id"), str):
            return comment
        replies = list(nested.get("data") or [])
        for number in range(1, self.settings.max_pages + 1):
            label = f"{where}, replies to {comment['id']}, page {number}"
            path = f"{comment['id']}/replies"
            body = self.get(label, path, {"fields": COMMENT, "limit": 50, "after": after}, True)
            page = body.get("data")
            if not isinstance(page, list):
                break  # gone, or a cursor refused: the nested ones are still read
            replies += page
            after = after_cursor(body)
            if after is None:
                break
        return {**comment, "replies": {"data": replies}}

    def _about(self, data: list[Any], brand: str) -> list[ParseResult]:
        """Mentions about the brand; the account's own comments marked (by id or username)."""
        worded = [i for i in data if instagram_parser.has_words(i)]  # a photo alone is no mention
        parsed = instagram_parser.parse({"data": worded})
        return self.marked(parsed, brand, set(self.owners), self._own_names(brand))

    # -- webhooks -----------------------------------------------------------------------------

    webhook_object = "instagram"

    def delivered(
        self, entry: dict[str, Any], until: float = math.inf, stored: Stored = nothing_stored
    ) -> list[ParseResult | RetryLater]:
        """An account's ``comments`` changes (on its media, as they are written) and its
        ``mentions``: a comment or caption elsewhere that @mentions it, which the delivery
        names by id only and which is fetched (``mentioned_comment``, ``mentioned_media``),
        while ``until`` (a monotonic time) has not passed and Meta's usage is under the
        ceiling; after that, or when a fetch fails for a reason that may pass, the change is
        a RetryLater (Meta sends the delivery again)."""
        account = str(entry.get("id"))
        brand = self.owners.get(account)
        if brand is None:
            raise UnknownAccount(f"Instagram account {account[:40]!r}")
        changes = entry.get("changes")
        changes = [c for c in changes if isinstance(c, dict)] if isinstance(changes, list) else []
        comments = [c for c in changes if c.get("field") != "mentions"]
        delivery = {"object": "instagram", "entry": [{**entry, "changes": comments}]}
        found: list[ParseResult | RetryLater] = []
        for change in changes:
            if change.get("field") != "mentions":
                continue
            if (found and isinstance(found[-1], RetryLater)) or time.monotonic() >= until:
                found.append(RetryLater("the delivery's time to fetch ran out"))
                continue
            value = dict_or_empty(change.get("value"))
            if stored(PLATFORM, str(value.get("comment_id") or value.get("media_id"))):
                continue  # read on an earlier try of this delivery: no call again
            found += self._mentioned(account, brand, value)
        if comments:
            # A webhook names commenters by Instagram-scoped ids, not the account's id: the
            # account's own replies are known by its username, without which they would be
            # taken for customers' comments: the delivery waits for it (Meta sends it again).
            known, name = self._username(account, until)
            if not known:
                return [*found, RetryLater("the account's username could not be read")]
            parsed = instagram_parser.parse(delivery)
            found += self.marked(parsed, brand, set(self.owners), {name} - {None})
        return found

    def brand_of_account(self, account: str) -> str | None:
        return self.owners.get(account)

    def _username(self, account: str, until: float = math.inf) -> tuple[bool, str | None]:
        """(known, the account's username, folded), asked once a process. Not known while a
        fault that may pass keeps it (or the time is up); None when Meta will not say."""
        if account not in self.usernames:
            if time.monotonic() >= until:
                return False, None
            try:
                name = self.client.get(account, {"fields": "username"}).get("username")
            except (GraphError, httpx.HTTPError, AnswerTooLarge) as err:
                log.warning("%s: the username of %s could not be read: %s", self.name, account, err)
                if isinstance(err, GraphError) and not (err.passing or err.throttled):
                    self.usernames[account] = None  # not asked again by this process
                    return True, None
                return False, None
            self.usernames[account] = name.casefold() if isinstance(name, str) else None
        return True, self.usernames[account]

    def _own_names(self, brand: str) -> set[str]:
        """The usernames of the brand's accounts: comments name their authors by
        Instagram-scoped ids, which are not the account ids of the config. While one cannot
        be read for a reason that may pass, the poll fails (and is tried again): a comment
        read without it would take the brand's reply for a customer's, for good."""
        names = set()
        for account in (a for a, b in self.owners.items() if b == brand):
            known, name = self._username(account)
            if not known:
                raise TransientSourceError(
                    f"{self.name}: the username of account {account} could not be read"
                )
            names.add(name)
        return {n for n in names if n}

    def _mentioned(
        self, account: str, brand: str, value: dict[str, Any]
    ) -> list[ParseResult | RetryLater]:
        """The comment or media a ``mentions`` change names, fetched with the account's token.
        It is someone else's: answered through ``/{account}/mentions`` (reply.py), so the
        ids that call needs are kept with it (``harken_mention``). A fault that may pass
        (5xx, a timeout, throttling, usage at the ceiling) is a RetryLater; any other
        (deleted, a permission or token refused) skips the mention, logged with what to fix."""
        comment, media = value.get("comment_id"), value.get("media_id")
        if not (isinstance(media, str) and ID.fullmatch(media)) or not (
            comment is None or (isinstance(comment, str) and ID.fullmatch(comment))
        ):
            return [Rejection("an Instagram mention without a readable media_id/comment_id")]
        if comment is not None:
            key, fields = "mentioned_comment", f"comment_id({comment}){{{MENTIONED_COMMENT}}}"
        else:
            key, fields = "mentioned_media", f"media_id({media}){{{MENTIONED_MEDIA}}}"
        what = key.replace("_", " ")
        try:
            self._check_usage(f"{what} {comment or media}")
            body = self.client.get(account, {"fields": f"{key}.{fields}"})
        except RateLimited as err:
            return [RetryLater(str(err))]
        except GraphError as err:
            if err.passing or err.throttled:
                return [RetryLater(f"{what}: {err}")]
            if not (err.gone or err.code == 100):
                problem = source_error(err, self.name, self.runtime.now(), None, self.token_hint)
                log.error("%s: webhook: %s", self.name, problem or err)
            return [Rejection(f"the {what} could not be read ({err})")]
        except httpx.HTTPError as err:
            return [RetryLater(f"{what}: {type(err).__name__}")]
        except AnswerTooLarge as err:
            return [Rejection(f"the {what} could not be read ({err})")]
        finally:
            self._note_usage()
        item = body.get(key)
        if not isinstance(item, dict):
            return [Rejection(f"Meta's answer has no {key}")]
        where = {"account": account, "media_id": media, "comment_id": comment}
        parsed = instagram_parser.parse({**item, "harken_mention": where})
        return self.marked(parsed, brand, set(self.owners))
