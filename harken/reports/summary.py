"""``harken report summary``: volume, sentiment, complaints, top risks, queue sizes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import select

from harken.store import Store
from harken.store.tables import Author, Classification, Mention, QueueItem

SENTIMENTS = ["negative", "neutral", "positive"]
TOP_RISKS = 5


@dataclass(frozen=True)
class Summary:
    since: datetime
    until: datetime
    brand: str | None
    mentions: int
    complaints: int  # complaint score >= 0.5
    by_platform: pd.DataFrame  # platform, mentions, negative, neutral, positive
    sentiment: dict[str, int]
    top_risks: pd.DataFrame  # id, platform, author, risk, sentiment, text, url
    queues: pd.DataFrame  # department, new, ..., total

    def to_json(self) -> dict[str, Any]:
        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "brand": self.brand,
            "mentions": self.mentions,
            "complaints": self.complaints,
            "sentiment": self.sentiment,
            "by_platform": self.by_platform.to_dict(orient="records"),
            "top_risks": self.top_risks.to_dict(orient="records"),
            "queues": self.queues.to_dict(orient="records"),
        }


def summary(store: Store, since: datetime, until: datetime, brand: str | None = None) -> Summary:
    frame = _mentions_frame(store, since, until, brand)
    by_platform = _by_platform(frame)
    sentiment = {s: int((frame["sentiment"] == s).sum()) for s in SENTIMENTS}
    return Summary(
        since=since,
        until=until,
        brand=brand,
        mentions=len(frame),
        complaints=int((frame["complaint"] >= 0.5).sum()),
        by_platform=by_platform,
        sentiment=sentiment,
        top_risks=_top_risks(frame),
        queues=_queues(store, frame["id"].tolist()),
    )


def _mentions_frame(
    store: Store, since: datetime, until: datetime, brand: str | None
) -> pd.DataFrame:
    statement = (
        select(
            Mention.id,
            Mention.platform,
            Mention.text,
            Mention.url,
            Author.handle.label("author"),
            Classification.sentiment,
            Classification.complaint,
            Classification.risk,
        )
        .join(Author, Author.id == Mention.author_id)
        .outerjoin(Classification, Classification.mention_id == Mention.id)
        .where(Mention.created_at >= since, Mention.created_at < until)
    )
    if brand:
        statement = statement.where(Mention.brand == brand)
    with store.session() as session:
        rows = session.execute(statement).all()
    columns = ["id", "platform", "text", "url", "author", "sentiment", "complaint", "risk"]
    frame = pd.DataFrame(rows, columns=columns)
    frame["complaint"] = frame["complaint"].astype(float)
    frame["risk"] = frame["risk"].astype(float)
    return frame


def _by_platform(frame: pd.DataFrame) -> pd.DataFrame:
    counts = pd.crosstab(frame["platform"], frame["sentiment"]) if len(frame) else pd.DataFrame()
    counts = counts.reindex(columns=SENTIMENTS, fill_value=0)
    totals = frame.groupby("platform").size().rename("mentions")
    table = pd.concat([totals, counts], axis=1).fillna(0).astype(int)
    table = table.reset_index(names="platform").sort_values(
        ["mentions", "platform"], ascending=[False, True]
    )
    return table.reset_index(drop=True)


def _top_risks(frame: pd.DataFrame) -> pd.DataFrame:
    top = frame.dropna(subset=["risk"]).sort_values(["risk", "id"], ascending=[False, True])
    columns = ["id", "platform", "author", "risk", "sentiment", "text", "url"]
    return top.head(TOP_RISKS)[columns].reset_index(drop=True)


def _queues(store: Store, mention_ids: list[int]) -> pd.DataFrame:
    statuses = ["new", "claimed", "responded", "resolved", "dismissed"]
    with store.session() as session:
        rows = session.execute(
            select(QueueItem.department, QueueItem.status, QueueItem.mention_id)
        ).all()
    frame = pd.DataFrame(rows, columns=["department", "status", "mention_id"])
    frame = frame[frame["mention_id"].isin(set(mention_ids))]
    table = pd.crosstab(frame["department"], frame["status"]) if len(frame) else pd.DataFrame()
    table = table.reindex(columns=statuses, fill_value=0)
    table["total"] = table.sum(axis=1)
    return table.reset_index(names="department").sort_values("department").reset_index(drop=True)
