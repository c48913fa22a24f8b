"""Property tests: every payload parser against malformed and hostile input.

Whatever a platform (or an attacker posting on it, or a proxy in between) sends, a parser
yields, for each item, either a valid MentionRecord or a Rejection whose reason a person can
read; no exception escapes, and what is accepted can be stored and shown. Payloads are the
tests' own well-formed samples (tests/payloads.py) with fields dropped, retyped, swapped for
hostile values or padded with extra ones, plus free-form JSON; and a systematic sweep that
puts each kind of hostile value in each field of each sample in turn.

"Valid" means what the store and every output rely on: a non-empty id that fits its column,
a timezone-aware UTC time between 1970 and 2200, strings that are UTF-8 without NUL (what
PostgreSQL accepts), optional fields of their type or None, counts that are plausible ints, raw
that is JSON without NaN. Rejections come from the parsers' own checks, never from the safety
net for shapes nobody expected.

The end-to-end test serves such pages from a fake X to the real listener, on SQLite and on
PostgreSQL: the page's valid posts are stored, the hostile ones counted as rejected, the
source stays healthy, and the next poll (from the cursor that page left) goes on.
"""

from __future__ import annotations

import copy
import itertools
import json
import math
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from harken.config import load_config
from harken.errors import PayloadError
from harken.pipeline.collect import poll_source
from harken.platforms.base import Rejection, parse_time
from harken.platforms.bluesky import parse as bluesky
from harken.platforms.facebook import parse as facebook
from harken.platforms.instagram import parse as instagram
from harken.platforms.mastodon import parse as mastodon
from harken.platforms.reddit import parse as reddit
from harken.platforms.registry import PARSERS, build_sources
from harken.platforms.replay import LineRejection, read_jsonl
from harken.platforms.rss import parse as rss
from harken.platforms.source import parse_reset
from harken.platforms.x import parse as x
from harken.platforms.x.source import is_id
from harken.platforms.youtube import parse as youtube
from harken.records import AuthorRecord, MentionRecord
from harken.store import Store
from harken.store import sources as source_repo
from harken.store.tables import Mention
from harken.text import strip_controls
from tests import payloads as p
from tests.conftest import write_config
from tests.fakes import x as fake_x
from tests.fakes.clock import FakeClock
from tests.fakes.http import Reply

BOUNDED = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- hostile values ---------------------------------------------------------------------------

NASTY_STRINGS = [
    "",
    " ",
    "\x00",
    "acme\x00cloud",
    "\x1b[2J\x1b[31macme",
    "\x1b]8;;http://evil.example\x1b\\click\x1b]8;;\x1b\\",
    "acme\rOVERWRITE",
    "\u202eemca\u202c",  # right-to-left override
    "\u200b\u200c\u200d\ufeff",  # zero-width
    "\ud83d",  # a lone surrogate (JSON's "\\ud83d")
    "\udc00acme\ud800",
    "<script>alert(1)</script>",
    "<!channel> <@U123> <http://evil|click>",
    "[red]acme[/red] [link=http://evil]x[/link]",
    '=HYPERLINK("http://evil","x")',
    "+1",
    "-1",
    "@SUM(A1)",
    "\t=1",
    "not a date",
    "2026-13-45T99:99:99Z",
    "9999-12-31T23:59:59+14:00",
    "0001-01-01T00:00:00-12:00",
    "Sun, 99 Foo 2026 10:00:00 GMT",
    "-1e400",
    "NaN",
    "t3",
    "t1",
    "Listing",
    "at://did:plc:x/app.bsky.feed.post/",
    "https://",
    "http://[oops",
    "アクメ落ちてる 🚀",
    "acme " * 2000,
]
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, -1, 10**30, 2**63, -(2**63) - 1, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    NUMBERS,
    st.sampled_from(NASTY_STRINGS),
    st.text(max_size=30),
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


def deep(depth: int) -> Any:
    value: Any = "acme"
    for i in range(depth):
        value = [value] if i % 2 else {"data": value}
    return value


JUNK = st.one_of(
    SCALARS, JSON, st.sampled_from([deep(50), deep(400), [[]] * 50, {"": {}}, {"uri": 5}])
)
# One of each kind of trouble, tried in every field of every sample (with the field dropped).
EACH_HOSTILE: list[Any] = [
    None, True, False, 0, -1, 2**31, 2**70, 10**400, 1.5, math.nan, math.inf, -math.inf,
    "", " ", "\x00", "\ud83d", "\x1b[2J", "9999-12-31T23:59:59Z", "0001-01-01T00:00:00+14:00",
    "1969-12-31T23:59:59Z", "http://[oops", "x" * 3000,
    [], [None], [1, 2], {}, {"uri": 5, "id": {}}, deep(60),
]  # fmt: skip


@st.composite
def mutated(draw: st.DrawFn, value: Any, depth: int = 0) -> Any:
    """``value`` with some fields dropped, replaced by junk or by hostile strings, or added."""
    if depth > 0 and draw(st.integers(0, 9)) == 0:
        return draw(JUNK)
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, item in value.items():
            action = draw(st.sampled_from(["keep", "keep", "keep", "deeper", "junk", "drop"]))
            if action == "drop":
                continue
            if action == "junk":
                out[key] = draw(JUNK)
            elif action == "deeper":
                out[key] = draw(mutated(item, depth + 1))
            else:
                out[key] = item
        if draw(st.integers(0, 4)) == 0:
            out[draw(st.text(max_size=10))] = draw(JUNK)
        return out
    if isinstance(value, list):
        items = [draw(mutated(item, depth + 1)) for item in value]
        if draw(st.integers(0, 4)) == 0:
            items.append(draw(JUNK))
        return items
    if isinstance(value, str) and draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(NASTY_STRINGS))
    return value


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every place in a JSON value, as the keys and indexes leading there."""
    if prefix:
        yield prefix
    if isinstance(value, dict | list):
        children = value.items() if isinstance(value, dict) else enumerate(value)
        for key, child in children:
            yield from paths(child, (*prefix, key))


@st.composite
def point_mutated(draw: st.DrawFn, template: Any) -> Any:
    """``template`` with one to three of its fields (at any depth) dropped, replaced by junk
    or a hostile string, or given a junk sibling: the rest stays valid, so what a parser does
    after its required fields (the optional ones) is exercised too."""
    value = copy.deepcopy(template)
    places = list(paths(template))
    if not places:
        return value
    for path in draw(st.lists(st.sampled_from(places), min_size=1, max_size=3)):
        parent = value
        for key in path[:-1]:
            try:
                parent = parent[key]
            except (KeyError, IndexError, TypeError):
                break
        else:
            if not isinstance(parent, dict | list):
                continue
            key = path[-1]
            if key not in (parent if isinstance(parent, dict) else range(len(parent))):
                continue  # an earlier mutation took it away
            action = draw(st.sampled_from(["junk", "nasty", "drop", "extra"]))
            if action == "drop":
                del parent[key]
            elif action == "extra":
                extra = draw(JUNK)
                if isinstance(parent, dict):
                    parent[draw(st.text(max_size=10))] = extra
                else:
                    parent.append(extra)
            else:
                parent[key] = draw(JUNK if action == "junk" else st.sampled_from(NASTY_STRINGS))
    return value


# The tests' own well-formed samples of each platform: the starting points for mutation.


FB_COMMENT = {
    "id": "1_c1",
    "message": "the acme app broke my login",
    "created_time": "2026-12-06T10:00:00+0000",
    "from": {"id": "501", "name": "Alice"},
    "post_id": "1001_1",
    "permalink_url": "https://www.facebook.com/1_c1",
    "like_count": 1,
    "comment_count": 0,
}
IG_COMMENT = {
    "id": "C1",
    "text": "acme order late",
    "timestamp": "2026-12-06T10:00:00+0000",
    "username": "fan",
    "from": {"id": "9", "username": "fan"},
    "like_count": 0,
    "media": {"id": "M1", "permalink": "https://www.instagram.com/p/M1/"},
}


def youtube_thread(comment_id: str, text: str, replies: tuple[str, ...] = ()) -> dict[str, Any]:
    def snippet(text: str, parent: str | None = None) -> dict[str, Any]:
        found = {
            "videoId": "V1",
            "textOriginal": text,
            "authorDisplayName": "@alice",
            "authorChannelUrl": "http://www.youtube.com/@alice",
            "authorChannelId": {"value": "UCalice"},
            "likeCount": 2,
            "publishedAt": "2026-11-22T10:00:00Z",
        }
        return {**found, "parentId": parent} if parent else found

    thread: dict[str, Any] = {
        "kind": "youtube#commentThread",
        "id": comment_id,
        "snippet": {
            "totalReplyCount": len(replies),
            "topLevelComment": {"id": comment_id, "snippet": snippet(text)},
        },
    }
    if replies:
        thread["replies"] = {
            "comments": [
                {"id": f"{comment_id}.{n}", "snippet": snippet(r, comment_id)}
                for n, r in enumerate(replies)
            ]
        }
    return thread


SAMPLES: dict[str, list[Any]] = {
    "x": [
        p.x_page(
            p.tweet("1860000000000000001", "@acmesupport app is down"),
            p.tweet(
                "1860000000000000002",
                "RT @kenji_t: acme down",
                author="200",
                referenced_tweets=[{"type": "retweeted", "id": "1860000000000000001"}],
            ),
        )
    ],
    "reddit": [
        p.reddit_submission("t3_abc", "Acme down?", "502 everywhere"),
        p.reddit_comment("t1_k1", "acme same here", "t3_abc"),
        {
            "kind": "Listing",
            "data": {
                "children": [
                    p.reddit_submission("t3_a", "acme"),
                    p.reddit_comment("t1_b", "acme", "t3_a"),
                ]
            },
        },
    ],
    "bluesky": [
        p.bluesky_post("3lbxyzabc2k2a", "アクメ落ちてる", ["ja"]),
        {
            "posts": [
                {
                    **p.bluesky_post("a", "acme"),
                    "record": {
                        **p.bluesky_post("a", "acme")["record"],
                        "reply": {"root": {"uri": "at://r"}, "parent": {"uri": "at://p"}},
                        "embed": {"$type": "app.bsky.embed.record", "record": {"uri": "at://q"}},
                    },
                },
                p.bluesky_post("b", "acme"),
            ],
            "cursor": "c",
        },
    ],
    "mastodon": [
        p.mastodon_status("113", "<p>Is <b>#acme</b> down?<br />Can&#39;t log in</p>"),
        [
            {
                **p.mastodon_status("114", "<p>acme</p>"),
                "spoiler_text": "cw",
                "in_reply_to_id": "1",
            },
            {
                **p.mastodon_status("115", ""),
                "reblog": p.mastodon_status("116", "<p>acme boosted</p>"),
            },
        ],
    ],
    "rss": [
        p.rss_entry("https://n.example/1", "Acme Cloud outage", "<p>Users report <b>502</b></p>"),
        [
            {
                **p.rss_entry("https://n.example/2", "Acme <b>x</b>"),
                "title_detail": {"type": "text/plain"},
                "published_parsed": [2026, 11, 22, 10, 0, 0, 6, 326, 0],
            },
            {**p.rss_entry("urn:x", "acme"), "updated": "2026-11-22T10:00:00Z"},
        ],
    ],
    "youtube": [
        {
            "kind": "youtube#commentThreadListResponse",
            "items": [
                youtube_thread("T1", "acme broke my login", replies=("same here", "and me")),
                youtube_thread("T2", "アクメ遅い"),
            ],
        },
        youtube_thread("T3", "acme?"),
        {
            "kind": "youtube#comment",
            "id": "C1",
            "snippet": youtube_thread("C1", "acme")["snippet"]["topLevelComment"]["snippet"],
        },
    ],
    "facebook": [
        {
            "data": [
                {**FB_COMMENT, "parent": {"id": "1_c0"}},
                {
                    "id": "1001_2",
                    "message": "acme refund?",
                    "created_time": 1765000000,
                    "from": {"id": "502", "name": "Bob"},
                    "shares": {"count": 2},
                    "reactions": {"summary": {"total_count": 4}},
                },
            ],
            "paging": {"cursors": {"after": "x"}},
        },
        FB_COMMENT,
        {
            "object": "page",
            "entry": [
                {
                    "id": "1001",
                    "time": 1765000000,
                    "changes": [
                        {
                            "field": "feed",
                            "value": {
                                "item": "comment",
                                "verb": "add",
                                "comment_id": "1_c5",
                                "post_id": "1001_1",
                                "parent_id": "1_c1",
                                "message": "acme still down",
                                "created_time": 1765000000,
                                "from": {"id": "503", "name": "Cy"},
                            },
                        },
                    ],
                }
            ],
        },
    ],
    "instagram": [
        {"data": [{**IG_COMMENT, "replies": {"data": [{**IG_COMMENT, "id": "R1"}]}}]},
        {
            "id": "M9",
            "caption": "my acme order never came",
            "timestamp": "2026-12-06T10:00:00+0000",
            "username": "carol",
            "permalink": "https://www.instagram.com/p/M9/",
            "comments_count": 2,
        },
        {
            "object": "instagram",
            "entry": [
                {
                    "id": "1784",
                    "time": 1765000000,
                    "changes": [
                        {
                            "field": "comments",
                            "value": {
                                "id": "C7",
                                "text": "acme?",
                                "parent_id": "C1",
                                "from": {"id": "9", "username": "dan"},
                                "media": {"id": "M1"},
                            },
                        },
                    ],
                }
            ],
        },
    ],
}
MODULES = {
    "facebook": facebook,
    "instagram": instagram,
    "x": x,
    "reddit": reddit,
    "bluesky": bluesky,
    "mastodon": mastodon,
    "rss": rss,
    "youtube": youtube,
}


def test_every_registered_parser_is_fuzzed_here() -> None:
    # A new platform must come with samples, or its parser escapes these properties.
    assert set(PARSERS) == set(SAMPLES) == set(MODULES)
    for name, module in MODULES.items():
        assert PARSERS[name] is module.parse
        for sample in SAMPLES[name]:
            results = list(module.parse(sample))
            assert results and all(isinstance(r, MentionRecord) for r in results), results


def payloads(platform: str) -> st.SearchStrategy[Any]:
    samples = st.sampled_from(SAMPLES[platform])
    return st.one_of(
        samples.flatmap(point_mutated),
        samples.flatmap(point_mutated),
        samples.flatmap(mutated),
        samples.flatmap(mutated).flatmap(point_mutated),
        JUNK,
    )


# -- the properties ---------------------------------------------------------------------------


def readable(reason: Any) -> None:
    """A reason a person can read in a log line or a terminal: short, one line, no escapes."""
    assert isinstance(reason, str) and reason.strip(), reason
    assert len(reason) <= 400, reason[:100]
    assert strip_controls(reason) == reason and "\n" not in reason, repr(reason)
    reason.encode("utf-8")  # no lone surrogates


def storable(value: Any, where: str) -> None:
    """A string the store can hold on SQLite and PostgreSQL: UTF-8, no NUL."""
    assert isinstance(value, str), f"{where} is {type(value).__name__}"
    value.encode("utf-8")
    assert "\x00" not in value, where


def optional(value: Any, where: str) -> None:
    if value is not None:
        storable(value, where)


def json_safe(raw: Any) -> None:
    """raw is kept as JSON (JSONB on PostgreSQL): finite numbers, UTF-8, no NUL."""
    text = json.dumps(raw, allow_nan=False, ensure_ascii=False)
    text.encode("utf-8")
    assert "\x00" not in text and "\\u0000" not in text


def valid_record(record: MentionRecord, platform: str) -> None:
    assert record.platform == platform
    storable(record.external_id, "external_id")
    assert record.external_id.strip(), "empty external_id"
    storable(record.text, "text")
    created = record.created_at
    assert created.tzinfo is not None and created.utcoffset() == timedelta(0), created
    assert created.tzinfo is UTC or created.tzname() == "UTC"
    assert 1970 <= created.year < 2200, created  # date arithmetic downstream stays in range
    author = record.author
    assert isinstance(author, AuthorRecord) and author.platform == platform
    storable(author.external_id, "author.external_id")
    assert author.external_id.strip(), "empty author id"
    storable(author.handle, "author.handle")
    optional(author.name, "author.name")
    optional(author.url, "author.url")
    optional(record.url, "url")
    optional(record.language, "language")
    optional(record.conversation_id, "conversation_id")
    if author.followers is not None:
        assert type(author.followers) is int and 0 <= author.followers < 2**63
    assert type(author.verified) is bool
    assert isinstance(record.metrics, Mapping)
    for name, count in record.metrics.items():
        assert isinstance(name, str) and type(count) is int and 0 <= count < 2**63, (name, count)
    if record.reference is not None:
        kind, ref = record.reference
        assert kind in ("retweet", "quote", "reply")
        storable(ref, "reference")
        assert ref.strip()
    assert isinstance(record.raw, Mapping)
    json_safe(dict(record.raw))


def items_in(platform: str, payload: Any) -> int:
    """How many results the payload must give: one per item of a page, else one."""
    if platform == "x":
        if not isinstance(payload, dict) or not ("data" in payload or "meta" in payload):
            return 1
        tweets = payload.get("data") or []
        return len(tweets) if isinstance(tweets, list) else 1
    if platform == "reddit" and isinstance(payload, dict) and payload.get("kind") == "Listing":
        data = payload.get("data")
        children = data.get("children") if isinstance(data, dict) else None
        return len(children) if isinstance(children, list) else 1
    if platform == "bluesky" and isinstance(payload, dict) and "posts" in payload:
        posts = payload["posts"]
        return len(posts) if isinstance(posts, list) else 1
    if platform in ("mastodon", "rss") and isinstance(payload, list):
        return len(payload)
    if platform in ("facebook", "instagram"):
        return _graph_items(platform, payload)
    if platform == "youtube":  # a thread is its comment and each reply it carries
        if isinstance(payload, dict) and "items" in payload:
            items = payload["items"]
            return sum(_comments_in(i) for i in items) if isinstance(items, list) else 1
        return _comments_in(payload)
    return 1


def _graph_items(platform: str, payload: Any) -> int:
    """An edge's page: each item (and, on Instagram, each reply nested in it); a webhook: each
    change that is a post or comment (Facebook's reactions and removals are not)."""
    if not isinstance(payload, dict):
        return 1
    if payload.get("object") in ("page", "instagram") and "entry" in payload:
        entries = payload["entry"] if isinstance(payload["entry"], list) else [payload["entry"]]
        count = 0
        for entry in entries:
            changes = entry.get("changes") if isinstance(entry, dict) else None
            for change in changes if isinstance(changes, list) else [changes]:
                if not isinstance(change, dict):
                    continue
                value = change.get("value") if isinstance(change.get("value"), dict) else {}
                if platform == "instagram":
                    count += change.get("field") in ("comments", "live_comments", "mentions")
                elif change.get("field") == "feed" and value.get("verb") in (
                    "add",
                    "edit",
                    "edited",
                ):
                    count += value.get("item") in (
                        "comment",
                        "post",
                        "status",
                        "photo",
                        "video",
                        "share",
                    )
        return count
    if "data" not in payload:
        return 1
    data = payload["data"]
    if not isinstance(data, list):
        return 1
    if platform == "facebook":
        return len(data)
    return sum(1 + _nested_replies(item) for item in data)


def _nested_replies(item: Any) -> int:
    replies = item.get("replies") if isinstance(item, dict) else None
    data = replies.get("data") if isinstance(replies, dict) else None
    return len(data) if isinstance(data, list) else 0


def _comments_in(item: Any) -> int:
    if not isinstance(item, dict) or item.get("kind") != "youtube#commentThread":
        return 1
    replies = item.get("replies")
    comments = replies.get("comments") if isinstance(replies, dict) else None
    return 1 + (len(comments) if isinstance(comments, list) else 0)


def check(platform: str, payload: Any) -> list[Any]:
    results = list(MODULES[platform].parse(payload))
    # Nothing is dropped silently: every item of a page is a record or a rejection.
    assert len(results) == items_in(platform, payload), results
    for result in results:
        if isinstance(result, Rejection):
            readable(result.reason)
            # The parsers' own checks said why, not the safety net for shapes none expected.
            assert not result.reason.startswith("unexpected payload shape"), result.reason
            assert result.item is None or (isinstance(payload, dict | list) and result.item >= 0)
        else:
            assert isinstance(result, MentionRecord), result
            valid_record(result, platform)
    return results


DROP = object()


def with_value(template: Any, path: tuple[Any, ...], value: Any) -> Any:
    copied = copy.deepcopy(template)
    parent = copied
    for key in path[:-1]:
        parent = parent[key]
    if value is DROP:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return copied


@pytest.mark.parametrize("platform", sorted(SAMPLES))
def test_every_field_survives_every_kind_of_hostile_value(platform: str) -> None:
    """The systematic sweep: each field of each sample, at any depth, replaced by each hostile
    value in turn (or dropped), the rest left valid."""
    tried = 0
    for sample in SAMPLES[platform]:
        for path in paths(sample):
            for value in [DROP, *EACH_HOSTILE]:
                check(platform, with_value(sample, path, value))
                tried += 1
    assert tried > 200


@pytest.mark.parametrize("platform", sorted(SAMPLES))
def test_parsers_accept_a_valid_record_or_reject_with_a_reason(platform: str) -> None:
    @BOUNDED
    @given(payload=payloads(platform))
    def run(payload: Any) -> None:
        check(platform, payload)

    run()


@BOUNDED
@given(
    lines=st.lists(
        st.one_of(
            st.sampled_from(sorted(SAMPLES)).flatmap(
                lambda name: st.sampled_from(SAMPLES[name]).flatmap(mutated)
            ),
            JUNK,
        ).map(lambda v: json.dumps(v, ensure_ascii=False).encode("utf-8", "surrogatepass")),
        max_size=4,
    ),
    raw_lines=st.lists(
        st.one_of(
            st.binary(max_size=40),
            st.sampled_from(
                [
                    b"{not json",
                    b"\xff\xfe bad bytes",
                    b"NaN",
                    b'{"data": [], "meta": {"newest_id": 1e999}}',
                    b"[" * 5000 + b"]" * 5000,
                    b'{"a":' * 3000 + b"1" + b"}" * 3000,
                    b'"\\ud800"',
                    b"\x00",
                ]
            ),
        ),
        max_size=3,
    ),
    platform=st.sampled_from(sorted(SAMPLES)),
)
def test_import_reads_every_line_into_a_record_or_a_numbered_rejection(
    lines: list[bytes], raw_lines: list[bytes], platform: str
) -> None:
    path = Path("fuzz.jsonl")
    content = [line.replace(b"\n", b" ").replace(b"\r", b" ") for line in lines + raw_lines]
    path.write_bytes(b"".join(line + b"\n" for line in content))
    numbered = {i for i, line in enumerate(content, start=1) if line.strip()}
    seen: set[int] = set()
    for result in read_jsonl(path, platform):
        if isinstance(result, LineRejection):
            assert result.line in numbered, (result.line, numbered)
            readable(result.reason)
            seen.add(result.line)
        else:
            valid_record(result, platform)
    # A line that is not JSON at all (bad bytes, nested past the parser's depth) says so.
    assert {i for i in numbered if not is_json(content[i - 1])} <= seen


def is_json(line: bytes) -> bool:
    try:
        json.loads(line.decode("utf-8"))
    except (ValueError, RecursionError):
        return False
    return True


# -- end to end: hostile pages from a fake X, polled by the real listener --------------------

VALID_TEXT = "acme cloud is down again #{n}"
_serial = itertools.count(1)


@st.composite
def hostile_pages(draw: st.DrawFn) -> tuple[dict[str, Any], list[str]]:
    """A search page of valid tweets (their ids returned) among hostile ones, with a meta
    that may be hostile too; tweet ids are unique across examples (one store serves all)."""
    valid: list[str] = []
    tweets: list[Any] = []
    for kind in draw(st.lists(st.sampled_from(["valid", "hostile", "junk"]), max_size=6)):
        n = 10_000 + next(_serial)
        if kind == "valid":
            valid.append(str(n))
            tweets.append(fake_x.tweet(n, VALID_TEXT.format(n=n)))
        elif kind == "hostile":
            text = "acme " + draw(st.sampled_from(NASTY_STRINGS))
            tweets.append(draw(point_mutated(fake_x.tweet(n, text, author=draw(AUTHORS)))))
        else:
            tweets.append(draw(JUNK))
    meta: Any = {"result_count": len(tweets), "newest_id": str(10**6 + next(_serial))}
    if draw(st.booleans()):
        meta = draw(point_mutated(meta)) if draw(st.booleans()) else draw(JUNK)
    # The real authors, and hostile ones: broken copies under other ids ("404" among them).
    users: list[Any] = list(fake_x.USERS.values())
    for user in draw(st.lists(st.sampled_from(users).flatmap(point_mutated) | JUNK, max_size=3)):
        if isinstance(user, dict) and user.get("id") in fake_x.USERS:
            user["id"] = "404"
        users.append(user)
    page = {"data": tweets, "meta": meta, "includes": {"users": users}}
    return page, valid


AUTHORS = st.sampled_from(["100", "200", "404"])


def test_hostile_pages_from_a_fake_x_are_counted_and_the_valid_posts_stored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    """On SQLite and on PostgreSQL (which refuses NUL, lone surrogates and overlong values
    where SQLite takes anything): what the parser accepts, the store keeps."""
    monkeypatch.setenv("X_BEARER_TOKEN", "test-bearer-token")
    fake = fake_x.FakeX()
    with fake.api:
        config = load_config(
            write_config(
                tmp_path,
                "brands: [{name: Acme, keywords: [acme]}]\n"
                "sources:\n"
                "  x: {enabled: true, bearer_token: '${X_BEARER_TOKEN}', "
                f"api_base_url: '{fake.api.url}', max_results: 10}}\n",
            )
        )
        clock = FakeClock()

        @settings(BOUNDED, max_examples=30)
        @given(hostile_pages())
        def poll(case: tuple[dict[str, Any], list[str]]) -> None:
            page, valid = case
            (source,) = build_sources(config, runtime=clock.runtime())
            with store.session() as session:  # every example starts a fresh search
                source_repo.set_cursor(session, "x", "{}")
            fake.api.fail_next(Reply(json=page))
            before = len(fake.searches)
            report = poll_source(store, config, source)
            assert report.ok, report.error
            assert len(fake.searches) == before + 1  # read once: a bad page is not retried
            expected = list(x.parse(json.loads(json.dumps(page))))
            # A meta.newest_id that is no tweet id is reported with the page, as one more.
            meta = page["meta"]
            newest = meta.get("newest_id") if isinstance(meta, dict) else None
            noted = int(newest is not None and not is_id(newest))
            rejected = sum(isinstance(r, Rejection) for r in expected) + noted
            assert report.rejected == rejected
            handled = report.stored + report.duplicates + report.skipped + report.rejected
            assert handled == len(expected) + noted
            texts = stored_texts(store)
            for tweet_id in valid:
                assert texts[tweet_id] == VALID_TEXT.format(n=tweet_id)
            for text in texts.values():
                assert "\x00" not in text
                text.encode("utf-8")
            with store.session() as session:
                health = source_repo.get_health(session, "x")
                assert health is not None and health.consecutive_failures == 0
                assert health.last_error is None
                # What `harken sources` shows: the poll's rejections and the latest reason.
                assert health.last_rejected == rejected
                if rejected:
                    assert health.last_rejection and health.last_rejection.startswith("unreadable")
                    assert strip_controls(health.last_rejection) == health.last_rejection
            # The cursor the page left is one X accepts: the next poll goes on normally.
            n = 10**7 + next(_serial)
            fake.add(fake_x.tweet(n, VALID_TEXT.format(n=n)))
            again = poll_source(store, config, source)
            assert again.ok and str(n) in stored_texts(store), again.error
            since = fake.searches[-1].query.get("since_id")
            assert since is None or is_id(since)

        poll()


def stored_texts(store: Store) -> dict[str, str]:
    with store.session() as session:
        return dict(session.execute(select(Mention.external_id, Mention.text)).all())


# -- the other parse_* entry points: times and rate-limit headers ----------------------------

HEADER_VALUES = st.one_of(
    st.none(),
    st.text(max_size=40),
    st.sampled_from(NASTY_STRINGS),
    NUMBERS.map(str),
    st.datetimes(timezones=st.none() | st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(["Wed, 21 Oct 2015 07:28:00 GMT", "1e999", "-5", "2000000000.5", "0x10"]),
)


@BOUNDED
@given(value=HEADER_VALUES)
def test_rate_limit_reset_headers_are_a_utc_time_or_none(value: Any) -> None:
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    reset = parse_reset(value, now)
    assert reset is None or (reset.tzinfo is not None and reset.utcoffset() is not None)


@BOUNDED
@given(value=JUNK | HEADER_VALUES)
def test_payload_times_are_plausible_utc_or_a_payload_error(value: Any) -> None:
    try:
        moment = parse_time(value, "created_at")
    except PayloadError as err:
        readable(str(err))
        return
    assert moment.utcoffset() == timedelta(0) and 1970 <= moment.year < 2200
