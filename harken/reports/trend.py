"""``harken report trend``: volume and sentiment per hour or per day, spikes marked.

Buckets are local to a time zone (the digest's by default): a Tokyo team's "day" starts at
midnight in Tokyo. Every bucket of the window is listed, empty ones as zeros, so two runs over
the same window line up row by row.
"""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
from sqlalchemy import select
from sqlmodel import col

from harken.reports import frames
from harken.reports.scope import Scope, raw, read_frame
from harken.reports.tabular import Column, Report, Section
from harken.store import Store
from harken.store.tables import Spike

AUTO_HOURLY = timedelta(days=3)  # windows up to this long are shown per hour, longer per day


def pick_bucket(scope: Scope, bucket: str = "auto") -> str:
    if bucket != "auto":
        return bucket
    return "hour" if scope.until - scope.since <= AUTO_HOURLY else "day"


def trend(store: Store, scope: Scope, bucket: str = "auto", timezone: str = "UTC") -> Report:
    bucket = pick_bucket(scope, bucket)
    posts = frames.mentions(store, scope, "created_at", "sentiment", "complaining")
    edges = _buckets(scope, bucket, timezone)
    posts["bucket"] = _floor(posts["created_at"], bucket, timezone)
    counts = frames.sentiment_counts(posts, "bucket").reindex(edges, fill_value=0)
    table = pd.DataFrame(index=edges)
    table["mentions"] = posts.groupby("bucket").size().reindex(edges, fill_value=0)
    for name in frames.SENTIMENTS:
        table[name] = counts[name]
    table["unclassified"] = table["mentions"] - counts.sum(axis=1)
    complaints = posts[posts["complaining"] == 1].groupby("bucket").size()
    table["complaints"] = complaints.reindex(edges, fill_value=0)
    table["negative_share"] = frames.negative_share(table)
    table = table.astype({c: int for c in ["mentions", *frames.SENTIMENTS, "complaints"]})
    spikes = _spikes(store, scope, bucket, timezone)
    table["spike"] = spikes["series"].reindex(edges)
    table["spike_ratio"] = spikes["ratio"].reindex(edges)
    table = table.rename_axis("bucket").reset_index()
    table.insert(1, "bucket_end", table["bucket"].shift(-1).fillna(_end(edges, bucket)))
    peak = table.loc[table["mentions"].idxmax()] if len(table) and table["mentions"].any() else None
    totals = {
        "mentions": int(table["mentions"].sum()),
        "buckets": len(table),
        "peak_mentions": int(peak["mentions"]) if peak is not None else 0,
        "peak_at": peak["bucket"] if peak is not None else None,
        "spike_buckets": int(table["spike"].notna().sum()),
    }
    notes = ()
    if scope.platforms and totals["spike_buckets"]:
        notes = ("spikes are detected over all platforms; --platform only filters the counts",)
    return Report(
        name="trend",
        scope=scope,
        sections=(Section(bucket, f"Mentions per {bucket} ({timezone})", table, _columns(bucket)),),
        totals=totals,
        notes=notes,
        timezone=timezone,
    )


def _columns(bucket: str) -> tuple[Column, ...]:
    return (
        Column("bucket", "time" if bucket == "hour" else "date", header=bucket),
        Column("mentions", "int", header="posts"),
        Column("negative", "int", header="neg"),
        Column("neutral", "int", header="neu"),
        Column("positive", "int", header="pos"),
        Column("complaints", "int", header="compl"),
        Column("negative_share", "pct", header="neg %"),
        Column("spike", header="spike", width=18, show=_spike),
    )


def _spike(row: dict[str, object]) -> str:
    series, ratio = row.get("spike"), row.get("spike_ratio")
    if not isinstance(series, str):
        return ""
    names = sorted(series.split(", "), key=lambda n: (n != "volume", n))  # volume first
    more = f" +{len(names) - 1}" if len(names) > 1 else ""
    times = f" ×{ratio:.0f}" if isinstance(ratio, float) else ""
    return f"▲ {names[0]}{times}{more}"


def _buckets(scope: Scope, bucket: str, timezone: str) -> pd.DatetimeIndex:
    start = _floor(pd.Series([pd.Timestamp(scope.since)]), bucket, timezone).iloc[0]
    last = pd.Timestamp(scope.until) - pd.Timedelta(microseconds=1)
    end = _floor(pd.Series([last]), bucket, timezone).iloc[0]
    # A calendar day, not 24 hours: the days around a DST change are 23 and 25 hours long.
    step = pd.Timedelta(hours=1) if bucket == "hour" else pd.DateOffset(days=1)
    edges = pd.date_range(start, end, freq=step)
    return pd.DatetimeIndex(edges, name="bucket")


def _floor(stamps: pd.Series, bucket: str, timezone: str) -> pd.Series:
    utc = pd.to_datetime(stamps, utc=True)
    if bucket == "hour":
        # Flooring in UTC keeps hours unambiguous on the night clocks go back; whole-hour
        # zones give the same edges (half-hour zones get UTC hours, labelled locally).
        return utc.dt.floor("h").dt.tz_convert(timezone)
    return utc.dt.tz_convert(timezone).dt.normalize()


def _end(edges: pd.DatetimeIndex, bucket: str) -> pd.Timestamp | None:
    if not len(edges):
        return None
    step = pd.Timedelta(hours=1) if bucket == "hour" else pd.DateOffset(days=1)
    return edges[-1] + step


def _spikes(store: Store, scope: Scope, bucket: str, timezone: str) -> pd.DataFrame:
    """Per bucket: the spiking series ("volume", "negative", "topic:outage") and the highest
    ratio to the usual count."""
    statement = select(
        raw(col(Spike.hour_start), "hour_start"), col(Spike.series), col(Spike.ratio)
    ).where(col(Spike.hour_start) >= scope.since, col(Spike.hour_start) < scope.until)
    if scope.brand:
        statement = statement.where(col(Spike.brand) == scope.brand)
    found = read_frame(store, statement, dates=["hour_start"])
    if not len(found):
        return pd.DataFrame({"series": pd.Series(dtype=object), "ratio": pd.Series(dtype=float)})
    found["bucket"] = _floor(found["hour_start"], bucket, timezone)
    grouped = found.groupby("bucket")
    return pd.DataFrame(
        {
            "series": grouped["series"].agg(lambda s: ", ".join(sorted(set(s)))),
            "ratio": grouped["ratio"].max().astype(float),
        }
    )
