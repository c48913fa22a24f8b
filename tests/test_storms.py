"""Rate-limit storms and server-error bursts, for every API harken talks to: one place.

For each fake (X, Reddit, Bluesky, Mastodon, RSS, Slack) a storm of 429s in a row, each with
that API's own documented reset header, then 5xx bursts. Time is a fake clock that moves only
when harken sleeps or the test's "daemon" ticks; every fake stamps its requests with it. The
properties:

* no request reaches the API before the reset the last 429 named (whatever the header's
  format: epoch seconds, seconds from now, ISO 8601), in the same poll or in later ones, and
  rate limits never count as the source failing;
* server errors are retried with growing gaps, never hammered;
* afterwards polling (the daemon's own poll job) or delivery (the outbox) recovers with no
  help: the post is stored once, the cursor moves on, every alert is delivered exactly once
  and in alert order within each Slack channel.

The per-source test files prove a single 429 (short: waited out; long: the source rests) and
test_alerts.py one Retry-After and an hour of Slack refusing connections with one channel
checked for order; this file covers the runs of them and the mixes.
"""

from __future__ import annotations

import io
import itertools
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select

from harken.config import Config, load_config
from harken.notify.outbox import deliver_pending
from harken.notify.registry import build_sinks
from harken.pipeline.collect import PollReport
from harken.pipeline.scheduler import Daemon
from harken.platforms.registry import build_sources
from harken.platforms.source import Source
from harken.store import Store
from harken.store import sources as source_repo
from harken.store.tables import Alert
from tests import payloads as p
from tests.conftest import write_config
from tests.fakes import bluesky as fake_bluesky
from tests.fakes import mastodon as fake_mastodon
from tests.fakes import reddit as fake_reddit
from tests.fakes import rss as fake_rss
from tests.fakes import x as fake_x
from tests.fakes.clock import FakeClock
from tests.fakes.http import FakeAPI, Reply, Request
from tests.fakes.slack import FakeSlack
from tests.listening import stored_ids
from tests.test_alerts import CHANNELS, LOGIN_TROUBLE, make_config, posts, route

TICK = timedelta(seconds=10)  # how often the test's daemon looks (polls, outbox runs)
# A storm: resets (seconds after each 429 arrives) short enough to be waited out in the poll,
# and one long enough that the poll ends and the source rests until it.
STORM = [30, 45, 300, 20]
GATEWAY = Reply(
    502, body="<html><h1>502 Bad Gateway</h1></html>", headers={"Content-Type": "text/html"}
)


# -- the listeners ----------------------------------------------------------------------------


@dataclass
class Harness:
    """One live source against its fake, on a fake clock."""

    api: FakeAPI
    config: Config
    clock: FakeClock
    fail: Callable[..., None]  # queue replies (or reply makers) before the real answers
    add_post: Callable[[int], str]  # publish post n; returns its external id
    data_calls: Callable[[], list[Request]]  # the requests that read posts
    limited: Callable[[datetime], Reply]  # a 429 saying: come back at this time
    sources: list[Source] = field(default_factory=list)

    def source(self) -> Source:
        (source,) = build_sources(self.config, runtime=self.clock.runtime())
        self.sources.append(source)
        return source


def x_harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setenv("X_BEARER_TOKEN", "test-bearer-token")
    fake = fake_x.FakeX()
    with fake.api:
        config = configure(
            tmp_path,
            "x: {enabled: true, bearer_token: '${X_BEARER_TOKEN}', max_results: 10, "
            f"api_base_url: '{fake.api.url}'}}",
        )

        def add(n: int) -> str:
            fake.add(fake_x.tweet(1000 + n, f"acme cloud is down #{n}"))
            return str(1000 + n)

        def limited(reset: datetime) -> Reply:  # epoch seconds (developer.x.com rate limits)
            headers = {
                "x-rate-limit-limit": "450",
                "x-rate-limit-remaining": "0",
                "x-rate-limit-reset": str(int(reset.timestamp())),
            }
            return Reply(429, json={"title": "Too Many Requests", "status": 429}, headers=headers)

        yield Harness(
            fake.api, config, FakeClock(), fake.api.fail_next, add, lambda: fake.searches, limited
        )


def reddit_harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setenv("REDDIT_CLIENT_ID", fake_reddit.CLIENT_ID)
    monkeypatch.setenv("REDDIT_CLIENT_SECRET", fake_reddit.CLIENT_SECRET)
    fake = fake_reddit.FakeReddit()
    with fake.api:
        config = configure(
            tmp_path,
            "reddit: {enabled: true, client_id: '${REDDIT_CLIENT_ID}', "
            "client_secret: '${REDDIT_CLIENT_SECRET}', user_agent: 'harken-tests/0.1 (by u/h)', "
            f"limit: 10, api_base_url: '{fake.api.url}'}}",
        )
        clock = FakeClock()

        def add(n: int) -> str:
            fake.add(fake_reddit.submission(n, f"acme cloud is down #{n}", fake_reddit.T0 + n))
            return f"t3_p{n}"

        def limited(reset: datetime) -> Reply:  # seconds from now (Reddit's API rules)
            seconds = round((reset - clock.now).total_seconds())
            headers = {
                "x-ratelimit-remaining": "0.0",
                "x-ratelimit-used": "1000",
                "x-ratelimit-reset": str(seconds),
            }
            return Reply(429, json={"message": "Too Many Requests", "error": 429}, headers=headers)

        yield Harness(
            fake.api, config, clock, fake.api.fail_next, add, lambda: fake.searches, limited
        )


def bluesky_harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    monkeypatch.setenv("BLUESKY_APP_PASSWORD", fake_bluesky.APP_PASSWORD)
    fake = fake_bluesky.FakeBluesky()
    with fake.api:
        config = configure(
            tmp_path,
            f"bluesky: {{enabled: true, handle: '{fake_bluesky.HANDLE}', "
            "app_password: '${BLUESKY_APP_PASSWORD}', limit: 10, search_overlap: 0s, "
            f"api_base_url: '{fake.api.url}'}}",
        )

        def add(n: int) -> str:
            post = fake_bluesky.post(n, f"acme cloud is down #{n}")
            fake.add(post)
            return str(post["uri"])

        def limited(reset: datetime) -> Reply:  # epoch seconds (docs.bsky.app rate limits)
            headers = {
                "ratelimit-limit": "3000",
                "ratelimit-remaining": "0",
                "ratelimit-reset": str(int(reset.timestamp())),
                "ratelimit-policy": "3000;w=300",
            }
            body = {"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"}
            return Reply(429, json=body, headers=headers)

        clock = FakeClock(fake_bluesky.BASE_TIME)
        yield Harness(
            fake.api, config, clock, fake.api.fail_next, add, lambda: fake.searches, limited
        )


def mastodon_harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    fake = fake_mastodon.FakeMastodon()
    with fake.api:
        config = configure(
            tmp_path,
            f"mastodon: {{enabled: true, limit: 10, api_base_url: '{fake.url}'}}",
            hashtags='["#acme"]',
        )

        def add(n: int) -> str:
            status = fake_mastodon.status(100 + n, f"acme cloud is down #{n}")
            fake.add(status)
            return str(status["uri"])

        def limited(reset: datetime) -> Reply:  # ISO 8601 (docs.joinmastodon.org rate limits)
            headers = {
                "X-RateLimit-Limit": "300",
                "X-RateLimit-Remaining": "0",
                "X-RateLimit-Reset": reset.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            }
            return Reply(429, json={"error": "Too many requests"}, headers=headers)

        yield Harness(
            fake.api, config, FakeClock(), fake.fail_next, add, lambda: fake.tag_calls, limited
        )


def rss_harness(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Harness]:
    feeds = fake_rss.FakeFeeds()
    with feeds.api:
        config = configure(
            tmp_path,
            "rss: {enabled: true, timeout: 2s, feeds: ['/news.xml'], "
            f"api_base_url: '{feeds.api.url}'}}",
        )
        clock = FakeClock()
        items: list[str] = []

        def add(n: int) -> str:
            link = f"https://news.example.com/{n}"
            items.insert(0, fake_rss.rss_item(f"Acme cloud is down #{n}", guid=link, link=link))
            feeds.publish("/news.xml", fake_rss.rss("News", *items))
            return link

        def limited(reset: datetime) -> Reply:  # Retry-After: seconds (RFC 9110)
            seconds = round((reset - clock.now).total_seconds())
            return Reply(429, body="slow down", headers={"Retry-After": str(seconds)})

        feeds.publish("/news.xml", fake_rss.rss("News"))
        yield Harness(
            feeds.api,
            config,
            clock,
            feeds.api.fail_next,
            add,
            lambda: feeds.fetches("/news.xml"),
            limited,
        )


HARNESSES = {
    "x": x_harness,
    "reddit": reddit_harness,
    "bluesky": bluesky_harness,
    "mastodon": mastodon_harness,
    "rss": rss_harness,
}


def configure(tmp_path: Path, source: str, hashtags: str = "[]") -> Config:
    return load_config(
        write_config(
            tmp_path,
            f"brands: [{{name: Acme, keywords: [acme], hashtags: {hashtags}}}]\n"
            f"sources:\n  {source}\n",
        )
    )


@pytest.fixture(params=sorted(HARNESSES))
def harness(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Harness]:
    with contextmanager(HARNESSES[request.param])(tmp_path, monkeypatch) as made:
        # Every request is stamped on the fake clock, where the waits happen.
        made.api.clock = lambda: made.clock.now.timestamp()
        yield made
        for source in made.sources:
            source.close()


class Tick:
    """The daemon's poll job (its rate-limit gate included), run every TICK of fake time."""

    def __init__(self, store: Store, h: Harness) -> None:
        self.store, self.h = store, h
        self.source = h.source()
        self.daemon = Daemon(store, h.config, [self.source], sinks={}, stop=threading.Event())
        self.daemon.scheduler_only = True  # poll only: classifying is not what is tested here
        self.reports: list[PollReport] = []  # of the polls that ran (not skipped by the gate)
        self.ticks = 0
        self.failures: list[int] = []  # the source's failures in a row, after each tick

    @property
    def polls(self) -> int:
        return len(self.reports)

    def __call__(self) -> None:
        self.ticks += 1
        report = self.daemon.poll(self.source)
        if report is not None:
            self.reports.append(report)
        self.failures.append(health(self.store, self.source.name).consecutive_failures)
        self.h.clock.now += TICK

    def until(self, done: Callable[[], bool], limit: int = 120) -> None:
        for _ in range(limit):
            if done():
                return
            self()
        raise AssertionError("no recovery within the time allowed")


def health(store: Store, source: str) -> Any:
    with store.session() as session:
        found = source_repo.get_health(session, source)
        assert found is not None
        session.expunge(found)
        return found


def test_a_429_storm_is_obeyed_to_the_second_then_polling_recovers_alone(
    harness: Harness, store: Store
) -> None:
    tick = Tick(store, harness)
    tick()  # the first poll: logs in, takes a token, starts the cursor
    assert health(store, tick.source.name).last_success_at is not None
    promised: list[tuple[Request, datetime]] = []  # each 429 and the reset it named

    def storm(seconds: int) -> Callable[[Request], Reply]:
        def answer(req: Request) -> Reply:
            reset = datetime.fromtimestamp(req.received_at, UTC) + timedelta(seconds=seconds)
            promised.append((req, reset))
            return harness.limited(reset)

        return answer

    expected = harness.add_post(1)
    harness.fail(*[storm(s) for s in STORM])
    tick.until(lambda: expected in stored_ids(store))

    assert len(promised) == len(STORM)  # the whole storm was served
    requests = list(harness.api.requests)
    for limited, reset in promised:
        after = requests[requests.index(limited) + 1 :]
        early = [r.path for r in after if r.received_at < reset.timestamp()]
        assert not early, f"asked {early} before the reset at {reset:%H:%M:%S}"
    # The long reset rested the source (polls skipped, nothing sent); never a failure.
    assert tick.ticks > tick.polls and set(tick.failures) == {0}
    assert health(store, tick.source.name).rate_limited_until is None
    # Recovered: the next poll asks again, and the cursor has moved past the stored post.
    reads = len(harness.data_calls())
    tick()
    assert len(harness.data_calls()) == reads + 1
    assert tick.reports[-1].ok and tick.reports[-1].stored == 0
    assert stored_ids(store).count(expected) == 1
    harness.add_post(2)
    tick()
    assert len(stored_ids(store)) == 2


def test_server_error_bursts_back_off_then_polling_recovers_alone(
    harness: Harness, store: Store
) -> None:
    tick = Tick(store, harness)
    tick()
    expected = harness.add_post(1)
    before = len(harness.data_calls())
    harness.fail(*[GATEWAY] * 6)  # a poll's four tries, and two more of the next poll
    polls: list[list[float]] = []
    while expected not in stored_ids(store):
        assert len(polls) < 5, "no recovery"
        start = len(harness.data_calls())
        tick()
        polls.append([r.received_at for r in harness.data_calls()[start:]])
    assert sum(len(times) for times in polls) == 7 and len(harness.data_calls()) == before + 7
    for times in polls:
        gaps = [b - a for a, b in itertools.pairwise(times)]
        # Backoff with jitter: at least half a second, and each wait longer than the last.
        assert all(g >= 0.5 for g in gaps) and gaps == sorted(gaps), gaps
        assert len(set(gaps)) == len(gaps)
    # The first poll failed (counted, with the server's answer), the next one recovered.
    assert tick.failures[1:] == [1, 0] and "502" in (tick.reports[1].error or "")
    assert health(store, tick.source.name).last_success_at is not None
    tick()
    assert tick.reports[-1].ok and tick.reports[-1].stored == 0
    assert stored_ids(store).count(expected) == 1


# -- Slack: the outbox against the fake workspace -----------------------------------------------

LEGAL = [
    "acme charged my card four times, my lawyer will hear about this",
    "acme deleted ten years of photos, I have hired a lawyer",
    "acme leaked my home address in an email, speaking to a lawyer today",
]


@pytest.fixture
def workspace() -> Iterator[tuple[FakeSlack, FakeClock]]:
    clock = FakeClock()
    with FakeSlack(clock=lambda: clock.now.timestamp()) as slack:
        for channel in CHANNELS.values():
            slack.add_channel(channel)
        yield slack, clock


def routed_alerts(
    tmp_path: Path, slack: FakeSlack, classifier: Any, at_once: int = 1
) -> tuple[Config, Store]:
    """Alerts for two channels, their ids interleaved: engineering, legal, engineering, ...
    ``at_once``: channels delivered side by side (1: one alert at a time, where a 429 or an
    outage stops the next call whatever its channel)."""
    config = make_config(tmp_path, slack)
    assert config.alerts.slack is not None
    config.alerts.slack.channels_at_once = at_once
    store = Store(config.database.url)
    tweets = []
    for i, legal in enumerate(LEGAL):
        tweets += [p.tweet(str(8000 + 2 * i), LOGIN_TROUBLE[i]), p.tweet(str(8001 + 2 * i), legal)]
    route(store, config, posts(tmp_path, "mixed.jsonl", *tweets), classifier)
    by_channel = {a.channel for a in outbox(store)}
    assert {"engineering", "legal"} <= by_channel and len(outbox(store)) == 6
    return config, store


def outbox(store: Store) -> list[Alert]:
    with store.session() as session:
        return list(session.execute(select(Alert).order_by(Alert.id)).scalars())


def run_outbox(store: Store, config: Config, clock: FakeClock, sinks: Any) -> None:
    """The daemon's queues job: one outbox run; then time moves on."""
    deliver_pending(store, config, sinks, clock=lambda: clock.now, sleep=clock.sleep)
    clock.now += TICK


def delivered_once_in_order(slack: FakeSlack, store: Store) -> None:
    alerts = outbox(store)
    assert {a.status for a in alerts} == {"sent"}
    keys = [
        (m.metadata or {}).get("event_payload", {}).get("key")
        for channel in CHANNELS.values()
        for m in slack.messages(channel)
    ]
    assert sorted(k for k in keys if k) == sorted(a.idempotency_key for a in alerts)  # once each
    for department, channel in CHANNELS.items():
        top = [m for m in slack.messages(channel) if not m.is_reply]
        got = [m.metadata["event_payload"]["key"] for m in top]  # type: ignore[index]
        assert got == [a.idempotency_key for a in alerts if a.channel == department], department


@pytest.mark.parametrize("at_once", [1, 2])
def test_a_slack_429_storm_holds_every_request_until_each_reset_then_all_arrive_once(
    tmp_path: Path, workspace: tuple[FakeSlack, FakeClock], classifier: Any, at_once: int
) -> None:
    """One channel at a time: not one request between a 429 and its reset. Channels side by
    side: none begins after it, but the other channel's call already in flight lands."""
    slack, clock = workspace
    config, store = routed_alerts(tmp_path, slack, classifier, at_once)
    sinks = build_sinks(config, Console(file=io.StringIO()))
    promised: list[tuple[Request, float]] = []

    def storm(seconds: int) -> Callable[[Request], Reply]:
        def answer(req: Request) -> Reply:
            promised.append((req, req.received_at + seconds))
            body = {"ok": False, "error": "ratelimited"}
            return Reply(429, json=body, headers={"Retry-After": str(seconds)})

        return answer

    # Short ones are waited out in place, long ones hold the sink across runs and processes.
    waits = [5, 30, 2, 45, 8, 1, 120]
    slack.fail_next(*[storm(s) for s in waits])
    for _ in range(60):
        if {a.status for a in outbox(store)} == {"sent"}:
            break
        run_outbox(store, config, clock, sinks)
    assert len(promised) == len(waits)
    requests = list(slack.requests)
    for limited, reset in promised:
        early = [r.path for r in requests[requests.index(limited) + 1 :] if r.received_at < reset]
        assert len(early) <= at_once - 1, f"asked {early} before the reset"
    assert clock.sleeps and max(clock.sleeps) <= 10  # long waits were not slept through
    delivered_once_in_order(slack, store)
    if at_once == 1:
        assert slack.post_count == len(waits) + 6  # each alert posted once; no retry in doubt


@pytest.mark.parametrize("at_once", [1, 2])
def test_slack_failing_then_unreachable_then_back_delivers_every_alert_once_in_channel_order(
    tmp_path: Path, workspace: tuple[FakeSlack, FakeClock], classifier: Any, at_once: int
) -> None:
    slack, clock = workspace
    config, store = routed_alerts(tmp_path, slack, classifier, at_once)
    sinks = build_sinks(config, Console(file=io.StringIO()))
    # The first post reaches Slack, which stores it and then answers 500: in doubt.
    slack.accept_then_fail(Reply(500, body="<html>oops</html>"))
    run_outbox(store, config, clock, sinks)
    slack.down = True  # 503 to everything, for five minutes
    for _ in range(30):
        run_outbox(store, config, clock, sinks)
    slack.down = False
    slack.unreachable = True  # then connections refused for five more
    for _ in range(30):
        run_outbox(store, config, clock, sinks)
    # Nothing failed for good. One channel at a time, the first 500 stopped the sink before
    # legal's first alert; side by side, that one may have gone out meanwhile.
    statuses = {a.status for a in outbox(store)}
    assert "pending" in statuses  # engineering's, behind its first alert (in doubt)
    assert statuses <= ({"pending"} if at_once == 1 else {"pending", "sent"})
    slack.unreachable = False
    for _ in range(60):  # backoff is at most five minutes: everything is out by then
        run_outbox(store, config, clock, sinks)
    delivered_once_in_order(slack, store)
    assert slack.api_calls("conversations.history")  # the one in doubt was looked up first
