"""``harken demo``, ``harken init`` and ``harken doctor``: trying harken, starting a config,
and checking one. The work is in harken.pipeline.demo, harken.config and harken.pipeline.doctor.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated

import typer
from rich.text import Text

from harken.cli.common import StageProgress, describe_pass, out, progress_bars, root_state
from harken.errors import HarkenError
from harken.logs import redact

# -- demo -----------------------------------------------------------------------------------


def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo's database and config go.")
    ] = Path("harken-demo"),
) -> None:
    """Run the whole job offline on bundled posts into a fresh database, then report."""
    from harken.notify.registry import build_sinks
    from harken.pipeline.demo import run_demo
    from harken.reports.render import summary_table
    from harken.reports.summary import summary

    out.print(f"[bold]harken demo[/] → {directory}/ (bundled posts, offline)")
    with progress_bars() as progress:
        # Counted in posts; a file line may hold a page of many, so no total is known upfront.
        tracker = StageProgress(progress, {"ingest": None})
        result = run_demo(directory, lambda config: build_sinks(config, out), tracker)
    out.print()
    for platform, ingested in result.ingested.items():
        out.print(
            f"ingested {platform:<9} {ingested.stored:>4} stored · {ingested.off_brand} off-brand"
            f" · {ingested.own_described('own posts')}"
            f" · {len(ingested.rejected) + len(ingested.refused)} rejected"
        )
    processed = result.processed
    assert processed is not None
    out.print(Text(describe_pass(processed)))
    if result.largest_incident:
        incident_id, size = result.largest_incident
        out.print(
            f"grouped into {result.incidents} incidents (largest: #{incident_id}, {size} posts)"
            f" · spikes detected over the demo's history: {len(result.spikes)}"
            + "".join(
                f"\n  spike {s.hour_start:%m-%d %H:00} UTC {s.brand} {s.series}: {s.count} posts,"
                f" {s.ratio:.0f}x the usual"
                for s in result.spikes
                if s.series == "volume"
            )
        )
    until = datetime.now(UTC)
    since = until - result.span - timedelta(hours=1)
    out.print()
    out.print(summary_table(summary(result.store, since, until)))
    db_path = result.config.database.url.removeprefix("sqlite:///")
    cfg = result.directory / "config.yaml"
    out.print()
    out.print(f"Database: {db_path}")
    out.print(f"Config:   {cfg}")
    if result.digest_path is not None:
        out.print(f"Digest:   {result.digest_path} (PR's digest of {result.digest_day}, so far)")
    if result.web_login is not None:
        name, password = result.web_login
        web = result.config.web
        out.print(
            f"Web:      harken --config {cfg} web, then open http://{web.host}:{web.port}/"
            f" and sign in as {name} / {password}"
        )
    out.print("Next:")
    for command in (
        f"harken --config {cfg} queue list",
        f"harken --config {cfg} queue show 1",
        f"harken --config {cfg} queue reply 1",
        f"harken --config {cfg} route --explain 1",
        f"harken --config {cfg} rules test --since 30d",
        f"harken --config {cfg} spikes --backtest 30d",
        f"harken --config {cfg} alerts --status held",
        f"harken --config {cfg} digest --out digest.html",
        f"harken --config {cfg} queue list --department engineering --format json",
        f"harken --config {cfg} report summary --since 3d --format csv",
        f"harken --config {cfg} report trend --since 3d --chart trend.png",
        f"harken --config {cfg} report incidents --since 3d",
        f"harken --config {cfg} export mentions --since 3d -o mentions.xlsx",
        f'harken --config {cfg} classify "@acmesupport I was charged twice, please refund"',
        f"harken --config {cfg} doctor",
    ):
        out.print(f"  {command}")
    result.store.close()


# -- init / doctor --------------------------------------------------------------------------


def env_template() -> str:
    """The ``.env`` that ``harken init`` writes: each platform's variables from the registry."""
    from harken.platforms.registry import env_template as platform_env

    platforms = platform_env()
    return (
        "# Secrets for harken, read when the config beside this file references ${VAR}.\n"
        "# Variables already set in the environment win over this file. Never commit it.\n"
        f"{platforms.listening}"
        "SLACK_BOT_TOKEN=\n"
        "# The Slack app (`harken slack serve`): Socket Mode, or HTTP mode's request signatures.\n"
        "SLACK_APP_TOKEN=\n"
        "SLACK_SIGNING_SECRET=\n"
        "# Only to answer from `harken queue reply --send`"
        " (see the sources section of config.yaml).\n"
        f"{platforms.replying}"
        "# Hand-offs, as config.yaml's commented examples name them (alerts: webhooks, teams,\n"
        "# pagerduty; tickets:). A Teams Workflows URL carries its own signature: a secret too.\n"
        + "".join(f"{var}=\n" for var in HANDOFF_ENV)
    )


HANDOFF_ENV = (
    "OPS_WEBHOOK_URL",
    "OPS_WEBHOOK_SECRET",
    "TEAMS_WEBHOOK_URL",
    "TEAMS_ENGINEERING_URL",
    "PAGERDUTY_ENGINEERING_KEY",
    "PAGERDUTY_LEGAL_KEY",
    "JIRA_API_TOKEN",
    "ZENDESK_API_TOKEN",
)


def init(
    directory: Annotated[Path, typer.Argument(help="Where to write config.yaml and .env.")] = Path(
        "."
    ),
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Write an annotated config.yaml and a .env template for a new user."""
    from harken.config import example_config_text
    from harken.reports.output import cannot, output_target, write_output

    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise cannot(directory, error) from None
    texts = {directory / "config.yaml": example_config_text(), directory / ".env": env_template()}
    existing = [str(p) for p in texts if p.exists() or p.is_symlink()]
    if existing and not force:
        raise HarkenError(f"{', '.join(existing)} already exist", hint="use --force to overwrite")
    # Both checked before either is written (the rule of every output: no symlink followed).
    targets = [(output_target(path), text) for path, text in texts.items()]
    for target, text in targets:
        write_output(target, text, mode=0o600 if target.path == directory / ".env" else None)
        out.print(f"wrote {target}")
    out.print(
        f"Next: edit {directory / 'config.yaml'}, then run: harken --config "
        f"{directory / 'config.yaml'} doctor"
    )


def doctor(
    ctx: typer.Context,
    skip_model: Annotated[
        bool, typer.Option("--skip-model", help="Do not load the model.")
    ] = False,
) -> None:
    """Check the config, credentials, database and model, and say what to fix."""
    from harken.pipeline.doctor import run_checks

    checks = run_checks(root_state(ctx).config, load_model=not skip_model)
    failed = 0
    for check in checks:
        mark = {"ok": "[green]ok[/]  ", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}[
            check.status
        ]
        out.print(f"{mark} {check.name}: {Text(redact(check.detail)).markup}")
        if check.fix:
            out.print(f"      fix: {Text(redact(check.fix)).markup}")
        failed += check.status == "fail"
    if failed:
        raise HarkenError(f"{failed} check{'s' if failed > 1 else ''} failed (see above)")


def register(app: typer.Typer) -> None:
    """Adds demo, init and doctor to ``app``, in that order."""
    app.command()(demo)
    app.command()(init)
    app.command()(doctor)
