"""Live streams: Bluesky's Jetstream through the real ``websockets`` client against a local
fake firehose (tests/fakes/jetstream.py), kept connected by the daemon's stream runner: brand
posts stored within seconds with their cursor, the rest of the firehose never stored, a dropped
connection resumed from its cursor without a gap, health and lag in ``harken sources``."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from harken.config import Config, load_config
from harken.errors import ConfigError
from harken.pipeline.source_status import source_statuses
from harken.pipeline.streams import StreamRunner, cursor_key
from harken.platforms.registry import build_sources, build_streams
from harken.platforms.source import Runtime
from harken.store import Store
from harken.store import sources as source_repo
from tests.conftest import write_config
from tests.fakes.http import FakeAPI, Reply, Request
from tests.fakes.jetstream import FakeJetstream, micros, post_event
from tests.listening import stored_ids

ALICE, BOB = "did:plc:alice123", "did:plc:bob456"


@pytest.fixture
def firehose() -> Iterator[FakeJetstream]:
    with FakeJetstream() as fake:
        yield fake


@pytest.fixture
def appview() -> Iterator[FakeAPI]:
    api = FakeAPI()

    @api.route("GET", "/xrpc/app.bsky.actor.getProfiles")
    def profiles(request: Request) -> Reply:
        known = {ALICE: ("alice.bsky.social", "Alice"), BOB: ("bob.example.com", "Bob")}
        found = [
            {"did": d, "handle": known[d][0], "displayName": known[d][1], "followersCount": 10}
            for d in request.query_all.get("actors", [])
            if d in known
        ]
        return Reply(json={"profiles": found})

    with api:
        yield api


def make_config(
    tmp_path: Path, firehose: FakeJetstream, appview: FakeAPI, idle: str = "3s"
) -> Config:
    path = write_config(
        tmp_path,
        f"""
brands:
  - {{name: Acme, keywords: [acme, アクメ], handles: ["@acme.bsky.social"]}}
database: {{url: "sqlite:///{tmp_path / "h.db"}"}}
sources:
  bluesky:
    enabled: true
    stream: true
    api_base_url: "{appview.url}"
    jetstream_url: "{firehose.url}"
    stream_idle: {idle}
""",
    )
    return load_config(path, environ={})


def wait_for(check: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


class Running:
    """A stream runner in its thread, as ``harken run`` keeps one."""

    def __init__(self, config: Config, store: Store) -> None:
        self.stop = threading.Event()
        (source,) = build_sources(config, runtime=Runtime(stop=self.stop))
        (stream,) = build_streams([source])
        self.said: list[str] = []
        self.passes = 0
        self.runner = StreamRunner(store, config, stream, self._stored, say=self.said.append)

    def _stored(self) -> None:
        self.passes += 1

    def __enter__(self) -> Running:
        self.runner.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.runner.join(timeout=10)
        assert self.runner.thread is not None and not self.runner.thread.is_alive()


def test_brand_posts_are_stored_in_seconds_and_the_firehose_is_not(
    tmp_path: Path, firehose: FakeJetstream, appview: FakeAPI
) -> None:
    config = make_config(tmp_path, firehose, appview)
    store = Store(config.database.url)
    with Running(config, store) as running:
        wait_for(lambda: bool(firehose.queries))
        now = datetime.now(UTC)
        firehose.add(
            post_event(ALICE, "3k1", "acme's login is broken again", now),
            post_event(BOB, "3k2", "lovely weather today", now),  # not about a brand
            post_event(BOB, "3k3", "acme is down", now, operation="delete"),
            "{not json",  # skipped, not fatal
            {"did": BOB, "time_us": micros(now), "kind": "identity", "identity": {"handle": "b"}},
            post_event(BOB, "3k4", "アクメのアプリが落ちた", now + timedelta(seconds=1)),
        )
        wait_for(lambda: len(stored_ids(store)) == 2)
        wait_for(lambda: running.runner.live)
        # Each batch that stored something asks for a pass, right after its commit: the store
        # can show the posts a moment before the ask is counted.
        wait_for(lambda: running.passes >= 1)
    assert stored_ids(store) == [f"at://{ALICE}/app.bsky.feed.post/3k1",
                                 f"at://{BOB}/app.bsky.feed.post/3k4"]  # fmt: skip
    (query,) = firehose.queries
    assert query["wantedCollections"] == ["app.bsky.feed.post"] and "cursor" not in query
    with store.session() as session:
        cursor = json.loads(source_repo.get_cursor(session, cursor_key("bluesky")) or "{}")
        assert source_repo.get_cursor(session, "bluesky") is None  # the poll's is apart
        health = source_repo.get_health(session, "bluesky")
    assert cursor["time_us"] == micros(now + timedelta(seconds=1))
    assert health is not None and health.stream is not None
    assert health.stream["stored"] == 2 and health.stream["connected"] is False  # stopped
    from sqlalchemy import select

    from harken.store.tables import Author

    with store.session() as session:
        handles = sorted(session.execute(select(Author.handle)).scalars())
    assert handles == ["alice.bsky.social", "bob.example.com"]  # looked up, not DIDs


def test_a_dropped_connection_resumes_from_its_cursor_without_a_gap(
    tmp_path: Path, firehose: FakeJetstream, appview: FakeAPI
) -> None:
    config = make_config(tmp_path, firehose, appview)
    store = Store(config.database.url)
    start = datetime.now(UTC)
    with Running(config, store) as running:
        wait_for(lambda: bool(firehose.queries))
        firehose.add(post_event(ALICE, "a1", "acme outage", start))
        wait_for(lambda: len(stored_ids(store)) == 1)
        firehose.drop()
        # Written while the connection was down: Jetstream replays them from the cursor.
        firehose.add(*(post_event(BOB, f"b{i}", f"acme still down {i}", start + timedelta(
            seconds=i + 1)) for i in range(3)))  # fmt: skip
        wait_for(lambda: len(stored_ids(store)) == 4, timeout=15)
        assert running.runner.reconnects == 1
    second = firehose.queries[1]
    rewound = micros(start) - 5_000_000  # the last event read, less stream_rewind
    assert second["cursor"] == [str(rewound)]
    assert any("bluesky: stream dropped" in line for line in running.said)


def test_a_silent_connection_is_dropped_and_health_says_so(
    tmp_path: Path, firehose: FakeJetstream, appview: FakeAPI
) -> None:
    config = make_config(tmp_path, firehose, appview, idle="1s")
    store = Store(config.database.url)
    with Running(config, store):
        wait_for(lambda: len(firehose.queries) >= 2, timeout=15)  # 1 s of silence: reconnect
        now = datetime.now(UTC)
        (status,) = source_statuses(store, config, now)
        assert status.stream is not None and status.stream["reconnects"] >= 1
        assert "no event for 1s" in status.stream["last_error"]


def test_a_platform_without_a_stream_is_a_config_error(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, 'sources: {rss: {enabled: true, stream: true, feeds: ["https://e.example/f"]}}\n'
    )
    sources = build_sources(load_config(path, environ={}))
    with pytest.raises(ConfigError, match="rss has no live stream"):
        build_streams(sources)


def test_polls_go_on_beside_a_live_stream_and_sources_shows_its_lag(
    tmp_path: Path, firehose: FakeJetstream, appview: FakeAPI
) -> None:
    from typer.testing import CliRunner

    from harken.cli import app
    from harken.pipeline.scheduler import Daemon

    searched: list[Request] = []

    @appview.route("GET", "/xrpc/app.bsky.feed.searchPosts")
    def search(request: Request) -> Reply:
        searched.append(request)
        return Reply(json={"posts": []})

    config = make_config(tmp_path, firehose, appview)
    store = Store(config.database.url)
    stop = threading.Event()
    sources = build_sources(config, runtime=Runtime(stop=stop))
    daemon = Daemon(store, config, sources, {}, stop, streams=build_streams(sources))
    runner = daemon.streams["bluesky"]
    daemon.poll(sources[0])  # not live yet: the poll runs
    assert searched
    runner.start()
    try:
        wait_for(lambda: bool(firehose.queries))
        firehose.add(post_event(ALICE, "l1", "acme billing is wrong", datetime.now(UTC)))
        wait_for(lambda: runner.live and len(stored_ids(store)) == 1)
        before = len(searched)
        assert daemon.poll(sources[0]) is not None and len(searched) > before  # the fallback
        shown = CliRunner().invoke(
            app, ["--config", str(tmp_path / "config.yaml"), "sources"], env={"COLUMNS": "200"}
        )
        assert shown.exit_code == 0, shown.output
        assert "live" in shown.output  # the table's stream column (its width varies)
        listed = CliRunner().invoke(
            app, ["--config", str(tmp_path / "config.yaml"), "sources", "-f", "json"]
        )
        (status,) = json.loads(listed.stdout)
        assert status["stream"]["state"] == "live" and status["stream"]["lag_seconds"] < 60
    finally:
        stop.set()
        runner.join(timeout=10)
    assert daemon.poll(sources[0]) is None  # stopping: nothing more


def streaming(config: Config, **runner: Any) -> tuple[Any, StreamRunner, threading.Event, Store]:
    """The config's one source, its stream's runner (not started), the stop and the store."""
    store = Store(config.database.url)
    stop = threading.Event()
    (source,) = build_sources(config, runtime=Runtime(stop=stop))
    (stream,) = build_streams([source])
    return source, StreamRunner(store, config, stream, **runner), stop, store


# -- Mastodon: the streaming API's hashtag streams --------------------------------------------


def mastodon_config(
    tmp_path: Path, url: str, token: str = "tok-stream-123456", more: str = ""
) -> Config:
    path = write_config(
        tmp_path,
        f"""
brands:
  - {{name: Acme, keywords: [acme], hashtags: ["#acme", "#acmecloud"]}}
database: {{url: "sqlite:///{tmp_path / "h.db"}"}}
sources:
  mastodon:
    enabled: true
    stream: true
    api_base_url: "{url}"
    access_token: "{token}"
    stream_idle: 2s
    {more}
""",
    )
    return load_config(path, environ={})


def test_mastodon_hashtag_streams_store_statuses_and_a_poll_fills_each_gap(
    tmp_path: Path,
) -> None:
    from tests.fakes.mastodon import FakeMastodon, status

    fake = FakeMastodon(token="tok-stream-123456")
    with fake.api:
        fake.streaming_url = fake.url.replace("http://", "ws://")
        config = mastodon_config(tmp_path, fake.url)
        store = Store(config.database.url)
        stop = threading.Event()
        (source,) = build_sources(config, runtime=Runtime(stop=stop))
        (stream,) = build_streams([source])
        polls: list[int] = []

        def backfill() -> None:  # as the daemon does: a poll of the source before connecting
            from harken.pipeline.collect import poll_source

            polls.append(poll_source(store, config, source).stored)

        fake.add(status(1, "acme was down this morning", tags=("acme",)))  # before the stream
        fake.refused_tags.add("acmecloud")  # the instance will not stream it: #acme goes on
        fake.push(status(5, "acme cloud syncs!", tags=("acmecloud",)))  # polled, not streamed
        runner = StreamRunner(store, config, stream, backfill=backfill)
        runner.start()
        try:
            wait_for(lambda: len(fake.stream_requests) == 2)  # one stream per hashtag
            assert {r.query["tag"] for r in fake.stream_requests} == {"acme", "acmecloud"}
            wait_for(lambda: runner.connected_at is not None)
            fake.push(status(2, "acme login is broken", tags=("acme",)))
            wait_for(lambda: len(stored_ids(store)) == 3)
            fake.drop_streams()
            fake.add(status(3, "acme support, anyone?", tags=("acme",)))  # while it was down
            wait_for(lambda: len(fake.stream_requests) >= 3, timeout=15)
            wait_for(lambda: len(stored_ids(store)) == 4)
        finally:
            stop.set()
            runner.join(timeout=10)
        assert polls[:2] == [2, 1]  # each connection began with a poll: the gap was filled
        assert all(
            r.headers["authorization"] == "Bearer tok-stream-123456" for r in fake.stream_requests
        )


def test_a_mastodon_public_timeline_stream_keeps_the_statuses_that_name_a_brand(
    tmp_path: Path,
) -> None:
    from tests.fakes.mastodon import FakeMastodon, status

    fake = FakeMastodon(token="tok-stream-123456")
    with fake.api:
        fake.streaming_url = fake.url.replace("http://", "ws://")
        config = mastodon_config(tmp_path, fake.url, more="stream_timeline: public")
        _, runner, stop, store = streaming(config)
        runner.start()
        try:
            wait_for(lambda: len(fake.stream_requests) == 3)  # two hashtags and the timeline
            wait_for(lambda: runner.connected_at is not None)
            fake.push(
                status(7, "my acme invoice is wrong again"),  # no hashtag: the timeline's
                status(8, "lovely weather in Lisbon"),  # names no brand: left out
                status(9, "acme down? #acme", tags=("acme",)),  # both streams: stored once
            )
            wait_for(lambda: len(stored_ids(store)) == 2)
            time.sleep(0.3)
        finally:
            stop.set()
            runner.join(timeout=10)
        paths = sorted(r.path for r in fake.stream_requests)
        assert paths == ["/api/v1/streaming/hashtag"] * 2 + ["/api/v1/streaming/public"]
        from sqlalchemy import select

        from harken.store.tables import Mention

        with store.session() as session:
            texts = sorted(session.execute(select(Mention.text)).scalars())
        assert texts == ["acme down? #acme", "my acme invoice is wrong again"]


def test_a_refused_mastodon_token_is_said_plainly_and_retried_with_backoff(
    tmp_path: Path,
) -> None:
    from tests.fakes.mastodon import FakeMastodon

    fake = FakeMastodon(token="the-right-token-0000")
    with fake.api:
        fake.streaming_url = fake.url.replace("http://", "ws://")
        config = mastodon_config(tmp_path, fake.url, token="a-wrong-token-1111")
        said: list[str] = []
        _, runner, stop, store = streaming(config, say=said.append)
        runner.start()
        try:
            wait_for(lambda: runner.reconnects >= 2, timeout=15)
            (status,) = source_statuses(store, config, datetime.now(UTC))
            assert status.stream is not None and status.stream["state"] == "down"
        finally:
            stop.set()
            runner.join(timeout=10)
        assert any("HTTP 401 (the token was refused)" in line for line in said)
        assert not any("a-wrong-token" in line for line in said)
        (status,) = source_statuses(store, config, datetime.now(UTC))
        assert status.stream is not None and status.stream["state"] == "stopped"
    untokened = "sources: {mastodon: {enabled: true, stream: true}}\n"
    path = write_config(tmp_path, 'brands: [{name: A, hashtags: ["#a"]}]\n' + untokened)
    with pytest.raises(ConfigError, match="need access_token"):
        build_streams(build_sources(load_config(path, environ={})))


# -- X: the filtered stream -------------------------------------------------------------------


def x_config(tmp_path: Path, url: str, more: str = "") -> Config:
    path = write_config(
        tmp_path,
        f"""
brands:
  - {{name: Acme, keywords: [acme], handles: ["@acmesupport"]}}
database: {{url: "sqlite:///{tmp_path / "h.db"}"}}
sources:
  x:
    enabled: true
    stream: true
    api_base_url: "{url}"
    bearer_token: "${{X_BEARER_TOKEN}}"
    {more}
""",
    )
    return load_config(path, environ={"X_BEARER_TOKEN": "test-bearer-token"})


def test_x_filtered_stream_keeps_harkens_rules_and_stores_matching_tweets(
    tmp_path: Path,
) -> None:
    from tests.fakes.x import FakeX, tweet

    fake = FakeX()
    with fake.api:
        # Enterprise: X replays what a dropped connection missed
        config = x_config(tmp_path, fake.api.url, "stream_backfill_minutes: 2")
        store = Store(config.database.url)
        stop = threading.Event()
        (source,) = build_sources(config, runtime=Runtime(stop=stop))
        (stream,) = build_streams([source])
        fake.rules.append({"id": "7", "value": "old acme query", "tag": "harken:Acme"})
        runner = StreamRunner(store, config, stream)
        runner.start()
        try:
            wait_for(lambda: runner.connected_at is not None)
            fake.push(tweet(1_990_000_000_000_000_001, "@acmesupport my order never came"),
                      tweet(1_990_000_000_000_000_002, "nothing to see here"))  # fmt: skip
            wait_for(lambda: stored_ids(store) == ["1990000000000000001"])
        finally:
            stop.set()
            runner.join(timeout=30)
        mine = [r for r in fake.rules if r["tag"].startswith("harken:")]
        assert [(r["tag"], r["value"]) for r in mine] == [("harken:Acme", source.queries["Acme"])]
        assert {"id": "1", "value": "other tool", "tag": "theirs"} in fake.rules  # not ours
        query = fake.stream_requests[0].query
        assert query["expansions"] == "author_id" and "public_metrics" in query["tweet.fields"]
        assert query["backfill_minutes"] == "2"


def test_a_stream_line_without_end_is_cut_off_and_the_stream_reconnects(tmp_path: Path) -> None:
    from tests.fakes.x import FakeX, tweet

    fake = FakeX()
    with fake.api:
        config = x_config(tmp_path, fake.api.url)
        said: list[str] = []
        _, runner, stop, store = streaming(config, say=said.append)
        runner.start()
        try:
            wait_for(lambda: runner.connected_at is not None)
            fake.push_raw(b'{"data": "' + b"x" * (3 * 1024 * 1024))  # 3 MiB, no newline
            wait_for(lambda: runner.reconnects >= 1, timeout=15)
            wait_for(lambda: len(fake.stream_requests) >= 2, timeout=15)
            fake.push(tweet(1_990_000_000_000_000_009, "acme, still down"))
            wait_for(lambda: stored_ids(store) == ["1990000000000000009"], timeout=15)
        finally:
            stop.set()
            runner.join(timeout=30)
        assert any("LineTooLong" in line for line in said), said


def test_a_plan_without_the_filtered_stream_turns_it_off_once(tmp_path: Path) -> None:
    from tests.fakes.x import FakeX

    fake = FakeX()
    fake.stream_plan = False
    with fake.api:
        config = x_config(tmp_path, fake.api.url)
        said: list[str] = []
        _, runner, stop, store = streaming(config, say=said.append)
        runner.start()
        runner.join(timeout=10)  # it ends by itself
        stop.set()
        assert runner.thread is not None and not runner.thread.is_alive()
        assert len([r for r in fake.api.requests if "stream" in r.path]) == 1  # not retried
        assert any("stream off" in line and "no filtered stream" in line for line in said)
        (status,) = source_statuses(store, config, datetime.now(UTC))
        assert status.stream is not None and status.stream["state"] == "off"


def test_jetstream_keeps_own_answers_only_and_leaves_out_other_languages_and_future_times(
    tmp_path: Path, firehose: FakeJetstream, appview: FakeAPI
) -> None:
    own = "did:plc:acmeofficial"
    k1 = f"at://{ALICE}/app.bsky.feed.post/k1"

    @appview.route("GET", "/xrpc/app.bsky.actor.getProfiles")
    def profiles(request: Request) -> Reply:
        actors = request.query_all.get("actors", [])
        found = [{"did": own, "handle": "acme.bsky.social"}] if "acme.bsky.social" in actors else []
        found += [{"did": ALICE, "handle": "alice.bsky.social", "followersCount": 4200}] * (
            ALICE in actors
        )
        return Reply(json={"profiles": found})

    config = make_config(tmp_path, firehose, appview)
    store = Store(config.database.url)
    now = datetime.now(UTC)
    with Running(config, store):
        wait_for(lambda: bool(firehose.queries))
        firehose.add(
            post_event(own, "o1", "Acme: we are looking into the login issue", now),  # its answer
            post_event(BOB, "f1", "acme from the future", now + timedelta(days=3650)),
            post_event(ALICE, "k1", "acme app down?", now + timedelta(seconds=1), langs=["en"]),
            post_event(  # its answer to Alice, not naming the brand, kept as its own
                own, "o2", "so sorry, fixed now", now + timedelta(seconds=2),
                reply={"root": {"uri": k1}, "parent": {"uri": k1}},
            ),
        )  # fmt: skip
        wait_for(lambda: len(stored_ids(store)) == 2)
        time.sleep(0.3)
    assert stored_ids(store) == [f"at://{own}/app.bsky.feed.post/o2", k1]
    with store.session() as session:
        cursor = json.loads(source_repo.get_cursor(session, cursor_key("bluesky")) or "{}")
    assert cursor["time_us"] == micros(now + timedelta(seconds=2))  # not the future one
    from sqlalchemy import select

    from harken.store.tables import Author, Mention

    with store.session() as session:
        followers = session.execute(
            select(Author.followers).where(Author.external_id == ALICE)
        ).scalar_one()
        answer = session.execute(select(Mention).where(Mention.external_id.endswith("/o2")))
        answer_row = answer.scalar_one()
    assert followers == 4200  # the author's reach, for the risk score
    assert (answer_row.flags, answer_row.ref_external_id) == (["own"], k1)


def test_a_rule_x_refuses_turns_the_stream_off_once(tmp_path: Path) -> None:
    from tests.fakes.x import FakeX

    fake = FakeX()
    with fake.api:
        config = x_config(tmp_path, fake.api.url)
        (source,) = build_sources(config, runtime=Runtime(stop=threading.Event()))
        fake.rules.append({"id": "3", "value": source.queries["Acme"], "tag": "someone else"})
        (stream,) = build_streams([source])
        said: list[str] = []
        runner = StreamRunner(Store(config.database.url), config, stream, say=said.append)
        runner.run()  # returns: refused for good
        assert not fake.stream_requests
        assert any("stream off" in line and "DuplicateRule" in line for line in said)
