"""The route stage keeps PostgreSQL's planner statistics up to date while its tables grow
(harken/store/statistics.py): with an empty table's statistics, the key lookup filtered every
row of the brand by key, 30 times slower than with fresh ones."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, text

from harken.store import Store
from harken.store.statistics import FIRST_ROWS, STALE_ROWS, analyze_if_stale
from harken.store.tables import Incident


def _last_analyzed(store: Store, table: str) -> datetime | None:
    with store.engine.connect() as conn:
        return conn.execute(
            text("SELECT last_analyze FROM pg_stat_user_tables WHERE relname = :t"), {"t": table}
        ).scalar()


@pytest.fixture(autouse=True)
def no_failure(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A failure is swallowed (logged once): an empty answer must not be one."""
    with caplog.at_level(logging.WARNING, logger="harken.store.statistics"):
        yield
    assert not caplog.records, caplog.text


def test_a_table_that_grew_is_analyzed_once(db_url: str) -> None:
    store = Store(db_url)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [{"brand": "acme", "key": f"post:x:{i}", "first_seen": now, "last_seen": now}
            for i in range(STALE_ROWS + 500)]  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(insert(Incident), rows)
        if store.dialect == "postgresql":  # the counters are written at this commit
            conn.execute(text("SELECT pg_stat_force_next_flush()"))
    if store.dialect != "postgresql":
        assert analyze_if_stale(store, ("incidents",)) == []  # SQLite plans without them
        return
    assert _last_analyzed(store, "incidents") is None
    assert analyze_if_stale(store, ("incidents", "alerts")) == ["incidents"]  # alerts: empty
    assert _last_analyzed(store, "incidents") is not None
    assert analyze_if_stale(store, ("incidents",)) == []  # fresh now: nothing to do


def test_a_table_never_analyzed_is_analyzed_from_a_few_rows(db_url: str) -> None:
    """The outbox's thread-root lookup scanned every alert once per alert while the alerts
    table had never been analyzed, long before it reached STALE_ROWS."""
    store = Store(db_url)
    now = datetime(2026, 12, 1, tzinfo=UTC)
    rows = [{"brand": "acme", "key": f"post:x:{i}", "first_seen": now, "last_seen": now}
            for i in range(FIRST_ROWS)]  # fmt: skip
    with store.engine.begin() as conn:
        conn.execute(insert(Incident), rows[:-1])
        if store.dialect == "postgresql":
            conn.execute(text("SELECT pg_stat_force_next_flush()"))
    assert analyze_if_stale(store, ("incidents",)) == []  # one row short
    with store.engine.begin() as conn:
        conn.execute(insert(Incident), rows[-1:])
        if store.dialect == "postgresql":
            conn.execute(text("SELECT pg_stat_force_next_flush()"))
    analyzed = analyze_if_stale(store, ("incidents",))
    assert analyzed == (["incidents"] if store.dialect == "postgresql" else [])
