"""``harken report incidents``: the largest incidents of the window, the fastest-growing and
the riskiest.

``posts`` counts an incident's posts inside the window (``size`` is its all-time size);
``recent`` counts those in the window's last ``recent`` hours (6 by default), and growth is
their hourly rate; an incident grows when at least two of its posts are recent. Each is listed
with its status, its top post (the riskiest) and the departments whose queues hold it, with
how many of those items are still open.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlmodel import col

from harken.reports import frames
from harken.reports.scope import Scope, raw, read_frame
from harken.reports.tabular import Column, Report, Section
from harken.store import Store
from harken.store.tables import Author, Incident, Mention, QueueItem

TOP = 10
RECENT = timedelta(hours=6)
MIN_GROWTH = 2  # one new post is a post, not an incident growing


def incidents(store: Store, scope: Scope, top: int = TOP, recent: timedelta = RECENT) -> Report:
    recent = min(recent, scope.until - scope.since)
    posts = frames.mentions(
        store, scope, "id", "created_at", "incident_id", "sentiment", "risk", with_own=True
    )
    posts = posts[posts["incident_id"].notna()]
    recent_start = pd.Timestamp(scope.until - recent)
    posts = posts.assign(
        recent=posts["created_at"] >= recent_start, negative=posts["sentiment"] == "negative"
    )
    hours = recent.total_seconds() / 3600
    # Built-in aggregations only: a big store has hundreds of thousands of incidents, and a
    # Python function per group would take a minute.
    stats = posts.groupby("incident_id").agg(
        posts=("id", "size"),
        recent=("recent", "sum"),
        negative=("negative", "sum"),
        max_risk=("risk", "max"),
    )
    stats["negative"] = stats["negative"].astype(int)
    stats["recent"] = stats["recent"].astype(int)
    stats["per_hour"] = stats["recent"] / hours if hours else 0.0
    stats.index = stats.index.astype(int)
    stats = stats.reset_index()
    largest = stats.sort_values(["posts", "recent", "incident_id"], ascending=[False, False, True])
    growing = stats[stats["recent"] >= MIN_GROWTH].sort_values(
        ["recent", "posts", "incident_id"], ascending=[False, True, True]
    )
    riskiest = stats.sort_values(
        ["max_risk", "recent", "incident_id"], ascending=[False, False, True]
    )
    largest, growing, riskiest = largest.head(top), growing.head(top), riskiest.head(top)
    shown = set(largest["incident_id"]) | set(growing["incident_id"]) | set(riskiest["incident_id"])
    details = _details(store, sorted(shown))
    recent_label = f"last {_hours(recent)}"
    return Report(
        name="incidents",
        scope=scope,
        sections=(
            Section("largest", "Largest incidents", _shape(largest, details), COLUMNS),
            Section(
                "fastest_growing",
                f"Fastest-growing incidents ({recent_label})",
                _shape(growing, details),
                COLUMNS,
                empty=f"no incident grew in the {recent_label}",
            ),
            # Added with the web workspace's incidents page (issue 22): ranked by risk.
            Section("riskiest", "Riskiest incidents", _shape(riskiest, details), COLUMNS),
        ),
        totals={
            "incidents": len(stats),
            "posts_in_incidents": int(stats["posts"].sum()) if len(stats) else 0,
            "recent_hours": recent.total_seconds() / 3600,
        },
    )


ORDER = [
    "incident_id",
    "brand",
    "status",
    "posts",
    "recent",
    "per_hour",
    "size",
    "negative",
    "max_risk",
    "first_seen",
    "last_seen",
    "departments",
    "open_items",
    "platform",
    "author",
    "text",
    "url",
]


def _top_post(row: dict[str, Any]) -> str:
    author, text = row.get("author"), row.get("text")
    if not isinstance(text, str):
        return ""
    return f"{author}: {text}" if isinstance(author, str) else text


COLUMNS = (
    Column("incident_id", "int", header="id"),
    Column("status", width=8),
    Column("posts", "int"),
    Column("recent", "int"),
    Column("max_risk", "float", header="risk"),
    Column("open_items", "int", header="open"),
    Column("text", header="top post", width=80, flex=True, show=_top_post),
)


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:g}h" if hours < 48 else f"{hours / 24:g}d"


def _details(store: Store, ids: list[int]) -> pd.DataFrame:
    if not ids:
        columns = ORDER[ORDER.index("brand") :]
        columns = [c for c in columns if c not in {"posts", "recent", "per_hour", "negative"}]
        columns = [c for c in columns if c != "max_risk"]
        return pd.DataFrame(columns=columns, index=pd.Index([], name="incident_id"))
    statement = (
        select(
            col(Incident.id).label("incident_id"),
            col(Incident.brand),
            col(Incident.status),
            col(Incident.size),
            raw(col(Incident.first_seen), "first_seen"),
            raw(col(Incident.last_seen), "last_seen"),
            col(Mention.platform),
            col(Author.handle).label("author"),
            col(Mention.text),
            col(Mention.url),
        )
        .select_from(Incident)
        .outerjoin(Mention, col(Mention.id) == col(Incident.top_mention_id))
        .outerjoin(Author, col(Author.id) == col(Mention.author_id))
        .where(col(Incident.id).in_(ids))
    )
    found = read_frame(store, statement, dates=["first_seen", "last_seen"])
    items = read_frame(
        store,
        select(col(QueueItem.incident_id), col(QueueItem.department), col(QueueItem.status)).where(
            col(QueueItem.incident_id).in_(ids)
        ),
    )
    departments = items.groupby("incident_id")["department"].agg(lambda d: sorted(set(d)))
    open_items = items[items["status"].isin(frames.OPEN_STATUSES)].groupby("incident_id").size()
    found = found.set_index("incident_id")
    found["departments"] = departments.reindex(found.index)
    found["departments"] = found["departments"].map(lambda d: d if isinstance(d, list) else [])
    found["open_items"] = open_items.reindex(found.index, fill_value=0).astype(int)
    return found


def _shape(table: pd.DataFrame, details: pd.DataFrame) -> pd.DataFrame:
    shaped = table.join(details, on="incident_id")
    return shaped[ORDER].reset_index(drop=True)
