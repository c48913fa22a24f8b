"""What the Facebook and Instagram sources share: the cursor, the calls, the walk over an edge,
and the watch list of the brand's own recent posts.

**Edges.** An edge (the posts on a Page, the media an account is tagged in, a post's comments)
is read page by page with ``after`` cursors. On an edge that lists newest first, a walk ends once
it reaches what the previous walk stored (``newest``); on one that does not say its order (or
where new items can sit anywhere: a reply in an old thread), it reads to the end and keeps only
what was written after the previous walk's newest item. While a walk is paged through, its
``after`` cursor (``page``) and the newest time it has seen (``pending``) are kept with each
page, so a poll cut short resumes there, and ``newest`` moves only once the walk is done. A
first walk of an edge that was there before the source's first poll reads ``first_poll_pages``
pages: not years of history.

**Watch list.** Each poll lists the brand's own posts of the last ``watch_window`` (the newest
``max_posts``) with their comment counts, one call per account. A post's comments are read when
its count moved since they were last read, or ``recheck_every`` after that (a comment deleted and
another added leave the count as it was); so a reply added days later to an old thread is read,
and an unchanged post costs nothing. A post that leaves the window, or is deleted, is let go.

**Usage.** Before each call the source looks at the usage the previous answer reported: at the
``usage_ceiling`` the poll ends as rate limited until Meta's estimate of when access comes back
(``harken sources`` shows the share left).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any, ClassVar

from harken.errors import PayloadError, RateLimited, SourceError
from harken.platforms.base import ParseResult, parse_time
from harken.platforms.meta.graph import (
    DEFAULT_REGAIN,
    TOKEN_ERRORS,
    GraphClient,
    GraphError,
    GraphSettings,
    RetryLater,
    Stored,
    nothing_stored,
    source_error,
)
from harken.platforms.source import Page, Source
from harken.records import MentionRecord

log = logging.getLogger(__name__)

# How far behind the last walk's newest post a ``since`` walk starts: clocks differ, and a post
# can reach an edge a little after it was written. The store absorbs what is read twice.
OVERLAP = timedelta(minutes=10)


@dataclass(frozen=True)
class OwnPost:
    """One of the brand's own recent posts, as the listing call gave it."""

    id: str
    brand: str
    account: str  # the page or Instagram account it belongs to
    published: datetime
    comments: int | None  # the count the listing reported; None: not given
    link: str | None = None


@dataclass(frozen=True)
class Edge:
    """One edge to walk."""

    key: str  # its entry in the cursor ("tagged:123", "comments:123_456")
    label: str  # for logs ("brand Acme, page 123, tagged posts")
    path: str  # "123/tagged"
    params: dict[str, Any]
    parse: Callable[[list[Any]], list[ParseResult]]  # a page's data -> records
    time_of: Callable[[Any], datetime | None]  # an item's time, for the cursor
    # Said to list newest first (a walk then stops at what it stored); each page is checked,
    # and one that is not in that order is read to the end.
    newest_first: bool = True
    # Ask only for what changed since the last walk (``since``, less OVERLAP): for edges whose
    # order Meta does not document, so a walk reads to their end.
    since: bool = False
    first_pages: int | None = None  # a first walk's budget; None: read it as any walk
    # One post's edge: when Meta will not read it (deleted, or an object it refuses), the post
    # is let go and the poll goes on. An account's edge failing is an error to fix.
    vanishes: bool = False
    count: int | None = None  # the post's comment count when this walk starts
    # Runs before the last page's cursor is made, with the count the walk started at.
    on_done: Callable[[int | None], None] | None = None


class GraphSource(Source):
    """A Meta source: subclasses list their own posts and edges (``pages``)."""

    settings: GraphSettings
    token_hint: ClassVar[str] = "make a new access token"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.client = GraphClient(self.settings, self.timeout, clock=self.runtime.now)
        self.state: dict[str, Any] = {}

    def close(self) -> None:
        self.client.close()

    # -- webhooks (harken.platforms.meta.hooks) ---------------------------------------------

    webhook_object: ClassVar[str]  # a delivery's "object": "page", "instagram"

    def delivered(
        self, entry: dict[str, Any], until: float = math.inf, stored: Stored = nothing_stored
    ) -> list[ParseResult | RetryLater]:
        """The posts one entry of a webhook delivery carries (or names: fetched while the
        monotonic time ``until`` has not passed, unless ``stored`` already), about the brand
        whose Page or account the entry is for. Raises UnknownAccount for an entry of an
        account no brand lists."""
        raise NotImplementedError

    def marked(
        self,
        parsed: Iterator[ParseResult],
        brand: str,
        own: set[str],
        own_names: set[str] | frozenset[str] = frozenset(),
    ) -> list[ParseResult]:
        """Parsed posts as mentions about the brand (kept whether or not they name it); those
        by its Page or account (``own``: their ids; ``own_names``: their usernames, folded)
        are its answers, marked ``own``: they mark the comments they answer responded, and
        are not queued (harken.pipeline.ingest). A Page's answer is its own brand's only when
        it is the Page of this brand (one brand's Page on another's is another author)."""
        mine = {i for i in own if self.brand_of_account(i) == brand}
        return [
            replace(
                item,
                about=brand,
                own=item.author.external_id in mine or item.author.handle.casefold() in own_names,
            )
            if isinstance(item, MentionRecord)
            else item
            for item in parsed
        ]

    def brand_of_account(self, account: str) -> str | None:
        """The brand whose Page or account this id is (subclasses know their maps)."""
        return None

    def translate(self, exc: Exception) -> SourceError | None:
        return source_error(exc, self.name, self.runtime.now(), self.client.usage, self.token_hint)

    # -- the cursor -------------------------------------------------------------------------

    def load(self, cursor: str | None) -> None:
        """The stored state; entries of the wrong shape are dropped with a warning, so a bad
        cursor cannot fail every poll (an edge dropped starts again as a first walk)."""
        try:
            state = json.loads(cursor) if cursor else {}
        except ValueError:
            state = None
        if not isinstance(state, dict):
            if cursor:
                log.warning("%s: the stored cursor is unreadable; starting from now", self.name)
            state = {}
        streams = _entries(state.get("streams"), _is_stream)
        posts = _entries(state.get("posts"), _is_post)
        dropped = sum(
            len(given) - len(kept)
            for given, kept in ((state.get("streams"), streams), (state.get("posts"), posts))
            if isinstance(given, dict)
        )
        if dropped:
            log.warning(
                "%s: %d unreadable entries of the stored cursor dropped", self.name, dropped
            )
        horizon = self.runtime.now() + OVERLAP
        for stream in streams.values():  # a time past now would hold the cursor there
            if "newest" in stream and _time(stream["newest"]) > horizon:
                stream["newest"] = self.runtime.now().isoformat()
        started = state.get("started")
        if not (isinstance(started, str) and _readable(started)):
            started = self.runtime.now().isoformat()
        self.state = {"started": started, "streams": streams, "posts": posts}

    def cursor(self) -> str:
        return json.dumps(self.state, sort_keys=True)

    # -- calls ------------------------------------------------------------------------------

    def get(
        self, label: str, path: str, params: dict[str, Any], vanishes: bool = False
    ) -> dict[str, Any]:
        """One GET under the retry policy. ``{"stale": why}`` when an ``after`` cursor was
        refused; with ``vanishes``, ``{"gone": why}`` when Meta will not read the object."""
        self._check_usage(label)
        body = self.call(label, lambda: self._get(path, params, vanishes))
        self._note_usage()
        return body

    def _get(self, path: str, params: dict[str, Any], vanishes: bool) -> dict[str, Any]:
        try:
            body = self.client.get(path, params)
            if not isinstance(body.get("data"), list):  # every edge answers a list of data
                raise GraphError(200, "the answer has no list of data", transient=True)
            return body
        except GraphError as err:
            if err.throttled or err.passing or err.code in TOKEN_ERRORS or err.permission:
                raise  # the poll ends, saying what to fix: not one post's problem
            if "after" in params and err.code == 100 and not err.gone:
                return {"stale": err.detail or "invalid cursor"}
            if vanishes and (err.gone or err.code is not None):
                return {"gone": err.detail or "deleted"}
            if err.gone:
                raise SourceError(
                    f"{self.name}: {path}: does not exist or the token may not read it ({err})",
                    hint="check the ids in the config and the token's permissions "
                    "(docs/listeners.md, Facebook and Instagram)",
                ) from None
            raise

    def _check_usage(self, label: str) -> None:
        """End the poll while the last answer's usage is at the ceiling. That usage is
        forgotten once the time Meta gave (or DEFAULT_REGAIN) has passed: the next call
        then finds out afresh."""
        usage = self.client.usage
        if usage is None or usage.percent < self.settings.usage_ceiling:
            return
        until = usage.regained_at() or usage.seen + DEFAULT_REGAIN
        if self.runtime.now() >= until:
            self.client.usage = None
            return
        raise RateLimited(
            f"{self.name}: {label}: {usage.percent}% of an allowance used ({usage.header})",
            reset_at=until,
            hint=f"Meta throttles by the hour; polling stops at usage_ceiling "
            f"({self.settings.usage_ceiling}%): poll less often (interval)",
        )

    def _note_usage(self) -> None:
        usage = self.client.usage
        if usage is not None:
            reset = usage.regained_at()
            self.note_quota(max(0, 100 - usage.percent), 100, reset.isoformat() if reset else None)

    # -- the walk ---------------------------------------------------------------------------

    def walk(self, edge: Edge) -> Iterator[Page]:
        mine = self.state["streams"].setdefault(edge.key, {})
        if "newest" not in mine and "page" not in mine and edge.first_pages is not None:
            mine["left"] = edge.first_pages  # a first walk's budget, kept if it is cut short
            # What was written before this first walk began is history, whatever it reads.
            mine["floor"] = self.runtime.now().isoformat()
        if "page" not in mine and edge.count is not None:
            mine["count"] = edge.count  # what "read" means once this walk is done
        budget = self.settings.max_pages
        number = 0
        while number < budget:
            number += 1
            label = f"{edge.label}, page {number}"
            params = dict(edge.params)
            if edge.since:
                params["since"] = mine.setdefault("since", self._since(mine))
            if mine.get("page"):
                params["after"] = mine["page"]
            body = self.get(label, edge.path, params, vanishes=edge.vanishes)
            if "stale" in body:  # Meta's cursors expire: start again from the top
                number -= 1  # not a page read (the next call has no cursor to refuse)
                log.warning("%s: %s: cursor refused (%s); reading again from the top",
                            self.name, label, body["stale"])  # fmt: skip
                mine.pop("page", None)
                continue
            if "gone" in body:
                log.warning(
                    "%s: %s: gone (%s); no longer read", self.name, edge.label, body["gone"]
                )
                self.let_go(edge.key)
                yield Page([], self.cursor(), label=f"{label}: gone")
                return
            data = body["data"]
            now = self.runtime.now()
            # A time past now is an author's clock or a forgery: it must not move the cursor
            # past every post still to come.
            times = [t for t in map(edge.time_of, data) if t is not None and t <= now + OVERLAP]
            newest = _time(mine["newest"]) if "newest" in mine else None
            # Newest first only when the page says so: an edge that ignores ``order`` (or
            # lists as it likes) is read to its end, as one whose order is not documented.
            ordered = edge.newest_first and all(a >= b for a, b in pairwise(times))
            items = edge.parse(data)
            if "floor" in mine and "left" not in mine:  # history, once the first walk is done
                floor = _time(mine["floor"]) - OVERLAP
                items = [i for i in items if not _older(i, floor)]
            caught_up = ordered and newest is not None and bool(times) and min(times) <= newest
            top = max(times, default=None)
            if top is not None and (mine.get("pending") is None or top > _time(mine["pending"])):
                mine["pending"] = top.isoformat()
            token = after_cursor(body)
            if "left" in mine:
                mine["left"] -= 1
            spent = mine.get("left", 1) <= 0
            done = caught_up or not token or spent
            if done:
                self._walked(mine, newest, now, history_left=spent and token is not None)
                if edge.on_done is not None:
                    edge.on_done(mine.pop("count", None))
            else:
                mine["page"] = token
            yield Page(items, self.cursor(), label=label)
            if done:
                return

    def _walked(
        self, mine: dict[str, Any], newest: datetime | None, now: datetime, history_left: bool
    ) -> None:
        """A walk is done: ``newest`` moves to the newest item it saw. A first walk that
        stopped at its budget left older items unread: they are history, not mentions, and
        stay out when a later walk reads to the end (``floor``, the time it began)."""
        pending = _time(mine["pending"]) if mine.get("pending") else None
        if pending is not None:
            mine["newest"] = max(pending, newest or pending).isoformat()
        elif newest is None:
            mine["newest"] = now.isoformat()
        if "left" in mine and not history_left:
            mine.pop("floor", None)  # the first walk read it all: nothing was left out
        for key in ("page", "pending", "since", "left"):
            mine.pop(key, None)

    def _since(self, mine: dict[str, Any]) -> int:
        """Where a ``since`` walk starts: a little before the last one's newest post; a first
        walk, at the watch window."""
        if "newest" not in mine:
            return unix(self.runtime.now() - self.settings.watch_window)
        return unix(_time(mine["newest"]) - OVERLAP)

    # -- the watch list ---------------------------------------------------------------------

    def watch(self, account: str, listed: list[OwnPost]) -> None:
        """The account's own posts to read comments of: the newest ``max_posts`` within the
        window, of those listed now and those already watched (a short or filtered listing
        does not let a post go; the window, or Meta saying it is gone, does)."""
        since = self.runtime.now() - self.settings.watch_window
        posts = self.state["posts"]
        mine = {
            post_id: _time(known["published"])
            for post_id, known in posts.items()
            if known.get("account") == account
        }
        mine.update({p.id: p.published for p in listed})
        recent = sorted((t, i) for i, t in mine.items() if t >= since)
        kept = {i for _, i in recent[-self.settings.max_posts :]}
        for post_id in mine:
            if post_id not in kept and posts.get(post_id, {}).get("account") == account:
                self.let_go(f"comments:{post_id}")
        for post in listed:
            if post.id not in kept:
                continue
            known = posts.get(post.id, {})
            posts[post.id] = {
                **{k: v for k, v in known.items() if k in ("read", "read_at")},
                "brand": post.brand,
                "account": post.account,
                "published": post.published.isoformat(),
                **({"count": post.comments} if post.comments is not None else {}),
                **({"link": post.link} if post.link else {}),
            }

    def list_own(
        self,
        account: str,
        brand: str,
        where: str,
        edge: str,
        fields: str,
        count_of: Callable[[dict[str, Any]], Any],
    ) -> Page:
        """The account's own posts of the window, with their comment counts, as the watch
        list (``edge``: "feed", "media"; ``fields`` name the post's time first, then its
        link). An account Meta will not read is an error to fix."""
        time_key, link_key = fields.split(",")[1:3]
        since = self.runtime.now() - self.settings.watch_window
        params = {"fields": fields, "since": unix(since), "limit": self.settings.max_posts}
        data = self.get(f"{where}, recent posts", f"{account}/{edge}", params)["data"]
        listed = []
        for item in data:
            published = time_field(time_key)(item)
            if published is None or not isinstance(item.get("id"), str):
                continue
            count, link = count_of(item), item.get(link_key)
            listed.append(
                OwnPost(
                    item["id"],
                    brand,
                    account,
                    published,
                    count if type(count) is int else None,
                    link if isinstance(link, str) else None,
                )
            )
        self.watch(account, listed)
        return Page([], self.cursor(), label=f"{where}: {len(listed)} recent posts")

    def forget_accounts(self, accounts: set[str]) -> None:
        """Let go of what is kept of accounts no longer configured: their posts and edges."""
        for post_id, known in list(self.state["posts"].items()):
            if known.get("account") not in accounts:
                self.let_go(f"comments:{post_id}")
        for key in list(self.state["streams"]):
            kind, _, ident = key.partition(":")
            if kind != "comments" and ident not in accounts:
                del self.state["streams"][key]

    def due(self, account: str) -> list[tuple[str, dict[str, Any]]]:
        """The account's watched posts whose comments should be read now, oldest first."""
        now = self.runtime.now()
        chosen = []
        for post_id, known in self.state["posts"].items():
            if known.get("account") != account:
                continue
            in_walk = "page" in self.state["streams"].get(f"comments:{post_id}", {})
            moved = known.get("count") is None or known.get("count") != known.get("read")
            stale = (
                "read_at" not in known
                or now - _time(known["read_at"]) >= self.settings.recheck_every
            )
            if in_walk or moved or stale:
                chosen.append((post_id, known))
        return sorted(chosen, key=lambda pk: str(pk[1].get("published", "")))

    def read_done(self, post_id: str) -> Callable[[int | None], None]:
        """What marks a post's comments read once its walk is done, as of the count the walk
        started at (a comment added while a walk spanned polls is not counted as read)."""

        def mark(count: int | None) -> None:
            known = self.state["posts"].get(post_id)
            if known is not None:
                if count is not None:
                    known["read"] = count
                known["read_at"] = self.runtime.now().isoformat()

        return mark

    def is_new(self, published: datetime) -> bool:
        """Published after the source's first poll: every comment of it is read."""
        return published > _time(self.state["started"])

    def let_go(self, key: str) -> None:
        self.state["streams"].pop(key, None)
        if key.startswith("comments:"):
            self.state["posts"].pop(key.removeprefix("comments:"), None)


def _older(item: ParseResult, than: datetime) -> bool:
    return isinstance(item, MentionRecord) and item.created_at <= than


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


def after_cursor(body: dict[str, Any]) -> str | None:
    """The next page's ``after`` cursor, when the answer says there is a next page."""
    paging = body.get("paging")
    if not isinstance(paging, dict) or not paging.get("next"):
        return None
    cursors = paging.get("cursors")
    after = cursors.get("after") if isinstance(cursors, dict) else None
    return after if isinstance(after, str) and after and len(after) <= 2048 else None


def time_field(name: str) -> Callable[[Any], datetime | None]:
    """An item's time read from ``name`` ("created_time", "timestamp"); None if unreadable."""

    def read(item: Any) -> datetime | None:
        try:
            return parse_time(item.get(name), name) if isinstance(item, dict) else None
        except PayloadError:
            return None

    return read


def _time(value: Any) -> datetime:
    return parse_time(value, "time")


def _readable(value: Any) -> bool:
    try:
        _time(value)
    except PayloadError:
        return False
    return True


def _is_stream(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and all(
            isinstance(value.get(k), str) and (k == "page" or _readable(value[k]))
            for k in ("newest", "pending", "page")
            if k in value
        )
        and all(type(value[k]) is int for k in ("since", "left", "count") if k in value)
        and ("floor" not in value or _readable(value["floor"]))
    )


def _is_post(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and isinstance(value.get("brand"), str)
        and isinstance(value.get("account"), str)
        and _readable(value.get("published"))
        and all(type(value.get(k)) is int for k in ("count", "read") if k in value)
        and ("read_at" not in value or _readable(value["read_at"]))
    )


def _entries(given: Any, good: Callable[[Any], bool]) -> dict[str, Any]:
    if not isinstance(given, dict):
        return {}
    return {k: v for k, v in given.items() if isinstance(k, str) and good(v)}
