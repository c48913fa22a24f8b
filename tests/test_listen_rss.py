"""RSS/Atom through requests + the real feedparser against locally served feed documents."""

from __future__ import annotations

import gzip
import logging
from collections.abc import Iterator
from datetime import UTC, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import select

from harken.config import Config, load_config
from harken.errors import ConfigError
from harken.pipeline.collect import listen_once, poll_source, rate_limited
from harken.platforms.registry import build_sources
from harken.platforms.rss.source import RSSSource
from harken.store import Store
from harken.store import sources as source_repo
from harken.store.tables import Mention
from tests.conftest import write_config
from tests.fakes.clock import FakeClock
from tests.fakes.http import Reply
from tests.fakes.rss import (
    ATOM_TYPE,
    PUBLISHED,
    RSS_TYPE,
    FakeFeeds,
    atom,
    atom_entry,
    rss,
    rss_item,
)
from tests.listening import stored_cursor

NEWS = "/news.xml"
FORUM = "/forum/acme.atom"


@pytest.fixture(scope="module")
def server() -> Iterator[FakeFeeds]:
    feeds = FakeFeeds()
    with feeds.api:
        yield feeds


@pytest.fixture
def fake(server: FakeFeeds) -> FakeFeeds:
    return server.reset()


def make_config(tmp_path: Path, fake: FakeFeeds, feeds: str, extra: str = "") -> Config:
    path = write_config(
        tmp_path,
        f"""
brands:
  - name: Acme
    keywords: [acme, アクメ]
    handles: ["@acme"]
sources:
  rss:
    enabled: true
    api_base_url: "{fake.api.url}"
    timeout: 2s
    feeds: {feeds}
{extra}
""",
    )
    return load_config(path)


@pytest.fixture
def config(tmp_path: Path, fake: FakeFeeds) -> Config:
    return make_config(tmp_path, fake, f'["{NEWS}", {{url: "{fake.api.url}{FORUM}"}}]')


def rss_source(config: Config, clock: FakeClock) -> RSSSource:
    (source,) = build_sources(config, runtime=clock.runtime())
    assert isinstance(source, RSSSource)
    return source


def mentions(store: Store) -> dict[str, Mention]:
    with store.session() as session:
        return {m.external_id: m for m in session.execute(select(Mention)).scalars()}


def cursor(store: Store) -> dict:
    return stored_cursor(store, "rss")  # type: ignore[no-any-return]


def news_items(start: int, count: int, prefix: str = "n") -> list[str]:
    """Newest first, as feeds list them; each names the brand."""
    return [
        rss_item(
            f"Acme update {i}",
            guid=f"{prefix}-{i}",
            link=f"https://news.example.com/{prefix}/{i}",
            published=PUBLISHED + timedelta(minutes=i),
        )
        for i in reversed(range(start, start + count))
    ]


def publish_forum(fake: FakeFeeds, *entries: str) -> None:
    fake.publish(FORUM, atom("Acme Community", *entries), content_type=ATOM_TYPE)


# -- reading feeds ----------------------------------------------------------------------------


def test_rss_and_atom_entries_become_mentions_matched_on_title_and_summary(
    fake: FakeFeeds, config: Config, store: Store
) -> None:
    fake.publish(
        NEWS,
        rss(
            "Tech News Daily",
            rss_item(
                "Cloud outage hits thousands",
                guid="tnd-1",
                link="/2026/11/outage",  # relative: resolved against the feed's address
                description='<p>Users of <b>Acme</b> Cloud report <a href="/x">502s</a> &amp; '
                "timeouts</p>",
                cdata=True,
                author="Jane Reporter",
            ),
            rss_item("Acme <b>raises</b> prices", guid="tnd-2", description="Plans & pricing"),
            rss_item("Weather today", guid="tnd-3", description="Sunny, no brand here"),
        ),
    )
    publish_forum(
        fake,
        atom_entry(
            "tag:forum.example.com,2026:t-9",
            "Is acme down? a < b",
            link="https://forum.example.com/t/9",
            summary="Can't log in since <noon> & nothing loads",  # plain text, not markup
            author="kenji",
        ),
        atom_entry(
            "tag:forum.example.com,2026:t-10",
            "Release notes",
            content="<p>Full post: アクメ の新機能</p>",  # Atom content, no summary
        ),
    )
    report = poll_source(store, config, rss_source(config, FakeClock()))
    assert report.ok and report.stored == 4 and report.skipped == 1 and report.pages == 2
    stored = mentions(store)
    news = stored[f"{fake.api.url}{NEWS}#tnd-1"]  # a bare guid is only unique in its feed
    assert news.text == "Cloud outage hits thousands\n\nUsers of Acme Cloud report 502s & timeouts"
    assert news.url == f"{fake.api.url}/2026/11/outage"
    assert news.created_at.replace(tzinfo=UTC) == PUBLISHED
    assert stored[f"{fake.api.url}{NEWS}#tnd-2"].text == "Acme raises prices\n\nPlans & pricing"
    forum = stored["tag:forum.example.com,2026:t-9"]
    assert forum.text == "Is acme down? a < b\n\nCan't log in since <noon> & nothing loads"
    assert forum.url == "https://forum.example.com/t/9"
    assert (
        stored["tag:forum.example.com,2026:t-10"].text
        == "Release notes\n\nFull post: アクメ の新機能"
    )
    assert stored["tag:forum.example.com,2026:t-10"].url is None  # the id is no web page
    # Raw keeps the entry as feedparser read it, dates as ISO text (JSON has no struct_time).
    assert news.raw["published_parsed"] == "2026-11-22T10:00:00+00:00"
    assert news.raw["guid"] == "tnd-1" and news.raw["author"] == "Jane Reporter"
    assert news.raw["feed"]["title"] == "Tech News Daily"

    (request,) = fake.fetches(NEWS)
    assert request.headers["user-agent"].startswith("harken/")
    assert "application/rss+xml" in request.headers["accept"]
    assert "if-none-match" not in request.headers  # nothing stored yet to compare with


def test_authors_are_the_feeds_named_as_configured(
    tmp_path: Path, fake: FakeFeeds, store: Store
) -> None:
    config = make_config(tmp_path, fake, f'[{{url: "{NEWS}", name: "Acme reviews (App Store)"}}]')
    fake.publish(NEWS, rss("iTunes Store: Customer Reviews", rss_item("acme crashes", guid="r1")))
    poll_source(store, config, rss_source(config, FakeClock()))
    with store.session() as session:
        (mention,) = session.execute(select(Mention)).scalars()
        assert mention.raw["feed"]["title"] == "Acme reviews (App Store)"


def test_first_poll_is_bounded_then_only_new_entries_come(
    fake: FakeFeeds, config: Config, store: Store
) -> None:
    fake.publish(NEWS, rss("News", *news_items(1, 80)))
    publish_forum(fake)
    source = rss_source(config, FakeClock())
    first = poll_source(store, config, source)
    # No cursor yet: the newest 50 (first_poll_entries), and all 80 marked seen.
    assert first.ok and first.stored == 50
    assert min(int(k.rsplit("-", 1)[1]) for k in mentions(store)) == 31
    assert len(cursor(store)[f"{fake.api.url}{NEWS}"]["seen"]) == 80

    fake.publish(NEWS, rss("News", *news_items(1, 83)))  # three new at the top
    second = poll_source(store, config, source)
    assert second.ok and second.stored == 3 and second.duplicates == 0 and second.rejected == 0
    assert len(mentions(store)) == 53


def test_conditional_get_sends_the_stored_validators_and_a_304_is_success(
    fake: FakeFeeds, config: Config, store: Store
) -> None:
    fake.publish(NEWS, rss("News", *news_items(1, 2)))
    publish_forum(fake, atom_entry("urn:f:1", "acme forum post"))
    source = rss_source(config, FakeClock())
    assert poll_source(store, config, source).stored == 3
    etag = fake.hosted[NEWS].etag
    modified = fake.hosted[NEWS].last_modified
    assert cursor(store)[f"{fake.api.url}{NEWS}"]["etag"] == etag

    again = poll_source(store, config, source)
    assert again.ok and again.stored == 0 and again.duplicates == 0
    second = fake.fetches(NEWS)[1]
    assert second.headers["if-none-match"] == etag
    assert second.headers["if-modified-since"] == modified
    with store.session() as session:
        health = source_repo.get_health(session, "rss")
        assert health is not None and health.consecutive_failures == 0

    fake.publish(NEWS, rss("News", *news_items(1, 3)))
    third = poll_source(store, config, source)
    assert third.stored == 1 and fake.fetches(NEWS)[2].headers["if-none-match"] == etag
    assert cursor(store)[f"{fake.api.url}{NEWS}"]["etag"] == fake.hosted[NEWS].etag != etag


def test_last_modified_alone_is_sent_back_as_if_modified_since(
    fake: FakeFeeds, config: Config, store: Store
) -> None:
    fake.publish(NEWS, rss("News", *news_items(1, 2)), etag=False)
    publish_forum(fake)
    source = rss_source(config, FakeClock())
    poll_source(store, config, source)
    assert poll_source(store, config, source).ok
    second = fake.fetches(NEWS)[1]
    assert "if-none-match" not in second.headers
    assert second.headers["if-modified-since"] == fake.hosted[NEWS].last_modified


def test_without_validators_seen_ids_keep_entries_from_coming_twice_even_after_a_restart(
    fake: FakeFeeds, config: Config, store: Store, tmp_path: Path
) -> None:
    fake.publish(NEWS, rss("News", *news_items(1, 5)), etag=False, last_modified=False)
    publish_forum(fake, atom_entry("urn:f:1", "acme forum post"))
    assert poll_source(store, config, rss_source(config, FakeClock())).stored == 6
    fake.publish(NEWS, rss("News", *news_items(1, 7)), etag=False, last_modified=False)
    # A new process: new store object, new source, same database.
    store2 = Store(store.url)
    report = poll_source(store2, config, rss_source(config, FakeClock()))
    assert report.ok and report.stored == 2 and report.duplicates == 0
    assert len(mentions(store2)) == 8


def test_seen_ids_are_bounded_but_cover_the_whole_feed(
    tmp_path: Path, fake: FakeFeeds, store: Store
) -> None:
    config = make_config(tmp_path, fake, f'["{NEWS}"]', "    seen_limit: 30")
    fake.publish(NEWS, rss("News", *news_items(1, 20)), etag=False)
    source = rss_source(config, FakeClock())
    poll_source(store, config, source)
    for top in (40, 60):
        fake.publish(NEWS, rss("News", *news_items(1, top)), etag=False)
        assert poll_source(store, config, source).stored == 20
    # 60 entries in the feed: all remembered, though over the limit of 30.
    assert len(cursor(store)[f"{fake.api.url}{NEWS}"]["seen"]) == 60
    fake.publish(NEWS, rss("News", *news_items(61, 5)), etag=False)
    poll_source(store, config, source)
    assert len(cursor(store)[f"{fake.api.url}{NEWS}"]["seen"]) == 30


# -- text and encodings -----------------------------------------------------------------------


def test_a_latin1_feed_declared_in_its_prolog_keeps_every_character(
    fake: FakeFeeds, config: Config, store: Store
) -> None:
    body = rss(
        "Café Tech",
        rss_item("Acme: le café est servi 😀", guid="c1", description="Déjà vu — 𝕏 prix €"),
        encoding="iso-8859-1",
    )
    assert "é".encode("latin-1") in body and b"&#128512;" in body  # really Latin-1 on the wire
    # Served as text/xml without a charset: RFC 3023 says us-ascii, feedparser falls back to
    # the prolog's ISO-8859-1 (and complains, which is logged but not an error).
    fake.publish(NEWS, body, content_type="text/xml")
    publish_forum(fake)
    report = poll_source(store, config, rss_source(config, FakeClock()))
    assert report.ok and report.stored == 1
    (mention,) = mentions(store).values()
    assert mention.text == "Acme: le café est servi 😀\n\nDéjà vu — 𝕏 prix €"


def test_a_shift_jis_atom_feed_is_decoded_by_its_prolog(
    fake: FakeFeeds, config: Config, store: Store
) -> None:
    fake.publish(NEWS, rss("News"))
    fake.publish(
        FORUM,
        atom(
            "掲示板",
            atom_entry("urn:sj:1", "アクメが落ちてる", summary="ログインできない"),
            lang="ja",
            encoding="shift_jis",
        ),
        content_type="application/atom+xml",  # no charset: the prolog decides
    )
    report = poll_source(store, config, rss_source(config, FakeClock()))
    assert report.ok and report.stored == 1
    (mention,) = mentions(store).values()
    assert mention.text == "アクメが落ちてる\n\nログインできない" and mention.language == "ja"


def test_a_gzipped_feed_is_unpacked(fake: FakeFeeds, config: Config, store: Store) -> None:
    fake.publish(NEWS, rss("News"))
    publish_forum(fake)
    body = gzip.compress(rss("News", rss_item("acme zipped", guid="z1")))
    fake.api.fail_next(
        Reply(200, body=body, headers={"Content-Type": RSS_TYPE, "Content-Encoding": "gzip"})
    )
    report = poll_source(store, config, rss_source(config, FakeClock()))
    assert report.ok and report.stored == 1
    assert "gzip" in fake.fetches(NEWS)[0].headers["accept-encoding"]


def test_huge_and_non_bmp_entries_are_stored_intact(
    fake: FakeFeeds, config: Config, store: Store
) -> None:
    # 36k characters, astral planes included: long, yet under harken's limit (MAX_TEXT).
    huge = "acme cloud " + "𝕏😀 データ 🇯🇵" * 4000
    fake.publish(NEWS, rss("News", rss_item("😀 acme 𝕏", guid="big", description="x")))
    publish_forum(fake, atom_entry("urn:big", "Long post", summary=huge))
    report = poll_source(store, config, rss_source(config, FakeClock()))
    assert report.ok and report.stored == 2
    stored = mentions(store)
    assert stored["urn:big"].text == "Long post\n\n" + huge
    assert stored[f"{fake.api.url}{NEWS}#big"].text == "😀 acme 𝕏\n\nx"


def test_entries_missing_fields_are_rejected_and_the_rest_stored(
    fake: FakeFeeds, config: Config, store: Store
) -> None:
    fake.publish(
        NEWS,
        rss(
            "News",
            rss_item(None, guid="empty", description=None),  # nothing to read
            rss_item("acme no date", guid="nodate", published=None),
            rss_item("acme odd date", guid="odd", published="22 November 2026 10:00 UTC"),
            rss_item("acme no id or link", published=PUBLISHED),
        ),
    )
    publish_forum(fake)
    clock = FakeClock()
    source = rss_source(config, clock)
    report = poll_source(store, config, source)
    assert report.ok and report.stored == 3 and report.rejected == 1
    stored = {m.text: m for m in mentions(store).values()}
    # No date: dated when first read. A date feedparser can read is used, whatever its format.
    assert stored["acme no date"].created_at.replace(tzinfo=UTC) == clock.now
    assert stored["acme no date"].raw["date_from"] == "fetched"
    assert stored["acme odd date"].created_at.replace(tzinfo=UTC) == PUBLISHED
    hashed = stored["acme no id or link"].external_id
    assert hashed.startswith(f"{fake.api.url}{NEWS}#sha256:")
    # The same entries next time (no validators match: new version): nothing twice.
    fake.publish(NEWS, fake.hosted[NEWS].body + b"\n")
    again = poll_source(store, config, source)
    assert again.ok and again.stored == 0 and again.rejected == 0 and again.duplicates == 0


def test_the_same_bare_guid_in_two_feeds_is_two_mentions(
    fake: FakeFeeds, config: Config, store: Store
) -> None:
    fake.publish(NEWS, rss("News", rss_item("acme in news", guid="1")))
    fake.publish(
        FORUM,
        rss("Forum", rss_item("acme in forum", guid="1")),  # an RSS feed at the .atom path
    )
    report = poll_source(store, config, rss_source(config, FakeClock()))
    assert report.ok and report.stored == 2


# -- failures ---------------------------------------------------------------------------------


def test_a_removed_feed_fails_the_poll_by_name_while_the_other_is_stored(
    fake: FakeFeeds, config: Config, store: Store
) -> None:
    publish_forum(fake, atom_entry("urn:f:1", "acme forum post"))  # NEWS is not served: 404
    clock = FakeClock()
    source = rss_source(config, clock)
    report = poll_source(store, config, source)
    assert not report.ok and report.stored == 1 and report.rate_limited_until is None
    error = report.error or ""
    assert f"{fake.api.url}{NEWS}" in error and "404" in error
    assert "sources.rss.feeds" in error  # the hint says what to fix
    assert len(fake.fetches(NEWS)) == 1 and clock.sleeps == []  # a 404 is not retried
    assert list(cursor(store)) == [f"{fake.api.url}{FORUM}"]

    publish_forum(fake, atom_entry("urn:f:2", "acme again"), atom_entry("urn:f:1", "acme"))
    later = poll_source(store, config, source)
    assert not later.ok and later.stored == 1 and later.duplicates == 0
    with store.session() as session:
        health = source_repo.get_health(session, "rss")
        assert health is not None and health.consecutive_failures == 2
        assert NEWS in (health.last_error or "")


def test_a_gone_or_forbidden_feed_says_which_and_what_to_do(
    tmp_path: Path, fake: FakeFeeds, store: Store
) -> None:
    config = make_config(tmp_path, fake, '["/gone.xml", "/private.xml"]')

    @fake.api.route("GET", "/gone.xml")
    def gone(req):  # type: ignore[no-untyped-def]
        return Reply(410, body="gone", headers={"Content-Type": "text/plain"})

    @fake.api.route("GET", "/private.xml")
    def private(req):  # type: ignore[no-untyped-def]
        return Reply(403, body="no bots", headers={"Content-Type": "text/plain"})

    report = poll_source(store, config, rss_source(config, FakeClock()))
    error = report.error or ""
    assert error.startswith("2 of 2 feeds failed")
    assert "/gone.xml: HTTP 410" in error and "/private.xml: HTTP 403" in error
    assert "user_agent" in error


def test_a_feed_cut_short_by_server_errors_resumes_without_loss_or_repeats(
    fake: FakeFeeds, config: Config, store: Store
) -> None:
    fake.publish(NEWS, rss("News", *news_items(1, 3)))
    publish_forum(fake, atom_entry("urn:f:1", "acme forum post"))
    clock = FakeClock()
    source = rss_source(config, clock)
    poll_source(store, config, source)
    fake.publish(NEWS, rss("News", *news_items(1, 6)))
    publish_forum(fake, atom_entry("urn:f:2", "acme new"), atom_entry("urn:f:1", "acme"))
    # The news feed is answered, then the forum fails four times: news is stored already.
    real = fake.api.routes[("GET", FORUM)]
    fake.api.routes[("GET", FORUM)] = lambda req: Reply(502)
    cut = poll_source(store, config, source)
    assert not cut.ok and cut.stored == 3 and "502" in (cut.error or "")
    assert len(fake.fetches(FORUM)) == 1 + 4
    assert len(clock.sleeps) == 3 and clock.sleeps[0] < clock.sleeps[2]

    fake.api.routes[("GET", FORUM)] = real
    resumed = poll_source(store, config, source)
    assert resumed.ok and resumed.stored == 1 and resumed.duplicates == 0
    assert len(mentions(store)) == 4 + 3 + 1


def test_server_errors_then_success_are_retried_with_backoff(
    fake: FakeFeeds, config: Config, store: Store
) -> None:
    fake.publish(NEWS, rss("News", *news_items(1, 1)))
    publish_forum(fake)
    fake.api.fail_next(Reply(500), Reply(503))  # 503 without Retry-After: a server error
    clock = FakeClock()
    report = poll_source(store, config, rss_source(config, clock))
    assert report.ok and report.stored == 1
    assert len(clock.sleeps) == 2 and 0.5 <= clock.sleeps[0] <= 1 and 1 <= clock.sleeps[1] <= 2


def test_a_feed_that_keeps_failing_marks_the_source_unhealthy(
    tmp_path: Path, fake: FakeFeeds, store: Store
) -> None:
    config = make_config(tmp_path, fake, f'["{NEWS}"]')
    fake.api.fail_next(*[Reply(500)] * 12)
    source = rss_source(config, FakeClock())
    for _ in range(3):
        assert not poll_source(store, config, source).ok
    with store.session() as session:
        health = source_repo.get_health(session, "rss")
        assert health is not None and health.consecutive_failures == 3
        assert "500" in (health.last_error or "")
    assert len(fake.fetches(NEWS)) == 12  # four tries per poll, never more


def test_a_timeout_is_retried_then_reported(tmp_path: Path, fake: FakeFeeds, store: Store) -> None:
    config = make_config(tmp_path, fake, f'["{NEWS}"]', "    timeout: 0.2s")
    fake.publish(NEWS, rss("News", *news_items(1, 1)))
    fake.api.fail_next(Reply(200, body="late", delay=0.5))
    report = poll_source(store, config, rss_source(config, FakeClock()))
    assert report.ok and report.stored == 1 and len(fake.fetches(NEWS)) == 2


def test_a_short_retry_after_is_waited_out_once(
    fake: FakeFeeds, config: Config, store: Store
) -> None:
    fake.publish(NEWS, rss("News", *news_items(1, 1)))
    publish_forum(fake)
    fake.api.fail_next(Reply(429, body="slow down", headers={"Retry-After": "30"}))
    clock = FakeClock()
    report = poll_source(store, config, rss_source(config, clock))
    assert report.ok and report.stored == 1
    assert clock.sleeps == [31.0]  # to the reset, plus a second of clock skew
    assert len(fake.fetches(NEWS)) == 2


def test_a_long_retry_after_date_on_the_only_feed_rests_the_source_until_then(
    tmp_path: Path, fake: FakeFeeds, store: Store
) -> None:
    config = make_config(tmp_path, fake, f'["{NEWS}"]')
    fake.publish(NEWS, rss("News", *news_items(1, 1)))
    clock = FakeClock()
    until = clock.now + timedelta(hours=2)
    fake.api.fail_next(Reply(503, body="", headers={"Retry-After": format_datetime(until, True)}))
    source = rss_source(config, clock)
    report = poll_source(store, config, source)
    assert not report.ok and clock.sleeps == [] and report.rate_limited_until == until
    assert "503" in (report.error or "") and NEWS in (report.error or "")

    again = listen_once(store, config, [source], sinks={})
    assert again.polls[0].rate_limited_until == report.rate_limited_until
    assert again.polls[0].pages == 0
    assert len(fake.fetches(NEWS)) == 1  # not even asked

    clock.now = until + timedelta(seconds=1)
    assert rate_limited(store, source) is None
    later = poll_source(store, config, source)
    assert later.ok and later.stored == 1


def test_one_rate_limited_feed_rests_alone_while_the_others_are_polled(
    fake: FakeFeeds, config: Config, store: Store
) -> None:
    fake.publish(NEWS, rss("News", *news_items(1, 1)))
    publish_forum(fake, atom_entry("urn:f:1", "acme forum post"))
    clock = FakeClock()
    fake.api.fail_next(Reply(429, headers={"Retry-After": "3600"}))  # the news feed's answer
    source = rss_source(config, clock)
    report = poll_source(store, config, source)
    # The poll failed, naming the feed, but the source is not benched: the forum still counts.
    assert not report.ok and report.stored == 1 and report.rate_limited_until is None
    error = report.error or ""
    assert "1 of 2 feeds failed" in error and "429" in error

    clock.now += timedelta(minutes=15)
    quiet = poll_source(store, config, source)
    assert quiet.ok and len(fake.fetches(NEWS)) == 1 and len(fake.fetches(FORUM)) == 2

    clock.now += timedelta(hours=1)
    back = poll_source(store, config, source)
    assert back.ok and back.stored == 1 and len(fake.fetches(NEWS)) == 2
    assert "retry_after" not in cursor(store)[f"{fake.api.url}{NEWS}"]


def test_a_429_without_retry_after_is_not_retried_in_a_loop(
    tmp_path: Path, fake: FakeFeeds, store: Store
) -> None:
    config = make_config(tmp_path, fake, f'["{NEWS}"]')
    fake.api.fail_next(*[Reply(429)] * 50)
    clock = FakeClock()
    report = poll_source(store, config, rss_source(config, clock))
    # Taken as "reset in a minute": waited out once, then the source rests; never a loop.
    assert not report.ok and report.rate_limited_until is not None
    assert len(fake.fetches(NEWS)) == 2 and clock.sleeps == [61.0]


def test_a_page_that_is_no_feed_is_an_error_naming_the_feed_and_why(
    fake: FakeFeeds, config: Config, store: Store
) -> None:
    fake.publish(
        NEWS,
        "<html><head><title>Sign in</title></head><body><p>Log in</p></body></html>",
        content_type="text/html; charset=utf-8",
    )
    publish_forum(fake, atom_entry("urn:f:1", "acme forum post"))
    report = poll_source(store, config, rss_source(config, FakeClock()))
    assert not report.ok and report.stored == 1
    assert f"{fake.api.url}{NEWS} cannot be read as a feed: text/html" in (report.error or "")
    assert len(fake.fetches(NEWS)) == 1  # not retried within the poll

    fake.publish(NEWS, '<?xml version="1.0"?><rss version="2.0"><channel><title>x</tit')
    broken = poll_source(store, config, rss_source(config, FakeClock()))
    assert "unclosed token at line 1" in (broken.error or "")


def test_a_truncated_feed_still_gives_the_entries_before_the_break(
    fake: FakeFeeds, config: Config, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    whole = rss("News", *news_items(1, 3)).decode()
    fake.publish(NEWS, whole[: whole.index("<item>", whole.index("</item>"))] + "<item><ti")
    publish_forum(fake)
    with caplog.at_level(logging.WARNING, logger="harken.platforms.rss.source"):
        report = poll_source(store, config, rss_source(config, FakeClock()))
    assert report.ok and report.stored == 1 and report.rejected == 1  # the half item
    assert "not well-formed" in caplog.text and NEWS in caplog.text


def test_an_oversized_feed_is_refused(tmp_path: Path, fake: FakeFeeds, store: Store) -> None:
    config = make_config(tmp_path, fake, f'["{NEWS}"]', "    max_feed_bytes: 2048")
    fake.publish(NEWS, rss("News", *news_items(1, 40)))
    report = poll_source(store, config, rss_source(config, FakeClock()))
    assert not report.ok and "larger than 2048 bytes" in (report.error or "")


def test_credentials_in_a_feed_address_never_reach_errors_or_logs(
    tmp_path: Path, fake: FakeFeeds, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    from harken.logs import RedactSecrets

    secret = "s3cret-feed-pass"
    host = fake.api.url.removeprefix("http://")
    config = make_config(tmp_path, fake, f'["http://reader:{secret}@{host}/private.xml"]')

    @fake.api.route("GET", "/private.xml")
    def private(req):  # type: ignore[no-untyped-def]
        assert req.headers["authorization"].startswith("Basic ")  # requests sent them
        return Reply(401, body="", headers={"Content-Type": "text/plain"})

    caplog.set_level(logging.DEBUG)
    report = poll_source(store, config, rss_source(config, FakeClock()))
    error = report.error or ""
    assert not report.ok and "401" in error and secret not in error
    assert f"http://{host}/private.xml" in error
    assert secret not in RedactSecrets().redact(caplog.text)


def test_a_key_in_a_feed_query_never_reaches_errors_logs_or_source_health(
    tmp_path: Path, fake: FakeFeeds, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    secret = "k3y-0f-the-private-feed"
    config = make_config(
        tmp_path,
        fake,
        f'["/private.xml?key={secret}&lang=en", "/down.xml?sig={secret}", "/gone.xml?{secret}"]',
    )
    keys: list[str] = []

    @fake.api.route("GET", "/private.xml")
    def private(req):  # type: ignore[no-untyped-def]
        keys.append(req.query["key"])  # the real address was asked for
        return Reply(401, body="", headers={"Content-Type": "text/plain"})

    fake.api.route("GET", "/down.xml")(lambda req: Reply(502))
    fake.api.route("GET", "/gone.xml")(lambda req: Reply(404))
    caplog.set_level(logging.DEBUG, logger="harken")
    report = poll_source(store, config, rss_source(config, FakeClock()))
    error = report.error or ""
    assert keys == [secret] and not report.ok and error.startswith("3 of 3 feeds failed")
    # The address stays recognisable: query names kept, values elided.
    assert f"{fake.api.url}/private.xml?key=***&lang=…: HTTP 401" in error
    assert f"{fake.api.url}/down.xml?sig=*** HTTP 502" in error, error
    assert f"{fake.api.url}/gone.xml?…: HTTP 404" in error
    assert secret not in error
    assert "retry 1/3" in caplog.text and secret not in caplog.text
    with store.session() as session:
        health = source_repo.get_health(session, "rss")
        assert health is not None and secret not in (health.last_error or "")


def test_an_unexpected_error_in_one_feed_is_that_feeds_failure_and_the_others_go_on(
    fake: FakeFeeds, config: Config, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harken.platforms.rss import parse as rss_parser

    fake.publish(NEWS, rss("News", *news_items(1, 2)))
    publish_forum(fake, atom_entry("urn:f:1", "acme forum post"))
    real_parse = rss_parser.parse

    def buggy(entries):  # type: ignore[no-untyped-def]
        if any(e["feed"]["url"].endswith(NEWS) for e in entries):
            raise RuntimeError("a bug met on the news feed")
        return real_parse(entries)

    monkeypatch.setattr(rss_parser, "parse", buggy)
    report = poll_source(store, config, rss_source(config, FakeClock()))
    # The news feed (listed first) failed; the forum was still polled and stored.
    assert not report.ok and report.stored == 1
    error = report.error or ""
    assert error.startswith("1 of 2 feeds failed")
    assert f"feed {fake.api.url}{NEWS}: unexpected RuntimeError: a bug met on the news feed" in (
        error
    )
    assert list(cursor(store)) == [f"{fake.api.url}{FORUM}"]  # news is read again next time

    monkeypatch.setattr(rss_parser, "parse", real_parse)
    again = poll_source(store, config, rss_source(config, FakeClock()))
    assert again.ok and again.stored == 2


def test_an_unreadable_content_location_does_not_fail_the_feed(
    fake: FakeFeeds, config: Config, store: Store
) -> None:
    document = rss("News", *news_items(1, 2))
    fake.api.route("GET", NEWS)(
        lambda req: Reply(
            200, body=document, headers={"Content-Type": RSS_TYPE, "Content-Location": "http://[x"}
        )
    )
    publish_forum(fake)
    report = poll_source(store, config, rss_source(config, FakeClock()))
    assert report.ok and report.stored == 2


# -- config and the rest ----------------------------------------------------------------------


def test_a_feed_path_needs_api_base_url(tmp_path: Path) -> None:
    path = write_config(tmp_path, "sources:\n  rss:\n    enabled: true\n    feeds: [/news.xml]\n")
    with pytest.raises(ConfigError, match=r"sources\.rss\.feeds: .*needs api_base_url"):
        build_sources(load_config(path))
    path.write_text("sources:\n  rss:\n    enabled: true\n    feeds: []\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="at least one feed"):
        build_sources(load_config(path))


def test_feeds_have_no_engagement_to_refresh(fake: FakeFeeds, config: Config) -> None:
    from harken.platforms.source import RefreshTarget

    assert rss_source(config, FakeClock()).refresh([RefreshTarget("x", {})]) == {}
    assert fake.api.requests == []


def test_a_feed_dropped_from_the_config_leaves_the_cursor(
    tmp_path: Path, fake: FakeFeeds, config: Config, store: Store
) -> None:
    fake.publish(NEWS, rss("News", *news_items(1, 1)))
    publish_forum(fake)
    poll_source(store, config, rss_source(config, FakeClock()))
    assert len(cursor(store)) == 2
    smaller = make_config(tmp_path, fake, f'["{NEWS}"]')
    poll_source(store, smaller, rss_source(smaller, FakeClock()))
    assert list(cursor(store)) == [f"{fake.api.url}{NEWS}"]
