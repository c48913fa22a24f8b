"""Bluesky through the real atproto Client against a local fake of the XRPC API."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from harken.config import Config, load_config
from harken.errors import ConfigError
from harken.pipeline.collect import poll_source, rate_limited
from harken.platforms.bluesky.source import ENTRYWAY, PUBLIC_APPVIEW, BlueskySource
from harken.platforms.registry import build_sources
from harken.platforms.source import RefreshTarget
from harken.store import Store
from harken.store import sources as source_repo
from harken.store.tables import Mention
from tests.conftest import write_config
from tests.fakes.bluesky import APP_PASSWORD, BASE_TIME, HANDLE, FakeBluesky, at, post, stamp
from tests.fakes.clock import FakeClock
from tests.fakes.http import Reply, Request
from tests.listening import stored_cursor

ACME = """
  - name: Acme
    keywords: [acme]
    languages: [en]
"""
LOGIN = f"""
    handle: "{HANDLE}"
    app_password: "${{BLUESKY_APP_PASSWORD}}"
"""


OPEN: list[BlueskySource] = []


@pytest.fixture(autouse=True)
def close_sources() -> Iterator[None]:
    """Each source's HTTP connections are closed (unclosed sockets warn, and warnings fail)."""
    yield
    while OPEN:
        OPEN.pop().close()


@pytest.fixture
def fake() -> Iterator[FakeBluesky]:
    bluesky = FakeBluesky()
    with bluesky.api:
        yield bluesky


def make_config(
    tmp_path: Path,
    fake: FakeBluesky,
    brands: str = ACME,
    login: str = LOGIN,
    extra: str = "",
    overlap: str = "0s",
) -> Config:
    path = write_config(
        tmp_path,
        f"""
brands:{brands}
sources:
  bluesky:
    enabled: true
    api_base_url: "{fake.api.url}"
    limit: 10
    search_overlap: {overlap}{login}{extra}
""",
    )
    return load_config(path)


@pytest.fixture
def config(tmp_path: Path, fake: FakeBluesky, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", APP_PASSWORD)
    return make_config(tmp_path, fake)


@pytest.fixture
def anon_config(tmp_path: Path, fake: FakeBluesky) -> Config:
    return make_config(tmp_path, fake, login="")


def fake_clock() -> FakeClock:
    # The clock starts where the fake's posts start: a search that finds nothing yet
    # starts from "now" next time.
    return FakeClock(BASE_TIME)


def bluesky(config: Config, clock: FakeClock) -> BlueskySource:
    (source,) = build_sources(config, runtime=clock.runtime())
    assert isinstance(source, BlueskySource)
    OPEN.append(source)
    return source


def stored(store: Store) -> dict[str, str]:
    with store.session() as session:
        return {m.external_id: m.text for m in session.execute(select(Mention)).scalars()}


def cursor(store: Store) -> dict:
    return stored_cursor(store, "bluesky")  # type: ignore[no-any-return]


def many(start: int, count: int, text: str = "acme cloud is slow today") -> list[dict]:
    return [post(n, f"{text} ({n})") for n in range(start, start + count)]


def searched(fake: FakeBluesky, q: str = '"acme"') -> list[Request]:
    return [r for r in fake.searches if r.query["q"] == q]


def test_each_brand_term_is_its_own_search_with_the_params_harken_needs(
    fake: FakeBluesky, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", APP_PASSWORD)
    brands = """
  - name: Acme
    keywords: [acme, acme cloud, Acme, アクメ]
    handles: ["@acme.com"]
    hashtags: ["#acme"]
    exclude: [acme anvil]
    languages: [en]
  - name: Globex
    keywords: [globex]
    languages: [en, ja]
"""
    config = make_config(tmp_path, fake, brands=brands)
    fake.add(
        post(1, "acme cloud is down again"),
        post(2, "アクメのサービスが落ちている"),
        post(3, "hey @acme.com why is my bill wrong"),
        post(4, "launch day #acme", tags=["acme"]),
        post(5, "globex rocks"),
    )
    report = poll_source(store, config, bluesky(config, fake_clock()))
    assert report.ok and report.stored == 5
    # No OR in Bluesky search: one search per term; "acme cloud" and "Acme" add nothing
    # to "acme", and the exclusion is left to harken's own brand matching.
    assert [r.query["q"] for r in fake.searches] == [
        '"acme"',
        '"アクメ"',
        '"@acme.com"',
        "#acme",
        '"globex"',
    ]
    for request in fake.searches:
        assert request.query["sort"] == "latest" and request.query["limit"] == "10"
        assert "since" not in request.query and "cursor" not in request.query
        assert request.headers["authorization"].startswith("Bearer ")
    assert [r.query.get("lang") for r in fake.searches] == ["en"] * 4 + [None]

    fake.add(post(6, "acme again"))
    poll_source(store, config, bluesky(config, fake_clock()))
    # The next poll asks only for what is newer than the newest post stored (overlap 0s).
    again = searched(fake)[-1]
    assert again.query["since"] == stamp(at(4)) and cursor(store)["Acme"]['"acme"'] == {
        "newest": stamp(at(6))
    }


def test_first_poll_reads_one_page_then_pages_through_everything_new(
    fake: FakeBluesky, config: Config, store: Store
) -> None:
    fake.add(*many(1000, 25))
    source = bluesky(config, fake_clock())
    first = poll_source(store, config, source)
    # No cursor yet: the newest page, not the whole history.
    assert first.ok and first.stored == 10
    assert cursor(store)["Acme"]['"acme"'] == {"newest": stamp(at(1024))}

    fake.add(*many(2000, 25))
    second = poll_source(store, config, source)
    assert second.ok and second.stored == 25
    # since is inclusive: the newest stored post comes back once, and the store knows it.
    assert second.duplicates == 1
    assert [r.query.get("cursor") for r in searched(fake)[1:]] == [None, "10", "20"]
    assert {r.query["since"] for r in searched(fake)[1:]} == {stamp(at(1024))}
    assert cursor(store)["Acme"]['"acme"'] == {"newest": stamp(at(2024))}

    third = poll_source(store, config, source)
    assert third.ok and third.stored == 0
    assert len(stored(store)) == 35
    assert len(fake.logins) == 1  # one session for the life of the source


def test_posts_indexed_late_behind_the_newest_are_still_found(
    fake: FakeBluesky, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", APP_PASSWORD)
    config = make_config(tmp_path, fake, overlap="5m")  # the default
    fake.add(post(10, "acme one"), post(12, "acme two"))
    source = bluesky(config, fake_clock())
    poll_source(store, config, source)
    # Written at minute 11 by a phone whose clock is behind, or indexed late: it sorts
    # before the newest post already stored.
    fake.add(post(11, "acme late", indexed=at(15)))
    report = poll_source(store, config, source)
    assert report.stored == 1 and report.duplicates == 2
    assert searched(fake)[-1].query["since"] == stamp(at(12) - timedelta(minutes=5))


def test_a_poll_cut_short_resumes_from_its_page_token_without_loss_or_repeats(
    fake: FakeBluesky, config: Config, store: Store
) -> None:
    fake.add(post(1, "acme hello"))
    clock = fake_clock()
    source = bluesky(config, clock)
    poll_source(store, config, source)
    fake.add(*many(100, 30))
    # Page 2 fails for good (4 server errors): page 1 and its cursor are already committed.
    real = fake._search
    calls = {"n": 0}

    def flaky(req: Request) -> Reply:
        calls["n"] += 1
        return Reply(500) if calls["n"] in (2, 3, 4, 5) else real(req)

    fake.api.routes[("GET", "/xrpc/app.bsky.feed.searchPosts")] = flaky
    cut = poll_source(store, config, source)
    assert not cut.ok and cut.stored == 10 and "500" in (cut.error or "")
    state = cursor(store)["Acme"]['"acme"']
    assert state == {"newest": stamp(at(1)), "page": "10", "pending": stamp(at(129))}

    resumed = poll_source(store, config, source)
    assert resumed.ok and resumed.stored == 20 and resumed.duplicates <= 1
    assert cursor(store)["Acme"]['"acme"'] == {"newest": stamp(at(129))}
    assert len(stored(store)) == 31
    # Backoff between the retries grew, with jitter, and nothing was retried at once.
    assert len(clock.sleeps) == 3 and all(s > 0 for s in clock.sleeps)
    assert clock.sleeps[0] < clock.sleeps[2]


def test_a_short_rate_limit_is_waited_out_once_using_the_reset_header(
    fake: FakeBluesky, config: Config, store: Store
) -> None:
    clock = fake_clock()
    source = bluesky(config, clock)
    poll_source(store, config, source)  # logs in
    reset = int(clock.now.timestamp()) + 30
    fake.add(post(5, "acme is down"))
    fake.api.fail_next(
        Reply(
            429,
            json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            headers={
                "ratelimit-limit": "3000",
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(reset),
                "ratelimit-policy": "3000;w=300",
            },
        )
    )
    report = poll_source(store, config, source)
    assert report.ok and report.stored == 1
    assert clock.sleeps == [31.0]  # to the reset, plus a second of clock skew
    assert len(fake.searches) == 3


def test_a_long_rate_limit_ends_the_poll_and_the_source_is_skipped_until_reset(
    fake: FakeBluesky, config: Config, store: Store
) -> None:
    clock = fake_clock()
    reset = int(clock.now.timestamp()) + 900
    fake.add(post(5, "acme is down"))
    # createSession has its own, tighter limits (30 per 5 minutes per account).
    fake.api.fail_next(
        Reply(
            429,
            json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"},
            headers={"ratelimit-remaining": "0", "ratelimit-reset": str(reset)},
        )
    )
    source = bluesky(config, clock)
    report = poll_source(store, config, source)
    assert not report.ok and clock.sleeps == [] and len(fake.api.requests) == 1
    assert report.rate_limited_until is not None
    assert int(report.rate_limited_until.timestamp()) == reset
    assert rate_limited(store, source) == report.rate_limited_until
    assert source.quota is not None and source.quota.remaining == 0

    clock.now += timedelta(seconds=901)
    assert rate_limited(store, source) is None
    later = poll_source(store, config, source)
    assert later.ok and later.stored == 1


def test_a_429_without_a_reset_header_is_not_retried_in_a_loop(
    fake: FakeBluesky, config: Config, store: Store
) -> None:
    clock = fake_clock()
    fake.api.fail_next(*[Reply(429)] * 50)
    report = poll_source(store, config, bluesky(config, clock))
    assert not report.ok
    assert len(fake.api.requests) <= 2
    assert all(s >= 60 for s in clock.sleeps)


def test_a_source_that_keeps_failing_is_marked_unhealthy(
    fake: FakeBluesky, config: Config, store: Store
) -> None:
    clock = fake_clock()
    source = bluesky(config, clock)
    assert poll_source(store, config, source).ok
    before = len(fake.searches)
    fake.api.fail_next(*[Reply(502, body="<html>Bad Gateway</html>")] * 12)
    for _ in range(3):
        assert not poll_source(store, config, source).ok
    with store.session() as session:
        health = source_repo.get_health(session, "bluesky")
        assert health is not None and health.consecutive_failures == 3
        assert "502" in (health.last_error or "")
    assert len(fake.searches) - before == 12  # four tries per poll, never more


def test_timeouts_and_garbled_pages_are_retried_and_bad_items_lose_only_themselves(
    fake: FakeBluesky, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", APP_PASSWORD)
    config = make_config(tmp_path, fake, extra="\n    timeout: 0.3s")
    source = bluesky(config, fake_clock())
    poll_source(store, config, source)  # logs in
    huge = "acme " + "🦋😀 データ\u200b" * 5000
    no_author = post(12, "acme but who wrote it")
    del no_author["author"]
    fake.add(post(10, huge), post(11, "acme ok"), no_author)
    fake.api.fail_next(
        Reply(200, json={}, delay=1.0),  # no answer within the timeout
        Reply(200, body=b'{"posts": [ {"uri": '),  # cut off mid-JSON
        Reply(200, body=b"<html>maintenance</html>", headers={"Content-Type": "text/html"}),
    )
    report = poll_source(store, config, source)
    assert report.ok and report.stored == 2 and report.rejected == 1
    texts = stored(store)
    assert texts[post(10, "")["uri"]] == huge


def test_app_passwords_and_session_tokens_never_reach_the_logs(
    fake: FakeBluesky, config: Config, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    from harken.logs import RedactSecrets

    caplog.set_level(logging.DEBUG)
    fake.add(post(1, "acme cloud"))
    source = bluesky(config, fake_clock())
    poll_source(store, config, source)
    fake.expire_sessions()  # a second login, and an error answer, in the same log
    poll_source(store, config, source)
    assert len(fake.logins) == 2
    assert "HTTP Request: POST" in caplog.text  # httpx does log every request line...
    assert len(fake.issued) == 4
    for secret in [APP_PASSWORD, *fake.issued]:
        assert secret not in caplog.text  # ...but never a body or a header
    assert APP_PASSWORD not in repr(source.settings) and APP_PASSWORD not in str(
        source.settings.model_dump()
    )
    shown = RedactSecrets([APP_PASSWORD]).redact(caplog.text)
    assert APP_PASSWORD not in shown


def test_bad_credentials_fail_the_poll_with_a_hint_and_no_retry(
    fake: FakeBluesky, config: Config, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", "wxyz-wxyz-wxyz-wxyz")
    config = load_config(config.path)
    report = poll_source(store, config, bluesky(config, fake_clock()))
    assert report.error is not None and "401" in report.error
    assert "app_password" in report.error and "wxyz-wxyz" not in report.error
    assert len(fake.logins) == 1 and fake.searches == []


def test_a_handle_without_its_app_password_is_a_config_error(
    fake: FakeBluesky, config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BLUESKY_APP_PASSWORD")
    with pytest.raises(ConfigError) as err:
        build_sources(load_config(config.path))
    assert "sources.bluesky.app_password" in str(err.value)
    assert "BLUESKY_APP_PASSWORD" in (err.value.hint or "")


def test_an_expired_session_logs_in_again_once(
    fake: FakeBluesky, config: Config, store: Store
) -> None:
    source = bluesky(config, fake_clock())
    poll_source(store, config, source)
    fake.expire_sessions()  # the server's answer: 400 ExpiredToken
    fake.add(post(3, "acme after a long night"))
    report = poll_source(store, config, source)
    assert report.ok and report.stored == 1 and len(fake.logins) == 2


def test_api_base_url_keeps_every_call_whatever_the_did_document_says(
    fake: FakeBluesky, config: Config, store: Store
) -> None:
    fake.pds_url = "http://127.0.0.1:9"  # nothing listens there
    fake.access_lifetime = timedelta(minutes=5)  # atproto refreshes it before each call
    fake.add(post(1, "acme"))
    source = bluesky(config, fake_clock())
    assert poll_source(store, config, source).ok
    fake.add(post(2, "acme again"))
    assert poll_source(store, config, source).stored == 1
    assert fake.calls("com.atproto.server.refreshSession")  # and the refresh did not move it


def test_defaults_search_the_public_appview_and_log_in_at_the_entryway(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", APP_PASSWORD)
    path = write_config(
        tmp_path,
        f"brands:{ACME}sources:\n  bluesky:\n    enabled: true\n{LOGIN}",
    )
    (source,) = build_sources(load_config(path))
    assert isinstance(source, BlueskySource)
    assert source.login_url == ENTRYWAY and not source.pinned  # then the session's own PDS
    write_config(tmp_path, f"brands:{ACME}sources:\n  bluesky:\n    enabled: true\n")
    (anonymous,) = build_sources(load_config(path))
    assert isinstance(anonymous, BlueskySource)
    assert anonymous.base_url == PUBLIC_APPVIEW and not anonymous.login_wanted


def test_anonymous_search_reads_one_page_per_poll_where_the_appview_will_not_page(
    fake: FakeBluesky, anon_config: Config, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    source = bluesky(anon_config, fake_clock())
    poll_source(store, anon_config, source)
    fake.add(*many(100, 25))
    report = poll_source(store, anon_config, source)
    assert report.ok and report.stored == 10
    assert fake.logins == [] and all("authorization" not in r.headers for r in fake.searches)
    assert "will not page this search" in caplog.text
    # The search is finished at its newest post: the next poll does not ask for the token.
    assert cursor(store)["Acme"]['"acme"'] == {"newest": stamp(at(124))}
    fake.add(post(200, "acme later"))
    assert poll_source(store, anon_config, source).stored == 1


def test_anonymous_search_turned_off_says_how_to_log_in(
    fake: FakeBluesky, anon_config: Config, store: Store
) -> None:
    fake.anonymous_search = False
    report = poll_source(store, anon_config, bluesky(anon_config, fake_clock()))
    assert report.error is not None and "403" in report.error
    assert "handle and app_password" in report.error
    assert len(fake.searches) == 1


def test_quota_comes_from_the_ratelimit_headers(
    fake: FakeBluesky, config: Config, store: Store
) -> None:
    source = bluesky(config, fake_clock())
    poll_source(store, config, source)
    assert source.quota is not None
    assert source.quota.remaining == fake.remaining and source.quota.limit == 3000
    assert source.quota.reset_at == datetime.fromtimestamp(fake.reset_epoch, tz=UTC)
    with store.session() as session:
        health = source_repo.get_health(session, "bluesky")
        assert health is not None and health.quota["remaining"] == fake.remaining


def test_engagement_is_read_again_25_posts_at_a_time(fake: FakeBluesky, config: Config) -> None:
    posts = many(1, 30)
    fake.add(*posts)
    source = bluesky(config, fake_clock())
    posts[0]["likeCount"], posts[0]["repostCount"] = 300, 40
    targets = [RefreshTarget(p["uri"], {}) for p in posts]
    targets.append(RefreshTarget("at://did:plc:gone/app.bsky.feed.post/3lgone", {}))
    metrics = source.refresh(targets)
    assert len(metrics) == 30
    assert metrics[posts[0]["uri"]] == {"likes": 300, "reposts": 40, "replies": 1, "quotes": 0}
    assert [len(r.query_all["uris"]) for r in fake.calls("app.bsky.feed.getPosts")] == [25, 6]


def test_nothing_is_stored_twice_across_restarts(
    fake: FakeBluesky, config: Config, store: Store, tmp_path: Path
) -> None:
    fake.add(*many(1, 5))
    poll_source(store, config, bluesky(config, fake_clock()))
    fake.add(*many(50, 15))
    # A new process: new store object, new source, same database.
    store2 = Store(store.url)
    report = poll_source(store2, config, bluesky(config, fake_clock()))
    assert report.ok and report.stored == 15
    with store2.session() as session:
        assert session.execute(select(func.count()).select_from(Mention)).scalar() == 20


# -- cursors that a poll cut short, a restart or a refused token leave behind -----------------


def test_a_first_walk_cut_short_stays_a_first_walk_and_is_not_a_full_history_read(
    fake: FakeBluesky, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", APP_PASSWORD)
    config = make_config(tmp_path, fake, extra="\n    first_poll_pages: 2")
    fake.add(*many(1000, 60))  # six pages of history
    clock = fake_clock()
    source = bluesky(config, clock)
    real = fake._search
    calls = {"n": 0}

    def flaky(req: Request) -> Reply:
        calls["n"] += 1
        return Reply(500) if calls["n"] in (2, 3, 4, 5) else real(req)

    fake.api.routes[("GET", "/xrpc/app.bsky.feed.searchPosts")] = flaky
    cut = poll_source(store, config, source)  # page 2 of the first walk fails for good
    assert not cut.ok and cut.stored == 10
    # No `newest` yet, so no `since`: the state says it is a first walk with a page left.
    assert cursor(store)["Acme"]['"acme"'] == {
        "first": 1,
        "page": "10",
        "pending": stamp(at(1059)),
    }

    resumed = poll_source(store, config, source)
    assert resumed.ok and resumed.stored == 10  # the page left, not the 40 posts behind it
    assert len(stored(store)) == 20
    assert cursor(store)["Acme"]['"acme"'] == {"newest": stamp(at(1059))}
    assert "since" not in searched(fake)[-1].query

    fake.add(post(2000, "acme later"))
    later = poll_source(store, config, source)
    assert later.ok and later.stored == 1
    assert searched(fake)[-1].query["since"] == stamp(at(1059))


def test_a_refused_page_token_searches_again_from_the_top_when_logged_in(
    fake: FakeBluesky, config: Config, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add(post(1, "acme hello"))
    source = bluesky(config, fake_clock())
    poll_source(store, config, source)
    fake.add(*many(100, 30))
    fake.refuse_cursors = 1  # page 2's token, as if it had expired
    report = poll_source(store, config, source)
    # Nothing between the old newest and the unread pages is skipped: the search ran again
    # from the top (with its `since`), and the page read twice was absorbed by the store
    # (with the newest post stored before: `since` is inclusive).
    assert report.ok and report.stored == 30 and report.duplicates == 10 + 1
    assert "searching again from the top" in caplog.text
    cursors = [r.query.get("cursor") for r in searched(fake)[1:]]
    assert cursors == [None, "10", None, "10", "20", "30"]
    assert {r.query["since"] for r in searched(fake)[1:]} == {stamp(at(1))}
    assert cursor(store)["Acme"]['"acme"'] == {"newest": stamp(at(129))}
    assert len(stored(store)) == 31


def test_a_stored_page_token_refused_after_a_restart_loses_nothing(
    fake: FakeBluesky, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, store: Store
) -> None:
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", APP_PASSWORD)
    short = make_config(tmp_path, fake, extra="\n    max_pages: 1")
    fake.add(post(1, "acme hello"))
    poll_source(store, short, bluesky(short, fake_clock()))
    fake.add(*many(100, 30))
    assert poll_source(store, short, bluesky(short, fake_clock())).stored == 10
    assert cursor(store)["Acme"]['"acme"']["page"] == "10"  # the rest waits for the next poll

    fake.refuse_cursors = 1  # a new process: the stored token has expired meanwhile
    config = make_config(tmp_path, fake)
    store2 = Store(store.url)
    report = poll_source(store2, config, bluesky(config, fake_clock()))
    assert report.ok and report.stored == 20 and report.duplicates == 10 + 1
    assert len(stored(store)) == 31
    assert cursor(store)["Acme"]['"acme"'] == {"newest": stamp(at(129))}


def test_a_search_the_api_will_never_page_ends_after_one_fresh_try(
    fake: FakeBluesky, config: Config, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    fake.add(post(1, "acme hello"))
    source = bluesky(config, fake_clock())
    poll_source(store, config, source)
    fake.add(*many(100, 30))
    fake.refuse_cursors = 100  # every page token, always
    report = poll_source(store, config, source)
    assert report.ok and report.stored == 10
    assert "will not page this search" in caplog.text
    assert [r.query.get("cursor") for r in searched(fake)[1:]] == [None, "10", None, "10"]
    assert cursor(store)["Acme"]['"acme"'] == {"newest": stamp(at(129))}


@pytest.mark.parametrize(
    "stored_cursor",
    [
        "not json",
        '["Acme"]',
        '{"Acme": ["\\"acme\\""]}',
        '{"Acme": {"\\"acme\\"": "2026-11-22T09:00:00Z"}}',
        '{"Acme": {"\\"acme\\"": {"newest": "yesterday"}}}',
        '{"Acme": {"\\"acme\\"": {"newest": "2026-11-22T09:00:00.000Z", "page": 10}}}',
        '{"Acme": {"\\"acme\\"": {"first": "yes", "page": "10"}}}',
    ],
)
def test_a_stored_cursor_of_the_wrong_shape_starts_afresh_with_a_warning(
    fake: FakeBluesky,
    config: Config,
    store: Store,
    caplog: pytest.LogCaptureFixture,
    stored_cursor: str,
) -> None:
    with store.session() as session:
        source_repo.set_cursor(session, "bluesky", stored_cursor)
    fake.add(*many(1, 15))
    report = poll_source(store, config, bluesky(config, fake_clock()))
    assert report.ok and report.stored == 10  # a first walk: one page
    assert "the stored cursor is unreadable; starting from now" in caplog.text
    assert cursor(store)["Acme"]['"acme"'] == {"newest": stamp(at(15))}


# -- errors atproto does not wrap, and sessions shared between threads ------------------------


def test_a_connection_closed_without_an_answer_is_retried(
    fake: FakeBluesky, config: Config, store: Store
) -> None:
    clock = fake_clock()
    source = bluesky(config, clock)
    poll_source(store, config, source)  # logged in, the connection kept alive
    fake.add(post(5, "acme is down"))
    fake.hang_ups = 1  # httpx: RemoteProtocolError, which atproto passes through as it is
    report = poll_source(store, config, source)
    assert report.ok and report.stored == 1 and len(clock.sleeps) == 1

    fake.hang_ups = 4
    failed = poll_source(store, config, source)
    assert not failed.ok and len(clock.sleeps) == 4
    assert failed.error == f"Bluesky: cannot reach {fake.api.url} (RemoteProtocolError)"


def test_a_session_replaced_during_a_login_never_leaves_a_client_without_its_login(
    fake: FakeBluesky, config: Config, store: Store
) -> None:
    import threading

    fake.add(post(1, "acme hello"))
    source = bluesky(config, fake_clock())
    poll_source(store, config, source)
    fake.expire_sessions()
    other: list[threading.Thread] = []
    new_client = source._new_client

    def client_with_a_rival():  # type: ignore[no-untyped-def]
        client = new_client()

        def rival(event: object, session: object) -> None:
            # The login's answer is in, the source has not yet noted it: another thread
            # (the engagement refresh, say) finds the session dead and replaces it now.
            if not other:
                other.append(threading.Thread(target=source._reset_session))
                other[0].start()
                other[0].join(0.3)  # with the lock it waits for this login to finish

        client.on_session_change(rival)
        return client

    source._new_client = client_with_a_rival  # type: ignore[method-assign]
    uri = post(1, "")["uri"]
    metrics = source.refresh([RefreshTarget(uri, {})])
    other[0].join(5)
    assert metrics == {uri: {"likes": 10, "reposts": 2, "replies": 1, "quotes": 0}}
    # logged_in describes the client in use: never True for a client that did not log in.
    assert not source.logged_in or source.client._session is not None
    fake.add(post(2, "acme again"))
    report = poll_source(store, config, source)
    assert report.ok and report.stored == 1
    requests = fake.searches + fake.calls("app.bsky.feed.getPosts")
    assert all(r.headers.get("authorization") for r in requests)  # never sent anonymously
