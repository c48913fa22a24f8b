"""bench/make_store.py: a small generated store holds together (counts, keys, times, config)."""

from __future__ import annotations

import contextlib
import importlib.util
import io
import re
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import func, select

from harken.config import load_config
from harken.reports.summary import summary
from harken.store import Store
from harken.store.tables import (
    Alert,
    Author,
    Classification,
    Incident,
    Mention,
    QueueEvent,
    QueueItem,
    Spike,
)

ROOT = Path(__file__).resolve().parents[1]
END = datetime(2026, 12, 1, tzinfo=UTC)
N = 3000
TABLES = {
    "authors": Author,
    "mentions": Mention,
    "classifications": Classification,
    "incidents": Incident,
    "spikes": Spike,
    "queue_items": QueueItem,
    "queue_events": QueueEvent,
    "alerts": Alert,
}


def load_generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_store", ROOT / "bench" / "make_store.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while being built
    spec.loader.exec_module(module)
    return module


def generate(generator: ModuleType, db: Path, *extra: str) -> tuple[int, str]:
    out = io.StringIO()
    argv = ["--db", f"sqlite:///{db}", "--mentions", str(N), "--days", "30", "--seed", "3"]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        code = generator.main([*argv, "--end", END.isoformat(), *extra])
    return code, out.getvalue()


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    generator = load_generator()
    db = tmp_path_factory.mktemp("bench") / "store.db"
    code, printed = generate(generator, db)
    assert code == 0, printed
    return {"generator": generator, "db": db, "printed": printed}


@pytest.fixture
def store(made: dict[str, Any]):  # type: ignore[no-untyped-def]
    opened = Store(f"sqlite:///{made['db']}")
    yield opened
    opened.close()


def count(store: Store, model: Any) -> int:
    with store.session() as s:
        return int(s.execute(select(func.count()).select_from(model)).scalar_one())


def test_counts_match_the_summary_line(made: dict[str, Any], store: Store) -> None:
    printed = dict(
        (name, int(number.replace(",", "")))
        for name, number in re.findall(r"([a-z_]+) ([\d,]+)(?= ·)", made["printed"])
    )
    assert set(printed) == set(TABLES)
    for name, model in TABLES.items():
        assert count(store, model) == printed[name], name
    assert printed["mentions"] == printed["classifications"] == N
    assert N // 8 < printed["authors"] <= N // 5
    assert 3 <= printed["spikes"] <= 5


def test_keys_hold_together(store: Store) -> None:
    with store.session() as s:
        unclassified = s.execute(
            select(func.count())
            .select_from(Mention)
            .outerjoin(Classification, Classification.mention_id == Mention.id)
            .where(Classification.id.is_(None))  # type: ignore[union-attr]
        ).scalar_one()
        assert unclassified == 0
        mention_ids = set(s.execute(select(Mention.id)).scalars())
        author_ids = set(s.execute(select(Author.id)).scalars())
        incidents = {i.id: i for i in s.execute(select(Incident)).scalars()}
        items = list(s.execute(select(QueueItem)).scalars())
        members = dict(
            s.execute(select(Mention.incident_id, func.count()).group_by(Mention.incident_id)).all()
        )
        assert set(s.execute(select(Mention.author_id)).scalars()) <= author_ids
        assert None not in members  # every routed mention has its incident, as routing gives
        assert {i: inc.size for i, inc in incidents.items()} == members
        tops = dict(s.execute(select(Mention.id, Mention.incident_id)).all())
        assert all(tops[inc.top_mention_id] == inc.id for inc in incidents.values())
        assert {item.mention_id for item in items} <= mention_ids
        assert {item.incident_id for item in items} <= set(incidents)
        assert len({(item.mention_id, item.department) for item in items}) == len(items)
        events = set(s.execute(select(QueueEvent.queue_item_id)).scalars())
        assert events == {item.id for item in items}
        alerts = list(s.execute(select(Alert)).scalars())
        assert {a.queue_item_id for a in alerts if a.queue_item_id} <= {i.id for i in items}
        spikes = list(s.execute(select(Spike)).scalars())
        assert {a.spike_id for a in alerts if a.kind == "spike"} == {sp.id for sp in spikes}


def test_the_mix_is_what_reports_need(store: Store) -> None:
    with store.session() as s:
        in_cascades = s.execute(
            select(func.count())
            .select_from(Mention)
            .join(Incident, Incident.id == Mention.incident_id)
            .where(Incident.size >= 2)
        ).scalar_one()
        queued = s.execute(select(func.count(func.distinct(QueueItem.mention_id)))).scalar_one()
        japanese = s.execute(
            select(func.count()).select_from(Mention).where(Mention.language == "ja")
        ).scalar_one()
        by_platform = select(Mention.platform, func.count()).group_by(Mention.platform)
        platforms = dict(s.execute(by_platform).all())
        brands = dict(s.execute(select(Mention.brand, func.count()).group_by(Mention.brand)).all())
        statuses = set(s.execute(select(QueueItem.status)).scalars())
        late = s.execute(
            select(func.count()).where(QueueItem.responded_at > QueueItem.due_at)  # type: ignore[operator]
        ).scalar_one()
        spikes = list(s.execute(select(Spike)).scalars())
    assert 0.3 * N < in_cascades < 0.5 * N
    assert 0.1 * N < queued < 0.2 * N
    assert 0.1 * N < japanese < 0.2 * N
    assert set(platforms) == {"x", "reddit", "bluesky", "mastodon", "rss"}
    assert platforms["x"] == max(platforms.values())
    assert brands["Acme"] > brands["Globex"] > brands["Initech"]
    assert {"new", "responded", "resolved", "dismissed"} <= statuses
    assert late > 0
    assert all(sp.brand == "Acme" and sp.series == "volume" and sp.ratio >= 3 for sp in spikes)


def test_times_are_aware_ordered_and_in_the_window(made: dict[str, Any], store: Store) -> None:
    config = load_config(made["db"].parent / "store.db.config.yaml", environ={})
    start = END - timedelta(days=30)
    with store.session() as s:
        mentions = list(s.execute(select(Mention)).scalars())
        items = list(s.execute(select(QueueItem)).scalars())
    for m in mentions:
        assert m.created_at.tzinfo is not None and m.routed_at is not None
        assert start <= m.created_at <= m.collected_at <= m.routed_at <= END
    routed = {m.id: m.routed_at for m in mentions}
    for item in items:
        assert item.created_at == routed[item.mention_id]  # the digest relies on it
        sla = config.department(item.department).sla_for(item.priority)
        assert item.due_at == item.created_at + sla
        stamps = [item.claimed_at, item.responded_at, item.closed_at, item.escalated_at]
        assert all(t is None or item.created_at <= t <= END for t in stamps)
        if item.claimed_at and item.responded_at:
            assert item.claimed_at <= item.responded_at
        assert (item.closed_at is not None) == (item.status in ("resolved", "dismissed"))
        assert (item.claimed_at is None) == (item.assignee is None)


def test_the_config_loads_and_reports_run(made: dict[str, Any], store: Store) -> None:
    config = load_config(made["db"].parent / "store.db.config.yaml", environ={})
    assert Path(config.database.url.removeprefix("sqlite:///")) == made["db"]
    assert [b.name for b in config.brands] == ["Acme", "Globex", "Initech"]
    assert config.brands[0].competitors == ["Globex", "Initech"]
    departments = {d.name for d in config.departments}
    assert departments == {"support", "engineering", "billing", "pr", "legal"}
    assert {"outage", "billing", "login", "shipping", "praise"} <= set(config.topics)
    week = summary(store, END - timedelta(days=7), END)
    assert week.mentions > N / 10 and week.complaints > 0
    assert len(week.queues) == 5


def test_refuses_a_filled_store_and_replace_gives_the_same_store(
    made: dict[str, Any], store: Store
) -> None:
    with store.session() as s:
        before = s.execute(select(Mention.external_id, Mention.text).order_by(Mention.id)).all()
    store.close()
    code, _ = generate(made["generator"], made["db"])
    assert code == 2
    code, _ = generate(made["generator"], made["db"], "--replace")
    assert code == 0
    with store.session() as s:
        after = s.execute(select(Mention.external_id, Mention.text).order_by(Mention.id)).all()
    assert after == before
