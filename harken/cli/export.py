"""``harken export mentions|queue|incidents``: the store as files for spreadsheets and other
tools. Parsing and checking only: the rows and the writers are in harken.reports.export and
export_writers.

The data goes to the file (or stdout); everything said about it (the progress bar, notes, the
closing ``Exported N mentions to FILE (csv)``) goes to stderr, so
``harken export mentions --format jsonl | jq ...`` reads nothing but rows. Every check that can
fail (the window, the format, where the file goes, the filters) runs before a row is read.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Annotated

import typer
from rich.text import Text

from harken.cli.common import (
    MAX_ID,
    HarkenGroup,
    SentimentChoice,
    check_department,
    open_store,
    progress_bars,
    root_state,
    scope_of,
)

if TYPE_CHECKING:
    from harken.reports.export import Filters

export_app = typer.Typer(
    cls=HarkenGroup,
    no_args_is_help=True,
    help="Write mentions, queue items or incidents to CSV, JSON, JSONL, Parquet or XLSX.",
)

# Incidents harken routes stay open (their items close); a store may hold closed ones.
INCIDENT_STATUSES = ("open", "closed")


class ExportFormat(StrEnum):
    csv = "csv"
    json = "json"
    jsonl = "jsonl"
    parquet = "parquet"
    xlsx = "xlsx"


SinceOption = Annotated[
    str, typer.Option(help="Duration back from now (24h, 30d) or ISO date; by post time.")
]
UntilOption = Annotated[
    str | None, typer.Option(help="ISO date or duration back from now (default: now).")
]
BrandOption = Annotated[str | None, typer.Option(help="Only this configured brand.")]
PlatformOption = Annotated[
    list[str] | None,
    typer.Option("--platform", "-p", help="Only these platforms (repeatable, or x,reddit)."),
]
FormatOption = Annotated[
    ExportFormat | None,
    typer.Option(
        "--format", "-f", help="Default: from --out's extension (.csv .json ...), else csv."
    ),
]
OutOption = Annotated[
    str | None,
    typer.Option(
        "--out",
        "-o",
        help="File to write; '-' or none: stdout. A device or FIFO is written through; "
        "a symlink to a file, or a directory, is refused (docs/exports.md).",
    ),
]
LimitOption = Annotated[
    int | None,
    typer.Option("--limit", "-n", min=1, max=MAX_ID, help="At most N rows (lowest ids first)."),
]
DepartmentOption = Annotated[str | None, typer.Option("--department", "-d")]


@export_app.command("mentions")
def export_mentions(
    ctx: typer.Context,
    since: SinceOption = "30d",
    until: UntilOption = None,
    brand: BrandOption = None,
    platform: PlatformOption = None,
    format: FormatOption = None,
    out: OutOption = None,
    limit: LimitOption = None,
    sentiment: Annotated[SentimentChoice | None, typer.Option("--sentiment")] = None,
    min_risk: Annotated[
        float | None, typer.Option("--min-risk", min=0.0, max=1.0, help="Risk at least this.")
    ] = None,
    department: Annotated[
        str | None,
        typer.Option(
            "--department", "-d", help="Only mentions routed there (opened or joined an item)."
        ),
    ] = None,
    incident: Annotated[
        int | None,
        typer.Option("--incident", min=1, max=MAX_ID, help="Only the posts of this incident."),
    ] = None,
) -> None:
    """Mentions: post, author, scores, incident, and the departments they were routed to."""
    from harken.reports.export import Filters

    filters = Filters(
        sentiment=sentiment.value if sentiment else None,
        min_risk=min_risk,
        department=department,
        incident=incident,
    )
    _export(ctx, "mentions", since, until, brand, platform, format, out, limit, filters)


@export_app.command("queue")
def export_queue(
    ctx: typer.Context,
    since: SinceOption = "30d",
    until: UntilOption = None,
    brand: BrandOption = None,
    platform: PlatformOption = None,
    format: FormatOption = None,
    out: OutOption = None,
    limit: LimitOption = None,
    department: DepartmentOption = None,
    status: Annotated[
        list[str] | None, typer.Option("--status", "-s", help="Repeatable; default: all.")
    ] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only items still waiting past their due time.")
    ] = False,
) -> None:
    """Queue items with their post, timings and SLA outcome (for SLA reviews)."""
    from harken.queue.items import STATUSES
    from harken.reports.export import Filters

    unknown = [s for s in status or [] if s not in STATUSES]
    if unknown:
        raise typer.BadParameter(f"unknown status {unknown[0]!r} (one of {', '.join(STATUSES)})")
    filters = Filters(department=department, statuses=tuple(status or ()), overdue=overdue)
    _export(ctx, "queue", since, until, brand, platform, format, out, limit, filters)


@export_app.command("incidents")
def export_incidents(
    ctx: typer.Context,
    since: SinceOption = "30d",
    until: UntilOption = None,
    brand: BrandOption = None,
    platform: PlatformOption = None,
    format: FormatOption = None,
    out: OutOption = None,
    limit: LimitOption = None,
    status: Annotated[
        list[str] | None, typer.Option("--status", "-s", help="Repeatable (e.g. open).")
    ] = None,
    min_size: Annotated[
        int | None, typer.Option("--min-size", min=1, max=MAX_ID, help="At least this many posts.")
    ] = None,
) -> None:
    """Incidents with a post in the window: size, top post, departments, open items."""
    from harken.reports.export import Filters

    # A misspelt status would match nothing, silently.
    unknown = [s for s in status or [] if s not in INCIDENT_STATUSES]
    if unknown:
        raise typer.BadParameter(
            f"unknown incident status {unknown[0]!r} (one of {', '.join(INCIDENT_STATUSES)};"
            " an item's status is export queue's --status)"
        )
    filters = Filters(statuses=tuple(status or ()), min_size=min_size)
    _export(ctx, "incidents", since, until, brand, platform, format, out, limit, filters)


def _export(
    ctx: typer.Context,
    kind: str,
    since: str,
    until: str | None,
    brand: str | None,
    platforms: list[str] | None,
    format: ExportFormat | None,
    out: str | None,
    limit: int | None,
    filters: Filters,
) -> None:
    from harken.reports import export as exports
    from harken.reports.export_writers import SHEET_ROWS

    now = datetime.now(UTC)
    config = root_state(ctx).config()
    # The same window, brand and platform rules as the reports (brand checked, -p x,reddit).
    scope = scope_of(config, since, until, brand, platforms)
    fmt, note = exports.choose_format(format.value if format else None, out)
    target = exports.check_target(fmt, out)
    store = open_store(config)
    try:
        if filters.department:
            check_department(config, filters.department, store)
        job = exports.plan(kind, scope, filters, limit, now)
        if note:
            sys.stderr.write(note + "\n")
        total = exports.count(store, job)
        with progress_bars() as progress:
            task = progress.add_task(kind, total=total)

            def on_sheet(name: str) -> None:
                progress.console.print(
                    Text(
                        f"Excel holds {SHEET_ROWS:,} rows a sheet (header included): "
                        f"continuing on sheet {name!r}"
                    )
                )

            result = exports.export(
                store,
                job,
                fmt,
                target,
                on_rows=lambda n: progress.advance(task, n),
                on_sheet=on_sheet,
            )
        sys.stderr.write(result.describe() + "\n")
        if result.warning():
            sys.stderr.write(f"{result.warning()}\n")
    finally:
        store.close()


def register(app: typer.Typer) -> None:
    """Adds the export group to ``app``."""
    app.add_typer(export_app, name="export")
