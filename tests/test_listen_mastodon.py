"""Mastodon through the real Mastodon.py client against local fakes of Mastodon instances."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from harken.config import Config, load_config
from harken.errors import ConfigError
from harken.pipeline.collect import listen_once, poll_source
from harken.platforms.mastodon.source import MastodonSource
from harken.platforms.registry import build_sources
from harken.platforms.source import RefreshTarget
from harken.store import Store
from harken.store import sources as source_repo
from harken.store.tables import Mention
from tests.conftest import write_config
from tests.fakes.clock import FakeClock
from tests.fakes.http import Reply, Request
from tests.fakes.mastodon import FakeMastodon, status
from tests.listening import stored_cursor, stored_ids

TOKEN = "test-mastodon-access-token"


@pytest.fixture
def fake() -> Iterator[FakeMastodon]:
    instance = FakeMastodon(token=TOKEN)
    with instance.api:
        yield instance


def make_config(
    tmp_path: Path,
    source: str,
    keywords: str = "[acme, acme cloud]",
    hashtags: str = '["#acme"]',
) -> Config:
    path = write_config(
        tmp_path,
        f"""
brands:
  - name: Acme
    keywords: {keywords}
    handles: ["@acme"]
    hashtags: {hashtags}
    exclude: [acme anvil]
sources:
  mastodon:
    enabled: true
{source}
""",
    )
    return load_config(path)


@pytest.fixture
def config(tmp_path: Path, fake: FakeMastodon) -> Config:
    """Hashtag timelines only, anonymous, ten statuses a page."""
    return make_config(tmp_path, f'    api_base_url: "{fake.url}"\n    limit: 10')


@pytest.fixture
def search_config(tmp_path: Path, fake: FakeMastodon, monkeypatch: pytest.MonkeyPatch) -> Config:
    """Statuses search only (no hashtags), signed in."""
    monkeypatch.setenv("MASTODON_ACCESS_TOKEN", TOKEN)
    source = f"""    api_base_url: "{fake.url}"
    access_token: "${{MASTODON_ACCESS_TOKEN}}"
    search: true
    limit: 10"""
    return make_config(tmp_path, source, keywords="[acme cloud]", hashtags="[]")


def mastodon_source(config: Config, clock: FakeClock) -> MastodonSource:
    (source,) = build_sources(config, runtime=clock.runtime())
    assert isinstance(source, MastodonSource)
    return source


def cursor(store: Store) -> dict:
    return stored_cursor(store, "mastodon")  # type: ignore[no-any-return]


def many(start: int, count: int) -> list[dict]:
    return [status(i, f"acme cloud is slow today {i}") for i in range(start, start + count)]


def uri(local_id: int) -> str:
    return f"https://mastodon.social/users/alice/statuses/{local_id}"


# -- hashtag timelines ------------------------------------------------------------------------


def test_brand_hashtags_become_tag_timelines_read_anonymously(
    fake: FakeMastodon, tmp_path: Path, store: Store
) -> None:
    fake.add(status(1, "acme cloud is down #acme"), status(2, "アクメ落ちてる", tags=("アクメ",)))
    config = make_config(
        tmp_path,
        f'    api_base_url: "{fake.url}/"',  # a trailing slash is fine
        keywords="[acme, アクメ]",
        hashtags='["#acme", "#ACME", "#アクメ"]',
    )
    report = poll_source(store, config, mastodon_source(config, FakeClock()))
    assert report.ok and report.stored == 2 and report.pages == 2
    first, second = fake.tag_calls
    assert first.path == "/api/v1/timelines/tag/acme"  # #acme and #ACME are one tag
    assert second.path == "/api/v1/timelines/tag/%E3%82%A2%E3%82%AF%E3%83%A1"
    assert first.query == {"limit": "40"}  # first poll: the newest page, no bound
    assert "authorization" not in first.headers
    assert first.headers["user-agent"].startswith("harken/")
    # Mastodon.py asked once whether hashtag feeds are public, and never for the version.
    assert len(fake.calls("/api/v2/instance/")) == 1 and not fake.calls("/api/v1/instance/")
    assert set(cursor(store)[fake.url]) == {"tag:acme", "tag:アクメ"}


def test_first_poll_takes_the_newest_page_then_min_id_pages_forward_without_gaps(
    fake: FakeMastodon, config: Config, store: Store
) -> None:
    fake.add(*many(1000, 50))
    source = mastodon_source(config, FakeClock())
    first = poll_source(store, config, source)
    # No cursor yet: the ten newest, not the tag's whole history.
    assert first.stored == 10 and cursor(store)[fake.url] == {"tag:acme": {"min_id": "1049"}}
    assert stored_ids(store)[0] == uri(1040)

    fake.add(*many(2000, 25))  # more than a page arrived: since_id would skip 2000-2014
    second = poll_source(store, config, source)
    assert second.ok and second.pages == 3 and second.stored == 25
    assert [r.query.get("min_id") for r in fake.tag_calls[1:]] == ["1049", "2009", "2019"]
    assert cursor(store)[fake.url] == {"tag:acme": {"min_id": "2024"}}

    third = poll_source(store, config, source)
    assert third.ok and third.stored == 0 and third.pages == 1
    assert fake.tag_calls[-1].query["min_id"] == "2024"
    assert len(stored_ids(store)) == 35 == len(set(stored_ids(store)))


def test_a_poll_cut_short_resumes_from_the_last_stored_page(
    fake: FakeMastodon, config: Config, store: Store
) -> None:
    fake.add(status(1, "acme cloud hello"))
    clock = FakeClock()
    source = mastodon_source(config, clock)
    poll_source(store, config, source)
    fake.add(*many(100, 30))
    calls = {"n": 0}

    def second_page_fails(req: Request) -> Reply | None:
        calls["n"] += 1
        return Reply(500, json={"error": "boom"}) if calls["n"] in (2, 3, 4, 5) else None

    fake.before = second_page_fails
    cut = poll_source(store, config, source)
    assert not cut.ok and cut.stored == 10 and "500" in (cut.error or "")
    assert cursor(store)[fake.url]["tag:acme"] == {"min_id": "109"}  # page 1 is committed
    # Backoff between the retries grew, with jitter; nothing was retried at once.
    assert len(clock.sleeps) == 3 and all(s > 0 for s in clock.sleeps)
    assert clock.sleeps[0] < clock.sleeps[2]

    resumed = poll_source(store, config, source)
    assert resumed.ok and resumed.stored == 20 and resumed.duplicates == 0
    assert cursor(store)[fake.url]["tag:acme"] == {"min_id": "129"}
    assert len(stored_ids(store)) == 31


def test_nothing_is_stored_twice_across_restarts(
    fake: FakeMastodon, config: Config, store: Store, tmp_path: Path
) -> None:
    fake.add(*many(1, 5))
    poll_source(store, config, mastodon_source(config, FakeClock()))
    fake.add(*many(50, 15))
    # A new process: new store object, new source, same database.
    store2 = Store(store.url)
    report = poll_source(store2, config, mastodon_source(config, FakeClock()))
    assert report.stored == 15 and report.duplicates == 0
    assert len(stored_ids(store2)) == 20
    assert fake.tag_calls[1].query["min_id"] == "5"


def test_streams_no_longer_configured_leave_the_cursor(
    fake: FakeMastodon, config: Config, store: Store
) -> None:
    stale = {
        fake.url: {"tag:acme": {"min_id": "7"}, "tag:oldtag": {"min_id": "3"}},
        "https://gone.example": {"tag:acme": {"min_id": "9"}},
    }
    with store.session() as session:
        source_repo.set_cursor(session, "mastodon", json.dumps(stale))
    fake.add(status(8, "acme cloud"))
    report = poll_source(store, config, mastodon_source(config, FakeClock()))
    assert report.stored == 1
    assert cursor(store) == {fake.url: {"tag:acme": {"min_id": "8"}}}


# -- statuses search --------------------------------------------------------------------------


def test_search_asks_for_statuses_per_keyword_signed_in(
    fake: FakeMastodon, search_config: Config, store: Store
) -> None:
    fake.add(
        status(1, "acme cloud is down", tags=()),
        status(2, "my acme anvil and acme cloud", tags=()),
        status(3, "acme is fine", tags=()),
    )
    report = poll_source(store, search_config, mastodon_source(search_config, FakeClock()))
    assert report.ok and report.stored == 1 and stored_ids(store) == [uri(1)]
    (search,) = fake.searches
    assert search.query == {"q": '"acme cloud" -"acme anvil"', "type": "statuses", "limit": "10"}
    assert search.headers["authorization"] == f"Bearer {TOKEN}"
    assert not fake.tag_calls
    assert cursor(store)[fake.url] == {'search:"acme cloud" -"acme anvil"': {"min_id": "1"}}


def test_search_pages_by_offset_and_moves_the_mark_only_when_done(
    fake: FakeMastodon, search_config: Config, store: Store
) -> None:
    fake.add(*[status(i, f"acme cloud {i}", tags=()) for i in range(1, 31)])
    source = mastodon_source(search_config, FakeClock())
    first = poll_source(store, search_config, source)
    assert first.stored == 10 and first.pages == 1  # first poll: the newest page only
    key = 'search:"acme cloud" -"acme anvil"'
    assert cursor(store)[fake.url] == {key: {"min_id": "30"}}

    fake.add(*[status(i, f"acme cloud {i}", tags=()) for i in range(100, 125)])
    second = poll_source(store, search_config, source)
    # 25 new ones, newest first: offsets 0, 10, 20, then an empty page ends the search.
    assert second.ok and second.stored == 25 and second.pages == 4
    assert [r.query.get("offset") for r in fake.searches[1:]] == [None, "10", "20", "30"]
    assert {r.query["min_id"] for r in fake.searches[1:]} == {"30"}
    assert cursor(store)[fake.url] == {key: {"min_id": "124"}}


def test_a_search_cut_short_resumes_at_its_offset(
    fake: FakeMastodon, search_config: Config, store: Store
) -> None:
    fake.add(status(1, "acme cloud", tags=()))
    source = mastodon_source(search_config, FakeClock())
    poll_source(store, search_config, source)
    fake.add(*[status(i, f"acme cloud {i}", tags=()) for i in range(100, 125)])
    source.settings.max_pages = 2
    cut = poll_source(store, search_config, source)
    key = 'search:"acme cloud" -"acme anvil"'
    assert cut.ok and cut.stored == 20
    # The mark stays until the search is done; the newest seen waits beside it.
    assert cursor(store)[fake.url][key] == {"min_id": "1", "offset": 20, "pending_newest": "124"}

    resumed = poll_source(store, search_config, source)
    assert resumed.ok and resumed.stored == 5 and resumed.duplicates == 0
    assert cursor(store)[fake.url][key] == {"min_id": "124"}
    assert len(stored_ids(store)) == 26


def test_search_needs_an_access_token(tmp_path: Path, fake: FakeMastodon) -> None:
    source = f"""    api_base_url: "{fake.url}"
    access_token: "${{MASTODON_ACCESS_TOKEN}}"
    search: true"""
    config = make_config(tmp_path, source)  # MASTODON_ACCESS_TOKEN is not set
    with pytest.raises(ConfigError) as err:
        build_sources(config)
    assert "sources.mastodon.access_token" in str(err.value)
    assert "search" in str(err.value) and "MASTODON_ACCESS_TOKEN" in str(err.value)


def test_a_source_with_nothing_to_listen_for_is_a_config_error(
    tmp_path: Path, fake: FakeMastodon
) -> None:
    config = make_config(tmp_path, f'    api_base_url: "{fake.url}"', hashtags="[]")
    with pytest.raises(ConfigError, match="nothing to listen for"):
        build_sources(config)


# -- several instances ------------------------------------------------------------------------


def test_the_token_goes_to_the_first_instance_only_and_federated_copies_count_once(
    fake: FakeMastodon, tmp_path: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASTODON_ACCESS_TOKEN", TOKEN)
    other = FakeMastodon(domain="fosstodon.org")
    shared = status(5, "acme cloud outage #acme")
    fake.add(shared, status(6, "acme cloud again #acme"))
    other.add({**shared, "id": "90001"}, status(90002, "acme cloud elsewhere", acct="bob"))
    with other.api:
        other_url = other.url
        source = f"""    instances: ["{fake.url}", "{other_url}"]
    access_token: "${{MASTODON_ACCESS_TOKEN}}"
    search: true
    limit: 10"""
        config = make_config(tmp_path, source, keywords="[acme cloud]")
        report = poll_source(store, config, mastodon_source(config, FakeClock()))
    assert report.ok and report.stored == 3 and report.duplicates >= 1
    assert all(r.headers.get("authorization") == f"Bearer {TOKEN}" for r in fake.api.requests)
    assert not any("authorization" in r.headers for r in other.api.requests)
    assert len(fake.searches) == 1 and not other.searches  # search needs the token
    state = cursor(store)
    assert state[other_url] == {"tag:acme": {"min_id": "90002"}}
    assert set(state[fake.url]) == {"tag:acme", 'search:"acme cloud" -"acme anvil"'}


def test_api_base_url_replaces_the_instance_list(tmp_path: Path, fake: FakeMastodon) -> None:
    source = f'    instances: ["https://mastodon.social"]\n    api_base_url: "{fake.url}"'
    config = make_config(tmp_path, source)
    (built,) = build_sources(config)
    assert isinstance(built, MastodonSource)
    assert [i.url for i in built.instances] == [fake.url]


# -- rate limits, failures, hostile data --------------------------------------------------------


def test_a_short_rate_limit_is_waited_out_once_using_the_reset_header(
    fake: FakeMastodon, config: Config, store: Store
) -> None:
    clock = FakeClock()
    reset = (clock.now + timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%S.000000Z")
    fake.add(status(5, "acme cloud is down"))
    fake.fail_next(
        Reply(
            429,
            json={"error": "Too many requests"},
            headers={
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset,
            },
        )
    )
    report = poll_source(store, config, mastodon_source(config, clock))
    assert report.ok and report.stored == 1
    assert clock.sleeps == [31.0]  # to the reset, plus a second of clock skew
    assert len(fake.tag_calls) == 2


def test_a_long_rate_limit_ends_the_poll_and_the_source_waits_for_the_reset(
    fake: FakeMastodon, config: Config, store: Store
) -> None:
    clock = FakeClock()
    reset_at = clock.now + timedelta(minutes=15)
    fake.add(status(5, "acme cloud is down"))
    fake.fail_next(Reply(429, headers={"X-RateLimit-Reset": reset_at.isoformat()}))
    source = mastodon_source(config, clock)
    report = poll_source(store, config, source)
    assert not report.ok and clock.sleeps == [] and len(fake.tag_calls) == 1
    assert report.rate_limited_until == reset_at
    with store.session() as session:
        health = source_repo.get_health(session, "mastodon")
        assert health is not None and health.rate_limited_until == reset_at

    again = listen_once(store, config, [source], sinks={})
    assert again.polls[0].rate_limited_until == reset_at and again.polls[0].pages == 0
    assert len(fake.tag_calls) == 1  # not even asked

    clock.now += timedelta(minutes=16)
    assert poll_source(store, config, source).stored == 1


def test_a_429_without_a_reset_header_is_not_retried_in_a_loop(
    fake: FakeMastodon, config: Config, store: Store
) -> None:
    clock = FakeClock()
    fake.fail_next(*[Reply(429)] * 50)
    report = poll_source(store, config, mastodon_source(config, clock))
    assert not report.ok and report.rate_limited_until is not None
    assert len(fake.tag_calls) <= 2
    assert all(s >= 60 for s in clock.sleeps)


def test_server_errors_and_timeouts_are_retried_with_backoff(
    fake: FakeMastodon, tmp_path: Path, store: Store
) -> None:
    config = make_config(tmp_path, f'    api_base_url: "{fake.url}"\n    timeout: 0.2s')
    clock = FakeClock()
    fake.add(status(5, "acme cloud is down"))
    fake.fail_next(Reply(503, body="<html>down</html>"), Reply(200, json=[], delay=1.0))
    report = poll_source(store, config, mastodon_source(config, clock))
    assert report.ok and report.stored == 1
    assert len(clock.sleeps) == 2 and all(s > 0 for s in clock.sleeps)
    assert len(fake.tag_calls) == 3


def test_a_source_that_keeps_failing_is_marked_unhealthy(
    fake: FakeMastodon, config: Config, store: Store
) -> None:
    source = mastodon_source(config, FakeClock())
    fake.fail_next(*[Reply(502)] * 12)
    for _ in range(3):
        assert not poll_source(store, config, source).ok
    with store.session() as session:
        health = source_repo.get_health(session, "mastodon")
        assert health is not None and health.consecutive_failures == 3
        assert "502" in (health.last_error or "")
    assert len(fake.tag_calls) == 12  # four tries per poll, never more


def test_garbled_and_incomplete_pages_lose_only_the_bad_items(
    fake: FakeMastodon, config: Config, store: Store
) -> None:
    huge = "acme cloud " + "𝕏😀 データ" * 5000
    no_account = {
        "id": "12",
        "uri": "https://x.example/12",
        "content": "acme",
        "tags": [{"name": "acme"}],
    }
    fake.add(status(10, huge), status(11, "acme cloud ok"), no_account)
    fake.fail_next(Reply(200, body=b'[{"id": '))
    clock = FakeClock()
    report = poll_source(store, config, mastodon_source(config, clock))
    assert report.ok and report.stored == 2 and report.rejected == 1
    assert len(clock.sleeps) == 1  # the garbled page was asked for again
    with store.session() as session:
        texts = {m.external_id: m.text for m in session.execute(select(Mention)).scalars()}
    assert texts[uri(10)] == huge
    assert cursor(store)[fake.url]["tag:acme"] == {"min_id": "12"}


def test_bad_credentials_fail_the_poll_with_a_hint_and_no_retry(
    fake: FakeMastodon, search_config: Config, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MASTODON_ACCESS_TOKEN", "wrong-token-value")
    config = load_config(search_config.path)
    report = poll_source(store, config, mastodon_source(config, FakeClock()))
    assert not report.ok and "401" in (report.error or "")
    error = report.error or ""
    assert "The access token is invalid" in error and "MASTODON_ACCESS_TOKEN" in error
    assert len(fake.searches) == 1


def test_the_access_token_never_reaches_the_logs(
    fake: FakeMastodon, search_config: Config, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    from harken.logs import RedactSecrets

    caplog.set_level(logging.DEBUG)
    fake.add(status(1, "acme cloud", tags=()))
    source = mastodon_source(search_config, FakeClock())
    poll_source(store, search_config, source)
    fake.fail_next(Reply(401, json={"error": "The access token is invalid"}))
    poll_source(store, search_config, source)
    assert "/api/v2/search" in caplog.text  # the requests were logged...
    shown = RedactSecrets().redact(caplog.text)
    assert TOKEN not in shown  # ...the token was not


def test_quota_comes_from_the_rate_limit_headers(
    fake: FakeMastodon, config: Config, store: Store
) -> None:
    source = mastodon_source(config, FakeClock())
    poll_source(store, config, source)
    assert source.quota is not None
    assert (source.quota.remaining, source.quota.limit) == (299, 300)
    assert source.quota.reset_at == fake.reset_at
    with store.session() as session:
        health = source_repo.get_health(session, "mastodon")
        assert health is not None and health.quota["remaining"] == 299


# -- engagement ---------------------------------------------------------------------------------


def test_engagement_is_read_again_by_local_id_where_the_uri_matches(
    fake: FakeMastodon, tmp_path: Path
) -> None:
    other = FakeMastodon(domain="fosstodon.org")
    fake.add(status(7, "acme cloud"), status(5, "someone else's status 5 here"))
    fake.statuses[0].update(favourites_count=300, reblogs_count=40, replies_count=9)
    remote = status(5, "acme cloud", origin="fosstodon.org", acct="bob")
    other.add({**remote, "favourites_count": 11})
    with other.api:
        config = make_config(tmp_path, f'    instances: ["{fake.url}", "{other.url}"]')
        source = mastodon_source(config, FakeClock())
        metrics = source.refresh(
            [
                RefreshTarget(uri(7), {"id": "7", "uri": uri(7)}),
                # Read from fosstodon: id 5 means another status on the first instance.
                RefreshTarget(remote["uri"], {"id": "5", "uri": remote["uri"]}),
                RefreshTarget(uri(404), {"id": "404"}),  # deleted everywhere
                RefreshTarget(uri(8), {}),  # no local id: nothing to ask
            ]
        )
    assert metrics == {
        uri(7): {"likes": 300, "reposts": 40, "replies": 9},
        remote["uri"]: {"likes": 11, "reposts": 1, "replies": 0},
    }
    assert len(fake.calls("/api/v1/statuses/")) == 3  # 7, then 5 (wrong uri), then 404


def test_an_instance_that_wants_sign_in_says_so(
    fake: FakeMastodon, config: Config, store: Store
) -> None:
    fake.fail_next(Reply(401, json={"error": "This API requires an authenticated user"}))
    report = poll_source(store, config, mastodon_source(config, FakeClock()))
    error = report.error or ""
    assert not report.ok and "requires an authenticated user" in error
    assert "signed-in user" in error and "access_token" in error
    assert len(fake.tag_calls) == 1


def test_unreadable_rate_limit_headers_are_a_transient_failure_not_a_rate_limit(
    fake: FakeMastodon, config: Config, store: Store
) -> None:
    # Mastodon.py raises its rate-limit error for a 200 whose reset header it cannot parse.
    fake.fail_next(*[Reply(200, json=[], headers={"X-RateLimit-Reset": "soon-ish"})] * 4)
    report = poll_source(store, config, mastodon_source(config, FakeClock()))
    assert not report.ok and report.rate_limited_until is None
    assert "unreadable rate-limit headers" in (report.error or "")
