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
from harken.store.complaints import complaint_count
from harken.store.tables import Author, Classification, Mention, QueueItem

OPEN_STATUSES = ("new", "claimed")
SENTIMENTS = ("negative", "neutral", "positive")


# What ``mentions`` can read, by name. Each report asks for only what it uses: on a million
# rows every column costs a second or so of fetching and converting.
COLUMNS: dict[str, Any] = {
    "id": col(Mention.id),
    "created_at": raw(col(Mention.created_at), "created_at"),
    "platform": col(Mention.platform),
    "brand": col(Mention.brand),
    "author_id": col(Mention.author_id),
    "incident_id": col(Mention.incident_id),
    "text": col(Mention.text),
    "likes": col(Mention.likes),
    "reposts": col(Mention.reposts),
    "replies": col(Mention.replies),
    "quotes": col(Mention.quotes),
    "sentiment": col(Classification.sentiment),
    "complaint": col(Classification.complaint),
    # 1 when it counts as a complaint (harken.store.complaints: not press, staff...), else 0
    "complaining": complaint_count(),
    "risk": col(Classification.risk),
    "topics": raw(col(Classification.topics), "topics"),
    "followers": col(Author.followers),
}
CLASSIFIED = {"sentiment", "complaint", "complaining", "risk", "topics"}


def mentions(store: Store, scope: Scope, *names: str, with_own: bool = False) -> pd.DataFrame:
    """The scope's mentions with the named columns (``COLUMNS``); classification columns are
    None where a mention is not classified yet. Without the brand's own posts, unless
    ``with_own`` (an incident's posts are all it holds, as its size counts them)."""
    filters = scope.mention_filters() if with_own else scope.said_filters()
    statement: Select[Any] = (
        select(*(COLUMNS[name].label(name) for name in names)).select_from(Mention).where(*filters)
    )
    if CLASSIFIED & set(names):
        statement = statement.outerjoin(
            Classification, col(Classification.mention_id) == col(Mention.id)
        )
    if "followers" in names:
        statement = statement.join(Author, col(Author.id) == col(Mention.author_id))
    dates = ["created_at"] if "created_at" in names else []
    frame = read_frame(store, statement, dates=dates)
    for name in ("complaint", "risk"):
        if name in names:
            frame[name] = frame[name].astype(float)
    if "topics" in names:
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
