"""The shape every ``harken report`` (but ``summary``, which predates it) hands to the CLI: a
few named tables (pandas DataFrames) and headline numbers, with one way to print each.

* JSON: ``{"report", "since", "until", "brand", "platforms", "totals", <section>: [rows]}``;
  timestamps ISO-8601 UTC, missing values ``null``, floats rounded so reruns diff cleanly.
* CSV: one table, the section's name in the first column and the union of the sections'
  columns after it, so a spreadsheet can filter it; text cells neutralised (no formulas).
* Table: one rich table per section; stranger-written cells (post text, handles, terms) are
  ``Text`` objects (never parsed as markup) with control characters and ANSI stripped.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from harken.reports.scope import Scope
from harken.text import for_csv, strip_controls, to_json

DIGITS = 4  # floats in JSON and CSV: enough for shares and scores, stable across reruns


NUMERIC = {"int", "compact", "float", "pct", "minutes", "signed"}


@dataclass(frozen=True)
class Column:
    """How a column is shown in a table: ``kind`` picks the formatting; ``show`` builds the
    cell from the whole row instead (a handle with its platform)."""

    name: str
    # text | int | compact | float | signed | pct | minutes | bool | time | date | stamp
    kind: str = "text"
    header: str | None = None
    width: int | None = None  # cut (with …) to this many characters in tables
    flex: bool = False  # takes the table's spare width (post text), cut with …
    show: Callable[[dict[str, Any]], str] | None = None

    @property
    def label(self) -> str:
        return self.header or self.name


@dataclass(frozen=True)
class Section:
    name: str  # the JSON key and the CSV ``section`` value
    title: str  # the table's title
    frame: pd.DataFrame
    columns: tuple[Column, ...]  # shown in tables; JSON and CSV carry every frame column
    empty: str = "nothing in this window"
    group_by: str | None = None  # a rule between rows where this column's value changes


@dataclass(frozen=True)
class Report:
    name: str
    scope: Scope
    sections: tuple[Section, ...]
    totals: dict[str, Any] = field(default_factory=dict)
    notes: tuple[str, ...] = ()  # caveats the reader needs (sampling, missing config)
    timezone: str = "UTC"

    def section(self, name: str) -> Section:
        return next(s for s in self.sections if s.name == name)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"report": self.name, **self.scope.to_json()}
        data["timezone"] = self.timezone
        data["totals"] = {k: plain(v) for k, v in self.totals.items()}
        for section in self.sections:
            data[section.name] = records(section.frame)
        data["notes"] = list(self.notes)
        return data


def plain(value: Any) -> Any:
    """A JSON-ready Python value: numpy scalars unwrapped, NaN/NaT -> None, times as ISO."""
    if isinstance(value, list | tuple | np.ndarray):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp | datetime):
        return value.isoformat()
    if isinstance(value, np.bool_ | bool):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return None if math.isnan(value) else round(float(value), DIGITS)
    return value


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{str(k): plain(v) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def report_json(report: Report) -> str:
    return to_json(report.to_json(), indent=2)


def report_csv(report: Report) -> str:
    columns: list[str] = []
    for section in report.sections:
        columns += [str(c) for c in section.frame.columns if str(c) not in columns]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["section", *columns])
    for section in report.sections:
        for row in records(section.frame):
            writer.writerow([section.name, *(_csv_cell(row.get(c)) for c in columns)])
    return out.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bool | np.bool_):  # as the exports write it (not Python's False)
        return "true" if value else "false"
    if isinstance(value, list):
        value = ";".join(str(v) for v in value)
    return for_csv(value)


def report_table(report: Report) -> RenderableType:
    title = report.name.replace("-", " ").capitalize()
    header = Text(f"{title} · {report.scope.describe()}", style="bold")
    if report.totals:
        totals = " · ".join(total_text(k, v, report.timezone) for k, v in report.totals.items())
        header.append("\n" + totals, style="")
    parts: list[RenderableType] = [header]
    parts += [_table(section, report.timezone) for section in report.sections]
    parts += [Text(f"Note: {note}", style="dim") for note in report.notes]
    return Group(*parts)


def total_text(key: str, value: Any, timezone: str) -> str:
    """A headline number as the table's header shows it (the web's too)."""
    if isinstance(value, pd.Timestamp | datetime):
        # Its zone said: the header above it gives the window in UTC.
        shown = f"{_time(value, timezone, 'stamp')} {timezone}"
    elif isinstance(value, float) and value.is_integer():
        shown = f"{int(value):,}"
    else:
        shown = _show(value, "pct" if key.endswith(("_share", "_pct")) else "float")
    return f"{key.replace('_', ' ')} {shown}"


def _table(section: Section, timezone: str) -> RenderableType:
    if not len(section.frame):
        return Text(f"{section.title}: {section.empty}", style="italic")
    # No outer edge: two more characters for the data, so tables fit 80 columns.
    table = Table(title=section.title, title_justify="left", show_edge=False)
    for column in section.columns:
        # A flex column (post text) wraps over a few lines and gives way first when the
        # terminal is narrow; the others keep one line each.
        table.add_column(
            column.label,
            justify="right" if column.kind in NUMERIC else "left",
            no_wrap=not column.flex,
            max_width=None if column.flex else column.width,
            overflow="fold" if column.flex else "ellipsis",
            min_width=16 if column.flex else None,
        )
    rows = section.frame.to_dict(orient="records")
    for i, row in enumerate(rows):
        last_of_group = (
            section.group_by is not None
            and i + 1 < len(rows)
            and rows[i + 1][section.group_by] != row[section.group_by]
        )
        table.add_row(
            *(_cell(row, c, timezone) for c in section.columns), end_section=last_of_group
        )
    return table


def shown_rows(section: Section, timezone: str) -> list[list[str]]:
    """Each row's cells as the terminal table shows them (the web's tables show the same)."""
    return [
        [cell_text(row, c, timezone) for c in section.columns]
        for row in section.frame.to_dict(orient="records")
    ]


def cell_text(row: dict[str, Any], column: Column, timezone: str) -> str:
    value = row.get(column.name)
    if column.show is not None:
        return " ".join(strip_controls(column.show(row)).split())
    if column.kind in TIME_FORMATS:
        return _time(value, timezone, column.kind)
    return _show(value, column.kind)


def _cell(row: dict[str, Any], column: Column, timezone: str) -> Text:
    cell = Text(cell_text(row, column, timezone))  # a Text is never parsed as markup
    if column.width:
        cell.truncate(column.width, overflow="ellipsis")  # by terminal cells: CJK is double
    return cell


def _show(value: Any, kind: str) -> str:
    value = plain(value)
    if value is None:
        return "–"
    if isinstance(value, list):
        return ", ".join(" ".join(strip_controls(str(v)).split()) for v in value)
    if kind == "bool":
        return "yes" if value else ""
    if kind == "int" and isinstance(value, int | float):
        return f"{int(value):,}"
    if kind == "compact" and isinstance(value, int | float):
        return compact(value)
    if kind == "signed" and isinstance(value, int | float):
        return f"{value:+.2f}"
    if kind == "pct" and isinstance(value, int | float):
        return f"{value * 100:.1f}%"
    if kind == "minutes" and isinstance(value, int | float):
        return minutes(value)
    if kind == "float" and isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return " ".join(strip_controls(str(value)).split())


def compact(value: float) -> str:
    """A big count at a glance: 950, 12.3k, 4.5M."""
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= limit:
            return f"{value / limit:.1f}{suffix}"
    return f"{int(value)}"


def minutes(value: float) -> str:
    """A duration in minutes, read at a glance: 45m, 3.5h, 2.1d."""
    if value < 59.5:
        return f"{value:.0f}m"
    if value < 48 * 60:
        return f"{value / 60:.1f}h"
    return f"{value / 1440:.1f}d"


TIME_FORMATS = {"time": "%m-%d %H:%M", "date": "%Y-%m-%d", "stamp": "%Y-%m-%d %H:%M"}


def _time(value: Any, timezone: str, kind: str = "time") -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return "–"
    stamp = pd.Timestamp(value)
    if stamp.tzinfo is None:
        stamp = stamp.tz_localize("UTC")
    return stamp.tz_convert(timezone).strftime(TIME_FORMATS[kind])
