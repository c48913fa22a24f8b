"""PNG charts for ``harken report ... --chart FILE.png``, drawn like the digest's (same fonts,
colours and deterministic bytes: see harken/reports/chart_style.py). Labels made from post data
(handles, terms, brand names) are plain text to matplotlib: ``$`` would start mathtext, so it
is escaped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from harken.reports.chart_style import COLORS, VOLUME, chart_style, legend_above, png_bytes
from harken.reports.summary import Summary
from harken.reports.tabular import Report
from harken.text import strip_controls

WIDTH_IN = 8.0
LABEL = 28  # characters of a bar label


def label(value: Any) -> str:
    text = " ".join(strip_controls(str(value)).split())
    if len(text) > LABEL:
        text = text[: LABEL - 1] + "…"
    return text.replace("$", r"\$")


def summary_chart(report: Summary) -> bytes:
    table = report.by_platform
    with chart_style():
        figure = Figure(figsize=(WIDTH_IN, 3.0), layout="constrained")
        left, right = figure.subplots(1, 2, width_ratios=[3, 2])
        names = [label(p) for p in table["platform"]]
        _stacked(left, names, {s: table[s].tolist() for s in ("negative", "neutral", "positive")})
        left.set_title("Mentions by platform and sentiment")
        bands = report.risk_bands
        colors = ["#a9cce3", "#f5b041", "#e67e22", "#c0392b"]
        right.bar(list(bands), list(bands.values()), color=colors[: len(bands)])
        right.set_title("Escalation risk")
        right.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        return png_bytes(figure)


def trend_chart(report: Report) -> bytes:
    section = report.sections[0]
    table = section.frame
    zone = report.timezone
    stamps = pd.to_datetime(table["bucket"], utc=True).dt.tz_convert(zone)
    hourly = section.name == "hour"
    labels = [s.strftime("%m-%d %H:00" if hourly else "%m-%d") for s in stamps]
    with chart_style():
        figure = Figure(figsize=(WIDTH_IN, 3.0), layout="constrained")
        axes = figure.add_subplot()
        values = {s: table[s].tolist() for s in ("negative", "neutral", "positive")}
        values["unclassified"] = table["unclassified"].tolist()
        positions = _stacked(axes, labels, values)
        spikes = table["spike"].notna().tolist()
        top = max([*table["mentions"].tolist(), 1])
        marked = [p for p, s in zip(positions, spikes, strict=True) if s]
        if marked:
            heights = [table["mentions"].iloc[p] + top * 0.04 for p in marked]
            axes.scatter(marked, heights, marker="v", color="black", s=18, label="spike", zorder=3)
            legend_above(axes, ncols=5)
        axes.set_ylim(0, top * 1.15)
        axes.set_title(f"Mentions per {section.name} ({zone})")
        step = max(1, -(-len(labels) // 9))  # at most 9 labels: wider ones overlap
        axes.set_xticks(positions[::step], labels[::step], fontsize=7)
        return png_bytes(figure)


def voice_chart(report: Report) -> bytes:
    table = report.sections[0].frame
    with chart_style():
        figure = Figure(figsize=(WIDTH_IN, 0.9 + 0.35 * max(len(table), 1)), layout="constrained")
        axes = figure.add_subplot()
        names = [
            label(f"{g} · {b}" if g != b else b)
            for g, b in zip(table["group"], table["brand"], strict=True)
        ]
        shares = [(s or 0) * 100 for s in table["share"].tolist()]
        axes.barh(names[::-1], shares[::-1], color=VOLUME)
        axes.xaxis.set_major_formatter(PercentFormatter(decimals=0))
        axes.set_title("Share of voice (mentions)")
        return png_bytes(figure)


def bars_chart(
    report: Report, section: str, value: str, name: str, title: str, prefix: str = ""
) -> bytes:
    table = report.section(section).frame.head(15)
    with chart_style():
        figure = Figure(figsize=(WIDTH_IN, 0.9 + 0.3 * max(len(table), 1)), layout="constrained")
        axes = figure.add_subplot()
        names = [label(f"{prefix}{n}") for n in table[name]]
        axes.barh(names[::-1], table[value].astype(float).tolist()[::-1], color=VOLUME)
        axes.xaxis.set_major_locator(MaxNLocator(integer=True, nbins=6))
        axes.set_title(title)
        return png_bytes(figure)


def departments_chart(report: Report) -> bytes:
    table = report.sections[0].frame
    table = table[table["department"] != "all"]
    names = [label(n) for n in table["department"]]
    with chart_style():
        figure = Figure(figsize=(WIDTH_IN, 3.0), layout="constrained")
        left, right = figure.subplots(1, 2)
        positions = list(range(len(names)))
        median = table["median_first_response_min"].astype(float).fillna(0).tolist()
        p90 = table["p90_first_response_min"].astype(float).fillna(0).tolist()
        left.bar([p - 0.2 for p in positions], median, width=0.4, color=VOLUME, label="median")
        left.bar([p + 0.2 for p in positions], p90, width=0.4, color="#1f4e79", label="p90")
        left.set_xticks(positions, names, fontsize=7, rotation=30, ha="right")
        left.set_ylim(bottom=0)
        left.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        left.set_title("First response (min)")
        legend_above(left, ncols=2)
        met = [(v or 0) * 100 for v in table["sla_met_pct"].tolist()]
        right.bar(positions, met, color=COLORS["positive"])
        right.set_xticks(positions, names, fontsize=7, rotation=30, ha="right")
        right.set_ylim(0, 105)
        right.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        right.set_title("SLA met")
        return png_bytes(figure)


def _stacked(axes: Any, names: list[str], values: dict[str, list[int]]) -> list[int]:
    positions = list(range(len(names)))
    bottom = [0] * len(names)
    for name, series in values.items():
        if not any(series):
            continue
        axes.bar(positions, series, bottom=bottom, color=COLORS[name], label=name, width=0.8)
        bottom = [b + v for b, v in zip(bottom, series, strict=True)]
    if len(names) <= 12:
        axes.set_xticks(positions, names, fontsize=7)
    axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
    if any(any(series) for series in values.values()):
        legend_above(axes, ncols=4)
    return positions


CHARTS: dict[str, Callable[[Report], bytes]] = {
    "trend": trend_chart,
    "share-of-voice": voice_chart,
    "departments": departments_chart,
    "topics": lambda r: bars_chart(r, "topics", "mentions", "topic", "Topics (mentions)"),
    "authors": lambda r: bars_chart(r, "by_volume", "mentions", "author", "Top authors (posts)"),
    "incidents": lambda r: bars_chart(
        r, "largest", "posts", "incident_id", "Largest incidents (posts in window)", "#"
    ),
}
