"""Incident grouping through the real pipeline: retweets, quotes, copies, shared links and
near-duplicates join one incident per brand; unrelated and out-of-window posts do not."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from harken.config import Config, load_config
from harken.pipeline.ingest import ingest
from harken.pipeline.process import run_pass
from harken.platforms.replay import read_jsonl
from harken.routing.incidents import normalize_url, post_keys
from harken.store import Store
from harken.store.tables import Alert, Classification, Incident, IncidentKey, Mention, QueueItem
from tests import payloads as p
from tests.conftest import TEST_TOPICS
from tests.test_pipeline import RecordingSink

T0 = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)


@pytest.fixture
def config(db_url: str) -> Config:
    return load_config(
        overrides={
            "database": {"url": db_url},
            "brands": [
                {"name": "Acme", "keywords": ["acme"]},
                {"name": "Globex", "keywords": ["globex"]},
            ],
            "departments": [{"name": "support"}, {"name": "engineering", "sla": "30m"}],
            "topics": TEST_TOPICS,
            "routing": {
                "default": "support",
                "rules": [
                    {
                        "name": "outages",
                        "when": {"topics": ["outage"]},
                        "to": ["engineering"],
                        "priority": "high",
                    }
                ],
            },
            "alerts": {"min_priority": "high", "min_risk": 0.99},
            # The keys (retweets, copies, links, near-duplicates) alone: storm grouping by
            # meaning is tests/test_storm_grouping.py's.
            "incidents": {"window": "6h", "similarity": 0.85, "storms": {"enabled": False}},
        },
        environ={},
    )


def at(minutes: float) -> str:
    return (T0 + timedelta(minutes=minutes)).isoformat().replace("+00:00", "Z")


def tweet(
    tweet_id: str, text: str, minutes: float = 0, author: str = "100", **extra: Any
) -> dict[str, Any]:
    return p.tweet(tweet_id, text, author=author, created_at=at(minutes), **extra)


def process(
    tmp_path: Path, config: Config, classifier: Any, *tweets: dict[str, Any]
) -> RecordingSink:
    store = Store(config.database.url)
    users = [
        {
            "id": str(i),
            "name": f"U{i}",
            "username": f"user{i}",
            "public_metrics": {"followers_count": i},
        }
        for i in range(100, 500)
    ]
    path = p.write_jsonl(
        tmp_path / f"x{len(list(tmp_path.iterdir()))}.jsonl", p.x_page(*tweets, users=users)
    )
    ingest(store, config, read_jsonl(path, "x"), source="t")
    sink = RecordingSink()
    run_pass(store, config, {"console": sink}, classifier)
    return sink


def incident_of(store: Store, external_id: str) -> tuple[int | None, str | None]:
    with store.session() as session:
        m = session.execute(select(Mention).where(Mention.external_id == external_id)).scalar_one()
        return m.incident_id, m.incident_reason


def test_a_retweet_storm_is_one_incident_one_item_one_alert(
    tmp_path: Path, config: Config, classifier: Any
) -> None:
    original = tweet("5000", "@acme the app is down, can't log in, nothing loads", author="100")
    retweets = [
        tweet(
            str(6000 + i),
            "RT @user100: @acme the app is down, can't log in, nothing loads",
            minutes=1 + i / 10,
            author=str(101 + i),
            referenced_tweets=[{"type": "retweeted", "id": "5000"}],
        )
        for i in range(300)
    ]
    quote = tweet(
        "7000",
        "same here with acme, this is bad",
        minutes=5,
        author="450",
        referenced_tweets=[{"type": "quoted", "id": "5000"}],
    )
    # The storm arrives before its original (search pages come newest first).
    sink = process(tmp_path, config, classifier, *retweets, quote, original)
    store = Store(config.database.url)
    with store.session() as session:
        incidents = session.execute(select(Incident)).scalars().all()
        items = session.execute(select(QueueItem)).scalars().all()
        keys = session.execute(select(func.count(IncidentKey.id))).scalar_one()
    assert len(incidents) == 1 and incidents[0].size == 302
    assert [(i.department, i.mentions) for i in items] == [("engineering", 302)]
    assert len(sink.delivered) == 1  # one alert for the whole storm
    # Retweets add no keys of their own: the table grows with originals, not with the storm.
    assert keys < 60  # 2 originals x (post, copy, 20 meaning bands)
    assert incident_of(store, "6123")[1] == "retweet of x:5000"
    assert incident_of(store, "7000")[1] == "quote of x:5000"
    assert incident_of(store, "5000")[1] == "new incident"  # routed in post order


def test_an_original_collected_after_its_retweets_joins_them(
    tmp_path: Path, config: Config, classifier: Any
) -> None:
    rt = "RT @user100: @acme the app is down, can't log in"
    retweet = tweet(
        "6001", rt, 5, author="101", referenced_tweets=[{"type": "retweeted", "id": "5000"}]
    )
    process(tmp_path, config, classifier, retweet)
    process(tmp_path, config, classifier, tweet("5000", "@acme the app is down, can't log in"))
    store = Store(config.database.url)
    incident, reason = incident_of(store, "5000")
    assert incident == incident_of(store, "6001")[0]
    assert reason == "the post that mention 1 shares"


def test_copies_links_and_near_duplicates_join_within_the_window(
    tmp_path: Path, config: Config, classifier: Any
) -> None:
    link = {
        "entities": {
            "urls": [
                {
                    "url": "https://t.co/a1",
                    "expanded_url": "https://www.technews.example.com/acme-outage?utm_source=x",
                }
            ]
        }
    }
    link2 = {
        "entities": {
            "urls": [
                {
                    "url": "https://t.co/zz",
                    "expanded_url": "https://technews.example.com/acme-outage/",
                }
            ]
        }
    }
    process(
        tmp_path,
        config,
        classifier,
        tweet(
            "1", "Acme Cloud has been down for two hours and nobody says anything", 0, author="101"
        ),
        tweet(
            "2",
            "acme cloud has been DOWN for two hours, and nobody says anything!!",
            10,
            author="102",
        ),
        tweet(
            "3", "Acme Cloud is down for 2 hours now and no one is saying a thing", 20, author="103"
        ),
        tweet("4", "acme outage story https://t.co/a1", 30, author="104", **link),
        tweet("5", "read this about acme https://t.co/zz", 40, author="105", **link2),
        tweet("6", "love the new acme photo search, so quick", 50, author="106"),
        tweet(
            "7",
            "Acme Cloud has been down for two hours and nobody says anything",
            60 * 8,
            author="107",
        ),
        tweet(
            "8",
            "Globex Cloud has been down for two hours and nobody says anything",
            5,
            author="108",
        ),
        tweet("9", "a link to x itself https://x.com/acme/status/1 acme", 31, author="109"),
        tweet("10", "and another on x https://x.com/acme/status/1 acme!", 32, author="110"),
    )
    store = Store(config.database.url)
    first = incident_of(store, "1")[0]
    assert incident_of(store, "2") == (first, "same text as mention 1")
    similar_id, similar_reason = incident_of(store, "3")
    assert similar_id == first and similar_reason is not None
    assert similar_reason.startswith("similar in meaning (0.")
    assert incident_of(store, "5") == (
        incident_of(store, "4")[0],
        "shares the link technews.example.com/acme-outage with mention 4",
    )
    assert incident_of(store, "6")[0] not in (first, incident_of(store, "4")[0])
    assert incident_of(store, "7")[0] != first  # the same words eight hours later: a new incident
    assert incident_of(store, "8")[0] != first  # another brand's incident
    assert incident_of(store, "10")[0] != incident_of(store, "9")[0]  # links to X never group
    with store.session() as session:
        sizes = {i.id: i.size for i in session.execute(select(Incident)).scalars()}
    assert sizes[first] == 3


def test_url_normalization_drops_tracking_and_case() -> None:
    assert (
        normalize_url("HTTPS://WWW.Example.com/a/b/?utm_medium=x&id=3&fbclid=z#top")
        == "example.com/a/b?id=3"
    )
    assert normalize_url("ftp://example.com/file") is None
    assert normalize_url("not a url") is None


def test_near_duplicate_keys_are_the_same_in_every_process(config: Config) -> None:
    """The hyperplanes are seeded: a post hashes the same way in any worker, forever."""
    import numpy as np

    from harken import vectors

    vector = np.random.default_rng(1).standard_normal(384).astype(np.float32)
    vector /= np.linalg.norm(vector)
    mention = Mention(
        platform="x", external_id="1", text="acme is down", created_at=T0, author_id=1
    )
    c = Classification(
        mention_id=1,
        model="m",
        sentiment="neutral",
        complaint=0,
        abuse=0,
        risk=0,
        language="en",
        vector=vectors.pack(vector),
        vector_model="minilm",
    )
    keys = post_keys(mention, c, config.incidents)
    assert len(keys.similar) == 20
    assert keys.similar[:2] == ("sim:minilm:0:" + keys.similar[0].split(":")[-1], keys.similar[1])
    assert keys.similar == post_keys(mention, c, config.incidents).similar
    assert keys.post == keys.own == "post:x:1"


def test_alerts_are_per_incident_not_per_post(
    tmp_path: Path, config: Config, classifier: Any
) -> None:
    process(
        tmp_path,
        config,
        classifier,
        tweet("1", "the acme app is down and I can't log in since this morning", 0, author="101"),
        tweet(
            "2", "The Acme app is DOWN and I can't log in since this morning!!", 10, author="102"
        ),
    )
    with Store(config.database.url).session() as session:
        assert session.execute(select(func.count(Alert.id))).scalar_one() == 1
        items = session.execute(select(QueueItem)).scalars().all()
    assert [(i.department, i.mentions) for i in items] == [("engineering", 2)]


def test_a_closed_items_incident_opens_and_alerts_a_new_item(
    tmp_path: Path, config: Config, classifier: Any
) -> None:
    from harken.queue.actions import resolve

    first = process(tmp_path, config, classifier, tweet("1", "@acme the app is down, can't log in"))
    store = Store(config.database.url)
    with store.session() as session:
        (item_id,) = session.execute(select(QueueItem.id)).scalars().all()
    resolve(store, item_id, "aiko", "fixed")
    rt = "RT @user100: @acme the app is down, can't log in"
    later = tweet("2", rt, 90, author="101", referenced_tweets=[{"type": "retweeted", "id": "1"}])
    second = process(tmp_path, config, classifier, later)
    with store.session() as session:
        items = session.execute(select(QueueItem.status, QueueItem.incident_id)).all()
    assert sorted(items) == [("new", 1), ("resolved", 1)]
    assert len(first.delivered) == len(second.delivered) == 1  # the new item is alerted too


def test_a_link_longer_than_the_key_column_is_hashed() -> None:
    from harken.routing.incidents import MAX_URL_KEY, _url_key

    long = "news.example.com/" + "a-very-long-slug-" * 60
    key = _url_key(long)
    assert len(key) < 300 and key.startswith("url:news.example.com/#")
    assert key == _url_key(long) and len(long) > MAX_URL_KEY
