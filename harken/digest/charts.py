"""The digest's two charts as PNG bytes: the window's hourly volume stacked by sentiment, and
the last 14 days' volume with the negative share.

Drawn on a bare ``Figure`` with the Agg canvas: no pyplot, so no global backend switch and no
figure registry to leak; style settings (chart_style.py, shared with the reports' charts) live
in an ``rc_context`` for the drawing only. Labels are English; brand names may be Japanese.
"""

from __future__ import annotations

from functools import lru_cache
from zoneinfo import ZoneInfo

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator, PercentFormatter

from harken.digest.model import Digest
from harken.reports.chart_style import COLORS, VOLUME, chart_style, legend_above, png_bytes

WIDTH_IN, HEIGHT_IN = 7.0, 2.6  # inches: 1050 px at DPI 150


def _subject(digest: Digest) -> str:
    return ", ".join(digest.brands) or "all brands"


def hourly_chart(digest: Digest) -> bytes:
    zone = ZoneInfo(digest.timezone)
    hours = digest.hourly
    labels = [h.start.astimezone(zone).strftime("%H") for h in hours]
    with chart_style():
        figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), layout="constrained")
        axes = figure.add_subplot()
        bottom = [0] * len(hours)
        positions = list(range(len(hours)))
        for name in ("negative", "neutral", "positive", "unclassified"):
            values = [getattr(h, name) for h in hours]
            if name == "unclassified" and not any(values):
                continue
            axes.bar(positions, values, bottom=bottom, color=COLORS[name], label=name, width=0.85)
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        axes.set_title(f"Mentions per hour — {_subject(digest)}")
        axes.set_xticks(positions[::3], labels[::3])
        axes.set_xlabel(f"hour ({digest.timezone})")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        axes.set_ylim(bottom=0, top=max([*bottom, 1]) * 1.1)
        axes.grid(axis="y", color="#e5e7e9", linewidth=0.8)
        axes.set_axisbelow(True)
        legend_above(axes, ncols=4)
        return png_bytes(figure)


def daily_chart(digest: Digest) -> bytes:
    days = digest.daily
    labels = [(d.end.astimezone(ZoneInfo(digest.timezone))).strftime("%m-%d") for d in days]
    positions = list(range(len(days)))
    with chart_style():
        figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), layout="constrained")
        axes = figure.add_subplot()
        colors = [VOLUME] * len(days)
        if colors:
            colors[-1] = "#1f4e79"  # this digest's day
        axes.bar(positions, [d.total for d in days], color=colors, width=0.7, label="mentions")
        axes.set_title(f"Mentions per day, last {len(days)} days — {_subject(digest)}")
        axes.set_xticks(positions, labels, rotation=0, fontsize=7.5)
        axes.set_ylabel("mentions")
        axes.yaxis.set_major_locator(MaxNLocator(integer=True, nbins=5))
        axes.set_ylim(bottom=0, top=max([d.total for d in days] + [1]) * 1.15)
        axes.grid(axis="y", color="#e5e7e9", linewidth=0.8)
        axes.set_axisbelow(True)
        share = axes.twinx()
        shares = [d.negative_share for d in days]
        share.plot(
            positions,
            [s * 100 if s is not None else float("nan") for s in shares],
            color=COLORS["negative"],
            marker="o",
            markersize=3.5,
            linewidth=1.6,
            label="negative share",
        )
        share.set_ylim(0, 106)  # room for a marker at 100%
        share.set_yticks(range(0, 101, 20))
        share.yaxis.set_major_formatter(PercentFormatter(decimals=0))
        share.set_ylabel("negative", color=COLORS["negative"])
        share.tick_params(axis="y", colors=COLORS["negative"])
        share.spines["right"].set_visible(True)
        handles = axes.get_legend_handles_labels()
        more = share.get_legend_handles_labels()
        legend_above(axes, ncols=2, handles=(handles[0] + more[0], handles[1] + more[1]))
        return png_bytes(figure)


def digest_charts(digest: Digest) -> dict[str, bytes]:
    """Both charts by name ("hourly", "daily"): what the page and the e-mail embed."""
    return dict(_charts(digest))


@lru_cache(maxsize=4)
def _charts(digest: Digest) -> tuple[tuple[str, bytes], ...]:
    # A digest is immutable: the page and the e-mail made from it share one drawing.
    return (("hourly", hourly_chart(digest)), ("daily", daily_chart(digest)))
