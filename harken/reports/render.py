"""Turn report data into rich tables, JSON or CSV. Post text is escaped for each medium."""

from __future__ import annotations

import csv
import io
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

from harken.reports.summary import Summary
from harken.reports.tabular import plain, records
from harken.text import for_csv, strip_controls, to_json

TEXT_WIDTH = 30  # keeps the top-risks table within 80 columns


def summary_json(report: Summary) -> str:
    return to_json(report.to_json(), indent=2, default=str)


def summary_csv(report: Summary) -> str:
    """One flat table (section, key, metric, value) so a spreadsheet can pivot it."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", "key", "metric", "value"])
    writer.writerow(["total", "all", "mentions", report.mentions])
    writer.writerow(["total", "all", "complaints", report.complaints])
    writer.writerow(["total", "all", "unclassified", report.unclassified])
    for label, count in report.sentiment.items():
        writer.writerow(["sentiment", label, "mentions", count])
    for label, count in report.risk_bands.items():
        writer.writerow(["risk_band", label, "mentions", count])
    for row in records(report.by_platform):
        for metric, value in row.items():
            if metric != "platform":
                writer.writerow(["platform", row["platform"], metric, _value(value)])
    for rank, row in enumerate(records(report.top_risks), start=1):
        for metric in ("id", "platform", "author", "risk", "sentiment", "text", "url"):
            writer.writerow(["top_risk", rank, metric, for_csv(_value(row[metric]))])
    for row in records(report.queues):
        for metric, value in row.items():
            if metric != "department":
                writer.writerow(["queue", row["department"], metric, value])
    return out.getvalue()


def _value(value: Any) -> Any:
    return "" if value is None else value


def summary_table(report: Summary) -> Group:
    period = f"{report.since:%Y-%m-%d %H:%M} → {report.until:%Y-%m-%d %H:%M} UTC"
    brand = f" · brand {report.brand}" if report.brand else ""
    platforms = f" · {', '.join(report.platforms)}" if report.platforms else ""
    header = Text(f"Summary {period}{brand}{platforms}\n", style="bold")
    header.append(
        f"{report.mentions} mentions · {report.complaints} complaints · "
        + " · ".join(f"{k} {v}" for k, v in report.sentiment.items()),
        style="",
    )
    header.append(
        "\nrisk: " + " · ".join(f"{k} {v}" for k, v in report.risk_bands.items()), style=""
    )
    return Group(
        header,
        _frame_table("By platform", records(report.by_platform)),
        _risk_table(records(report.top_risks)),
        _frame_table("Queues", records(report.queues)),
    )


# Short headers keep the per-platform table within 80 columns.
HEADERS = {
    "negative": "neg",
    "neutral": "neu",
    "positive": "pos",
    "complaints": "compl",
    "avg_risk": "avg risk",
    "high_risk": "risk≥.6",
    "open_items": "open",
}


def _frame_table(title: str, rows: list[dict[str, Any]]) -> Table:
    table = Table(title=title, title_justify="left")
    columns = list(rows[0]) if rows else ["(none)"]
    for i, column in enumerate(columns):
        table.add_column(HEADERS.get(column, column), justify="left" if i == 0 else "right")
    for row in rows:
        table.add_row(*(Text(_shown(v)) for v in row.values()))
    return table


def _shown(value: Any) -> str:
    value = plain(value)
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.2f}"
    return strip_controls(str(value))


def _risk_table(rows: list[dict[str, Any]]) -> Table:
    table = Table(title="Top risks", title_justify="left")
    table.add_column("id", justify="right", no_wrap=True, min_width=4)
    table.add_column("risk", justify="right", no_wrap=True, min_width=4)
    table.add_column("sentiment", no_wrap=True, min_width=9)
    table.add_column("who", no_wrap=True, max_width=24, overflow="ellipsis")
    table.add_column("text", no_wrap=True, max_width=TEXT_WIDTH, overflow="ellipsis")
    for row in rows:
        who = f"{strip_controls(str(row['author']))} ({row['platform']})"
        text = " ".join(strip_controls(str(row["text"])).split())
        table.add_row(
            str(row["id"]), f"{row['risk']:.2f}", str(row["sentiment"]), Text(who), Text(text)
        )
    return table
