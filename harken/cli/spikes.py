"""``harken spikes``: stored volume spikes, a backtest over history, or the hourly check now.
The work is in harken.spikes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.text import Text

from harken.cli.common import (
    Format,
    open_store,
    out,
    parse_since,
    print_json,
    root_state,
)
from harken.text import one_line

# -- spikes ---------------------------------------------------------------------------------


def spikes(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option(help="Stored spikes of hours since (duration or ISO date).")
    ] = "7d",
    backtest: Annotated[
        str | None,
        typer.Option(
            "--backtest", help="Replay detection over this much stored history (30d); no writes."
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="End of the --backtest replay (ISO date; default now).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Run the hourly check now (stores and alerts).")
    ] = False,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Volume spikes per brand, topic and negative posts against the hour-of-week baseline."""
    from dataclasses import asdict

    from harken.config import parse_duration
    from harken.spikes import detection as spike_store
    from harken.spikes.job import brand_keywords, check_spikes

    config = root_state(ctx).config()
    store = open_store(config)
    now = datetime.now(UTC)
    if backtest is not None and check:
        raise typer.BadParameter("use either --backtest or --check")
    if until is not None and backtest is None:  # it would be silently ignored
        raise typer.BadParameter("--until ends a --backtest replay: give --backtest too")
    if backtest is not None:
        try:
            window = parse_duration(backtest)
        except ValueError as error:
            raise typer.BadParameter(f"--backtest: {error}") from None
        end = parse_since(until) if until else now
        findings = spike_store.backtest(
            store, config.spikes, end - window, end, keywords=brand_keywords(config)
        )
        hours = len({f.hour_start for f in findings})  # a busy hour can spike in several series
        title = (
            f"backtest over the last {backtest}: {len(findings)} spike(s) in {hours} hour(s),"
            " nothing stored"
        )
    else:
        if check:
            check_spikes(store, config, now)
        findings = [
            spike_store.SpikeFinding.of(s)
            for s in spike_store.recent_spikes(store, parse_since(since))
        ]
        start = parse_since(since)
        title = f"{len(findings)} spike(s) stored for hours since {start:%Y-%m-%d %H:%M} UTC"
    if format is Format.json:
        print_json([{**asdict(f), "hour_start": f.hour_start.isoformat()} for f in findings])
        return
    out.print(title)
    for f in findings:  # two lines each: readable at any terminal width
        incidents = " ".join(f"#{i}" for i in f.top_incidents[:5]) or "none"
        out.print(
            Text.assemble(
                (f"{f.hour_start:%Y-%m-%d %H:00} UTC", "bold"),
                f" · {one_line(f.brand or '-', 30)} · {one_line(f.series, 40)} · {f.count} posts,"
                f" usual {f.baseline:.1f} ({f.ratio:.1f}x, p {f.p_value:.0e})"
                f" · incidents {incidents}",
            )
        )
        out.print(Text(f"    terms: {one_line(', '.join(f.terms[:8]) or '-', 110)}", style="dim"))


def register(app: typer.Typer) -> None:
    """Adds the spikes command to ``app``."""
    app.command()(spikes)
