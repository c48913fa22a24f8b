"""``harken report authors``: who is talking, ranked by reach (followers) and by volume, with
their sentiment, risk and the queue items still open on their posts."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlmodel import col

from harken.reports import frames
from harken.reports.scope import Scope, read_frame
from harken.reports.tabular import Column, Report, Section
from harken.store import Store
from harken.store.tables import Author

TOP = 10


def authors(store: Store, scope: Scope, top: int = TOP) -> Report:
    posts = frames.mentions(
        store, scope, "id", "created_at", "author_id", "sentiment", "risk", "followers"
    )
    if len(posts):
        stats = posts.groupby("author_id").agg(
            followers=("followers", "first"),
            mentions=("id", "size"),
            avg_risk=("risk", "mean"),
            max_risk=("risk", "max"),
            last_post=("created_at", "max"),
        )
    else:
        columns = ["followers", "mentions", "avg_risk", "max_risk", "last_post"]
        stats = pd.DataFrame(columns=columns, index=pd.Index([], name="author_id"))
    sentiment = frames.sentiment_counts(posts, "author_id")
    stats = stats.join(sentiment, how="left").fillna({s: 0 for s in frames.SENTIMENTS})
    stats["negative_share"] = frames.negative_share(stats)
    stats = stats.join(frames.open_items(store, scope, "author_id"), how="left")
    stats["open_items"] = stats["open_items"].fillna(0).astype(int)
    stats["followers_sort"] = stats["followers"].astype(float).fillna(-1)
    stats = stats.reset_index()
    # Ties broken by author id: the same store always gives the same order.
    by_reach = stats.sort_values(
        ["followers_sort", "mentions", "author_id"], ascending=[False, False, True]
    ).head(top)
    by_volume = stats.sort_values(
        ["mentions", "followers_sort", "author_id"], ascending=[False, False, True]
    ).head(top)
    people = _people(store, sorted(set(by_reach["author_id"]) | set(by_volume["author_id"])))
    sections = (
        Section("by_reach", "Top authors by reach", _shape(by_reach, people), COLUMNS),
        Section("by_volume", "Top authors by volume", _shape(by_volume, people), COLUMNS),
    )
    return Report(
        name="authors",
        scope=scope,
        sections=sections,
        totals={"authors": len(stats), "mentions": len(posts)},
    )


ORDER = [
    "author_id",
    "author",
    "name",
    "platform",
    "followers",
    "verified",
    "mentions",
    "negative",
    "neutral",
    "positive",
    "negative_share",
    "avg_risk",
    "max_risk",
    "open_items",
    "last_post",
]


def _who(row: dict[str, Any]) -> str:
    return f"{row['author']} ({row['platform']})" + (" ✓" if row.get("verified") else "")


COLUMNS = (
    Column("author", header="author", width=20, show=_who),
    Column("followers", "compact"),
    Column("mentions", "int", header="posts"),
    Column("negative_share", "pct", header="neg %"),
    Column("max_risk", "float", header="risk"),
    Column("open_items", "int", header="open"),
    Column("last_post", "time", header="last post"),
)


def _people(store: Store, ids: list[int]) -> pd.DataFrame:
    statement = select(
        col(Author.id).label("author_id"),
        col(Author.handle).label("author"),
        col(Author.name),
        col(Author.platform),
        col(Author.verified),
    ).where(col(Author.id).in_([int(i) for i in ids]))
    people = read_frame(store, statement).set_index("author_id")
    people["verified"] = people["verified"].astype(bool)
    return people


def _shape(table: pd.DataFrame, people: pd.DataFrame) -> pd.DataFrame:
    table = table.join(people, on="author_id")
    table["followers"] = table["followers"].astype("Int64")
    for name in ("mentions", *frames.SENTIMENTS):
        table[name] = table[name].astype(int)
    return table[ORDER].reset_index(drop=True)
