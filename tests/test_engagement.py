"""The engagement refresh job: snapshots of risky mentions, velocity from the series."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from harken.classify.classifier import Classifier
from harken.config import Config, load_config
from harken.pipeline.collect import poll_source
from harken.pipeline.engagement import refresh_engagement
from harken.pipeline.process import run_pass
from harken.platforms.registry import build_sources
from harken.store import Store, repo
from harken.store import sources as source_repo
from harken.store.tables import Mention
from tests.conftest import write_config
from tests.fakes.clock import FakeClock
from tests.fakes.http import Reply
from tests.fakes.x import FakeX, tweet


@pytest.fixture
def fake() -> Iterator[FakeX]:
    x = FakeX()
    with x.api:
        yield x


def make_config(tmp_path: Path, url: str, min_risk: float) -> Config:
    path = write_config(
        tmp_path,
        f"""
brands: [{{name: Acme, keywords: [acme]}}]
sources:
  x: {{enabled: true, bearer_token: "${{X_BEARER_TOKEN}}", api_base_url: "{url}"}}
refresh: {{min_risk: {min_risk}, window: 30d}}
""",
    )
    return load_config(path, environ={"X_BEARER_TOKEN": "test-bearer-token"})


def collected(
    fake: FakeX, config: Config, store: Store, classifier: Classifier, clock: FakeClock
) -> None:
    fake.add(tweet(1, "acme charged me twice and support ignores me"), tweet(2, "acme is fine"))
    poll_source(store, config, build_sources(config, runtime=clock.runtime())[0])
    run_pass(store, config, {}, classifier=classifier)


def test_refresh_stores_a_series_per_mention_and_updates_its_metrics(
    fake: FakeX, tmp_path: Path, classifier: Classifier, db_url: str
) -> None:
    config = make_config(tmp_path, fake.api.url, min_risk=0.0)
    store = Store(db_url)
    clock = FakeClock()
    collected(fake, config, store, classifier, clock)
    sources = build_sources(config, runtime=clock.runtime())

    with store.session() as session:
        first = session.exec(select(Mention).where(Mention.external_id == "1")).one()
        before = repo.classification_of(session, first.id).risk  # type: ignore[arg-type, union-attr]
    clock.now += timedelta(hours=2)
    fake.tweets[0]["public_metrics"] = {
        "retweet_count": 203,
        "reply_count": 41,
        "like_count": 910,
        "quote_count": 12,
    }
    report = refresh_engagement(store, config, sources)
    assert report.checked == 2 and report.updated == 2 and not report.errors
    (lookup,) = fake.api.calls("/2/tweets")
    assert sorted(lookup.query["ids"].split(",")) == ["1", "2"]

    with store.session() as session:
        mention = session.exec(select(Mention).where(Mention.external_id == "1")).one()
        assert (mention.likes, mention.reposts, mention.replies) == (910, 203, 41)
        series = source_repo.snapshots_of(session, mention.id)
    assert [s.reposts for s in series] == [3, 203]  # at collection, then now
    rates = source_repo.velocity(series)
    assert rates["reposts"] == pytest.approx(200 / 2, rel=0.01)
    # The velocity went into the complaint's escalation risk, and says so.
    with store.session() as session:
        after = repo.classification_of(session, mention.id)
    assert after is not None and after.risk > before
    assert any(f.startswith("spreading: ") for f in after.risk_factors)
    assert report.rescored >= 1

    clock.now += timedelta(hours=1)
    refresh_engagement(store, config, sources)
    with store.session() as session:
        assert len(source_repo.snapshots_of(session, mention.id)) == 3


def test_only_risky_recent_mentions_are_refreshed(
    fake: FakeX, tmp_path: Path, classifier: Classifier, db_url: str
) -> None:
    config = make_config(tmp_path, fake.api.url, min_risk=1.0)
    store = Store(db_url)
    clock = FakeClock()
    collected(fake, config, store, classifier, clock)
    report = refresh_engagement(store, config, build_sources(config, runtime=clock.runtime()))
    assert report.checked == 0 and fake.api.calls("/2/tweets") == []


def test_a_failing_refresh_is_reported_and_changes_nothing(
    fake: FakeX, tmp_path: Path, classifier: Classifier, db_url: str
) -> None:
    config = make_config(tmp_path, fake.api.url, min_risk=0.0)
    store = Store(db_url)
    clock = FakeClock()
    collected(fake, config, store, classifier, clock)
    fake.api.fail_next(Reply(401))
    report = refresh_engagement(store, config, build_sources(config, runtime=clock.runtime()))
    assert "401" in report.errors["x"] and report.updated == 0
    with store.session() as session:
        mentions = session.exec(select(Mention)).all()
        assert all(not source_repo.snapshots_of(session, m.id) for m in mentions)


def test_a_rate_limited_source_is_not_refreshed(
    fake: FakeX, tmp_path: Path, classifier: Classifier, db_url: str
) -> None:
    config = make_config(tmp_path, fake.api.url, min_risk=0.0)
    store = Store(db_url)
    clock = FakeClock()
    collected(fake, config, store, classifier, clock)
    with store.session() as session:
        health = source_repo.health_for_update(session, "x")
        health.rate_limited_until = clock.now + timedelta(minutes=10)
        session.add(health)
    report = refresh_engagement(store, config, build_sources(config, runtime=clock.runtime()))
    assert report.checked == 0 and fake.api.calls("/2/tweets") == []
