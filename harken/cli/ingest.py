"""``harken import`` and ``harken process``: bring posts in from files, then classify, route
and notify what is pending. The work is in harken.pipeline.process.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from harken.cli.common import (
    StageProgress,
    describe_pass,
    err,
    one_of,
    open_store,
    out,
    progress_bars,
    root_state,
)
from harken.config import Config
from harken.platforms.registry import platform_names


def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSONL file of platform payloads, one per line.")],
    platform: Annotated[str, typer.Option("--platform", "-p", help=f"{one_of(platform_names())}.")],
    process: Annotated[
        bool, typer.Option(help="Classify, route and notify after importing.")
    ] = True,
) -> None:
    """Import platform payloads (backfills, exports) through the same parsers as live listeners."""
    from harken.pipeline.ingest import ingest
    from harken.platforms.registry import parser_for
    from harken.platforms.replay import Rejections, read_jsonl

    parser_for(platform)  # fail on an unknown platform before touching anything
    config = root_state(ctx).config()
    # Rejections are tallied on the way in: a million bad items print as one summary line.
    rejections = Rejections()
    records = rejections.records(read_jsonl(file, platform))
    store = open_store(config)
    with progress_bars() as progress:
        result = ingest(
            store,
            config,
            records,
            source=f"import:{file.name}",
            on_progress=StageProgress(progress, {"ingest": None}),
        )
    for rejection in rejections.shown:
        err.print(f"skipped line {rejection.line}: {Text(rejection.reason).markup}", soft_wrap=True)
    if summary := rejections.summary():
        err.print(Text(summary).markup, soft_wrap=True)
    for refusal in result.refused:
        err.print(f"not stored: {Text(refusal).markup}", soft_wrap=True)
    cut = f", {rejections.cut} cut to fit" if rejections.cut else ""
    out.print(
        f"{file}: {result.stored} stored, {result.duplicates} already stored, "
        f"{result.off_brand} off-brand, {result.own_described('from own accounts')}, "
        f"{rejections.total + len(result.refused)} rejected{cut}"
    )
    if process:
        _process(config, store)


def process(ctx: typer.Context) -> None:
    """Classify, route and notify everything pending (resumes an interrupted run)."""
    config = root_state(ctx).config()
    _process(config, open_store(config))


def _process(config: Config, store: Any) -> None:
    from harken.notify.registry import build_sinks
    from harken.pipeline.process import run_pass
    from harken.store.repo import count_pending

    with store.session() as session:
        pending = count_pending(session)
    with progress_bars() as progress:
        tracker = StageProgress(progress, {"classify": pending["unclassified"]})
        result = run_pass(store, config, build_sinks(config, out), on_progress=tracker)
    out.print(Text(describe_pass(result)))
    for problem in result.notify.errors:
        err.print(f"alert not delivered: {Text(problem).markup}")


def register(app: typer.Typer) -> None:
    """Adds import and process to ``app``, in that order."""
    app.command("import")(import_)
    app.command()(process)
