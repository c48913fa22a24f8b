from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

from harken.config import Config, load_config
from harken.notify.contract import Delivered, DeliveryError
from harken.notify.outbox import deliver_pending
from harken.pipeline.classify import classify_pending
from harken.pipeline.ingest import ingest
from harken.pipeline.process import run_pass
from harken.pipeline.route import route_pending
from harken.platforms.replay import read_jsonl
from harken.store import Store
from harken.store.repo import AlertView
from harken.store.tables import Alert, Classification, Incident, Mention, QueueItem, utcnow
from tests import payloads as p
from tests.conftest import TEST_TOPICS

# These tests count incidents and alerts per post: storm grouping would join their separate
# outage reports into one (tests/test_storm_grouping.py covers storms).
CONFIG = {
    "incidents": {"storms": {"enabled": False}},
    "brands": [
        {
            "name": "Acme",
            "keywords": ["acme", "アクメ"],
            "handles": ["@acmesupport"],
            "exclude": ["acme anvil"],
        }
    ],
    "departments": [{"name": n, "sla": "1h"} for n in ("support", "engineering", "pr", "legal")],
    "topics": TEST_TOPICS,
    "routing": {
        "default": "support",
        "rules": [
            {
                "name": "legal threats",
                "when": {"keywords": ["lawyer", "訴訟"]},
                "to": ["legal", "pr"],
                "priority": "urgent",
            },
            {
                "name": "outages",
                "when": {"topics": ["outage"]},
                "to": ["engineering"],
                "priority": "high",
            },
        ],
    },
    "alerts": {"min_priority": "high", "min_risk": 0.99},
}


class RecordingSink:
    """Stands in for an external alert service: records deliveries, can be made to fail."""

    name = "console"
    verifiable = False
    budgeted = True

    def __init__(self, failures: int = 0, permanent: bool = False) -> None:
        self.delivered: list[AlertView] = []
        self.failures = failures
        self.permanent = permanent

    def lane(self, alert: Alert) -> str:
        return alert.channel

    def verify(self, view: AlertView, thread: object = None) -> None:
        return None

    def deliver(self, view: AlertView, thread: object = None) -> Delivered:
        if self.failures:
            self.failures -= 1
            if self.permanent:
                raise DeliveryError("channel_not_found", transient=False)
            raise ConnectionError("service unavailable")
        self.delivered.append(view)
        return Delivered()


@pytest.fixture
def config(db_url: str) -> Config:
    return load_config(overrides={**CONFIG, "database": {"url": db_url}}, environ={})


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    opened = Store(config.database.url)
    yield opened
    opened.close()


def x_file(tmp_path: Path) -> Path:
    return p.write_jsonl(
        tmp_path / "x.jsonl",
        p.x_page(
            p.tweet("1001", "@acme the app is down, can't log in since this morning"),
            p.tweet("1002", "love the new acme export feature, so fast"),
            p.tweet(
                "1003",
                "RT @kenji_t: @acme the app is down, can't log in since this morning",
                author="200",
                referenced_tweets=[{"type": "retweeted", "id": "1001"}],
            ),
            p.tweet("1004", "acme charged me twice, I am calling my lawyer"),
            p.tweet("1005", "old acme anvil cartoons are the best"),
            p.tweet("1006", "アクメにログインできない。訴訟も検討", lang="ja"),
        ),
    )


def count(store: Store, column) -> int:  # type: ignore[no-untyped-def]
    with store.session() as session:
        return int(session.execute(select(func.count(column))).scalar_one())


def test_ingest_twice_stores_once(tmp_path: Path, config: Config, store: Store) -> None:
    first = ingest(store, config, read_jsonl(x_file(tmp_path), "x"), source="t")
    second = ingest(store, config, read_jsonl(x_file(tmp_path), "x"), source="t")
    assert (first.stored, first.duplicates, first.off_brand) == (5, 0, 1)
    assert (second.stored, second.duplicates, second.off_brand) == (0, 5, 1)
    assert count(store, Mention.id) == 5


def test_a_record_the_database_refuses_is_skipped_and_the_rest_of_its_batch_stored(
    tmp_path: Path, config: Config, store: Store
) -> None:
    """Parsers keep what the database cannot hold out of records; should one still get
    through (here a lone surrogate, which neither SQLite nor PostgreSQL can encode), it is
    named in ``refused`` and its batch is stored without it, not failed and read again."""
    good = list(read_jsonl(x_file(tmp_path), "x"))
    bad = dataclasses.replace(good[0], external_id="666", text="acme \udc00 broken")
    result = ingest(store, config, [good[0], bad, *good[1:]], source="t")
    assert (result.stored, result.off_brand) == (5, 1)
    (refusal,) = result.refused
    assert refusal.startswith("x:666: UnicodeEncodeError") and "\udc00" not in refusal
    with store.session() as session:
        ids = set(session.execute(select(Mention.external_id)).scalars())
    assert ids == {"1001", "1002", "1003", "1004", "1006"}
    again = ingest(store, config, good, source="t")  # the store is left usable
    assert (again.stored, again.duplicates) == (0, 5)


def test_posts_by_the_brands_own_accounts_are_not_mentions(tmp_path: Path, config, store) -> None:
    users = [{"id": "9", "name": "Acme Support", "username": "AcmeSupport"}]
    page = p.x_page(p.tweet("7", "@kenji_t acme is back up, sorry!", author="9"), users=users)
    result = ingest(
        store, config, read_jsonl(p.write_jsonl(tmp_path / "own.jsonl", page), "x"), "t"
    )
    assert (result.stored, result.own_posts) == (0, 1)


def test_classify_resumes_where_it_stopped(tmp_path: Path, config, store, classifier) -> None:
    ingest(store, config, read_jsonl(x_file(tmp_path), "x"), source="t")
    assert classify_pending(store, classifier, batch_size=2, max_batches=1) == 2
    assert count(store, Classification.id) == 2
    assert classify_pending(store, classifier, batch_size=2) == 3
    assert classify_pending(store, classifier, batch_size=2) == 0
    assert count(store, Classification.id) == 5


def test_route_resumes_where_it_stopped(tmp_path: Path, config, store, classifier) -> None:
    ingest(store, config, read_jsonl(x_file(tmp_path), "x"), source="t")
    classify_pending(store, classifier)
    assert route_pending(store, config, batch_size=2, max_batches=1).mentions == 2
    assert route_pending(store, config, batch_size=2).mentions == 3
    assert route_pending(store, config).mentions == 0
    with store.session() as session:
        per_mention = session.execute(
            select(QueueItem.mention_id, QueueItem.department).order_by(QueueItem.id)
        ).all()
    assert len(per_mention) == len(set(per_mention))  # nothing routed twice


def test_routing_reasons_and_incidents(tmp_path: Path, config, store, classifier) -> None:
    ingest(store, config, read_jsonl(x_file(tmp_path), "x"), source="t")
    sink = RecordingSink()
    run_pass(store, config, {"console": sink}, classifier)
    with store.session() as session:
        rows = session.execute(
            select(
                Mention.external_id,
                QueueItem.department,
                QueueItem.priority,
                QueueItem.reason,
                QueueItem.incident_id,
            ).join(Mention, Mention.id == QueueItem.mention_id)
        ).all()
        incidents = {i.key: i for i in session.execute(select(Incident)).scalars()}
    routed = {(r.external_id, r.department): r for r in rows}
    assert routed[("1004", "legal")].reason == "rule 'legal threats': keyword 'lawyer'"
    assert routed[("1004", "legal")].priority == "urgent"
    assert routed[("1006", "legal")].reason == "rule 'legal threats': keyword '訴訟'"
    assert routed[("1006", "engineering")].reason.startswith("rule 'outages': topic outage")
    assert routed[("1001", "engineering")].priority == "high"
    # Praise that no rule takes is stored but not queued (routing.default_takes).
    assert not [key for key in routed if key[0] == "1002"]
    with store.session() as session:
        praise = session.execute(select(Mention).where(Mention.external_id == "1002")).scalar_one()
    assert praise.routing[0]["department"] is None
    assert praise.routing[0]["reason"].startswith("not queued: no rule matched and it needs no")
    # the retweet joins the original's incident and folds into its open item
    assert ("1003", "engineering") not in routed
    with store.session() as session:
        retweet = session.execute(select(Mention).where(Mention.external_id == "1003")).scalar_one()
        item = session.execute(
            select(QueueItem).where(QueueItem.incident_id == retweet.incident_id)
        ).scalar_one()
    assert retweet.incident_reason == "retweet of x:1001"
    assert item.mentions == 2
    assert incidents["post:x:1001"].size == 2
    # one alert per incident and department: the retweet does not alert again
    alerted = sorted((v.item.department, v.mention.external_id) for v in sink.delivered)
    assert alerted == [
        ("engineering", "1001"),
        ("engineering", "1006"),
        ("legal", "1004"),
        ("legal", "1006"),
        ("pr", "1004"),
        ("pr", "1006"),
    ]


def test_failed_alert_stays_pending_then_is_delivered_once(
    tmp_path: Path, config, store, classifier
) -> None:
    ingest(store, config, read_jsonl(x_file(tmp_path), "x"), source="t")
    flaky = RecordingSink(failures=1)
    result = run_pass(store, config, {"console": flaky}, classifier)
    # the first alert failed: its sink stops for this pass
    assert result.notify.retry_later == 1 and result.notify.sent == 0
    assert "ConnectionError: service unavailable" in result.notify.errors[0]
    # the next run serves the other channels; the failed one's channel waits behind it
    other = deliver_pending(store, config, {"console": flaky})
    assert other.sent == 4 and other.retry_later == 1
    assert {v.alert.channel for v in flaky.delivered} == {"legal", "pr"}
    later = lambda: utcnow() + timedelta(minutes=1)  # noqa: E731
    again = deliver_pending(store, config, {"console": flaky}, clock=later)
    assert again.sent == 2
    assert [v.alert.id for v in flaky.delivered[-2:]] == sorted(
        v.alert.id for v in flaky.delivered[-2:]
    )
    assert deliver_pending(store, config, {"console": flaky}, clock=later).sent == 0
    keys = [v.alert.idempotency_key for v in flaky.delivered]
    assert len(keys) == len(set(keys)) == 6
    with store.session() as session:
        assert set(session.execute(select(Alert.status)).scalars()) == {"sent"}


def test_transient_failures_give_up_after_a_day_permanent_at_once(
    tmp_path: Path, config, store, classifier
) -> None:
    ingest(store, config, read_jsonl(x_file(tmp_path), "x"), source="t")
    dead = RecordingSink(failures=10_000)
    run_pass(store, config, {"console": dead}, classifier)
    for minutes in (1, 60, 600):  # down for hours: still pending, backing off
        at = lambda m=minutes: utcnow() + timedelta(minutes=m)  # noqa: E731
        deliver_pending(store, config, {"console": dead}, clock=at)
    with store.session() as session:
        assert set(session.execute(select(Alert.status)).scalars()) == {"pending"}
    tomorrow = lambda: utcnow() + timedelta(hours=25)  # noqa: E731
    deliver_pending(store, config, {"console": dead}, clock=tomorrow)
    with store.session() as session:
        alerts = session.execute(select(Alert)).scalars().all()
    assert {a.status for a in alerts} == {"failed"}
    assert all("gave up after retrying since" in (a.last_error or "") for a in alerts)


def test_a_permanent_failure_fails_at_once_and_blocks_nothing(
    tmp_path: Path, config, store, classifier
) -> None:
    ingest(store, config, read_jsonl(x_file(tmp_path), "x"), source="t")
    wrong = RecordingSink(failures=2, permanent=True)
    result = run_pass(store, config, {"console": wrong}, classifier)
    assert (result.notify.failed, result.notify.sent) == (2, 4)  # the next in line go on
    assert result.notify.errors[0].endswith("channel_not_found")


def test_alerts_for_an_unconfigured_sink_wait(tmp_path: Path, config, store, classifier) -> None:
    ingest(store, config, read_jsonl(x_file(tmp_path), "x"), source="t")
    result = run_pass(store, config, {}, classifier)
    assert result.notify.sent == 0
    assert deliver_pending(store, config, {"console": RecordingSink()}).sent == 6


def test_a_growing_incident_raises_the_risk_of_its_later_posts(
    tmp_path: Path, config: Config, store: Store, classifier
) -> None:
    text = "@acme the app is down, can't log in since this morning"
    storm = [p.tweet("2000", text)] + [
        p.tweet(
            str(2001 + i),
            f"RT @kenji_t: {text}",
            referenced_tweets=[{"type": "retweeted", "id": "2000"}],
        )
        for i in range(30)
    ]
    path = p.write_jsonl(tmp_path / "storm.jsonl", p.x_page(*storm))
    ingest(store, config, read_jsonl(path, "x"), source="test")
    run_pass(store, config, {"console": RecordingSink()}, classifier=classifier)
    with store.session() as session:
        rows = session.execute(
            select(Mention.external_id, Classification.risk, Classification.risk_factors)
            .join(Classification, Classification.mention_id == Mention.id)
            .order_by(Mention.id)
        ).all()
    first_risk = rows[0][1]
    _, last_risk, last_factors = rows[-1]
    assert last_risk > first_risk + 0.1
    assert any(f.startswith("growing incident: ") for f in last_factors)
