"""X through the real tweepy Client against a local fake of the v2 API."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from harken.classify.classifier import Classifier
from harken.config import Config, load_config
from harken.pipeline.collect import poll_source
from harken.pipeline.scheduler import describe_poll
from harken.platforms.base import MAX_RAW_CHARS, MAX_TEXT, TEXT_CUT_MARK
from harken.platforms.registry import build_sources
from harken.platforms.x.source import XSource
from harken.store import Store
from harken.store import sources as source_repo
from harken.store.tables import Mention
from tests.conftest import write_config
from tests.fakes.clock import FakeClock
from tests.fakes.http import Reply, Request
from tests.fakes.x import FakeX, tweet
from tests.listening import stored_cursor, stored_ids

TOKEN = "test-bearer-token"


@pytest.fixture
def fake() -> Iterator[FakeX]:
    x = FakeX()
    with x.api:
        yield x


@pytest.fixture
def config(tmp_path: Path, fake: FakeX, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("X_BEARER_TOKEN", TOKEN)
    path = write_config(
        tmp_path,
        f"""
brands:
  - name: Acme
    keywords: [acme, acme cloud]
    handles: ["@acme"]
    hashtags: ["#acme"]
    exclude: [acme anvil]
    languages: [en, ja]
sources:
  x:
    enabled: true
    bearer_token: "${{X_BEARER_TOKEN}}"
    api_base_url: "{fake.api.url}"
    max_results: 10
""",
    )
    return load_config(path)


def x_source(config: Config, clock: FakeClock) -> XSource:
    (source,) = build_sources(config, runtime=clock.runtime())
    assert isinstance(source, XSource)
    return source


def cursor(store: Store) -> dict:
    return stored_cursor(store, "x")  # type: ignore[no-any-return]


def many(start: int, count: int) -> list[dict]:
    return [tweet(i, f"acme cloud is slow today #{i}") for i in range(start, start + count)]


def test_the_brand_becomes_an_x_query_with_the_fields_harken_needs(
    fake: FakeX, config: Config, store: Store
) -> None:
    fake.add(tweet(1001, "acme cloud is down again"))
    report = poll_source(store, config, x_source(config, FakeClock()))
    assert report.ok and report.stored == 1
    (search,) = fake.searches
    assert search.query["query"] == (
        '(acme OR "acme cloud" OR @acme OR #acme) -"acme anvil" (lang:en OR lang:ja)'
    )
    assert search.query["expansions"] == "author_id"
    assert set(search.query["tweet.fields"].split(",")) >= {
        "created_at",
        "public_metrics",
        "lang",
        "conversation_id",
        "referenced_tweets",
    }
    assert "public_metrics" in search.query["user.fields"]
    assert search.headers["authorization"] == f"Bearer {TOKEN}"


def test_first_poll_starts_from_now_then_pages_through_everything_new(
    fake: FakeX, config: Config, store: Store
) -> None:
    fake.add(*many(1000, 25))
    source = x_source(config, FakeClock())
    first = poll_source(store, config, source)
    # No cursor yet: one page of the newest, not a week of history.
    assert first.stored == 10 and cursor(store)["Acme"] == {"since_id": "1024"}

    fake.add(*many(2000, 25))
    second = poll_source(store, config, source)
    assert second.ok and second.pages == 3 and second.stored == 25
    assert cursor(store)["Acme"] == {"since_id": "2024"}
    assert [r.query.get("since_id") for r in fake.searches[1:]] == ["1024"] * 3

    third = poll_source(store, config, source)
    assert third.stored == 0 and third.pages == 1
    assert len(stored_ids(store)) == 35 == len(set(stored_ids(store)))


def test_a_poll_cut_short_resumes_from_its_page_token_without_loss_or_repeats(
    fake: FakeX, config: Config, store: Store
) -> None:
    fake.add(tweet(1, "acme cloud hello"))
    clock = FakeClock()
    source = x_source(config, clock)
    poll_source(store, config, source)
    fake.add(*many(100, 30))
    # Page 2 fails for good (4 server errors): page 1 and its cursor are already committed.
    real = fake._search
    calls = {"n": 0}

    def flaky(req):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return Reply(500) if calls["n"] in (2, 3, 4, 5) else real(req)

    fake.api.routes[("GET", "/2/tweets/search/recent")] = flaky
    cut = poll_source(store, config, source)
    assert not cut.ok and cut.stored == 10 and "500" in (cut.error or "")
    state = cursor(store)["Acme"]
    assert state["since_id"] == "1" and state["next_token"] == "before:120"
    assert state["pending_newest"] == "129"

    resumed = poll_source(store, config, source)
    assert resumed.ok and resumed.stored == 20 and resumed.duplicates == 0
    assert cursor(store)["Acme"] == {"since_id": "129"}
    assert len(stored_ids(store)) == 31
    # Backoff between the retries grew, with jitter, and nothing was retried at once.
    assert len(clock.sleeps) == 3 and all(s > 0 for s in clock.sleeps)
    assert clock.sleeps[0] < clock.sleeps[2]


def test_an_expired_page_token_restarts_the_search_from_since_id(
    fake: FakeX, config: Config, store: Store
) -> None:
    fake.add(tweet(1, "acme cloud hello"))
    source = x_source(config, FakeClock())
    poll_source(store, config, source)
    with store.session() as session:
        source_repo.set_cursor(
            session, "x", json.dumps({"Acme": {"since_id": "1", "next_token": "before:999"}})
        )
    fake.expired_tokens.add("before:999")
    fake.add(*many(100, 5))
    report = poll_source(store, config, source)
    assert report.ok and report.stored == 5
    assert cursor(store)["Acme"] == {"since_id": "104"}


def test_a_short_rate_limit_is_waited_out_once_using_the_reset_header(
    fake: FakeX, config: Config, store: Store
) -> None:
    clock = FakeClock()
    reset = int(clock.now.timestamp()) + 30
    fake.add(tweet(5, "acme cloud is down"))
    fake.api.fail_next(
        Reply(429, json={"title": "Too Many Requests"}, headers={"x-rate-limit-reset": str(reset)})
    )
    report = poll_source(store, config, x_source(config, clock))
    assert report.ok and report.stored == 1
    assert clock.sleeps == [31.0]  # to the reset, plus a second of clock skew
    assert len(fake.searches) == 2


def test_a_long_rate_limit_ends_the_poll_and_the_source_is_skipped_until_reset(
    fake: FakeX, config: Config, store: Store, classifier: Classifier
) -> None:
    from harken.pipeline.collect import listen_once

    clock = FakeClock()
    reset = int(clock.now.timestamp()) + 900
    fake.add(tweet(5, "acme cloud is down"))
    fake.api.fail_next(Reply(429, headers={"x-rate-limit-reset": str(reset)}))
    source = x_source(config, clock)
    report = poll_source(store, config, source)
    assert not report.ok and clock.sleeps == [] and len(fake.searches) == 1
    assert report.rate_limited_until is not None
    assert int(report.rate_limited_until.timestamp()) == reset
    with store.session() as session:
        health = source_repo.get_health(session, "x")
        assert health is not None and health.rate_limited_until == report.rate_limited_until

    again = listen_once(store, config, [source], sinks={})
    assert again.polls[0].rate_limited_until == report.rate_limited_until
    assert "rate limited until" in describe_poll(again.polls[0])
    assert len(fake.searches) == 1  # not even asked

    clock.now += timedelta(seconds=901)
    later = listen_once(store, config, [source], sinks={}, classifier=classifier)
    assert later.polls[0].ok and later.polls[0].stored == 1


def test_a_429_without_a_reset_header_is_not_retried_in_a_loop(
    fake: FakeX, config: Config, store: Store
) -> None:
    clock = FakeClock()
    start = clock.now
    fake.api.fail_next(*[Reply(429)] * 50)
    report = poll_source(store, config, x_source(config, clock))
    # Taken as "come back in a minute": waited out once, then the source rests.
    assert clock.sleeps == [61.0] and len(fake.searches) == 2
    assert report.rate_limited_until == start + timedelta(seconds=121)
    with store.session() as session:
        health = source_repo.get_health(session, "x")
        assert health is not None and health.consecutive_failures == 0  # not a failure


def test_an_old_since_id_is_replaced_by_the_start_of_the_search_window(
    fake: FakeX, config: Config, store: Store
) -> None:
    clock = FakeClock()
    nine_days_ago = clock.now - timedelta(days=9)
    old_id = ((int(nine_days_ago.timestamp() * 1000) - 1288834974657) << 22) + 1
    with store.session() as session:
        source_repo.set_cursor(session, "x", json.dumps({"Acme": {"since_id": str(old_id)}}))
    fake.add(tweet(old_id + 10, "acme cloud outage"))
    report = poll_source(store, config, x_source(config, clock))
    assert report.ok and report.stored == 1
    (search,) = fake.searches
    assert "since_id" not in search.query
    window_start = datetime.fromisoformat(search.query["start_time"].replace("Z", "+00:00"))
    assert timedelta(days=6, hours=23) < clock.now - window_start < timedelta(days=7)
    assert cursor(store)["Acme"] == {"since_id": str(old_id + 10)}


def test_an_interrupted_first_poll_stays_bounded(
    fake: FakeX, config: Config, store: Store, tmp_path: Path
) -> None:
    path = write_config(
        tmp_path,
        config.path.read_text().replace(  # type: ignore[union-attr]
            "max_results: 10", "max_results: 10\n    first_poll_pages: 2"
        ),
    )
    config = load_config(path)
    fake.add(*many(1000, 200))
    calls = {"n": 0}
    real = fake._search

    def page_two_fails(req: Request) -> Reply:
        calls["n"] += 1
        return Reply(503) if calls["n"] in (2, 3, 4, 5) else real(req)

    fake.api.routes[("GET", "/2/tweets/search/recent")] = page_two_fails
    source = x_source(config, FakeClock())
    assert not poll_source(store, config, source).ok
    resumed = poll_source(store, config, source)
    # The first walk goes on for at most first_poll_pages more, not through the whole week.
    assert resumed.ok and resumed.pages == 2 and len(stored_ids(store)) == 30
    assert cursor(store)["Acme"] == {"since_id": "1199"}


def test_a_source_that_keeps_failing_is_marked_unhealthy(
    fake: FakeX, config: Config, store: Store
) -> None:
    clock = FakeClock()
    source = x_source(config, clock)
    fake.api.fail_next(*[Reply(502)] * 12)
    for _ in range(3):
        assert not poll_source(store, config, source).ok
    with store.session() as session:
        health = source_repo.get_health(session, "x")
        assert health is not None and health.consecutive_failures == 3
        assert "502" in (health.last_error or "")
    assert len(fake.searches) == 12  # four tries per poll, never more


def test_garbled_and_incomplete_pages_lose_only_the_bad_items(
    fake: FakeX, config: Config, store: Store
) -> None:
    huge = "acme cloud " + "𝕏😀 データ" * 5000
    fake.add(tweet(10, huge), tweet(11, "acme cloud ok"), {"id": "12", "text": "acme no author"})
    fake.api.fail_next(Reply(200, body=b'{"data": [ {"id": '))
    report = poll_source(store, config, x_source(config, FakeClock()))
    assert report.ok and report.stored == 2 and report.rejected == 1
    with store.session() as session:
        texts = {m.external_id: m.text for m in session.execute(select(Mention)).scalars()}
    assert texts["10"] == huge


def test_bad_credentials_fail_the_poll_with_a_hint_and_no_retry(
    fake: FakeX, config: Config, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", "wrong")
    config = load_config(config.path)
    report = poll_source(store, config, x_source(config, FakeClock()))
    assert not report.ok and "401" in (report.error or "") and "X_BEARER_TOKEN" in report.error
    assert len(fake.searches) == 1


def test_the_bearer_token_never_reaches_the_logs(
    fake: FakeX, config: Config, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    from harken.logs import RedactSecrets

    caplog.set_level(logging.DEBUG)
    fake.add(tweet(1, "acme cloud"))
    poll_source(store, config, x_source(config, FakeClock()))
    assert "Making API request" in caplog.text  # tweepy logs each request's headers
    shown = RedactSecrets().redact(caplog.text)
    assert "***" in shown and TOKEN not in shown


def test_engagement_is_read_again_by_id(fake: FakeX, config: Config, store: Store) -> None:
    from harken.platforms.source import RefreshTarget

    fake.add(tweet(7, "acme cloud"))
    source = x_source(config, FakeClock())
    fake.tweets[0]["public_metrics"] = {
        "retweet_count": 40,
        "like_count": 300,
        "reply_count": 9,
        "quote_count": 2,
    }
    metrics = source.refresh([RefreshTarget("7", {}), RefreshTarget("8", {})])
    assert metrics == {
        "7": {"likes": 300, "reposts": 40, "replies": 9, "quotes": 2, "impressions": None}
    }


def test_nothing_is_stored_twice_across_restarts(
    fake: FakeX, config: Config, store: Store, tmp_path: Path
) -> None:
    fake.add(*many(1, 5))
    poll_source(store, config, x_source(config, FakeClock()))
    fake.add(*many(50, 15))
    # A new process: new store object, new source, same database.
    store2 = Store(store.url)
    poll_source(store2, config, x_source(config, FakeClock()))
    with store2.session() as session:
        assert session.execute(select(func.count()).select_from(Mention)).scalar() == 20


@pytest.mark.parametrize("header", ["1e12", "inf", "9" * 400, "soon", "-5"])
def test_nonsense_reset_headers_never_break_a_call(header: str) -> None:
    from harken.platforms.source import parse_reset

    now = datetime(2026, 11, 23, tzinfo=UTC)
    reset = parse_reset(header, now)
    assert reset is None or reset >= now


# -- limits: what a server may send ----------------------------------------------------------


def test_a_20_mb_tweet_is_stored_cut_with_a_marker(
    fake: FakeX, config: Config, store: Store
) -> None:
    fake.add(tweet(1, "acme cloud " + "x" * 20_000_000), tweet(2, "acme cloud is fine"))
    started = time.monotonic()
    report = poll_source(store, config, x_source(config, FakeClock()))
    assert report.ok and report.stored == 2 and report.cut == 1
    assert describe_poll(report) == "x: 2 new (1 page, 1 cut to fit)"
    with store.session() as session:
        stored = {m.external_id: m for m in session.execute(select(Mention)).scalars()}
    text = stored["1"].text
    assert text.startswith("acme cloud xxx") and text.endswith(TEXT_CUT_MARK)
    assert len(text) == MAX_TEXT + len(TEXT_CUT_MARK)
    assert len(json.dumps(stored["1"].raw)) < 2 * MAX_RAW_CHARS
    assert stored["2"].text == "acme cloud is fine"
    assert time.monotonic() - started < 15


def test_an_html_answer_is_unreadable_not_unreachable(
    fake: FakeX, config: Config, store: Store
) -> None:
    fake.add(tweet(1, "acme cloud"))
    page = "<html><body>Over capacity</body></html>"
    fake.api.fail_next(*[Reply(200, body=page, headers={"Content-Type": "text/html"})] * 4)
    report = poll_source(store, config, x_source(config, FakeClock()))
    assert report.error == f"X: unreadable answer (text/html, {len(page)} bytes)"
    assert len(fake.searches) == 4  # transient: retried like a 5xx
    assert poll_source(store, config, x_source(config, FakeClock())).stored == 1


def test_a_newest_id_that_is_no_tweet_id_never_becomes_the_cursor(
    fake: FakeX, config: Config, store: Store
) -> None:
    fake.add(tweet(1001, "acme cloud is down"), tweet(1002, "acme cloud still down"))
    real = fake._search

    def forty_nines(req: Request) -> Reply:
        reply = real(req)
        reply.json["meta"]["newest_id"] = "9" * 40
        return reply

    fake.api.fail_next(forty_nines)
    source = x_source(config, FakeClock())
    report = poll_source(store, config, source)
    # The page is stored; the cursor falls back to the newest tweet on it; it is reported.
    assert report.ok and report.stored == 2 and report.rejected == 1
    assert cursor(store)["Acme"] == {"since_id": "1002"}
    with store.session() as session:
        health = source_repo.get_health(session, "x")
        assert health is not None and "newest_id" in (health.last_rejection or "")

    fake.add(tweet(1003, "acme cloud back up"))
    again = poll_source(store, config, source)
    assert again.ok and again.stored == 1 and again.rejected == 0
    assert fake.searches[-1].query["since_id"] == "1002"


@pytest.mark.parametrize(
    "stored",
    [
        {"since_id": "9" * 40},
        {"since_id": "1", "pending_newest": "9" * 40, "next_token": "before:5"},
        {"since_id": "-5"},
        {"since_id": 12},
    ],
)
def test_a_bad_cursor_stored_by_an_older_version_is_repaired_at_the_next_poll(
    fake: FakeX, config: Config, store: Store, stored: dict
) -> None:
    with store.session() as session:
        source_repo.set_cursor(session, "x", json.dumps({"Acme": stored}))
    fake.add(tweet(1001, "acme cloud is down"))
    source = x_source(config, FakeClock())
    report = poll_source(store, config, source)
    assert report.ok and report.stored == 1 and report.rejected == 1
    assert cursor(store)["Acme"] == {"since_id": "1001"}
    assert all(_valid_or_absent(r.query.get("since_id")) for r in fake.searches)
    fake.add(tweet(1002, "acme cloud is up"))
    assert poll_source(store, config, source).stored == 1


def _valid_or_absent(since_id: str | None) -> bool:
    return since_id is None or (since_id.isdigit() and len(since_id) < 20)


def test_a_since_id_x_refuses_restarts_the_search_instead_of_failing_every_poll(
    fake: FakeX, config: Config, store: Store
) -> None:
    with store.session() as session:
        source_repo.set_cursor(session, "x", json.dumps({"Acme": {"since_id": "17"}}))
    fake.refused_since.add("17")
    fake.add(tweet(1001, "acme cloud is down"))
    source = x_source(config, FakeClock())
    report = poll_source(store, config, source)
    assert report.ok and report.stored == 1 and report.rejected == 1
    assert [r.query.get("since_id") for r in fake.searches] == ["17", None]
    assert cursor(store)["Acme"] == {"since_id": "1001"}
    with store.session() as session:
        health = source_repo.get_health(session, "x")
        assert health is not None and "since_id" in (health.last_rejection or "")
    fake.add(tweet(1002, "acme cloud is up"))
    assert poll_source(store, config, source).stored == 1
    assert fake.searches[-1].query["since_id"] == "1001"


def test_a_page_of_many_bad_items_is_logged_in_a_few_lines_and_counted_whole(
    fake: FakeX, config: Config, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add(tweet(1, "acme cloud"))
    real = fake._search

    def junk(req: Request) -> Reply:
        reply = real(req)
        reply.json["data"] += [1] * 5000
        return reply

    fake.api.fail_next(junk)
    caplog.set_level(logging.WARNING, logger="harken.pipeline.collect")
    report = poll_source(store, config, x_source(config, FakeClock()))
    assert report.ok and report.stored == 1 and report.rejected == 5000
    lines = [r.getMessage() for r in caplog.records if r.name == "harken.pipeline.collect"]
    assert len(lines) == 11
    assert lines[-1] == "x: … and 4990 more unreadable items skipped (brand Acme, page 1)"
