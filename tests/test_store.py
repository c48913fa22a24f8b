from __future__ import annotations

import dataclasses
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import JSON, create_engine, func, inspect, select, text
from sqlmodel import SQLModel

from harken.errors import StoreError
from harken.records import AuthorRecord, MentionRecord
from harken.store import Store, repo
from harken.store.tables import Author, Mention
from tests.conftest import BACKENDS, pg_database


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


def head_revision() -> str | None:
    from alembic.script import ScriptDirectory

    from harken.store.db import migrations_dir

    return ScriptDirectory(migrations_dir()).get_current_head()


def test_a_database_at_head_is_opened_without_alembic_and_others_still_migrate(
    tmp_path: Path,
) -> None:
    """Opening a store reads alembic_version once and leaves Alembic out when it names the
    newest revision (found from the files' text: it must be Alembic's own head); an older
    database still migrates, and one a newer harken wrote still fails as Alembic says."""
    from harken.store import db

    assert db.head_revision() == head_revision()
    url = f"sqlite:///{tmp_path / 'h.db'}"
    Store(url).close()
    engine = create_engine(url)
    with engine.begin() as connection:  # as if an older harken had left it one revision behind
        connection.execute(text("DROP INDEX ix_alerts_incident"))
        connection.execute(text("DROP INDEX ix_incident_keys_incident"))
        connection.execute(text("UPDATE alembic_version SET version_num = '0017'"))
    Store(url).close()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            head_revision()
        )
        indexes = inspect(connection).get_indexes("alerts")
        assert "ix_alerts_incident" in {i["name"] for i in indexes}
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))
        connection.commit()
    engine.dispose()
    with pytest.raises(Exception, match="9999"):
        Store(url)


def test_sqlite_runs_in_wal_mode_with_migrations_applied(sqlite_url: str) -> None:
    store = Store(sqlite_url)
    with store.engine.connect() as connection:
        assert connection.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert connection.execute(text("SELECT version_num FROM alembic_version")).scalar() == (
            head_revision()
        )
    store.close()


def test_migrations_reach_head_on_an_empty_postgresql_database(pg_cluster: Any) -> None:
    """From nothing (not the test template), and a second open finds nothing to do."""
    with pg_database(pg_cluster, "template0") as url:
        for _ in range(2):
            store = Store(url)
            assert store.dialect == "postgresql"
            with store.engine.connect() as connection:
                version = connection.execute(text("SELECT version_num FROM alembic_version"))
                assert version.scalars().all() == [head_revision()]
            store.close()


def test_json_columns_are_jsonb_on_postgresql(pg_url: str) -> None:
    """jsonb, not json: json has no equality operator (DISTINCT, GROUP BY and UNION on a
    json column fail) and is reparsed on every read."""
    expected = {
        (table.name, column.name)
        for table in SQLModel.metadata.tables.values()
        for column in table.columns
        if isinstance(column.type, JSON)
    }
    assert ("mentions", "raw") in expected and ("alerts", "payload") in expected
    store = Store(pg_url)
    with store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT table_name, column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND data_type IN ('json', 'jsonb')"
            )
        ).all()
    store.close()
    assert {(t, c) for t, c, kind in rows if kind == "jsonb"} == expected
    assert [r for r in rows if r[2] == "json"] == []


def test_upserts_insert_once_and_refresh(store: Store) -> None:
    """The dialect's own ON CONFLICT: the same answers on both backends."""
    with store.session() as session:
        first = repo.upsert_author(session, record().author)
        assert repo.insert_mention(session, record("7"), first, "Acme", "test") is True
        assert repo.insert_mention(session, record("7"), first, "Acme", "again") is False
        renamed = AuthorRecord(
            platform="x", external_id="100", handle="kenji_t", followers=None, verified=True
        )
        assert repo.upsert_author(session, renamed) == first
        other = AuthorRecord(platform="reddit", external_id="100", handle="kenji")
        assert repo.upsert_author(session, other) != first
    with store.session() as session:
        author = session.get(Author, first)
        mention = session.execute(select(Mention)).scalar_one()
    assert author is not None
    assert (author.handle, author.followers, author.verified) == ("kenji_t", 10, True)
    assert author.updated_at >= author.first_seen
    assert (mention.source, mention.raw, mention.metrics) == ("test", {"id": "7"}, {"likes": 3})


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


def test_counts_beyond_32_bits_are_kept(store: Store) -> None:
    """PostgreSQL's INTEGER is 32-bit; views and followers can pass 2**31."""
    big = 5_000_000_000
    with store.session() as session:
        author_id = repo.upsert_author(session, record(followers=big).author)
        huge = dataclasses.replace(record("2"), metrics={"likes": big, "reposts": 2**63 - 1})
        repo.insert_mention(session, huge, author_id, "Acme", "test")
    with store.session() as session:
        mention = session.execute(select(Mention)).scalar_one()
        author = session.execute(select(Author)).scalar_one()
    assert (mention.likes, mention.reposts, author.followers) == (big, 2**63 - 1, big)


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


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database (no tables at all) on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
    else:
        with pg_database(request.getfixturevalue("pg_cluster"), "template0") as url:
            yield url


def test_0004_backfills_incidents_routed_before_it(empty_url: str) -> None:
    """A store routed by 0003's code: after the upgrade a retweet of an old post still joins
    the old post's incident."""
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import create_engine

    from harken.config import IncidentsConfig
    from harken.routing.incidents import assign
    from harken.store.db import migrations_dir
    from harken.store.tables import Classification, Incident, IncidentKey

    url = empty_url
    engine = create_engine(url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", migrations_dir())
    when = "2026-11-22 09:15:00.000000"
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0003")
        for statement in (
            # No explicit ids: each table's first row gets id 1 on either backend, and
            # PostgreSQL's sequences stay where the application's later inserts need them.
            "INSERT INTO authors (platform, external_id, handle, verified, first_seen,"
            f" updated_at) VALUES ('x', '100', 'kenji', FALSE, '{when}', '{when}')",
            "INSERT INTO mentions (platform, external_id, brand, text, created_at,"
            " collected_at, author_id, metrics, source, raw) VALUES ('x', '1', 'Acme',"
            f" 'acme is down', '{when}', '{when}', 1, '{{}}', 't', '{{}}')",
            "INSERT INTO classifications (mention_id, model, sentiment, sentiment_scores,"
            " complaint, abuse, risk, risk_factors, topics, language, created_at) VALUES"
            f" (1, 'm', 'negative', '{{}}', 0.9, 0.0, 0.7, '[]', '[]', 'en', '{when}')",
            "INSERT INTO incidents (brand, key, first_seen, last_seen, size, top_mention_id,"
            f" status) VALUES ('Acme', 'x:1', '{when}', '{when}', 1, 1, 'open')",
            "INSERT INTO queue_items (mention_id, incident_id, department, status, priority,"
            f" reason, due_at, created_at, updated_at) VALUES (1, 1, 'support', 'new',"
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


def test_a_page_of_mentions_is_committed_with_the_session_not_by_its_savepoint(
    tmp_path: Path,
) -> None:
    """pysqlite commits a savepoint opened outside a transaction when it is released: a page
    would be stored before (and without) its cursor."""
    import sqlite3
    from datetime import UTC, datetime

    from harken.brands import BrandDetector
    from harken.pipeline.ingest import store_records
    from harken.records import AuthorRecord, MentionRecord

    path = tmp_path / "h.db"
    store = Store(f"sqlite:///{path}")
    author = AuthorRecord(platform="x", external_id="1", handle="kenji")
    record = MentionRecord("x", "100", "acme is down", datetime(2026, 12, 6, tzinfo=UTC), author)
    other = sqlite3.connect(path)
    try:
        with store.session() as session:
            assert store_records(session, [record], BrandDetector([]), "t").stored == 1
            # released, not committed: another connection sees nothing yet
            assert other.execute("SELECT count(*) FROM mentions").fetchone() == (0,)
            session.rollback()  # a crash before the cursor: the page goes with it
        assert other.execute("SELECT count(*) FROM mentions").fetchone() == (0,)
    finally:
        other.close()
        store.close()
