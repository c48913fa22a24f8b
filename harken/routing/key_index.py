"""A route batch's incident keys, read in a few statements and kept in memory.

Each post looks its keys up (``harken.routing.incidents``): the post it repeats at any time,
its copy, link and meaning-band keys within the incidents window. Two statements a post, each
compiling a list of 20-odd keys, were a third of the route stage. The batch now reads the keys
of all its posts at once (per brand: the first row of each referenced post, every row of the
other keys within the batch's span plus the window), answers each post from memory exactly as
the statements did (latest first, ``MAX_ROWS`` at most), and adds the keys each post brings,
so a later post of the batch finds them; they are written in one executemany before the batch
commits (``write``). Only the router writes incident keys, one router at a time per database
(``serial_session``), so memory and table cannot drift apart within a batch.
"""

from __future__ import annotations

import bisect
import heapq
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, insert, select
from sqlmodel import Session

from harken.store.tables import IncidentKey

MAX_ROWS = 2000  # key rows a post reads: enough for any candidate set, bounded on hot keys
CHUNK = 500  # keys per statement: far below every database's limit on bound parameters

KeyRow = tuple[str, int, int]  # key, incident id, member mention id
# (seen_at, row id, incident id, member mention id): ordered as the rows are ranked.
_Row = tuple[datetime, int, int, int]


@dataclass(frozen=True)
class Wanted:
    """What one post will look up: its referenced post's key, and its other keys between
    ``low`` and ``high``."""

    brand: str
    post: str
    others: tuple[str, ...]
    low: datetime
    high: datetime


class KeyIndex:
    def __init__(self) -> None:
        self._first: dict[tuple[str, str], KeyRow | None] = {}  # a post key's first row
        self._rows: dict[tuple[str, str], list[_Row]] = {}  # sorted by (seen_at, id)
        self._span: dict[tuple[str, str], tuple[datetime, datetime]] = {}  # what _rows holds
        self._first_added: dict[tuple[str, str], KeyRow] = {}  # the batch's own first rows
        self._pending: list[dict[str, Any]] = []
        self._added = 0  # rows this batch added: ranked after every stored row, in order
        self._written = 0  # how many of them ``write`` has put in the table

    def load(self, session: Session, wanted: Sequence[Wanted]) -> None:
        """Read, per brand, what these posts will look up: a few statements for the batch."""
        by_brand: dict[str, list[Wanted]] = {}
        for w in wanted:
            by_brand.setdefault(w.brand, []).append(w)
        for brand, posts in by_brand.items():
            self._load_first(session, brand, {w.post for w in posts})
            low, high = min(w.low for w in posts), max(w.high for w in posts)
            keys = {k for w in posts for k in w.others}
            self._load_rows(session, brand, keys, low, high)

    def first(self, session: Session, brand: str, key: str) -> KeyRow | None:
        """The first row recorded for ``key``, at any time."""
        if (brand, key) not in self._first:
            self._load_first(session, brand, {key})
        return self._first[(brand, key)]

    def rows(
        self, session: Session, brand: str, keys: Iterable[str], low: datetime, high: datetime
    ) -> list[KeyRow]:
        """The rows of ``keys`` seen between ``low`` and ``high``, latest first (the row id
        breaks ties), ``MAX_ROWS`` at most."""
        keys = list(dict.fromkeys(keys))
        missing = {k for k in keys if not self._holds(brand, k, low, high)}
        if missing:  # a post that ``load`` was not told of
            self._load_rows(session, brand, missing, low, high)
        found: list[tuple[datetime, int, int, int, str]] = []
        for key in keys:
            stored = self._rows.get((brand, key), [])
            end = bisect.bisect_right(stored, (high, _AFTER_ALL))
            # A hot key (a copy-paste campaign) can hold far more rows than a post reads: only
            # its latest MAX_ROWS in the span can be among the post's latest MAX_ROWS.
            start = max(bisect.bisect_left(stored, (low,)), end - MAX_ROWS)
            found += [(at, row_id, incident, member, key)
                      for at, row_id, incident, member in stored[start:end]]  # fmt: skip
        top = heapq.nlargest(MAX_ROWS, found) if len(found) > MAX_ROWS else sorted(found)[::-1]
        return [(key, incident, member) for _, _, incident, member, key in top]

    def add(
        self, brand: str, keys: Iterable[str], incident_id: int, mention_id: int, at: datetime
    ) -> None:
        """Record a post's keys: in memory at once, in the table at ``write``."""
        for key in dict.fromkeys(keys):
            self._added += 1
            row: _Row = (at, _AFTER_STORED + self._added, incident_id, mention_id)
            first = (key, incident_id, mention_id)
            self._first_added.setdefault((brand, key), first)
            if (brand, key) in self._first and self._first[(brand, key)] is None:
                self._first[(brand, key)] = first  # none stored: this batch's is the first
            bisect.insort(self._rows.setdefault((brand, key), []), row)
            self._pending.append(
                {
                    "brand": brand,
                    "key": key,
                    "incident_id": incident_id,
                    "mention_id": mention_id,
                    "seen_at": at,
                }
            )

    def moved(self, session: Session, old: int, new: int) -> None:
        """Incident ``old`` was merged into ``new`` (storm_merge): its rows, stored and this
        batch's, now name ``new``."""
        t = IncidentKey.__table__  # type: ignore[attr-defined]
        session.connection().execute(
            t.update().where(t.c.incident_id == old).values(incident_id=new)
        )

        def fix(row: KeyRow | None) -> KeyRow | None:
            return row if row is None or row[1] != old else (row[0], new, row[2])

        self._first = {k: fix(r) for k, r in self._first.items()}
        self._first_added = {k: fix(r) or r for k, r in self._first_added.items()}
        for key, rows in self._rows.items():
            self._rows[key] = [(at, i, new if inc == old else inc, m) for at, i, inc, m in rows]
        for pending in self._pending:
            if pending["incident_id"] == old:
                pending["incident_id"] = new

    def write(self, session: Session) -> None:
        """Insert the rows this batch added, in one executemany, in the order they came."""
        if self._pending:
            session.connection().execute(_insert(), self._pending)
            self._pending = []
            self._written = self._added  # a later read finds them in the table

    def _load_first(self, session: Session, brand: str, keys: set[str]) -> None:
        keys = {k for k in keys if (brand, k) not in self._first}
        for chunk in _chunks(sorted(keys)):
            params = {"brand": brand, "keys": chunk}
            found = {k: (k, i, m) for k, i, m in session.connection().execute(_first(), params)}
            for key in chunk:  # a stored row is older than any the batch added
                self._first[(brand, key)] = found.get(key) or self._first_added.get((brand, key))

    def _holds(self, brand: str, key: str, low: datetime, high: datetime) -> bool:
        span = self._span.get((brand, key))
        return span is not None and span[0] <= low and high <= span[1]

    def _load_rows(
        self, session: Session, brand: str, keys: set[str], low: datetime, high: datetime
    ) -> None:
        """Every row of ``keys`` between ``low`` and ``high`` (and what they held before),
        merged with the batch's own."""
        for key in keys:
            span = self._span.get((brand, key))
            if span is not None:
                low, high = min(low, span[0]), max(high, span[1])
        fresh: dict[str, list[_Row]] = {key: [] for key in keys}
        for chunk in _chunks(sorted(keys)):
            params = {"brand": brand, "keys": chunk, "low": low, "high": high}
            for key, seen, row_id, incident, member in session.connection().execute(
                _window(), params
            ):
                fresh[key].append((seen, row_id, incident, member))
        for key, rows in fresh.items():
            unwritten = _AFTER_STORED + self._written
            added = [r for r in self._rows.get((brand, key), []) if r[1] > unwritten]
            self._rows[(brand, key)] = sorted(rows + added)
            self._span[(brand, key)] = (low, high)


# Rows added in the batch rank after every stored row of the same second, as their ids will.
_AFTER_STORED = 1 << 62
_AFTER_ALL = 1 << 63


def _chunks(keys: list[str]) -> Iterable[list[str]]:
    for start in range(0, len(keys), CHUNK):
        yield keys[start : start + CHUNK]


# Built once and executed with parameters: SQLAlchemy then compiles each statement once.


@cache
def _first() -> Any:
    t = IncidentKey.__table__  # type: ignore[attr-defined]
    firsts = (
        select(func.min(t.c.id))
        .where(t.c.brand == bindparam("brand"), t.c.key.in_(bindparam("keys", expanding=True)))
        .group_by(t.c.key)
    )
    return select(t.c.key, t.c.incident_id, t.c.mention_id).where(t.c.id.in_(firsts))


@cache
def _window() -> Any:
    t = IncidentKey.__table__  # type: ignore[attr-defined]
    return select(t.c.key, t.c.seen_at, t.c.id, t.c.incident_id, t.c.mention_id).where(
        t.c.brand == bindparam("brand"),
        t.c.key.in_(bindparam("keys", expanding=True)),
        t.c.seen_at.between(bindparam("low"), bindparam("high")),
    )


@cache
def _insert() -> Any:
    return insert(IncidentKey)
