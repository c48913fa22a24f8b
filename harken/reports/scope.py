"""What a report or an export covers (a time window, brands, platforms), and a fast way to
read the store into pandas.

Every report and export takes a ``Scope``: mentions posted in ``[since, until)``, optionally of
one brand and some platforms. ``read_frame`` runs a query and hands back a DataFrame without
SQLAlchemy's per-row type processing (a million rows would spend seconds there): timestamps
come back as the driver's raw values and are parsed once, vectorised, into UTC.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import ColumnElement, Select, type_coerce
from sqlalchemy.types import NullType
from sqlmodel import col

from harken.config import MAX_DURATION, Config, looks_like_duration, parse_duration
from harken.config.schema import PLATFORM_NAMES
from harken.errors import InputError
from harken.store import Store
from harken.store.complaints import not_own
from harken.store.tables import Mention

CHUNK_ROWS = 50_000  # rows fetched at a time by ``iter_frames`` (exports stream in chunks)
# Older than any post; far enough from year 1 that windows around it stay on the calendar.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Scope:
    since: datetime
    until: datetime
    brand: str | None = None
    platforms: tuple[str, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ValueError("a scope's times must be timezone-aware")

    def mention_filters(self) -> list[ColumnElement[bool]]:
        """WHERE clauses that keep the scope's mentions (``Mention`` must be in the query)."""
        filters = [col(Mention.created_at) >= self.since, col(Mention.created_at) < self.until]
        if self.brand:
            filters.append(col(Mention.brand) == self.brand)
        if self.platforms:
            filters.append(col(Mention.platform).in_(self.platforms))
        return filters

    def said_filters(self) -> list[ColumnElement[bool]]:
        """``mention_filters`` less the brand's own posts (flag ``own``): what people say
        about the brand, which the counts of mentions report (its queue items keep theirs)."""
        return [*self.mention_filters(), not_own()]

    def previous(self) -> Scope:
        """The window of the same length just before this one (for "rising" comparisons)."""
        length = self.until - self.since
        return Scope(self.since - length, self.since, self.brand, self.platforms)

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "brand": self.brand,
            "platforms": list(self.platforms),
        }

    def describe(self) -> str:
        """One line for table headers: the window, then brand and platforms if set."""
        text = f"{self.since:%Y-%m-%d %H:%M} → {self.until:%Y-%m-%d %H:%M} UTC"
        if self.brand:
            text += f" · brand {self.brand}"
        if self.platforms:
            text += f" · {', '.join(self.platforms)}"
        return text


def parse_when(value: str, now: datetime | None = None) -> datetime:
    """A duration back from ``now`` (24h, 7d) or an ISO date; ValueError saying what works."""
    now = now or datetime.now(UTC)
    if looks_like_duration(value):
        return now - parse_duration(value)  # ValueError with the reason
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("use a duration (24h, 7d) or a date (2026-11-01)") from None
    # Reports print their window in UTC: a time given with another offset is converted (an
    # offset kept would print "12:00 UTC" for 12:00+09:00, which is 03:00 UTC).
    parsed = parsed.astimezone(UTC) if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    if not EARLIEST <= parsed <= now + MAX_DURATION:
        raise ValueError(f"use a date from {EARLIEST:%Y-%m-%d} to 100 years from now")
    return parsed


def scope_for(
    config: Config,
    since: str,
    until: str | None,
    brand: str | None,
    platforms: Sequence[str] | None,
    now: datetime | None = None,
) -> Scope:
    """The scope every face builds from what a person typed (``--since 7d -p x,reddit``, a
    dashboard's query string). ValueError for a window that does not parse or is empty;
    InputError for a brand or platform that is not known (never an empty report)."""
    now = now or datetime.now(UTC)
    start = parse_when(since, now)
    end = parse_when(until, now) if until else now
    if end <= start:
        raise ValueError("--until must be after --since")
    if brand is not None and brand not in {b.name for b in config.brands}:
        known = ", ".join(b.name for b in config.brands) or "none configured"
        raise InputError(f"unknown brand {brand!r}", hint=f"brands: {known}")
    chosen = sorted({p.strip().lower() for v in platforms or [] for p in v.split(",") if p.strip()})
    for platform in chosen:
        if platform not in PLATFORM_NAMES:
            raise InputError(
                f"unknown platform {platform[:40]!r}", hint="one of: " + ", ".join(PLATFORM_NAMES)
            )
    return Scope(start, end, brand, tuple(chosen))


def raw(column: Any, name: str | None = None) -> Any:
    """A column whose value comes back exactly as the driver returns it (no type processing).
    Timestamps among them must be listed in ``read_frame(dates=...)``."""
    label = name or getattr(column, "key", None) or getattr(column, "name", None)
    return type_coerce(column, NullType()).label(label)


def read_frame(
    store: Store, statement: Select[Any], dates: Sequence[str] = (), columns: Sequence[str] = ()
) -> pd.DataFrame:
    """All rows of ``statement`` as a DataFrame; ``dates`` columns parsed to UTC timestamps."""
    frames = list(iter_frames(store, statement, dates, columns, chunk=None))
    return frames[0]


def iter_frames(
    store: Store,
    statement: Select[Any],
    dates: Sequence[str] = (),
    columns: Sequence[str] = (),
    chunk: int | None = CHUNK_ROWS,
) -> Iterator[pd.DataFrame]:
    """The rows of ``statement`` in DataFrames of ``chunk`` rows (one frame when ``chunk`` is
    None; always at least one frame, possibly empty, so callers see the columns)."""
    if chunk is not None:
        # Without yield_per the session buffers every row before handing back the first.
        statement = statement.execution_options(yield_per=chunk)
    with store.session() as session:
        # Core execution, not the ORM's: no per-row entity loading for plain columns.
        result = session.connection().execute(statement)
        names = list(columns) or list(result.keys())
        # Read whole (reports): rows straight from the driver's cursor, plain tuples, no Row
        # objects (a third of the time on a million rows). Safe because every column read
        # here is raw() or a type the driver already returns as Python wants it. In chunks
        # (exports), through the result: yield_per buffers ahead of the driver's cursor.
        cursor = result.cursor if chunk is None else result
        yielded = False
        # Closed however the reading ends (the last short chunk, or the caller stopping early):
        # on PostgreSQL yield_per reads through a server-side cursor, which stays open on the
        # server, and warns when garbage-collected, unless it is closed.
        with result:
            while True:
                rows = cursor.fetchall() if chunk is None else cursor.fetchmany(chunk)
                if not rows and yielded:
                    return
                last = chunk is None or len(rows) < chunk
                frame = _frame(rows, names, dates)
                del rows  # only one chunk's rows in memory at a time
                yield frame
                yielded = True
                if last:
                    return


def _frame(rows: Sequence[Any], names: list[str], dates: Sequence[str]) -> pd.DataFrame:
    # Column by column from one transpose (C speed); building from row objects would cost
    # pandas an attribute probe per row.
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in names]
    frame = pd.DataFrame(
        {
            name: pd.Series(values, dtype=None if values else object)
            for name, values in zip(names, columns, strict=True)
        }
    )

    for name in dates:
        frame[name] = to_utc(frame[name])
    return frame


def to_utc(values: pd.Series) -> pd.Series:
    """Driver timestamps (SQLite's ISO strings without zone, which harken writes in UTC, or
    PostgreSQL's aware datetimes) as a UTC datetime64 column; missing values become NaT."""
    if not len(values):
        return pd.Series(pd.to_datetime([], utc=True), index=values.index, name=values.name)
    return pd.to_datetime(values, utc=True, format="ISO8601")
