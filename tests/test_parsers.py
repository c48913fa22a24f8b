from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from harken.errors import IngestError
from harken.platforms.base import (
    MAX_AUTHOR_ID,
    MAX_RAW_CHARS,
    MAX_TEXT,
    TEXT_CUT_MARK,
    Rejection,
)
from harken.platforms.bluesky import parse as bluesky
from harken.platforms.mastodon import parse as mastodon
from harken.platforms.reddit import parse as reddit
from harken.platforms.replay import LineRejection, read_jsonl
from harken.platforms.rss import parse as rss
from harken.platforms.x import parse as x
from harken.records import MentionRecord
from tests import payloads as p


def only(results: list) -> MentionRecord:
    assert len(results) == 1 and isinstance(results[0], MentionRecord), results
    return results[0]


def test_x_page_with_expanded_authors() -> None:
    page = p.x_page(
        p.tweet("1860000000000000001", "@acmesupport app is down"),
        p.tweet(
            "1860000000000000002",
            "RT @kenji_t: @acmesupport app is down",
            author="200",
            referenced_tweets=[{"type": "retweeted", "id": "1860000000000000001"}],
        ),
    )
    first, second = list(x.parse(page))
    assert isinstance(first, MentionRecord) and isinstance(second, MentionRecord)
    assert first.external_id == "1860000000000000001"
    assert first.url == "https://x.com/kenji_t/status/1860000000000000001"
    assert first.created_at == datetime(2026, 11, 22, 9, 15, tzinfo=UTC)
    assert first.author.followers == 1200 and not first.author.verified
    assert first.metrics == {"likes": 10, "reposts": 3, "replies": 1, "quotes": 0}
    assert first.language == "en" and first.reference is None
    assert second.reference == ("retweet", "1860000000000000001")
    assert "reposts" not in second.metrics  # a retweet reports its original's count
    assert second.author.verified and second.author.followers == 85000


def test_x_tweet_with_unknown_author_is_rejected_alone() -> None:
    page = p.x_page(p.tweet("1", "acme ok"), p.tweet("2", "acme bad", author="999"))
    results = list(x.parse(page))
    assert isinstance(results[0], MentionRecord)
    assert results[1] == Rejection("tweet 2: author 999 is not in includes.users", item=1)


def test_x_rejects_non_page_payload() -> None:
    assert list(x.parse({"id": "1"})) == [
        Rejection("not an X API v2 response page (expected 'data' and 'meta')")
    ]


def test_x_text_entities_are_unescaped() -> None:
    page = p.x_page(p.tweet("1", "acme &amp; co &lt;3 &amp;lt;"))
    assert only(list(x.parse(page))).text == "acme & co <3 &lt;"


def test_x_und_language_means_unknown() -> None:
    assert only(list(x.parse(p.x_page(p.tweet("1", "acme", lang="und"))))).language is None


def test_reddit_submission_and_comment() -> None:
    post = only(list(reddit.parse(p.reddit_submission("t3_abc", "Acme down?", "502 everywhere"))))
    assert post.external_id == "t3_abc"
    assert post.text == "Acme down?\n\n502 everywhere"
    assert post.url == "https://www.reddit.com/r/sysadmin/comments/abc/slug/"
    assert post.author.followers is None
    comment = only(list(reddit.parse(p.reddit_comment("t1_k1", "same here", "t3_abc"))))
    assert comment.reference == ("reply", "t3_abc")
    assert comment.created_at == datetime.fromtimestamp(1763800600, tz=UTC)


def test_reddit_listing_and_bad_kind() -> None:
    listing = {
        "kind": "Listing",
        "data": {"children": [p.reddit_submission("t3_a", "acme"), {"kind": "t5", "data": {}}]},
    }
    results = list(reddit.parse(listing))
    assert isinstance(results[0], MentionRecord)
    assert results[1] == Rejection("unsupported thing kind 't5' (expected t1 or t3)", item=1)


def test_bluesky_post_and_search_page() -> None:
    post = only(list(bluesky.parse(p.bluesky_post("3lbxyzabc2k2a", "アクメ落ちてる", ["ja"]))))
    assert post.url == "https://bsky.app/profile/alice.bsky.social/post/3lbxyzabc2k2a"
    assert post.language == "ja" and post.metrics["reposts"] == 2
    page = {"posts": [p.bluesky_post("a", "acme"), p.bluesky_post("b", "acme")], "cursor": "c"}
    assert len([r for r in bluesky.parse(page) if isinstance(r, MentionRecord)]) == 2


def test_mastodon_html_becomes_text() -> None:
    status = p.mastodon_status(
        "113",
        '<p>Is <a href="https://m.s/tags/acme" class="hashtag">#<span>acme</span></a> down?'
        "<br />Can&#39;t log in &amp; 502</p><p>again</p>",
    )
    post = only(list(mastodon.parse(status)))
    assert post.text == "Is #acme down?\nCan't log in & 502\nagain"
    assert post.external_id == "https://mastodon.social/users/alice/statuses/113"
    assert post.author.followers == 120


def test_rss_entry() -> None:
    entry = p.rss_entry(
        "https://n.example/1", "Acme Cloud outage", "<p>Users report <b>502</b></p>"
    )
    post = only(list(rss.parse(entry)))
    assert post.text == "Acme Cloud outage\n\nUsers report 502"
    assert post.created_at == datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    assert post.author.handle == "Tech News Daily"


@pytest.mark.parametrize(
    ("parse", "payload", "reason"),
    [
        (reddit.parse, {"kind": "t3", "data": {"name": "t3_x"}}, "missing field data.title"),
        (
            bluesky.parse,
            {"uri": "at://x", "author": {}, "record": {}},
            "missing field author.handle",
        ),
        (
            mastodon.parse,
            {"account": {"acct": "a"}, "content": 5},
            "status.content has the wrong type",
        ),
        (rss.parse, {"title": "t"}, "entry has neither id nor link"),
        (rss.parse, {"id": "i", "title": "t", "published": "yesterday"}, "not a valid timestamp"),
    ],
)
def test_malformed_items_are_rejected_with_a_reason(parse, payload, reason: str) -> None:
    (result,) = list(parse(payload))
    assert isinstance(result, Rejection) and reason in result.reason


def test_replay_skips_bad_lines_with_numbers(tmp_path: Path) -> None:
    path = p.write_jsonl(
        tmp_path / "x.jsonl",
        p.x_page(p.tweet("1", "acme one")),
        "{not json",
        "",
        p.x_page(p.tweet("2", "acme two"), p.tweet("3", "acme three", author="404")),
        '"just a string"',
    )
    with path.open("ab") as handle:
        handle.write(b"\xff\xfe bad bytes\n")
    results = list(read_jsonl(path, "x"))
    mentions = [r.external_id for r in results if isinstance(r, MentionRecord)]
    rejections = [r for r in results if isinstance(r, LineRejection)]
    assert mentions == ["1", "2"]
    assert [(r.line, r.reason.split(":")[0]) for r in rejections] == [
        (2, "invalid JSON"),
        (4, "tweet 3"),
        (5, "not an X API v2 response page (expected 'data' and 'meta')"),
        (6, "not valid UTF-8"),
    ]


def test_replay_unknown_platform_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="unknown platform 'myspace'"):
        list(read_jsonl(tmp_path / "a.jsonl", "myspace"))
    with pytest.raises(IngestError, match="does not exist"):
        list(read_jsonl(tmp_path / "missing.jsonl", "x"))


# -- limits: what one post may bring ---------------------------------------------------------

HUGE = 20_000_000  # characters: a 20 MB field, far over any platform's own limit


@pytest.mark.parametrize(
    ("parse", "payload"),
    [
        (x.parse, p.x_page(p.tweet("1", "acme " + "x" * HUGE))),
        (reddit.parse, p.reddit_submission("t3_a", "acme", "y" * HUGE)),
        (bluesky.parse, p.bluesky_post("a", "acme " + "z" * HUGE)),
        (mastodon.parse, p.mastodon_status("1", "<p>acme " + "w" * HUGE + "</p>")),
        (rss.parse, p.rss_entry("e", "acme", "<p>" + "v" * HUGE + "</p>")),
    ],
    ids=["x", "reddit", "bluesky", "mastodon", "rss"],
)
def test_text_over_the_limit_is_cut_with_a_visible_marker(parse, payload) -> None:
    record = only(list(parse(payload)))
    assert record.text.startswith("acme")
    assert record.text.endswith(TEXT_CUT_MARK)
    assert len(record.text) <= MAX_TEXT + len(TEXT_CUT_MARK)
    assert "text" in record.cut
    # The raw payload keeps a copy of the text: it is bounded too.
    assert len(json.dumps(record.raw)) < 2 * MAX_RAW_CHARS
    assert "raw" in record.cut


def test_text_within_the_limit_is_kept_whole_and_not_marked() -> None:
    text = "acme " + "x" * (MAX_TEXT - 5)
    record = only(list(x.parse(p.x_page(p.tweet("1", text)))))
    assert record.text == text and record.cut == ()
    assert record.raw["text"] == text


def test_long_author_names_and_urls_have_their_own_limits() -> None:
    page = p.x_page(
        p.tweet("1", "acme"),
        users=[{"id": "100", "name": "N" * 10_000, "username": "kenji_t"}],
    )
    record = only(list(x.parse(page)))
    assert len(record.author.name or "") == MAX_AUTHOR_ID and record.author.name.endswith("…")
    assert "author.name" in record.cut
    status = p.mastodon_status("1", "acme")
    status["url"] = "https://example.social/" + "u" * 100_000
    record = only(list(mastodon.parse(status)))
    assert record.url is None  # dropped, never cut: a cut address would lead somewhere else


def test_raw_payloads_keep_the_fields_harken_reads_when_bounded() -> None:
    tweet = p.tweet(
        "1",
        "acme",
        entities={"urls": [{"expanded_url": "https://acme.example/x"}]},
        junk=list(range(100_000)),
        referenced_tweets=[{"type": "replied_to", "id": "7"}],
    )
    record = only(list(x.parse(p.x_page(tweet))))
    assert record.raw["entities"] == tweet["entities"]
    assert record.raw["referenced_tweets"] == tweet["referenced_tweets"]
    assert len(record.raw["junk"]) < 100_000 and "raw" in record.cut


def test_markup_that_never_closes_a_tag_is_read_in_linear_time() -> None:
    import time

    started = time.monotonic()
    record = only(list(mastodon.parse(p.mastodon_status("1", "acme " + "<" * 200_000))))
    assert time.monotonic() - started < 2
    assert record.text.startswith("acme <<<") and record.text.endswith(TEXT_CUT_MARK)
