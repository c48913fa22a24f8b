"""``harken report topics``: the classifier's topics and the words people use, rising first.

Each is compared with the window of the same length just before: ``rising`` when it grew by
more than chance would explain (z >= 2 on the two counts), ``new`` when it was absent before
and now has a few posts, ``falling`` when it shrank as clearly, else ``steady``.

Terms (Latin words, katakana and kanji runs: the spike detector's tokenizer) come from the
posts' text. On a big window they are counted on a fixed 1-in-k sample of posts (by id, so
reruns agree) and scaled back up; the report says so.
"""

from __future__ import annotations

import math
from typing import Any

import pandas as pd
from sqlalchemy import func, select
from sqlmodel import col

from harken.config import Config
from harken.reports import frames
from harken.reports.scope import Scope, read_frame
from harken.reports.tabular import Column, Report, Section
from harken.spikes.method import document_frequency, tokens
from harken.store import Store
from harken.store.tables import Mention

TOP_TERMS = 15
TERM_SAMPLE = 20_000  # posts read for terms per window, at most
RISING_Z = 2.0
MIN_TERM_POSTS = 3


def topics(store: Store, config: Config, scope: Scope, top_terms: int = TOP_TERMS) -> Report:
    now = frames.mentions(store, scope, "sentiment", "risk", "topics")
    before = frames.mentions(store, scope.previous(), "topics")
    topic_table = _topic_table(now, before)
    exclude = _brand_words(config)
    terms, step = _term_table(store, scope, exclude, top_terms)
    notes = []
    if step > 1:
        notes.append(f"terms counted on 1 in {step} posts and scaled up")
    return Report(
        name="topics",
        scope=scope,
        sections=(
            Section("topics", "Topics (vs the window before)", topic_table, TOPIC_COLUMNS),
            Section("terms", "Terms (vs the window before)", terms, TERM_COLUMNS),
        ),
        totals={"mentions": len(now), "previous_mentions": len(before)},
        notes=tuple(notes),
    )


TOPIC_COLUMNS = (
    Column("topic", width=24),
    Column("mentions", "int", header="posts"),
    Column("previous", "int", header="before"),
    Column("change", "int", show=lambda row: f"{row['change']:+,}"),
    Column("trend"),
    Column("negative_share", "pct", header="neg %"),
    Column("avg_risk", "float", header="avg risk"),
)
TERM_COLUMNS = (
    Column("term", width=24),
    Column("posts", "int"),
    Column("previous", "int", header="before"),
    Column("change", "int", show=lambda row: f"{row['change']:+,}"),
    Column("trend"),
)


def trend_of(now: int, before: int) -> tuple[str, float]:
    """The label and the z score of a count against the same-length window before."""
    z = (now - before) / math.sqrt(now + before + 1)
    if before == 0 and now >= MIN_TERM_POSTS:
        return "new", z
    if z >= RISING_Z:
        return "rising", z
    if z <= -RISING_Z:
        return "falling", z
    return "steady", z


def rising_first(table: pd.DataFrame, count: str, key: str) -> pd.DataFrame:
    """Rising and new ones first (most significant first), then the rest by volume."""
    if not len(table):
        return table
    growing = table["trend"].isin(["rising", "new"])
    table = table.assign(
        _group=(~growing).astype(int), _rank=table["z"].where(growing, table[count])
    )
    ordered = table.sort_values(
        ["_group", "_rank", count, key], ascending=[True, False, False, True]
    )
    return ordered.drop(columns=["_group", "_rank"]).reset_index(drop=True)


def _topic_table(now: pd.DataFrame, before: pd.DataFrame) -> pd.DataFrame:
    exploded = now.explode("topics").dropna(subset=["topics"])
    counts = exploded.groupby("topics").size()
    previous = before.explode("topics").dropna(subset=["topics"]).groupby("topics").size()
    names = sorted(set(counts.index) | set(previous.index))
    rows: list[dict[str, Any]] = []
    sentiment = frames.sentiment_counts(exploded, "topics")
    shares = frames.negative_share(sentiment) if len(sentiment) else pd.Series(dtype=float)
    risk = exploded.groupby("topics")["risk"].mean() if len(exploded) else pd.Series(dtype=float)
    for name in names:
        n, p = int(counts.get(name, 0)), int(previous.get(name, 0))
        label, z = trend_of(n, p)
        rows.append(
            {
                "topic": name,
                "mentions": n,
                "previous": p,
                "change": n - p,
                "trend": label,
                "z": z,
                "negative_share": shares.get(name),
                "avg_risk": risk.get(name),
            }
        )
    columns = ["topic", "mentions", "previous", "change", "trend", "z", "negative_share"]
    table = pd.DataFrame(rows, columns=[*columns, "avg_risk"])
    return rising_first(table, "mentions", "topic")


def _brand_words(config: Config) -> set[str]:
    """Brand names, keywords and handles: every post has them, they say nothing."""
    words: set[str] = set()
    for brand in config.brands:
        for phrase in [brand.name, *brand.keywords, *brand.handles, *brand.competitors]:
            words.update(tokens(phrase))
    return words


def _term_table(
    store: Store, scope: Scope, exclude: set[str], top: int
) -> tuple[pd.DataFrame, int]:
    count_now = _count(store, scope)
    step = max(1, math.ceil(max(count_now, _count(store, scope.previous())) / TERM_SAMPLE))
    now = document_frequency(_texts(store, scope, step), exclude)
    before = document_frequency(_texts(store, scope.previous(), step), exclude)
    rows = []
    for term, n in now.items():
        if n * step < MIN_TERM_POSTS:
            continue
        p = before.get(term, 0)
        label, z = trend_of(n, p)  # judged on what was counted, shown scaled
        rows.append(
            {
                "term": term,
                "posts": n * step,
                "previous": p * step,
                "change": (n - p) * step,
                "trend": label,
                "z": z,
            }
        )
    table = pd.DataFrame(rows, columns=["term", "posts", "previous", "change", "trend", "z"])
    return rising_first(table, "posts", "term").head(top), step


def _count(store: Store, scope: Scope) -> int:
    statement = select(func.count()).select_from(Mention).where(*scope.said_filters())
    with store.session() as session:
        return int(session.execute(statement).scalar_one())


def _texts(store: Store, scope: Scope, step: int) -> list[str]:
    statement = select(col(Mention.text)).where(*scope.said_filters())
    if step > 1:
        statement = statement.where(col(Mention.id) % step == 0)
    return [str(t) for t in read_frame(store, statement)["text"]]
