"""`harken worker` and `harken run --scheduler-only`: several processes sharing one database.

Real processes on a real PostgreSQL (tests/pg.py) and SQLite; Slack and X are the local fakes.
The burst test kills a worker and the scheduler with SIGKILL mid-burst and counts what arrived.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from harken.pipeline.demo import demo_file
from harken.store import Store, repo
from tests.fakes.http import Reply, Request
from tests.fakes.slack import TOKEN, FakeSlack
from tests.fakes.x import FakeX, tweet

ENV = {
    **os.environ,
    "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    "PYTHONUNBUFFERED": "1",
    "X_BEARER_TOKEN": "test-bearer-token",
    "SLACK_BOT_TOKEN": TOKEN,
    "HARKEN_ENCODER_THREADS": "1",
}
CHANNELS = {"support": "#cs-social", "engineering": "#eng-incidents", "pr": "#pr-escalations"}


def config_text(url: str, slack: FakeSlack, x_url: str | None = None, **x: Any) -> str:
    tree: dict[str, Any] = {
        "database": {"url": url},
        "brands": [{"name": "Acme", "keywords": ["acme", "アクメ"], "handles": ["@acmesupport"]}],
        "departments": [
            {"name": name, "slack_channel": channel, "sla": "1h"}
            for name, channel in CHANNELS.items()
        ],
        "routing": {
            "default": "support",
            "rules": [
                {"name": "outages", "when": {"keywords": ["down", "outage", "error"]},
                 "to": ["engineering"], "priority": "high"},
                {"name": "risky", "when": {"risk_gte": 0.5}, "to": ["pr"], "priority": "high"},
            ],
        },
        "alerts": {
            "min_priority": "high",
            "slack": {"bot_token": "${SLACK_BOT_TOKEN}", "api_base_url": slack.api_url,
                      "timeout": "5s"},
        },
        "classifier": {"batch_size": 16},
        "refresh": {"enabled": False},
        "spikes": {"enabled": False},
        "digest": {"enabled": False},
    }  # fmt: skip
    if x_url:
        tree["sources"] = {
            "x": {"enabled": True, "bearer_token": "${X_BEARER_TOKEN}", "api_base_url": x_url,
                  "interval": "2s", "max_results": 100, **x}
        }  # fmt: skip
    return json.dumps(tree)  # YAML reads JSON


def harken(directory: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "harken", *args],
        cwd=directory,
        env=ENV,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def start(directory: Path, log_name: str, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = directory / log_name
    with log.open("wb") as sink:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "harken", *args],
            cwd=directory,
            env=ENV,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return process, log


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


class Counts:
    """Plain SQL over the store, as an operator would check it."""

    def __init__(self, url: str) -> None:
        self.engine = create_engine(url)

    def scalar(self, sql: str) -> int:
        try:
            with self.engine.connect() as connection:
                return int(connection.execute(text(sql)).scalar() or 0)
        except Exception:  # the schema is not there yet
            return 0

    def close(self) -> None:
        self.engine.dispose()


def import_demo(directory: Path, *platforms: str) -> None:
    for platform in platforms:
        done = harken(directory, "import", str(demo_file(platform)), "-p", platform, "--no-process")
        assert done.returncode == 0, done.stderr


def slack_keys(slack: FakeSlack) -> list[str]:
    return [
        m.metadata["event_payload"]["key"]
        for m in slack.all_messages
        if m.metadata and m.metadata.get("event_payload")
    ]


def assert_everything_once(counts: Counts, slack: FakeSlack) -> None:
    mentions = counts.scalar("SELECT count(*) FROM mentions")
    assert counts.scalar("SELECT count(*) FROM classifications") == mentions
    assert counts.scalar("SELECT count(DISTINCT mention_id) FROM classifications") == mentions
    assert counts.scalar("SELECT count(*) FROM mentions WHERE routed_at IS NULL") == 0
    assert counts.scalar("SELECT count(*) FROM queue_items") == counts.scalar(
        "SELECT count(*) FROM (SELECT DISTINCT mention_id, department FROM queue_items) d"
    )
    sent = counts.scalar("SELECT count(*) FROM alerts WHERE status = 'sent'")
    assert sent > 0
    assert counts.scalar("SELECT count(*) FROM alerts WHERE status NOT IN ('sent', 'held')") == 0
    keys = slack_keys(slack)
    assert len(keys) == sent, "every sent alert is in Slack once"
    assert [k for k, n in Counter(keys).items() if n > 1] == []


def assert_in_order_per_channel(counts: Counts, slack: FakeSlack) -> None:
    """Slack received each channel's alerts in the order of their ids."""
    with counts.engine.connect() as connection:
        ids = dict(connection.execute(text("SELECT idempotency_key, id FROM alerts")).all())
    by_channel: dict[str, list[int]] = {}
    for message in slack.all_messages:
        if message.metadata and message.metadata.get("event_payload"):
            key = message.metadata["event_payload"]["key"]
            by_channel.setdefault(message.channel, []).append(ids[key])
    assert by_channel
    for channel, order in by_channel.items():
        assert order == sorted(order), f"{channel} got alerts out of order"


# -- claims -----------------------------------------------------------------------------------


def test_postgresql_claims_skip_the_rows_another_worker_holds(
    pg_url: str, tmp_path: Path, slack: FakeSlack
) -> None:
    url = pg_url
    (tmp_path / "config.yaml").write_text(config_text(url, slack), encoding="utf-8")
    import_demo(tmp_path, "x")
    store = Store(url)
    try:
        with store.session() as first, store.session() as second:
            mine = [m.id for m, _ in repo.unclassified(first, 10)]
            theirs = [m.id for m, _ in repo.unclassified(second, 10)]
            assert len(mine) == len(theirs) == 10
            assert not set(mine) & set(theirs), "a claimed row was handed out twice"
            assert min(theirs) > max(mine)
            first.rollback()  # a worker that dies without committing lets go of its claim
            with store.session() as third:
                assert [m.id for m, _ in repo.unclassified(third, 10)] == mine
    finally:
        store.close()


# -- workers end to end -------------------------------------------------------------------------


def test_workers_drain_the_pipeline_once(db_url: str, tmp_path: Path, slack: FakeSlack) -> None:
    url = db_url
    (tmp_path / "config.yaml").write_text(config_text(url, slack), encoding="utf-8")
    import_demo(tmp_path, "x", "bluesky")
    done = harken(tmp_path, "worker", "--concurrency", "2", "--drain", "--idle", "0.2")
    assert done.returncode == 0, done.stdout + done.stderr
    finals = re.findall(
        r"worker (\d+): classified (\d+) · routed (\d+).* in [\d.]+s$", done.stdout, re.M
    )
    assert len(finals) == 2, done.stdout
    counts = Counts(url)
    try:
        mentions = counts.scalar("SELECT count(*) FROM mentions")
        assert sum(int(c) for _, c, _ in finals) == mentions  # each classified by one worker
        assert sum(int(r) for _, _, r in finals) == mentions
        if url.startswith("postgresql"):
            assert sum(int(c) > 0 for _, c, _ in finals) >= 2, "workers ran side by side"
        assert_everything_once(counts, slack)
        assert_in_order_per_channel(counts, slack)
    finally:
        counts.close()


def test_a_worker_limited_to_some_stages_leaves_the_rest(
    pg_url: str, tmp_path: Path, slack: FakeSlack
) -> None:
    url = pg_url
    (tmp_path / "config.yaml").write_text(config_text(url, slack), encoding="utf-8")
    import_demo(tmp_path, "x")
    classified = harken(tmp_path, "worker", "--stages", "classify", "--drain", "--idle", "0.1")
    assert classified.returncode == 0, classified.stderr
    counts = Counts(url)
    try:
        mentions = counts.scalar("SELECT count(*) FROM mentions")
        assert counts.scalar("SELECT count(*) FROM classifications") == mentions
        assert counts.scalar("SELECT count(*) FROM mentions WHERE routed_at IS NULL") == mentions
        assert slack.all_messages == []
        rest = harken(tmp_path, "worker", "--stages", "notify,route", "--drain", "--idle", "0.1")
        assert rest.returncode == 0, rest.stderr
        assert "classified 0 · routed" in rest.stdout
        assert_everything_once(counts, slack)
    finally:
        counts.close()


def test_unknown_stage_is_a_clear_error(tmp_path: Path, slack: FakeSlack) -> None:
    url = f"sqlite:///{tmp_path / 'h.db'}"
    (tmp_path / "config.yaml").write_text(config_text(url, slack), encoding="utf-8")
    done = harken(tmp_path, "worker", "--stages", "classify,fly", "--drain", timeout=60)
    assert done.returncode != 0
    assert "unknown stage fly" in done.stderr and "classify, route, notify" in done.stderr


# -- one scheduler --------------------------------------------------------------------------------


def test_a_second_scheduler_waits_and_takes_over_when_the_first_dies(
    db_url: str, tmp_path: Path, slack: FakeSlack
) -> None:
    url = db_url
    x = FakeX()
    with x.api:
        x.add(*[tweet(1000 + i, f"acme order {i} arrived") for i in range(5)])
        (tmp_path / "config.yaml").write_text(config_text(url, slack, x.api.url), "utf-8")
        first, first_log = start(tmp_path, "first.log", "run", "--scheduler-only")
        second = None
        counts = Counts(url)
        try:
            wait_for(lambda: "took the scheduler lock" in first_log.read_text(), "the first")
            wait_for(lambda: counts.scalar("SELECT count(*) FROM mentions") == 5, "a poll")
            second, second_log = start(tmp_path, "second.log", "run", "--scheduler-only")
            wait_for(lambda: "waiting to take over" in second_log.read_text(), "the standby")
            polls = len(x.searches)
            time.sleep(3)  # longer than the poll interval: only the first one polls
            assert "took the scheduler lock" not in second_log.read_text()
            assert len(x.searches) > polls
            # A scheduler only stores what it polls; workers do the rest.
            assert counts.scalar("SELECT count(*) FROM classifications") == 0
            first.send_signal(signal.SIGKILL)
            first.wait(10)
            wait_for(lambda: "took the scheduler lock" in second_log.read_text(), "takeover")
            x.add(tweet(2000, "acme new order arrived"))
            wait_for(lambda: counts.scalar("SELECT count(*) FROM mentions") == 6, "new poll")
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
        finally:
            counts.close()
            for process in (first, second):
                if process is not None and process.poll() is None:
                    process.kill()
    assert second_log.read_text().rstrip().endswith("stopped")


# -- the burst ----------------------------------------------------------------------------------

# The burst is 10k mentions (HARKEN_BURST=10000, about 8 minutes on 2 busy cores); the
# suite runs a 2k one, the same code path, to stay within a few minutes.
BURST = int(os.environ.get("HARKEN_BURST", "2000"))
# Seconds for the workers to finish the burst after the kills: 2 cores classify 20-30 a second.
SETTLE = max(420.0, BURST / 8)
ORIGINALS = BURST // 10  # the rest are retweets of these, as in a real storm
PHRASES = [
    "acme app is down again, cannot log in",
    "acme charged me twice this month",
    "love the new acme update",
    "acme support never answers, error 500 everywhere",
    "acme delivery was late but ok",
    "is acme down for anyone else? outage in tokyo",
    "acme refund still not here after three weeks",
    "acme アプリが使えない",
]


def burst_tweets() -> list[dict[str, Any]]:
    tweets = []
    for i in range(ORIGINALS):
        tweets.append(tweet(10_000 + i, f"{PHRASES[i % len(PHRASES)]} (#{i})"))
    for j in range(BURST - ORIGINALS):
        source = tweets[j % ORIGINALS]
        tweets.append(
            tweet(
                20_000 + j,
                f"RT @kenji_t: {source['text']}",
                author="200" if j % 7 == 0 else "100",
                referenced_tweets=[{"type": "retweeted", "id": source["id"]}],
            )
        )
    return tweets


@pytest.mark.slow
@pytest.mark.timeout(int(SETTLE) + 480)
def test_kill_9_of_a_worker_and_the_scheduler_mid_burst_loses_and_repeats_nothing(
    pg_url: str, tmp_path: Path, slack: FakeSlack
) -> None:
    url = pg_url
    x = FakeX()
    with x.api:
        x.add(*burst_tweets())
        search = x._search

        def slow_search(req: Request) -> Reply:  # so that the kill lands mid-burst
            reply = search(req)
            reply.delay = 0.2
            return reply

        x.api.routes[("GET", "/2/tweets/search/recent")] = slow_search
        settings = {"first_poll_pages": 100, "max_pages": 100}
        (tmp_path / "config.yaml").write_text(
            config_text(url, slack, x.api.url, **settings), "utf-8"
        )
        counts = Counts(url)
        scheduler, _ = start(tmp_path, "scheduler.log", "run", "--scheduler-only")
        workers, workers_log = start(
            tmp_path, "workers.log", "worker", "--concurrency", "2", "--idle", "0.2"
        )
        restarted = None
        try:
            # The scheduler dies in the middle of storing the burst; a new one resumes it.
            wait_for(lambda: counts.scalar("SELECT count(*) FROM mentions") >= BURST // 5, "ingest")
            scheduler.send_signal(signal.SIGKILL)
            scheduler.wait(10)
            assert counts.scalar("SELECT count(*) FROM mentions") < BURST, "killed too late"
            restarted, _ = start(tmp_path, "scheduler2.log", "run", "--scheduler-only")
            # A worker dies in the middle of a batch; the supervisor starts a new one.
            classified = "SELECT count(*) FROM classifications"
            wait_for(lambda: counts.scalar(classified) >= BURST // 20, "work")
            pids = re.findall(r"pids (\d+), (\d+)", workers_log.read_text())
            assert pids, workers_log.read_text()
            os.kill(int(pids[0][0]), signal.SIGKILL)
            wait_for(lambda: "restarting it" in workers_log.read_text(), "the restart")

            def settled() -> bool:
                return (
                    counts.scalar("SELECT count(*) FROM mentions") == BURST
                    and counts.scalar("SELECT count(*) FROM mentions WHERE routed_at IS NULL") == 0
                    and counts.scalar(
                        "SELECT count(*) FROM alerts WHERE status IN ('pending', 'sending')"
                    )
                    == 0
                )

            wait_for(settled, "the burst to be processed", timeout=SETTLE)
        finally:
            for process in (scheduler, restarted, workers):
                if process is not None and process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for process in (scheduler, restarted, workers):
                if process is not None:
                    try:
                        process.wait(60)
                    except subprocess.TimeoutExpired:
                        process.kill()
    try:
        ids = counts.scalar("SELECT count(DISTINCT external_id) FROM mentions")
        assert ids == BURST, "0 lost, 0 stored twice"
        assert_everything_once(counts, slack)
        assert_in_order_per_channel(counts, slack)
    finally:
        counts.close()
    assert "exited on SIGKILL" in workers_log.read_text()
