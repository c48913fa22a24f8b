"""The store read into DataFrames for the reports: only the columns a report needs, filtered by
its scope in SQL, aggregated by pandas afterwards."""

from __future__ import annotations

import json
from typing import Any

import pandas as pd
from sqlalchemy import Select, select
from sqlmodel import col

from harken.reports.scope import Scope, raw, read_frame
from harken.store import Store
from harken.store.tables import Author, Classification, Mention, QueueItem

OPEN_STATUSES = ("new", "claimed")
SENTIMENTS = ("negative", "neutral", "positive")


def mentions(
    store: Store,
    scope: Scope,
    *,
    text: bool = False,
    engagement: bool = False,
    followers: bool = False,
    topics: bool = False,
) -> pd.DataFrame:
    """id, created_at, platform, brand, author_id, incident_id, sentiment, complaint, risk
    (None where not classified yet), plus what the flags ask for."""
    columns: list[Any] = [
        col(Mention.id),
        raw(col(Mention.created_at), "created_at"),
        col(Mention.platform),
        col(Mention.brand),
        col(Mention.author_id),
        col(Mention.incident_id),
        col(Classification.sentiment),
        col(Classification.complaint),
        col(Classification.risk),
    ]
    if text:
        columns.append(col(Mention.text))
    if engagement:
        columns += [col(Mention.likes), col(Mention.reposts), col(Mention.replies)]
        columns.append(col(Mention.quotes))
    if followers:
        columns.append(col(Author.followers))
    if topics:
        columns.append(raw(col(Classification.topics), "topics"))
    statement: Select[Any] = (
        select(*columns)
        .select_from(Mention)
        .outerjoin(Classification, col(Classification.mention_id) == col(Mention.id))
        .where(*scope.mention_filters())
    )
    if followers:
        statement = statement.join(Author, col(Author.id) == col(Mention.author_id))
    frame = read_frame(store, statement, dates=["created_at"])
    for name in ("complaint", "risk"):
        frame[name] = frame[name].astype(float)
    if topics:
        frame["topics"] = json_lists(frame["topics"])
    return frame


def json_lists(values: pd.Series) -> pd.Series:
    """A JSON list column as Python lists; SQLite hands back text, PostgreSQL lists. Parsed
    once per distinct value: topic lists repeat (most are ``[]``)."""
    parsed: dict[str, list[Any]] = {}

    def load(value: Any) -> list[Any]:
        if isinstance(value, list):
            return value
        if not isinstance(value, str):  # no classification yet (None, or NaN from pandas)
            return []
        if value not in parsed:
            loaded = json.loads(value)
            parsed[value] = loaded if isinstance(loaded, list) else []
        return parsed[value]

    return values.map(load)


def open_items(store: Store, scope: Scope, by: str) -> pd.Series:
    """Open (new or claimed) queue items on the scope's mentions, counted per ``by`` (a
    Mention column: author_id, incident_id, platform)."""
    key = getattr(Mention, by)
    statement = (
        select(col(key).label(by), col(QueueItem.id))
        .select_from(QueueItem)
        .join(Mention, col(Mention.id) == col(QueueItem.mention_id))
        .where(col(QueueItem.status).in_(OPEN_STATUSES), *scope.mention_filters())
    )
    frame = read_frame(store, statement)
    return frame.groupby(by).size().rename("open_items")


def sentiment_counts(frame: pd.DataFrame, by: str | list[str]) -> pd.DataFrame:
    """negative, neutral, positive counts per group (missing sentiments count nowhere)."""
    if not len(frame):
        index = pd.Index([], name=by) if isinstance(by, str) else None
        return pd.DataFrame({s: pd.Series(dtype=int) for s in SENTIMENTS}, index=index)
    counts = pd.crosstab(
        [frame[b] for b in ([by] if isinstance(by, str) else by)], frame["sentiment"]
    )
    return counts.reindex(columns=list(SENTIMENTS), fill_value=0).astype(int)


def negative_share(counts: pd.DataFrame) -> pd.Series:
    """Negative posts over classified posts (None where none is classified)."""
    classified = counts[list(SENTIMENTS)].sum(axis=1)
    return (counts["negative"] / classified.where(classified > 0)).astype(float)
