"""Reddit through the real praw/prawcore against a local fake of Reddit's OAuth API."""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from praw.config import Config as PrawConfig
from sqlalchemy import func, select

from harken.config import Config, load_config
from harken.errors import ConfigError
from harken.pipeline.collect import poll_source, rate_limited
from harken.platforms.reddit.source import RedditSource
from harken.platforms.registry import build_sources
from harken.platforms.source import RefreshTarget
from harken.store import Store
from harken.store import sources as source_repo
from harken.store.tables import Mention
from tests.conftest import write_config
from tests.fakes.clock import FakeClock
from tests.fakes.http import Reply
from tests.fakes.reddit import CLIENT_ID, CLIENT_SECRET, T0, FakeReddit, comment, submission
from tests.listening import stored_cursor, stored_ids

HOUR = 3600.0


@pytest.fixture
def fake() -> Iterator[FakeReddit]:
    reddit = FakeReddit(username="acme_bot", password="hunter2-but-longer")
    reddit.subreddits("acmecloud", "secretclub", "nosuchsub")
    with reddit.api:
        yield reddit


def configure(tmp_path: Path, fake: FakeReddit, extra: str = "") -> Config:
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
  reddit:
    enabled: true
    client_id: "${{REDDIT_CLIENT_ID}}"
    client_secret: "${{REDDIT_CLIENT_SECRET}}"
    user_agent: "harken-tests/0.1 (by u/harken)"
    api_base_url: "{fake.api.url}"
    limit: 10
{extra}
""",
    )
    return load_config(path)


@pytest.fixture
def config(tmp_path: Path, fake: FakeReddit, monkeypatch: pytest.MonkeyPatch) -> Config:
    monkeypatch.setenv("REDDIT_CLIENT_ID", CLIENT_ID)
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", CLIENT_SECRET)
    return configure(tmp_path, fake)


@pytest.fixture
def watching(tmp_path: Path, fake: FakeReddit, config: Config) -> Config:
    """Only the watched subreddit r/acmecloud: every new submission and comment."""
    return configure(tmp_path, fake, "    subreddits: []\n    watch: [r/acmecloud]")


def reddit_source(config: Config, clock: FakeClock) -> RedditSource:
    (source,) = build_sources(config, runtime=clock.runtime())
    assert isinstance(source, RedditSource)
    return source


def cursor(store: Store) -> dict:
    return stored_cursor(store, "reddit")  # type: ignore[no-any-return]


def posts(start: int, count: int, sub: str = "sysadmin") -> list[dict]:
    """Submissions about the brand, an hour apart, numbered from ``start`` (newest last)."""
    return [
        submission(i, f"acme cloud is slow today #{i}", T0 + i * HOUR, sub=sub)
        for i in range(start, start + count)
    ]


# -- the query --------------------------------------------------------------------------------


def test_the_brand_becomes_a_new_first_reddit_search_with_app_only_oauth(
    fake: FakeReddit, config: Config, store: Store
) -> None:
    fake.add(submission(1, "acme cloud is down again", T0), submission(2, "acme anvil", T0))
    report = poll_source(store, config, reddit_source(config, FakeClock()))
    assert report.ok and report.stored == 1 and stored_ids(store) == ["t3_p1"]
    (token,) = fake.calls("token")
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert token.headers["authorization"] == f"Basic {basic}"
    assert token.form == {"grant_type": "client_credentials"}
    (search,) = fake.searches
    assert search.path == "/r/all/search/"
    # Handles and hashtags are plain words on Reddit, so @acme and #acme fold into "acme".
    assert search.query["q"] == '(acme OR "acme cloud") NOT "acme anvil"'
    assert search.query["sort"] == "new" and search.query["restrict_sr"] == "False"
    assert search.query["limit"] == "10" and search.query["raw_json"] == "1"
    assert search.query["t"] == "all" and search.query["type"] == "link"
    assert "after" not in search.query
    assert search.headers["authorization"] == f"bearer {fake.tokens[0]}"
    assert search.headers["user-agent"].startswith("harken-tests/0.1 (by u/harken)")


def test_search_in_chosen_subreddits_is_restricted_to_them(
    fake: FakeReddit, config: Config, store: Store, tmp_path: Path
) -> None:
    config = configure(tmp_path, fake, "    subreddits: [r/AWS, sysadmin]\n")
    # Subreddit names as Reddit stores them are lower case in the fake.
    fake.add(*posts(1, 2, sub="aws"), *posts(10, 1, sub="gaming"))
    fake.subreddits("AWS+sysadmin")
    report = poll_source(store, config, reddit_source(config, FakeClock()))
    assert report.ok and report.stored == 2
    (search,) = fake.searches
    assert search.path == "/r/AWS+sysadmin/search/" and search.query["restrict_sr"] == "True"


def test_a_script_app_logs_in_with_its_account(
    fake: FakeReddit,
    config: Config,
    store: Store,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("REDDIT_PASSWORD", "hunter2-but-longer")
    config = configure(
        tmp_path, fake, '    username: acme_bot\n    password: "${REDDIT_PASSWORD}"\n'
    )
    fake.add(submission(1, "acme cloud", T0))
    assert poll_source(store, config, reddit_source(config, FakeClock())).stored == 1
    (token,) = fake.calls("token")
    assert token.form == {
        "grant_type": "password",
        "username": "acme_bot",
        "password": "hunter2-but-longer",
    }

    monkeypatch.setenv("REDDIT_PASSWORD", "wrong-password")
    config = load_config(config.path)
    report = poll_source(store, config, reddit_source(config, FakeClock()))
    assert not report.ok and "invalid_grant" in (report.error or "")
    assert "username and password" in report.error
    assert len(fake.calls("token")) == 2 and len(fake.searches) == 1  # no retry
    assert "hunter2" not in caplog.text and "wrong-password" not in caplog.text


# -- cursor and paging ------------------------------------------------------------------------


def test_first_poll_takes_one_page_then_pages_down_to_the_mark(
    fake: FakeReddit, config: Config, store: Store
) -> None:
    fake.add(*posts(1, 25))
    source = reddit_source(config, FakeClock())
    first = poll_source(store, config, source)
    # No cursor yet: one page of the newest, not all of Reddit's history.
    assert first.ok and first.stored == 10 and first.pages == 1
    assert cursor(store)["search:Acme"] == {"mark": T0 + 25 * HOUR, "seen": ["t3_p25"]}

    fake.add(*posts(100, 25))
    second = poll_source(store, config, source)
    assert second.ok and second.pages == 3 and second.stored == 25 and second.duplicates == 0
    afters = [r.query.get("after") for r in fake.searches[1:]]
    assert afters == [None, "t3_p115", "t3_p105"]
    assert cursor(store)["search:Acme"] == {"mark": T0 + 124 * HOUR, "seen": ["t3_p124"]}

    third = poll_source(store, config, source)
    assert third.ok and third.stored == 0 and third.pages == 1 and third.duplicates == 0
    assert len(stored_ids(store)) == 35 == len(set(stored_ids(store)))


def test_a_poll_cut_short_resumes_from_its_after_token_without_loss_or_repeats(
    fake: FakeReddit, config: Config, store: Store
) -> None:
    fake.add(submission(1, "acme cloud hello", T0))
    clock = FakeClock()
    source = reddit_source(config, clock)
    poll_source(store, config, source)
    fake.add(*posts(100, 30))
    # Page 2 fails for good (4 server errors): page 1 and its cursor are already committed.
    real = fake._search
    calls = {"n": 0}

    def flaky(req):  # type: ignore[no-untyped-def]
        calls["n"] += 1
        return Reply(500) if calls["n"] in (2, 3, 4, 5) else real(req)

    fake.api.routes[("GET", "/r/all/search/")] = flaky
    cut = poll_source(store, config, source)
    assert not cut.ok and cut.stored == 10 and "500" in (cut.error or "")
    state = cursor(store)["search:Acme"]
    assert state["mark"] == T0 and state["after"] == "t3_p120"
    assert state["pending_mark"] == T0 + 129 * HOUR
    # prawcore retried nothing itself (it would, three times, sleeping): harken's 4 tries only.
    assert calls["n"] == 5 and len(clock.sleeps) == 3 and all(s > 0 for s in clock.sleeps)
    assert clock.sleeps[0] < clock.sleeps[2]

    resumed = poll_source(store, config, source)
    assert resumed.ok and resumed.stored == 20 and resumed.duplicates == 0
    assert resumed.pages == 3  # the last holds only t3_p1, which ends the walk
    assert cursor(store)["search:Acme"] == {"mark": T0 + 129 * HOUR, "seen": ["t3_p129"]}
    assert len(stored_ids(store)) == 31


def test_a_page_token_whose_item_is_gone_restarts_the_walk_from_the_top(
    fake: FakeReddit, config: Config, store: Store
) -> None:
    fake.add(submission(1, "acme cloud hello", T0))
    source = reddit_source(config, FakeClock())
    poll_source(store, config, source)
    # A walk was cut short below t3_p999, which has since been deleted: Reddit answers an
    # empty page for it rather than an error.
    with store.session() as session:
        state = {"search:Acme": {"mark": T0, "seen": ["t3_p1"], "after": "t3_p999"}}
        source_repo.set_cursor(session, "reddit", json.dumps(state))
    fake.add(*posts(100, 5))
    report = poll_source(store, config, source)
    assert report.ok and report.stored == 5
    assert [r.query.get("after") for r in fake.searches[1:]] == ["t3_p999", None]
    assert cursor(store)["search:Acme"] == {"mark": T0 + 104 * HOUR, "seen": ["t3_p104"]}


def test_search_reads_again_just_below_the_mark_for_posts_indexed_late(
    fake: FakeReddit, config: Config, store: Store
) -> None:
    fake.add(submission(1, "acme cloud one", T0), submission(3, "acme cloud three", T0 + 240))
    source = reddit_source(config, FakeClock())
    assert poll_source(store, config, source).stored == 2
    # Posted between the two, but only now in the search index; older than the mark.
    fake.add(submission(2, "acme cloud two", T0 + 120), submission(4, "acme cloud four", T0 + 300))
    report = poll_source(store, config, source)
    assert report.ok and report.stored == 2 and report.duplicates == 1  # t3_p1, in the overlap
    assert stored_ids(store) == ["t3_p1", "t3_p2", "t3_p3", "t3_p4"]


def test_nothing_is_stored_twice_across_restarts(
    fake: FakeReddit, config: Config, store: Store, tmp_path: Path
) -> None:
    fake.add(*posts(1, 5))
    poll_source(store, config, reddit_source(config, FakeClock()))
    fake.add(*posts(50, 15))
    # A new process: new store object, new source (new token), same database.
    store2 = Store(store.url)
    report = poll_source(store2, config, reddit_source(config, FakeClock()))
    assert report.stored == 15 and report.duplicates == 0
    with store2.session() as session:
        assert session.execute(select(func.count()).select_from(Mention)).scalar() == 20


# -- watched subreddits -----------------------------------------------------------------------


def test_watched_subreddits_yield_submissions_and_comments_as_mentions(
    fake: FakeReddit, watching: Config, store: Store
) -> None:
    fake.add(
        submission(1, "Acme Cloud status thread", T0, sub="acmecloud", body="post here"),
        comment(1, "acme cloud is down for me too", T0 + 60, link="t3_p1", sub="acmecloud"),
        comment(2, "same in eu-west, acme pls", T0 + 61, link="t3_p1", sub="acmecloud"),
        comment(3, "unrelated chatter", T0 + 62, link="t3_p1", sub="acmecloud"),
        comment(4, "acme elsewhere", T0 + 63, sub="sysadmin"),
    )
    report = poll_source(store, watching, reddit_source(watching, FakeClock()))
    assert report.ok and report.stored == 3 and report.skipped == 1  # off-brand comment
    assert [r.path for r in fake.api.requests[1:]] == [
        "/r/acmecloud/new/",
        "/r/acmecloud/comments/",
    ]
    assert fake.searches == []
    with store.session() as session:
        rows = {m.external_id: m for m in session.execute(select(Mention)).scalars()}
    assert rows["t3_p1"].text == "Acme Cloud status thread\n\npost here"
    assert rows["t1_c1"].url == "https://www.reddit.com/r/acmecloud/comments/p1/slug/c1/"
    state = cursor(store)
    assert state["new:acmecloud"] == {"mark": T0, "seen": ["t3_p1"]}
    assert state["comments:acmecloud"] == {"mark": T0 + 62, "seen": ["t1_c3"]}


def test_comments_in_the_same_second_are_neither_lost_nor_repeated(
    fake: FakeReddit, watching: Config, store: Store
) -> None:
    same = T0 + 500
    fake.add(*[comment(i, f"acme thread {i}", same, sub="acmecloud") for i in (1, 2, 3)])
    source = reddit_source(watching, FakeClock())
    assert poll_source(store, watching, source).stored == 3
    assert cursor(store)["comments:acmecloud"]["seen"] == ["t1_c1", "t1_c2", "t1_c3"]
    # Two more land within that second after the poll: only they are new.
    fake.add(*[comment(i, f"acme thread {i}", same, sub="acmecloud") for i in (4, 5)])
    report = poll_source(store, watching, source)
    assert report.ok and report.stored == 2 and report.duplicates == 0
    assert len(cursor(store)["comments:acmecloud"]["seen"]) == 5


def test_a_private_or_missing_subreddit_fails_the_poll_but_not_the_others(
    fake: FakeReddit, config: Config, store: Store, tmp_path: Path
) -> None:
    config = configure(
        tmp_path, fake, "    subreddits: []\n    watch: [secretclub, nosuchsub, acmecloud]"
    )
    fake.private.add("secretclub")
    fake.missing.add("nosuchsub")
    fake.add(*posts(1, 2, sub="acmecloud"))
    report = poll_source(store, config, reddit_source(config, FakeClock()))
    assert report.stored == 2 and not report.ok
    assert "r/secretclub" in (report.error or "") and "403" in report.error
    assert "r/nosuchsub does not exist" in report.error
    assert "sources.reddit" in report.error  # the hint says where to fix it
    # Each was asked once (a bad subreddit is no reason to retry), its comments not at all.
    assert len(fake.calls("new")) == 3 and len(fake.calls("comments")) == 1
    with store.session() as session:
        health = source_repo.get_health(session, "reddit")
        assert health is not None and health.consecutive_failures == 1


# -- rate limits ------------------------------------------------------------------------------


def test_a_short_rate_limit_is_waited_out_once_using_the_reset_header(
    fake: FakeReddit, config: Config, store: Store
) -> None:
    clock = FakeClock()
    fake.add(submission(5, "acme cloud is down", T0))
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-used": "600", "x-ratelimit-reset": "30"}
    fake.fail("search", Reply(429, json={"message": "Too Many Requests"}, headers=headers))
    report = poll_source(store, config, reddit_source(config, clock))
    assert report.ok and report.stored == 1
    assert clock.sleeps == [31.0]  # seconds to the reset, plus one of clock skew
    assert len(fake.searches) == 2


def test_a_long_rate_limit_ends_the_poll_and_the_source_waits_for_the_reset(
    fake: FakeReddit, config: Config, store: Store
) -> None:
    clock = FakeClock()
    fake.add(submission(5, "acme cloud is down", T0))
    headers = {"x-ratelimit-remaining": "0", "x-ratelimit-used": "600", "x-ratelimit-reset": "900"}
    fake.fail("search", Reply(429, headers=headers))
    source = reddit_source(config, clock)
    report = poll_source(store, config, source)
    assert not report.ok and clock.sleeps == [] and len(fake.searches) == 1
    assert report.rate_limited_until == clock.now + timedelta(seconds=900)
    assert rate_limited(store, source) == report.rate_limited_until
    with store.session() as session:
        health = source_repo.get_health(session, "reddit")
        assert health is not None and health.rate_limited_until == report.rate_limited_until

    clock.now += timedelta(seconds=901)
    assert rate_limited(store, source) is None
    later = poll_source(store, config, source)
    assert later.ok and later.stored == 1


def test_a_429_without_headers_is_not_retried_in_a_loop(
    fake: FakeReddit, config: Config, store: Store
) -> None:
    clock = FakeClock()
    fake.fail("search", *[Reply(429)] * 50)
    report = poll_source(store, config, reddit_source(config, clock))
    assert not report.ok and report.rate_limited_until is not None
    assert len(fake.searches) <= 2
    assert all(s >= 60 for s in clock.sleeps)


def test_a_spent_budget_stops_before_reddit_says_429_and_nothing_sleeps_for_real(
    fake: FakeReddit, config: Config, store: Store
) -> None:
    clock = FakeClock()
    fake.add(*posts(1, 1))
    source = reddit_source(config, clock)
    poll_source(store, config, source)
    fake.add(*posts(100, 25))
    fake.remaining, fake.reset = 1, 420  # the next answer says: none left for 7 minutes
    started = time.monotonic()
    report = poll_source(store, config, source)
    # prawcore's own limiter would sleep those 7 minutes before page 2; harken stops instead.
    assert time.monotonic() - started < 5
    assert report.stored == 10 and len(fake.searches) == 2 and clock.sleeps == []
    assert report.rate_limited_until == clock.now + timedelta(seconds=420)
    assert source.quota is not None and source.quota.remaining == 0
    assert source.quota.limit == fake.used


def test_the_quota_is_read_from_reddits_headers(
    fake: FakeReddit, config: Config, store: Store
) -> None:
    clock = FakeClock()
    fake.add(submission(1, "acme cloud", T0))
    source = reddit_source(config, clock)
    poll_source(store, config, source)
    assert source.quota is not None
    assert (source.quota.remaining, source.quota.limit) == (599, 600)
    assert source.quota.reset_at == clock.now + timedelta(seconds=300)
    with store.session() as session:
        health = source_repo.get_health(session, "reddit")
        assert health is not None and health.quota["remaining"] == 599


# -- failures ---------------------------------------------------------------------------------


def test_a_server_error_is_retried_with_backoff_then_succeeds(
    fake: FakeReddit, config: Config, store: Store
) -> None:
    clock = FakeClock()
    fake.add(submission(1, "acme cloud", T0))
    fake.fail("search", Reply(503, body="<html>upstream busy</html>"))
    report = poll_source(store, config, reddit_source(config, clock))
    assert report.ok and report.stored == 1
    assert len(fake.searches) == 2 and len(clock.sleeps) == 1 and 0.5 <= clock.sleeps[0] <= 1


def test_a_source_that_keeps_failing_is_marked_unhealthy(
    fake: FakeReddit, config: Config, store: Store
) -> None:
    clock = FakeClock()
    source = reddit_source(config, clock)
    fake.fail("search", *[Reply(502)] * 12)
    for _ in range(3):
        assert not poll_source(store, config, source).ok
    with store.session() as session:
        health = source_repo.get_health(session, "reddit")
        assert health is not None and health.consecutive_failures == 3
        assert "502" in (health.last_error or "")
    assert len(fake.searches) == 12  # four tries per poll, never more


def test_a_slow_answer_times_out_with_harkens_timeout_and_is_retried(
    fake: FakeReddit,
    config: Config,
    store: Store,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = configure(tmp_path, fake, "    timeout: 0.3s")
    clock = FakeClock()
    fake.add(submission(1, "acme cloud", T0))
    fake.fail("search", Reply(200, json={}, delay=1.5))
    started = time.monotonic()
    report = poll_source(store, config, reddit_source(config, clock))
    assert report.ok and report.stored == 1 and len(clock.sleeps) == 1
    # The first answer was cut off by harken's 0.3 s, not waited for (it came after 1.5 s)...
    assert "ReadTimeout" in caplog.text
    # ... and certainly not by prawcore's 16 s default (a wide bound: this machine is shared).
    assert time.monotonic() - started < 8


def test_an_expired_access_token_is_renewed_within_the_poll(
    fake: FakeReddit, config: Config, store: Store
) -> None:
    source = reddit_source(config, FakeClock())
    fake.add(submission(1, "acme cloud", T0))
    poll_source(store, config, source)
    fake.tokens.append("someone-else-now")  # the source's token no longer works
    fake.add(submission(2, "acme cloud again", T0 + 60))
    report = poll_source(store, config, source)
    assert report.ok and report.stored == 1
    assert len(fake.calls("token")) == 2
    # A proxy that drops the www-authenticate header does not crash prawcore either.
    fake.tokens.append("and-another")
    fake.fail("search", Reply(401, json={"message": "Unauthorized"}))
    fake.add(submission(3, "acme cloud thrice", T0 + 120))
    assert poll_source(store, config, source).stored == 1


def test_garbled_and_incomplete_pages_lose_only_the_bad_items(
    fake: FakeReddit, config: Config, store: Store
) -> None:
    huge = "acme cloud " + "𝕏😀 データ & <b>" * 3000  # 36k characters: under harken's limit
    fake.add(
        submission(10, huge, T0 + 10),
        submission(11, "acme cloud ok", T0 + 11),
        {
            "kind": "t3",
            "data": {**submission(12, "", T0 + 12, body="acme, untitled")["data"], "title": None},
        },
    )
    fake.things[-1]["data"]["title"] = None  # a submission without its title
    clock = FakeClock()
    fake.fail(
        "search",
        Reply(200, body=b'{"kind": "Listing", "data": {"children": [ {"kind": '),
        Reply(200, json={"kind": "t3", "data": {}}),  # JSON, but not a Listing
    )
    report = poll_source(store, config, reddit_source(config, clock))
    assert report.ok and report.stored == 2 and report.rejected == 1
    assert len(fake.searches) == 3 and len(clock.sleeps) == 2
    with store.session() as session:
        texts = {m.external_id: m.text for m in session.execute(select(Mention)).scalars()}
    assert texts["t3_p10"] == huge  # raw_json=1: Reddit does not HTML-escape it


def test_bad_app_credentials_fail_the_poll_with_a_hint_and_no_retry(
    fake: FakeReddit, config: Config, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", "wrong-secret-value")
    config = load_config(config.path)
    report = poll_source(store, config, reddit_source(config, FakeClock()))
    assert not report.ok and "401" in (report.error or "")
    assert "REDDIT_CLIENT_SECRET" in report.error
    assert len(fake.calls("token")) == 1 and fake.searches == []


def test_credentials_never_reach_the_logs(
    fake: FakeReddit, config: Config, store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    from harken.logs import RedactSecrets

    caplog.set_level(logging.DEBUG)
    fake.add(submission(1, "acme cloud", T0))
    fake.fail("search", Reply(503))
    poll_source(store, config, reddit_source(config, FakeClock()))
    assert "Fetching: GET" in caplog.text  # prawcore did log at debug level
    shown = RedactSecrets([CLIENT_SECRET]).redact(caplog.text)
    for secret in (CLIENT_SECRET, fake.tokens[0]):
        assert secret not in caplog.text and secret not in shown


def test_praw_ini_and_praw_environment_variables_are_ignored(
    fake: FakeReddit, config: Config, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stray praw.ini (the working directory is tmp_path) pointing elsewhere, with a login.
    (tmp_path / "praw.ini").write_text(
        "[DEFAULT]\noauth_url=http://127.0.0.1:9\nreddit_url=http://127.0.0.1:9\n"
        "refresh_token=stray-refresh-token\n",
        encoding="utf-8",
    )
    monkeypatch.setattr(PrawConfig, "CONFIG", None)  # as in a fresh process
    monkeypatch.setenv("praw_site", "nowhere")
    monkeypatch.setenv("praw_refresh_token", "stray-refresh-token")
    monkeypatch.setenv("praw_username", "someone")
    fake.add(submission(1, "acme cloud", T0))
    report = poll_source(store, config, reddit_source(config, FakeClock()))
    assert report.ok and report.stored == 1
    assert fake.calls("token")[0].form == {"grant_type": "client_credentials"}


# -- engagement -------------------------------------------------------------------------------


def test_engagement_is_read_again_through_api_info(
    fake: FakeReddit, config: Config, store: Store
) -> None:
    fake.add(
        submission(7, "acme cloud", T0, score=310, num_comments=42),
        comment(8, "acme", T0, score=12),
    )
    source = reddit_source(config, FakeClock())
    targets = [RefreshTarget(n, {}) for n in ("t3_p7", "t1_c8", "t3_gone", "1234567")]
    metrics = source.refresh(targets)
    assert metrics == {"t3_p7": {"likes": 310, "replies": 42}, "t1_c8": {"likes": 12}}
    (info,) = fake.calls("info")
    assert info.query["id"] == "t3_p7,t1_c8,t3_gone"


# -- settings ---------------------------------------------------------------------------------


def test_settings_are_checked_at_load_with_the_key_that_is_wrong(
    fake: FakeReddit, config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REDDIT_CLIENT_ID", "")
    with pytest.raises(ConfigError, match=r"sources\.reddit\.client_id") as err:
        build_sources(load_config(config.path))
    assert "REDDIT_CLIENT_ID" in (err.value.hint or "")
    monkeypatch.setenv("REDDIT_CLIENT_ID", CLIENT_ID)
    for extra, message in [
        ("    watch: [all]", "search it instead"),
        ("    username: someone", "username and password go together"),
        ("    subreddits: [not a sub]", "not a subreddit name"),
        ("    limit: 500", "limit"),
        ("    keyword: acme", "unknown key"),
    ]:
        with pytest.raises(ConfigError, match=message):
            build_sources(configure(tmp_path, fake, extra))


def test_a_search_longer_than_reddit_allows_is_a_config_error(
    fake: FakeReddit, config: Config, tmp_path: Path
) -> None:
    config = configure(tmp_path, fake)
    config.brands[0].keywords = [f"acme product number {i}" for i in range(40)]
    with pytest.raises(ConfigError, match="over Reddit's 512"):
        build_sources(config)


def test_search_being_down_does_not_hold_up_the_watched_subreddits(
    fake: FakeReddit, config: Config, store: Store, tmp_path: Path
) -> None:
    config = configure(tmp_path, fake, "    watch: [acmecloud]")
    fake.add(*posts(1, 2, sub="acmecloud"), comment(1, "acme too", T0, sub="acmecloud"))
    fake.fail("search", *[Reply(503)] * 4)
    clock = FakeClock()
    report = poll_source(store, config, reddit_source(config, clock))
    assert not report.ok and "503" in (report.error or "")
    assert report.stored == 3 and len(fake.searches) == 4 and len(clock.sleeps) == 3
    assert set(cursor(store)) == {"new:acmecloud", "comments:acmecloud", "search:Acme"}
    # Everything failing at once is an outage: the poll ends after the second feed.
    fake.fail("new", *[Reply(500)] * 4)
    fake.fail("search", *[Reply(500)] * 4)
    assert not poll_source(store, config, reddit_source(config, clock)).ok
    assert len(fake.calls("comments")) == 1


def test_a_first_walk_cut_short_stays_bounded(
    fake: FakeReddit, config: Config, store: Store, tmp_path: Path
) -> None:
    config = configure(tmp_path, fake, "    first_poll_pages: 2")
    fake.add(*posts(1, 60))
    source = reddit_source(config, FakeClock())
    real, served = fake._search, {"n": 0}

    def page_two_fails(req):  # type: ignore[no-untyped-def]
        served["n"] += 1
        return Reply(500) if served["n"] in (2, 3, 4, 5) else real(req)

    fake.api.routes[("GET", "/r/all/search/")] = page_two_fails
    cut = poll_source(store, config, source)
    assert not cut.ok and cut.stored == 10
    assert cursor(store)["search:Acme"]["after"] == "t3_p51"
    resumed = poll_source(store, config, source)
    # At most first_poll_pages more, then a mark: not a walk through all 60 posts.
    assert resumed.ok and resumed.stored == 20 and resumed.pages == 2
    assert cursor(store)["search:Acme"] == {"mark": T0 + 60 * HOUR, "seen": ["t3_p60"]}
    assert len(stored_ids(store)) == 30
