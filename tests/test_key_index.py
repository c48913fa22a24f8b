"""The route batch's in-memory incident keys (harken.routing.key_index) answer every lookup as
the per-post statements they replaced did: the same rows, in the same order, at the same limit,
before and after the batch's own keys are written; on both backends."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select
from sqlmodel import Session

from harken.routing.key_index import MAX_ROWS, KeyIndex, Wanted
from harken.store import Store
from harken.store.tables import Author, Incident, IncidentKey, Mention

T0 = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
KEYS = [f"sim:minilm:{band}:{code}" for band in range(4) for code in range(3)] + ["url:a.com/x"]
HOT = "copy:hot"  # more rows in a window than a post reads


def _fill(store: Store, rng: random.Random) -> None:
    with store.session() as session:
        session.add(Author(id=1, platform="x", external_id="1", handle="a"))
        session.flush()
        for i in range(1, 41):
            session.add(Mention(id=i, platform="x", external_id=str(i), brand="Acme", text="t",
                                created_at=T0, author_id=1))  # fmt: skip
        session.flush()
        for i in range(1, 6):
            session.add(Incident(id=i, brand="Acme", key=f"k{i}", first_seen=T0, last_seen=T0))
        session.flush()
        rows: list[dict[str, Any]] = []
        for n in range(3000):
            key = HOT if n < 2400 else rng.choice(KEYS)
            # Whole minutes: many rows share their second, so the id must break the ties.
            seen = T0 + timedelta(minutes=rng.randrange(-600, 600))
            for brand in ("Acme", "Globex") if n % 7 == 0 else ("Acme",):
                rows.append({"brand": brand, "key": key, "incident_id": rng.randrange(1, 6),
                             "mention_id": rng.randrange(1, 41), "seen_at": seen})  # fmt: skip
        session.execute(insert(IncidentKey), rows)
        session.commit()


def _stored_rows(
    session: Session,
    brand: str,
    keys: list[str],
    low: datetime,
    high: datetime,
    upto_id: int | None = None,
) -> list[tuple[str, int, int]]:
    """The statement the index replaced, run as it was (on the rows up to ``upto_id``)."""
    t = IncidentKey.__table__  # type: ignore[attr-defined]
    query = (
        select(t.c.key, t.c.incident_id, t.c.mention_id)
        .where(t.c.brand == brand, t.c.key.in_(keys), t.c.seen_at.between(low, high))
        .order_by(t.c.seen_at.desc(), t.c.id.desc())
        .limit(MAX_ROWS)
    )
    if upto_id is not None:
        query = query.where(t.c.id <= upto_id)
    return [tuple(r) for r in session.execute(query)]  # type: ignore[misc]


def _stored_first(session: Session, brand: str, key: str) -> tuple[str, int, int] | None:
    t = IncidentKey.__table__  # type: ignore[attr-defined]
    query = (
        select(t.c.key, t.c.incident_id, t.c.mention_id)
        .where(t.c.brand == brand, t.c.key == key)
        .order_by(t.c.id)
        .limit(1)
    )
    found = session.execute(query).first()
    return None if found is None else tuple(found)  # type: ignore[return-value]


def _posts(rng: random.Random, n: int) -> list[tuple[datetime, list[str]]]:
    posts = []
    for _ in range(n):
        at = T0 + timedelta(minutes=rng.randrange(-300, 300))
        keys = rng.sample(KEYS, 5) + ([HOT] if rng.random() < 0.5 else [])
        posts.append((at, keys))
    return posts


def test_lookups_match_the_statements_before_and_after_the_batch_writes(store: Store) -> None:
    rng = random.Random(23)
    _fill(store, rng)
    window = timedelta(hours=10)
    posts = _posts(rng, 30)
    with store.session() as session:
        stored_ids = session.execute(select(func.max(IncidentKey.id))).scalar_one()
        index = KeyIndex()
        index.load(session, [Wanted("Acme", keys[0], tuple(keys[1:]), at - window, at + window)
                             for at, keys in posts])  # fmt: skip
        lazy = KeyIndex()  # told nothing: it reads what each lookup needs
        before, after = [], []  # each post's answers before and after it added its keys
        for i, (at, keys) in enumerate(posts):
            low, high = at - window, at + window
            # Another brand's keys: the batch added none, the table answers as the index.
            expected = _stored_rows(session, "Globex", keys, low, high)
            assert index.rows(session, "Globex", keys, low, high) == expected
            assert lazy.rows(session, "Globex", keys, low, high) == expected
            first = _stored_first(session, "Globex", keys[0])
            assert index.first(session, "Globex", keys[0]) == lazy.first(session, "Globex", keys[0])
            assert index.first(session, "Globex", keys[0]) == first
            new = f"url:new/{i % 4}"
            before.append(index.rows(session, "Acme", [*keys, new], low, high))
            assert lazy.rows(session, "Acme", [*keys, new], low, high) == before[-1]
            # The post brings three keys (one new, two known) at its own time.
            for keeper in (index, lazy):
                keeper.add("Acme", [*keys[:2], new], 1 + i % 5, 1 + i % 40, at)
            after.append(index.rows(session, "Acme", [*keys, new], low, high))
            assert lazy.rows(session, "Acme", [*keys, new], low, high) == after[-1]
            assert index.first(session, "Acme", new) == lazy.first(session, "Acme", new)
            assert index.first(session, "Acme", new) == (new, 1 + i % 5, 1 + i % 40) or i >= 4
        index.write(session)
        session.commit()
    assert any(len(a) == MAX_ROWS for a in after) and any(len(a) < MAX_ROWS for a in after)
    with store.session() as session:
        for i, (at, keys) in enumerate(posts):
            # The statement on the table as far as the batch had written (three rows a post).
            query = [*keys, f"url:new/{i % 4}"]
            low, high = at - window, at + window
            assert _stored_rows(session, "Acme", query, low, high, stored_ids + 3 * i) == before[i]
            assert (
                _stored_rows(session, "Acme", query, low, high, stored_ids + 3 * i + 3)
                == (after[i])
            )
            assert index.first(session, "Acme", keys[0]) == _stored_first(session, "Acme", keys[0])


def test_a_hot_key_is_read_at_its_limit_latest_first(store: Store) -> None:
    rng = random.Random(5)
    _fill(store, rng)
    with store.session() as session:
        index = KeyIndex()
        low, high = T0 - timedelta(hours=10), T0 + timedelta(hours=10)
        rows = index.rows(session, "Acme", [HOT, *KEYS], low, high)
        assert len(rows) == MAX_ROWS
        assert rows == _stored_rows(session, "Acme", [HOT, *KEYS], low, high)


def test_a_row_written_mid_session_is_read_back_once(store: Store) -> None:
    """After ``write`` (a commit), a lookup over a wider span reads the row from the table:
    it must not also keep the copy it held in memory."""
    rng = random.Random(1)
    _fill(store, rng)
    with store.session() as session:
        index = KeyIndex()
        hour = timedelta(hours=1)
        assert index.rows(session, "Acme", ["url:only-once"], T0 - hour, T0 + hour) == []
        index.add("Acme", ["url:only-once"], 1, 1, T0)
        index.write(session)
        session.commit()
        found = index.rows(session, "Acme", ["url:only-once"], T0 - 3 * hour, T0 + 3 * hour)
        assert found == [("url:only-once", 1, 1)]


def test_a_brands_answer_routed_again_is_still_compared_by_meaning(store: Store) -> None:
    """A brand's reply stored with meaning keys (routed before it was known as the brand's)
    and routed again keys nothing by meaning itself, but a customer's post of the same batch
    that shares its bands must still be compared with its stored vector."""
    from harken.config import load_config
    from harken.pipeline.route import route_batch
    from harken.routing.incidents import _bands
    from harken.routing.items import AlertPlan, RouteResult
    from harken.routing.rules import Router
    from harken.store.tables import Classification
    from harken.vectors import pack, unpack

    config = load_config(
        overrides={
            "database": {"url": store.url},
            "brands": [{"name": "Acme", "keywords": ["acme"]}],
            "departments": [{"name": "support"}],
            "routing": {"default": "support"},
        },
        environ={},
    )
    gen = np.random.default_rng(1)
    first = gen.normal(size=384).astype(np.float32)
    first /= np.linalg.norm(first)
    second = first + 0.02 * gen.normal(size=384).astype(np.float32)
    with store.session() as session:
        session.add(Author(id=1, platform="x", external_id="a1", handle="acme"))
        session.add(Author(id=2, platform="x", external_id="a2", handle="kenji"))
        session.flush()
        session.add(Mention(id=1, platform="x", external_id="100", brand="Acme", created_at=T0,
                            text="we are looking into the login trouble right now", author_id=1,
                            ref_kind="reply", ref_external_id="99", flags=["own"]))  # fmt: skip
        session.add(Mention(id=2, platform="x", external_id="200", brand="Acme",
                            text="login to acme is broken for me since this morning",
                            created_at=T0 + timedelta(minutes=1), author_id=2))  # fmt: skip
        session.flush()
        for mention_id, vector in ((1, first), (2, second)):
            session.add(Classification(mention_id=mention_id, model="m", sentiment="neutral",
                                       complaint=0.1, abuse=0.0, risk=0.1, language="en",
                                       vector=pack(vector), vector_model="minilm"))  # fmt: skip
        incident = Incident(brand="Acme", key="post:x:100", first_seen=T0, last_seen=T0,
                            size=1, top_mention_id=1)  # fmt: skip
        session.add(incident)
        session.flush()  # an id from the sequence: the route stage's new incidents take the next
        assert incident.id is not None
        session.get(Mention, 1).incident_id = incident.id  # type: ignore[union-attr]
        bands = _bands(unpack(pack(first)), "minilm")  # type: ignore[arg-type]
        rows = [{"brand": "Acme", "key": k, "incident_id": incident.id, "mention_id": 1,
                 "seen_at": T0} for k in bands]  # fmt: skip
        session.execute(insert(IncidentKey), rows)
        session.commit()
    route_batch(store, config, Router(config.routing, config.topics), AlertPlan.of(config),
                RouteResult(), 200)  # fmt: skip
    with store.session() as session:
        joined = session.execute(select(Mention.incident_id, Mention.incident_reason)
                                 .where(Mention.id == 2)).one()  # fmt: skip
    assert joined[0] == incident.id and joined[1].startswith("similar in meaning"), joined
