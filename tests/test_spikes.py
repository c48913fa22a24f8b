from __future__ import annotations

import math
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median
from typing import Any

import pytest
from sqlalchemy import func, insert, select
from sqlalchemy.engine import make_url
from sqlmodel import col

from harken.config import SpikesConfig, load_config
from harken.errors import ConfigError
from harken.spikes.detection import SpikeFinding, backtest, check_due, check_hour, recent_spikes
from harken.spikes.method import (
    HourlyCounts,
    baseline,
    drivers,
    hourly_series,
    judge,
    poisson_upper_tail,
    tokens,
)
from harken.store import Store
from harken.store.tables import Author, Classification, Incident, Mention, Spike
from tests.conftest import BACKENDS, pg_database

HOUR = timedelta(hours=1)
WEEK = timedelta(weeks=1)
MONDAY = datetime(2026, 10, 26, tzinfo=UTC)  # 00:00 UTC, a Monday


def weekly(weeks: int, busy: int = 40, quiet: int = 2) -> dict[datetime, int]:
    """Every hour ``quiet`` posts, Mondays 09:00 ``busy``: a weekly newsletter."""
    hours = (MONDAY + HOUR * i for i in range(weeks * 168))
    return {h: busy if (h.weekday(), h.hour) == (0, 9) else quiet for h in hours}


# --- the method ---


def test_a_busy_hour_of_the_week_is_not_a_spike_there_but_is_elsewhere() -> None:
    counts = weekly(4)
    monday_9 = MONDAY + 4 * WEEK + 9 * HOUR
    sunday_3 = MONDAY + 4 * WEEK - 21 * HOUR
    counts[sunday_3] = 40
    counts[monday_9] = 40
    at_monday = judge(counts, monday_9, SpikesConfig())
    at_sunday = judge(counts, sunday_3, SpikesConfig())
    assert (at_monday.spike, at_monday.baseline, at_monday.basis) == (False, 40.0, "hour of week")
    assert (at_sunday.spike, at_sunday.baseline, at_sunday.ratio) == (True, 2.0, 20.0)
    assert at_sunday.p_value < 1e-15


def test_the_median_shrugs_off_one_past_outage() -> None:
    counts = weekly(4)
    counts[MONDAY + 3 * WEEK + 14 * HOUR] = 60  # last week's outage at Monday 14:00
    counts[MONDAY + 4 * WEEK + 14 * HOUR] = 30
    verdict = judge(counts, MONDAY + 4 * WEEK + 14 * HOUR, SpikesConfig())
    assert (verdict.baseline, verdict.spike) == (2.0, True)


def test_the_floor_keeps_three_posts_against_none_from_being_a_spike() -> None:
    counts = dict.fromkeys(weekly(3, busy=0, quiet=0), 0)
    hour = MONDAY + 3 * WEEK
    counts[hour] = 3
    loose = SpikesConfig(min_count=1)
    assert judge(counts, hour, loose).spike is False  # P(X >= 3 | 1) = 0.08
    assert judge(counts, hour, SpikesConfig(min_count=1, baseline_floor=0.01)).spike is True
    assert judge({**counts, hour: 9}, hour, SpikesConfig()).spike is False  # under min_count


def test_poisson_upper_tail_by_hand() -> None:
    assert poisson_upper_tail(3, 1.0) == pytest.approx(1 - 2.5 / math.e, rel=1e-12)
    by_hand = 1 - sum(math.exp(-2) * 2**i / math.factorial(i) for i in range(10))
    assert poisson_upper_tail(10, 2.0) == pytest.approx(by_hand, rel=1e-9)
    assert poisson_upper_tail(0, 5.0) == 1.0
    assert poisson_upper_tail(1, 0.5) == pytest.approx(1 - math.exp(-0.5))
    # far in the tail, where 1 - (lower sum) would round to 0
    assert poisson_upper_tail(50, 1.0) == pytest.approx(math.exp(-1) / math.factorial(50), 1e-3)


def test_short_history_falls_back_to_the_hour_of_day_then_to_no_verdict() -> None:
    days = {MONDAY + HOUR * i: (10 if i % 24 == 9 else 1) for i in range(5 * 24)}
    fallback = baseline(days, MONDAY + 5 * 24 * HOUR + 9 * HOUR)
    assert fallback is not None and (fallback.value, fallback.basis, fallback.samples) == (
        10.0,
        "hour of day",
        5,
    )
    first_day = {MONDAY + HOUR * i: 1 for i in range(12)}
    first_day[MONDAY + 12 * HOUR] = 50
    verdict = judge(first_day, MONDAY + 12 * HOUR, SpikesConfig())
    assert (verdict.spike, verdict.baseline, verdict.basis) == (False, None, "no history")


def test_a_pandas_series_works_as_the_history() -> None:
    stamps = [MONDAY + HOUR * i + timedelta(minutes=m) for i in range(3 * 168) for m in (5, 35)]
    stamps += [MONDAY + 3 * WEEK + timedelta(minutes=m) for m in range(30)]
    series = hourly_series(stamps, MONDAY, MONDAY + 3 * WEEK + HOUR)
    assert len(series) == 3 * 168 + 1 and int(series.iloc[-1]) == 30
    verdict = judge(series, MONDAY + 3 * WEEK, SpikesConfig())
    assert (verdict.count, verdict.baseline, verdict.spike) == (30, 2.0, True)
    assert HourlyCounts.of(series).start == MONDAY


def test_settings_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="greater than 0"):
        SpikesConfig(ratio=0)
    path = tmp_path / "harken.yaml"
    path.write_text("topics: {outage: [down]}\nspikes: {series: [volume, likes]}\n")
    with pytest.raises(ConfigError, match=r"spikes.series: 'likes' is not volume, negative"):
        load_config(path, environ={})
    path.write_text('topics: {outage: [down]}\nspikes: {series: "topic:outage"}\n')
    assert load_config(path, environ={}).spikes.series == ["topic:outage"]


def test_tokens_fold_and_drop_urls_handles_and_short_words() -> None:
    text = (
        "@acmesupport The APP is DOWN!! https://t.co/x #outage ｱｸﾒのサービス障害、ログインできない"
    )
    assert tokens(text) == ["app", "down", "outage", "アクメ", "サービス", "障害", "ログイン"]


def test_drivers_pick_the_bursts_terms_in_english() -> None:
    before = [
        "loving the new acme dashboard",
        "how do I export a report from acme?",
        "acme charged me twice this month",
        "the acme mobile app looks great",
    ] * 10
    burst = [
        "acme is down again, dashboard says error 502",
        "acme outage? login page times out",
        "is acme down for anyone else? #outage",
        "acme down, error 502 on every page",
    ] * 5 + ["loving the new acme dashboard"]
    terms = drivers(burst, before, n=4, exclude=["acme"])
    assert terms[:2] == ["down", "error"]
    assert set(terms) <= {"down", "error", "outage", "page", "login", "times", "anyone", "else"}


def test_drivers_pick_the_bursts_terms_in_japanese() -> None:
    before = ["アクメの新しいダッシュボードが便利", "アクメのアプリの使い方を教えて"] * 10
    burst = [
        "アクメのサービスが落ちている。ログインできない",
        "アクメ障害？ログインできません",
        "アクメのサービス障害、復旧はいつ",
    ] * 4
    terms = drivers(burst, before, n=3, exclude=["アクメ", "acme"])
    assert set(terms) == {"ログイン", "サービス", "障害"}


# --- on a store: five weeks of history with one outage ---

END = MONDAY + 5 * WEEK  # Monday 2026-11-30 00:00
BURST = END - 6 * 24 * HOUR + 14 * HOUR  # Tuesday 2026-11-24 14:00
BURST_POSTS = [  # (incident, text): a retweet storm, a second thread, loose posts
    *[(1, "RT @dev_anya: acme is down, the dashboard returns error 502 #outage")] * 30,
    *[(2, "acme login broken, can't log in since 14:05. outage?")] * 10,
    *[(None, "is acme down for anyone else? login page times out")] * 5,
]
BACKGROUND = [
    ("neutral", "how do I export a report from acme?"),
    ("positive", "loving the new acme dashboard"),
    ("negative", "acme charged me twice for my subscription"),
    ("positive", "アクメの新しいダッシュボードが便利"),
]


def acme_level(hour: datetime) -> int:
    """Daytime busy, nights quiet, weekends half, Monday 09:00 the newsletter; a little jitter."""
    if (hour.weekday(), hour.hour) == (0, 9):
        return 40
    day = 2 if hour.hour < 7 else 6 if hour.hour < 9 else 15 if hour.hour < 18 else 8
    day = day // 2 if hour.weekday() >= 5 else day
    jitter = (hour.day * 7 + hour.hour * 5) % 5 - 2
    return max(0, day + jitter)


def build_history(store: Store) -> None:
    mentions: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []

    def post(
        brand: str,
        at: datetime,
        text: str,
        sentiment: str,
        topics: list[str],
        incident: int | None = None,
    ) -> None:
        n = len(mentions) + 1
        mentions.append(
            dict(id=n, platform="x", external_id=str(n), brand=brand, text=text, created_at=at,
                 collected_at=at, author_id=1 + n % 3, source="x", metrics={}, raw={},
                 incident_id=incident)
        )  # fmt: skip
        labels.append(
            dict(mention_id=n, model="test", sentiment=sentiment, complaint=0.5, abuse=0.0,
                 risk=0.2, topics=topics, language="en", sentiment_scores={}, risk_factors=[],
                 topic_scores={})
        )  # fmt: skip

    for i in range(5 * 168):
        hour = MONDAY + HOUR * i
        for k in range(acme_level(hour)):
            sentiment, text = BACKGROUND[k % 4]
            billing = ["billing"] if sentiment == "negative" else []
            at = hour + timedelta(minutes=k % 60)
            post("Acme", at, text, sentiment, billing, 3 if billing else None)
        if hour.hour == 15:  # a grumble a day about slowness: the outage topic's usual level
            post("Acme", hour + timedelta(minutes=20), "acme is slow today", "negative", ["outage"])
        if 9 <= hour.hour < 18 and hour.weekday() < 5:
            post("Globex", hour + timedelta(minutes=30), "globex support was quick", "positive", [])
    for k, (incident, text) in enumerate(BURST_POSTS):
        post("Acme", BURST + timedelta(minutes=k), text, "negative", ["outage"], incident)

    with store.session() as session:
        authors = [
            {"id": a, "platform": "x", "external_id": str(a), "handle": f"user{a}"}
            for a in (1, 2, 3)
        ]
        session.execute(insert(Author), authors)
        session.execute(insert(Mention), mentions)
        session.execute(insert(Classification), labels)
        for incident, key in ((1, "x:rt-dev_anya"), (2, "text:login broken"), (3, "billing")):
            session.add(
                Incident(id=incident, brand="Acme", key=key, first_seen=MONDAY, last_seen=END)
            )


@pytest.fixture(scope="module", params=BACKENDS)
def template(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The history is built once per backend; each test gets its own copy of the database
    (of the file on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL)."""
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("spikes") / "history.db"
        store = Store(f"sqlite:///{path}")
        build_history(store)
        store.close()  # the last connection closing folds the WAL back into the file
        yield str(path)
        return
    cluster = request.getfixturevalue("pg_cluster")
    with pg_database(cluster, request.getfixturevalue("pg_template")) as url:
        store = Store(url)
        build_history(store)
        store.close()
        yield url


@pytest.fixture
def history(template: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Store]:
    if template.startswith("postgresql"):
        cluster = request.getfixturevalue("pg_cluster")
        with pg_database(cluster, str(make_url(template).database)) as url:
            store = Store(url)
            yield store
            store.close()
        return
    copy = tmp_path / "h.db"
    shutil.copyfile(template, copy)
    store = Store(f"sqlite:///{copy}")
    yield store
    store.close()


KEYWORDS = {"Acme": ["acme", "アクメ"], "Globex": ["globex"]}


def test_backtest_finds_the_outage_and_nothing_else(history: Store) -> None:
    findings = backtest(history, SpikesConfig(), END - 30 * 24 * HOUR, END, keywords=KEYWORDS)
    assert [(f.brand, f.series, f.hour_start) for f in findings] == [
        ("Acme", "negative", BURST),
        ("Acme", "topic:outage", BURST),
        ("Acme", "volume", BURST),
    ]
    by_series = {f.series: f for f in findings}
    volume, negative = by_series["volume"], by_series["negative"]
    usual = median(acme_level(BURST - k * WEEK) for k in range(1, 5))
    assert volume.count == acme_level(BURST) + 45 and volume.baseline == usual
    assert volume.basis == "hour of week" and volume.ratio >= 3 and volume.p_value < 1e-6
    assert negative.top_incidents[:3] == [1, 2, 3]
    assert by_series["topic:outage"].top_incidents == [1, 2]
    assert (by_series["topic:outage"].count, by_series["topic:outage"].baseline) == (45, 0.0)
    for finding in findings:
        assert {"down", "error"} <= set(finding.terms[:4]), finding.terms
        assert "acme" not in finding.terms
    with history.session() as session:  # a replay writes nothing
        assert session.execute(select(func.count(col(Spike.id)))).scalar_one() == 0


def test_backtest_of_one_brand_and_a_window_without_the_burst(history: Store) -> None:
    assert backtest(history, SpikesConfig(), END - 30 * 24 * HOUR, END, brands=["Globex"]) == []
    assert backtest(history, SpikesConfig(), BURST + HOUR, END) == []
    only_volume = SpikesConfig(series=("volume",))
    assert [f.series for f in backtest(history, only_volume, BURST, BURST + HOUR)] == ["volume"]


def test_check_hour_stores_the_spikes_once(history: Store) -> None:
    detected = datetime(2026, 11, 24, 15, 2, tzinfo=UTC)
    spikes = check_hour(history, SpikesConfig(), BURST, keywords=KEYWORDS, now=detected)
    assert sorted(s.series for s in spikes) == ["negative", "topic:outage", "volume"]
    assert all(s.id and s.hour_start == BURST and s.detected_at == detected for s in spikes)
    assert check_hour(history, SpikesConfig(), BURST + timedelta(minutes=10)) == []
    stored = recent_spikes(history, BURST)
    assert {s.id for s in stored} == {s.id for s in spikes}
    volume = next(s for s in stored if s.series == "volume")
    assert SpikeFinding.of(volume).top_incidents[:2] == [1, 2]
    assert recent_spikes(history, BURST + HOUR) == []


def test_check_due_looks_at_the_hours_just_completed(history: Store) -> None:
    assert check_due(history, SpikesConfig(), BURST + timedelta(minutes=50)) == []  # not over
    found = check_due(history, SpikesConfig(), BURST + timedelta(hours=1, minutes=3))
    assert {(s.series, s.hour_start) for s in found} == {
        ("volume", BURST),
        ("negative", BURST),
        ("topic:outage", BURST),
    }
    assert check_due(history, SpikesConfig(), BURST + timedelta(hours=5)) == []  # stored already


def test_the_hourly_job_alerts_each_new_spike_once_and_the_cli_replays(
    history: Store, tmp_path: Path
) -> None:
    import io
    import json

    from rich.console import Console
    from typer.testing import CliRunner

    from harken.cli import app
    from harken.config import load_config
    from harken.notify.console.sink import ConsoleSink
    from harken.notify.outbox import deliver_pending
    from harken.spikes.job import check_spikes

    url = str(history.engine.url)
    config = load_config(
        overrides={
            "database": {"url": url},
            "brands": [{"name": "Acme", "keywords": ["acme", "アクメ"]}, {"name": "Globex"}],
            "departments": [{"name": "support"}, {"name": "pr"}],
            "topics": {"outage": ["the app is down"]},
        },
        environ={},
    )
    found = check_spikes(history, config, BURST + timedelta(hours=1, minutes=5))
    assert sorted(s.series for s in found) == ["negative", "topic:outage", "volume"]
    assert check_spikes(history, config, BURST + timedelta(hours=1, minutes=10)) == []
    screen = io.StringIO()
    sink = ConsoleSink(Console(file=screen, width=200, highlight=False))
    assert deliver_pending(history, config, {"console": sink}).sent == 3
    lines = screen.getvalue().splitlines()
    assert lines[0].startswith(
        "SPIKE Acme negative · 49 posts in the hour from 11-24 14:00 UTC, 14.0x the usual 3.5"
    )
    assert "incidents #1, #2, #3" in lines[0]

    runner = CliRunner()
    replay = runner.invoke(
        app,
        ["--db", url, "spikes", "--backtest", "30d", "--until", "2026-11-30", "--format", "json"],
    )
    assert replay.exit_code == 0, replay.output
    assert [(f["series"], f["hour_start"]) for f in json.loads(replay.stdout)] == [
        ("negative", BURST.isoformat()),
        ("topic:outage", BURST.isoformat()),
        ("volume", BURST.isoformat()),
    ]
    shown = runner.invoke(
        app, ["--db", url, "spikes", "--backtest", "30d", "--until", "2026-11-30"]
    )
    # three series spiked in one hour: three spikes, not three spike hours
    assert shown.stdout.startswith("backtest over the last 30d: 3 spike(s) in 1 hour(s),")
    stored = runner.invoke(app, ["--db", url, "spikes", "--since", "2026-11-20"])
    assert stored.stdout.startswith("3 spike(s) stored for hours since 2026-11-20 00:00 UTC")
    alone = runner.invoke(app, ["--db", url, "spikes", "--until", "2026-11-30"])
    assert alone.exit_code == 2 and "--until ends a --backtest replay" in alone.stderr
