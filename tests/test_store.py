from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import func, select, text
from sqlmodel import SQLModel

from harken.errors import StoreError
from harken.records import AuthorRecord, MentionRecord
from harken.store import Store, repo
from harken.store.tables import Author, Mention


def record(external_id: str = "1", followers: int | None = 10) -> MentionRecord:
    return MentionRecord(
        platform="x",
        external_id=external_id,
        text="acme is down",
        created_at=datetime(2026, 11, 22, 9, 15, tzinfo=UTC) + timedelta(hours=9),
        author=AuthorRecord(platform="x", external_id="100", handle="kenji", followers=followers),
        metrics={"likes": 3},
        raw={"id": external_id},
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(f"sqlite:///{tmp_path / 'h.db'}")


def test_sqlite_runs_in_wal_mode_with_migrations_applied(store: Store) -> None:
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert (
            connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == "0005"
        )


def test_migrations_match_the_models(store: Store) -> None:
    with store.engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), SQLModel.metadata)
    assert diff == []


def test_insert_is_idempotent_and_keeps_ids_as_strings(store: Store) -> None:
    big_id = "1860000000000000001"
    for _ in range(2):
        with store.session() as session:
            author_id = repo.upsert_author(session, record().author)
            repo.insert_mention(session, record(big_id), author_id, "Acme", "test")
    with store.session() as session:
        assert session.execute(select(func.count(Mention.id))).scalar_one() == 1
        assert session.execute(select(func.count(Author.id))).scalar_one() == 1
        mention = session.execute(select(Mention)).scalar_one()
    assert mention.external_id == big_id
    assert mention.likes == 3 and mention.raw == {"id": big_id}


def test_timestamps_come_back_timezone_aware_utc(store: Store) -> None:
    with store.session() as session:
        author_id = repo.upsert_author(session, record().author)
        repo.insert_mention(session, record(), author_id, None, "test")
    with store.session() as session:
        mention = session.execute(select(Mention)).scalar_one()
    assert mention.created_at == datetime(2026, 11, 22, 18, 15, tzinfo=UTC)
    assert mention.created_at.tzinfo is UTC


def test_author_refresh_keeps_known_followers(store: Store) -> None:
    with store.session() as session:
        repo.upsert_author(session, record(followers=500).author)
        repo.upsert_author(session, record(followers=None).author)
    with store.session() as session:
        assert session.execute(select(Author.followers)).scalar_one() == 500


def test_locked_database_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harken.store.db as db

    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "locked.db"
    store = Store(f"sqlite:///{path}")
    holder = sqlite3.connect(path)
    holder.execute("BEGIN IMMEDIATE")  # another process is writing
    try:
        with pytest.raises(StoreError, match="is locked by another process"), store.session() as s:
            repo.upsert_author(s, record().author)
    finally:
        holder.rollback()
        holder.close()
    with store.session() as session:  # nothing half-written was left behind
        assert session.execute(select(func.count(Author.id))).scalar_one() == 0


def test_bad_urls_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="is not a database URL"):
        Store("not a url")
    with pytest.raises(StoreError, match="does not exist"):
        Store(f"sqlite:///{tmp_path}/no/such/dir/h.db")


def test_0004_backfills_incidents_routed_before_it(tmp_path: Path) -> None:
    """A store routed by 0003's code: after the upgrade a retweet of an old post still joins
    the old post's incident."""
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import create_engine

    from harken.config import IncidentsConfig
    from harken.routing.incidents import assign
    from harken.store.db import migrations_dir
    from harken.store.tables import Classification, Incident, IncidentKey

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", migrations_dir())
    when = "2026-11-22 09:15:00.000000"
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0003")
        for statement in (
            "INSERT INTO authors (id, platform, external_id, handle, verified, first_seen,"
            f" updated_at) VALUES (1, 'x', '100', 'kenji', 0, '{when}', '{when}')",
            "INSERT INTO mentions (id, platform, external_id, brand, text, created_at,"
            " collected_at, author_id, metrics, source, raw) VALUES (1, 'x', '1', 'Acme',"
            f" 'acme is down', '{when}', '{when}', 1, '{{}}', 't', '{{}}')",
            "INSERT INTO classifications (id, mention_id, model, sentiment, sentiment_scores,"
            " complaint, abuse, risk, risk_factors, topics, language, created_at) VALUES"
            f" (1, 1, 'm', 'negative', '{{}}', 0.9, 0.0, 0.7, '[]', '[]', 'en', '{when}')",
            "INSERT INTO incidents (id, brand, key, first_seen, last_seen, size, top_mention_id,"
            f" status) VALUES (1, 'Acme', 'x:1', '{when}', '{when}', 1, 1, 'open')",
            "INSERT INTO queue_items (id, mention_id, incident_id, department, status, priority,"
            f" reason, due_at, created_at, updated_at) VALUES (1, 1, 1, 'support', 'new',"
            f" 'normal', 'r', '{when}', '{when}', '{when}')",
        ):
            connection.execute(text(statement))
    engine.dispose()
    store = Store(url)  # migrates to head
    with store.session() as session:
        old = session.get(Mention, 1)
        incident = session.get(Incident, 1)
        assert old is not None and incident is not None
        assert old.incident_id == 1 and incident.key == "post:x:1" and incident.top_risk == 0.7
        assert session.execute(select(IncidentKey.key)).scalars().all() == ["post:x:1"]
        retweet = Mention(
            platform="x", external_id="2", brand="Acme", text="RT @kenji: acme is down",
            created_at=datetime(2026, 12, 1, tzinfo=UTC), author_id=1, ref_kind="retweet",
            ref_external_id="1",
        )  # fmt: skip
        session.add(retweet)
        session.flush()
        c = Classification(
            mention_id=retweet.id, model="m", sentiment="negative", complaint=0.9, abuse=0,
            risk=0.5, language="en",
        )  # fmt: skip
        joined = assign(session, retweet, c, IncidentsConfig())
    assert (joined.incident.id, joined.reason, joined.created) == (1, "retweet of x:1", False)
