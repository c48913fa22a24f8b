"""``harken report summary``: volume, sentiment, complaints, risk bands, queue states, per
platform, and the riskiest posts. Its JSON and CSV shapes predate the other reports (see
tabular.py) and are a contract: fields are added, never renamed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import select
from sqlmodel import col

from harken.reports import frames
from harken.reports.scope import Scope, read_frame
from harken.reports.tabular import records
from harken.store import Store
from harken.store.tables import Author, Mention, QueueItem

SENTIMENTS = ["negative", "neutral", "positive"]
TOP_RISKS = 5
# Escalation risk bands: ``critical`` starts where alerts bypass the noise budget by default.
RISK_BANDS = (("low", 0.0), ("medium", 0.3), ("high", 0.6), ("critical", 0.85))
QUEUE_STATUSES = ["new", "claimed", "responded", "resolved", "dismissed"]


@dataclass(frozen=True)
class Summary:
    since: datetime
    until: datetime
    brand: str | None
    mentions: int
    complaints: int  # complaint score >= 0.5, not by press or the brand (store.complaints)
    # platform, mentions, negative, neutral, positive, complaints, avg_risk, high_risk,
    # open_items
    by_platform: pd.DataFrame
    sentiment: dict[str, int]
    top_risks: pd.DataFrame  # id, platform, author, risk, sentiment, text, url
    queues: pd.DataFrame  # department, new, ..., total
    risk_bands: dict[str, int] = field(default_factory=dict)  # low, medium, high, critical
    platforms: tuple[str, ...] = ()
    unclassified: int = 0

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "brand": self.brand,
            "platforms": list(self.platforms),
            "mentions": self.mentions,
            "complaints": self.complaints,
            "unclassified": self.unclassified,
            "sentiment": self.sentiment,
            "risk_bands": self.risk_bands,
            "by_platform": records(self.by_platform),
            "top_risks": records(self.top_risks),
            "queues": records(self.queues),
        }


def summary(
    store: Store,
    since: datetime,
    until: datetime,
    brand: str | None = None,
    platforms: tuple[str, ...] = (),
) -> Summary:
    scope = Scope(since, until, brand, tuple(platforms))
    frame = frames.mentions(
        store, scope, "id", "platform", "sentiment", "complaint", "complaining", "risk"
    )
    sentiment = {s: int((frame["sentiment"] == s).sum()) for s in SENTIMENTS}
    return Summary(
        since=since,
        until=until,
        brand=brand,
        platforms=scope.platforms,
        mentions=len(frame),
        complaints=int(frame["complaining"].sum()),
        unclassified=int(frame["sentiment"].isna().sum()),
        by_platform=_by_platform(frame, frames.open_items(store, scope, "platform")),
        sentiment=sentiment,
        risk_bands=_risk_bands(frame["risk"]),
        top_risks=_top_risks(store, frame),
        queues=_queues(store, scope),
    )


def risk_band(risk: float) -> str:
    return next(name for name, floor in reversed(RISK_BANDS) if risk >= floor)


def _risk_bands(risk: pd.Series) -> dict[str, int]:
    floors = [floor for _, floor in RISK_BANDS] + [float("inf")]
    names = [name for name, _ in RISK_BANDS]
    bands = pd.cut(risk.dropna(), floors, right=False, labels=names)
    counts = bands.value_counts()
    return {name: int(counts.get(name, 0)) for name in names}


def _by_platform(frame: pd.DataFrame, open_items: pd.Series) -> pd.DataFrame:
    columns = ["platform", "mentions", *SENTIMENTS, "complaints", "avg_risk", "high_risk"]
    if not len(frame):
        return pd.DataFrame(columns=[*columns, "open_items"])
    counts = frames.sentiment_counts(frame, "platform")
    grouped = frame.groupby("platform")
    table = pd.DataFrame({"mentions": grouped.size()}).join(counts).fillna(0).astype(int)
    table["complaints"] = frame["complaining"].groupby(frame["platform"]).sum()
    table["avg_risk"] = grouped["risk"].mean()
    table["high_risk"] = (frame["risk"] >= RISK_BANDS[2][1]).groupby(frame["platform"]).sum()
    table["open_items"] = open_items.reindex(table.index, fill_value=0).astype(int)
    table = table.reset_index(names="platform").sort_values(
        ["mentions", "platform"], ascending=[False, True]
    )
    return table.reset_index(drop=True)


def _top_risks(store: Store, frame: pd.DataFrame) -> pd.DataFrame:
    columns = ["id", "platform", "author", "risk", "sentiment", "text", "url"]
    top = frame.dropna(subset=["risk"]).sort_values(["risk", "id"], ascending=[False, True])
    top = top.head(TOP_RISKS)
    if not len(top):
        return pd.DataFrame(columns=columns)
    # Text only for the few shown: a million posts' text would dominate the report's time.
    statement = (
        select(col(Mention.id), col(Mention.text), col(Mention.url), col(Author.handle))
        .join(Author, col(Author.id) == col(Mention.author_id))
        .where(col(Mention.id).in_([int(i) for i in top["id"]]))
    )
    posts = read_frame(store, statement, columns=["id", "text", "url", "author"])
    top = top.merge(posts, on="id", how="left")
    return top[columns].reset_index(drop=True)


def _queues(store: Store, scope: Scope) -> pd.DataFrame:
    """Queue items on the scope's mentions, per department and status."""
    statement = (
        select(col(QueueItem.department), col(QueueItem.status))
        .select_from(QueueItem)
        .join(Mention, col(Mention.id) == col(QueueItem.mention_id))
        .where(*scope.mention_filters())
    )
    frame = read_frame(store, statement)
    table = pd.crosstab(frame["department"], frame["status"]) if len(frame) else pd.DataFrame()
    table = table.reindex(columns=QUEUE_STATUSES, fill_value=0)
    table["total"] = table.sum(axis=1)
    table = table.astype(int)
    return table.reset_index(names="department").sort_values("department").reset_index(drop=True)
