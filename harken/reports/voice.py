"""``harken report share-of-voice``: each brand against its configured competitors.

Volume share, sentiment, reach (followers of the distinct authors who posted; an author who
posts ten times reaches the same people once) and engagement (likes, reposts, replies,
quotes). Only competitors that are also listed under ``brands:`` are collected; the others
are named in a note so nobody reads a missing rival as a silent one.
"""

from __future__ import annotations

import pandas as pd

from harken.config import Config
from harken.reports import frames
from harken.reports.scope import Scope
from harken.reports.tabular import Column, Report, Section
from harken.store import Store

ENGAGEMENT = ["likes", "reposts", "replies", "quotes"]


def share_of_voice(store: Store, config: Config, scope: Scope) -> Report:
    groups, notes = _groups(config, scope.brand)
    wanted = sorted({b for _, names in groups for b in names})
    posts = frames.mentions(
        store, _any_brand(scope), "brand", "author_id", "sentiment", "followers", *ENGAGEMENT
    )
    posts = posts[posts["brand"].isin(wanted)]
    per_brand = per_brand_counts(posts)
    rows = []
    for group, names in groups:
        table = per_brand.reindex(names).fillna(0)
        total, reach = table["mentions"].sum(), table["reach"].sum()
        for brand, row in table.iterrows():
            classified = row["negative"] + row["neutral"] + row["positive"]
            rows.append(
                {
                    "group": group,
                    "brand": brand,
                    "mentions": int(row["mentions"]),
                    "share": row["mentions"] / total if total else None,
                    "negative": int(row["negative"]),
                    "neutral": int(row["neutral"]),
                    "positive": int(row["positive"]),
                    "negative_share": row["negative"] / classified if classified else None,
                    # net sentiment: (positive - negative) / classified, from -1 to +1
                    "net_sentiment": (row["positive"] - row["negative"]) / classified
                    if classified
                    else None,
                    "reach": int(row["reach"]),
                    "reach_share": row["reach"] / reach if reach else None,
                    "engagement": int(row["engagement"]),
                }
            )
    table = pd.DataFrame(rows, columns=_ORDER)
    return Report(
        name="share-of-voice",
        scope=scope,
        sections=(Section("brands", "Share of voice", table, COLUMNS, group_by="group"),),
        totals={"mentions": int(table["mentions"].sum()) if len(table) else 0},
        notes=tuple(notes),
    )


_ORDER = [
    "group",
    "brand",
    "mentions",
    "share",
    "negative",
    "neutral",
    "positive",
    "negative_share",
    "net_sentiment",
    "reach",
    "reach_share",
    "engagement",
]
COLUMNS = (
    Column("brand", width=18),
    Column("mentions", "int", header="posts"),
    Column("share", "pct"),
    Column("negative_share", "pct", header="neg %"),
    Column("net_sentiment", "signed", header="net"),
    Column("reach", "compact"),
    Column("reach_share", "pct", header="reach %"),
    Column("engagement", "compact", header="engage"),
)


def _any_brand(scope: Scope) -> Scope:
    # The scope's brand picks the comparison group; the group's rivals must be read too.
    return Scope(scope.since, scope.until, None, scope.platforms)


def _groups(config: Config, brand: str | None) -> tuple[list[tuple[str, list[str]]], list[str]]:
    collected = [b.name for b in config.brands]
    rivals = [b for b in config.brands if b.competitors and (brand is None or b.name == brand)]
    notes = []
    if brand is not None and brand not in collected:
        return [], [f"{brand} is not a configured brand"]
    if not rivals:
        names = [brand] if brand else collected
        if brand:
            notes.append(f"{brand} lists no competitors (brands: competitors:)")
        else:
            notes.append("no brand lists competitors: all configured brands compared")
        return [("all", names)], notes
    groups = []
    for b in rivals:
        missing = [c for c in b.competitors if c not in collected]
        if missing:
            notes.append(
                f"{', '.join(missing)}: listed as competitor of {b.name} but not collected "
                "(add under brands: to listen)"
            )
        groups.append((b.name, [b.name, *[c for c in b.competitors if c in collected]]))
    return groups, notes


def per_brand_counts(posts: pd.DataFrame) -> pd.DataFrame:
    """Per brand: mentions, negative/neutral/positive counts, reach and engagement. Also the
    digest's share-of-voice section, so the two never disagree."""
    counts = frames.sentiment_counts(posts, "brand")
    table = pd.DataFrame({"mentions": posts.groupby("brand").size()})
    table = table.join(counts, how="left").fillna(0)
    authors = posts.drop_duplicates(["brand", "author_id"])
    table["reach"] = authors.groupby("brand")["followers"].sum(min_count=0)
    engagement = posts[ENGAGEMENT].fillna(0).sum(axis=1)
    table["engagement"] = engagement.groupby(posts["brand"]).sum()
    return table.fillna(0)
