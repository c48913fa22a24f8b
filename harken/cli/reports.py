"""``harken report ...``: the social team's numbers as rich tables, JSON, CSV and PNG charts.

Every report takes the same scope options (``--since/--until``, ``--brand``, ``--platform``)
and ``--format table|json|csv``; most take ``--chart FILE.png``. The numbers are computed in
harken.reports; this module parses options and prints. Tables go to stdout, progress and
"chart written" lines to stderr, so ``-f json > file`` stays clean. ``--chart`` follows the
rule of every output (harken.reports.output); ``--chart -`` puts the PNG on stdout and the
report on stderr.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from harken.cli.common import HarkenGroup, ReportFormat, err, open_store, out, root_state, scope_of
from harken.config import Config, parse_duration
from harken.platforms.registry import platform_names
from harken.reports.output import OutputTarget, output_target, write_output

report_app = typer.Typer(cls=HarkenGroup, no_args_is_help=True, help="Reports over the store.")

SinceOption = Annotated[
    str, typer.Option(help="Start: a duration back from now (24h, 7d) or an ISO date.")
]
UntilOption = Annotated[
    str | None, typer.Option(help="End (exclusive): ISO date or duration back from now.")
]
BrandOption = Annotated[str | None, typer.Option(help="Only this configured brand.")]
PlatformOption = Annotated[
    list[str] | None,
    typer.Option("--platform", "-p", help=f"Only these platforms ({', '.join(platform_names())})."),
]
FormatOption = Annotated[ReportFormat, typer.Option("--format", "-f")]


def chart_target(value: str) -> OutputTarget:
    """``--chart``, checked before the report is read: a .png file, a device or FIFO, or -."""
    target = output_target(value, binary=True)
    if not target.stream and target.path and target.path.suffix.lower() != ".png":
        raise typer.BadParameter(f"{value}: charts are PNG files (name it .png)")
    return target


ChartOption = Annotated[
    OutputTarget | None,
    typer.Option(
        "--chart",
        metavar="FILE.png",
        parser=chart_target,
        help="Also draw the report as a PNG chart here ('-': stdout, the report to stderr).",
    ),
]
TopOption = Annotated[int, typer.Option("--top", "-n", min=1, max=10_000, help="Rows per ranking.")]


class Bucket(StrEnum):
    auto = "auto"
    hour = "hour"
    day = "day"


@contextmanager
def working(what: str) -> Iterator[None]:
    """A spinner on stderr while a long query runs (nothing when stderr is not a terminal)."""
    if not err.is_terminal:
        yield
        return
    with err.status(what, spinner="dots"):
        yield


def emit(
    report: Any, format: ReportFormat, chart: OutputTarget | None, draw: Callable[[], bytes]
) -> None:
    from harken.reports.tabular import report_csv, report_json, report_table

    if chart is not None:
        write_chart(chart, draw)
    show(
        format,
        chart,
        lambda: report_json(report) + "\n",
        lambda: report_csv(report),
        lambda: report_table(report),
    )


def show(
    format: ReportFormat,
    chart: OutputTarget | None,
    as_json: Callable[[], str],
    as_csv: Callable[[], str],
    as_table: Callable[[], Any],
) -> None:
    """The report on stdout, or on stderr when the chart took stdout (``--chart -``)."""
    moved = chart is not None and chart.stdout
    if format is ReportFormat.json:
        (sys.stderr if moved else sys.stdout).write(as_json())
    elif format is ReportFormat.csv:
        (sys.stderr if moved else sys.stdout).write(as_csv())
    else:
        (err if moved else out).print(as_table())


def write_chart(target: OutputTarget, draw: Callable[[], bytes]) -> None:
    write_output(target, draw())  # a file appears whole or not at all
    err.print(f"Chart written to {target}", markup=False, highlight=False)


def _zone(config: Config, tz: str | None) -> str:
    name = tz or config.digest.timezone
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise typer.BadParameter(f"unknown time zone {name!r} (try Asia/Tokyo, UTC)") from None
    return name


@report_app.command("summary")
def report_summary(
    ctx: typer.Context,
    since: SinceOption = "24h",
    until: UntilOption = None,
    brand: BrandOption = None,
    platform: PlatformOption = None,
    format: FormatOption = ReportFormat.table,
    chart: ChartOption = None,
) -> None:
    """Volume, sentiment split, complaints, risk distribution and queue states, per platform."""
    from harken.reports.render import summary_csv, summary_json, summary_table
    from harken.reports.report_charts import summary_chart
    from harken.reports.summary import summary

    config = root_state(ctx).config()
    scope = scope_of(config, since, until, brand, platform)
    with working("Reading mentions…"):
        report = summary(open_store(config), scope.since, scope.until, brand, scope.platforms)
    if chart is not None:
        write_chart(chart, lambda: summary_chart(report))
    show(
        format,
        chart,
        lambda: summary_json(report) + "\n",
        lambda: summary_csv(report),
        lambda: summary_table(report),
    )


@report_app.command("trend")
def report_trend(
    ctx: typer.Context,
    since: SinceOption = "7d",
    until: UntilOption = None,
    brand: BrandOption = None,
    platform: PlatformOption = None,
    by: Annotated[
        Bucket, typer.Option("--by", help="Bucket size; auto: hours up to 3 days, else days.")
    ] = Bucket.auto,
    tz: Annotated[
        str | None, typer.Option("--tz", help="Time zone of the buckets (else digest.timezone).")
    ] = None,
    format: FormatOption = ReportFormat.table,
    chart: ChartOption = None,
) -> None:
    """Volume and sentiment per hour or day, with detected spikes marked."""
    from harken.reports.report_charts import trend_chart
    from harken.reports.trend import trend

    config = root_state(ctx).config()
    scope = scope_of(config, since, until, brand, platform)
    zone = _zone(config, tz)
    with working("Counting mentions…"):
        report = trend(open_store(config), scope, by.value, zone)
    emit(report, format, chart, lambda: trend_chart(report))


@report_app.command("share-of-voice")
def report_share_of_voice(
    ctx: typer.Context,
    since: SinceOption = "7d",
    until: UntilOption = None,
    brand: BrandOption = None,
    platform: PlatformOption = None,
    format: FormatOption = ReportFormat.table,
    chart: ChartOption = None,
) -> None:
    """Each brand against its competitors (brands: competitors:): volume, sentiment, reach."""
    from harken.reports.report_charts import voice_chart
    from harken.reports.voice import share_of_voice

    config = root_state(ctx).config()
    scope = scope_of(config, since, until, brand, platform)
    with working("Comparing brands…"):
        report = share_of_voice(open_store(config), config, scope)
    emit(report, format, chart, lambda: voice_chart(report))


@report_app.command("authors")
def report_authors(
    ctx: typer.Context,
    since: SinceOption = "7d",
    until: UntilOption = None,
    brand: BrandOption = None,
    platform: PlatformOption = None,
    top: TopOption = 10,
    format: FormatOption = ReportFormat.table,
    chart: ChartOption = None,
) -> None:
    """Top authors by reach and by volume, with their sentiment and open queue items."""
    from harken.reports.authors import authors
    from harken.reports.report_charts import CHARTS

    config = root_state(ctx).config()
    scope = scope_of(config, since, until, brand, platform)
    with working("Ranking authors…"):
        report = authors(open_store(config), scope, top)
    emit(report, format, chart, lambda: CHARTS["authors"](report))


@report_app.command("topics")
def report_topics(
    ctx: typer.Context,
    since: SinceOption = "24h",
    until: UntilOption = None,
    brand: BrandOption = None,
    platform: PlatformOption = None,
    top: TopOption = 15,
    format: FormatOption = ReportFormat.table,
    chart: ChartOption = None,
) -> None:
    """Top topics and terms against the window before, rising ones first."""
    from harken.reports.report_charts import CHARTS
    from harken.reports.topics import topics

    config = root_state(ctx).config()
    scope = scope_of(config, since, until, brand, platform)
    with working("Counting topics and terms…"):
        report = topics(open_store(config), config, scope, top)
    emit(report, format, chart, lambda: CHARTS["topics"](report))


@report_app.command("departments")
def report_departments(
    ctx: typer.Context,
    since: SinceOption = "7d",
    until: UntilOption = None,
    brand: BrandOption = None,
    platform: PlatformOption = None,
    format: FormatOption = ReportFormat.table,
    chart: ChartOption = None,
) -> None:
    """Per department: items in, open, first-response and resolution times, SLA met, breaches."""
    from harken.reports.departments import departments
    from harken.reports.report_charts import departments_chart

    config = root_state(ctx).config()
    scope = scope_of(config, since, until, brand, platform)
    with working("Reading queues…"):
        report = departments(open_store(config), config, scope, datetime.now(UTC))
    emit(report, format, chart, lambda: departments_chart(report))


@report_app.command("routing")
def report_routing(
    ctx: typer.Context,
    since: SinceOption = "30d",
    until: UntilOption = None,
    brand: BrandOption = None,
    platform: PlatformOption = None,
    format: FormatOption = ReportFormat.table,
) -> None:
    """Per department and rule: items confirmed, moved away, dismissed as not ours; precision."""
    from harken.reports.routing import routing
    from harken.reports.tabular import report_csv, report_json, report_table

    config = root_state(ctx).config()
    scope = scope_of(config, since, until, brand, platform)
    with working("Reading corrections…"):
        report = routing(open_store(config), config, scope)
    show(
        format,
        None,
        lambda: report_json(report) + "\n",
        lambda: report_csv(report),
        lambda: report_table(report),
    )


@report_app.command("incidents")
def report_incidents(
    ctx: typer.Context,
    since: SinceOption = "24h",
    until: UntilOption = None,
    brand: BrandOption = None,
    platform: PlatformOption = None,
    top: TopOption = 10,
    recent: Annotated[
        str, typer.Option(help="How far back 'fastest-growing' looks from the window's end.")
    ] = "6h",
    format: FormatOption = ReportFormat.table,
    chart: ChartOption = None,
) -> None:
    """The largest, the fastest-growing and the riskiest incidents, with status and where."""
    from harken.reports.incidents import incidents
    from harken.reports.report_charts import CHARTS

    config = root_state(ctx).config()
    scope = scope_of(config, since, until, brand, platform)
    try:
        span = parse_duration(recent)
    except ValueError:
        raise typer.BadParameter("--recent takes a duration (6h, 30m, 1d)") from None
    if span <= timedelta(0):
        raise typer.BadParameter("--recent must be positive")
    with working("Reading incidents…"):
        report = incidents(open_store(config), scope, top, span)
    emit(report, format, chart, lambda: CHARTS["incidents"](report))


def register(app: typer.Typer) -> None:
    """Adds the report group to ``app``."""
    app.add_typer(report_app, name="report")
