"""``harken listen``, ``sources``, ``run`` and ``worker``: poll the live sources once, show
their health, and the long-running daemon and worker processes. The work is in
harken.pipeline (collect, scheduler, worker, source_status) and harken.platforms.registry.

Long-running commands print timestamped lines (``say``) and stop cleanly on SIGINT/SIGTERM.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from harken.cli.common import (
    Format,
    describe_pass,
    err,
    from_signal_handler,
    open_store,
    out,
    print_json,
    root_state,
)
from harken.config import Config
from harken.errors import HarkenError
from harken.text import one_line, strip_controls

if TYPE_CHECKING:
    from harken.slackapp.beside import SlackBeside


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
    from harken.notify.registry import build_sinks
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
    out.print(Text(describe_pass(passed)))
    failed = [r.source for r in result.polls if r.error and r.rate_limited_until is None]
    if failed:
        raise HarkenError(
            f"{len(failed)} of {len(result.polls)} sources failed: {', '.join(failed)}",
            hint="`harken sources` shows the last error of each; the rest was stored",
        )


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
        print_json([s.to_json() for s in statuses])
    else:
        out.print(_sources_table(statuses, now))
    bad = [s.name for s in statuses if s.enabled and s.state == "unhealthy"]
    if check and bad:
        raise HarkenError(f"unhealthy: {', '.join(bad)}")


def _sources_table(statuses: list[Any], now: datetime) -> Table:
    streaming = any(s.stream for s in statuses)
    table = Table("source", "state", "last success", "lag", "1h", "24h", "quota", "last error")
    if streaming:  # a column only for configs that stream
        table.add_column("stream")
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
        row = [
            s.name,
            s.state,
            _ago(s.last_success_at, now),
            _duration(s.lag_seconds),
            str(s.collected_last_hour),
            str(s.collected_last_day),
            left,
            Text(error),
        ]
        table.add_row(*row, *([Text(_stream_cell(s.stream))] if streaming else []))
    return table


def _stream_cell(stream: dict[str, Any] | None) -> str:
    """ "live · lag 2s", "silent 3m", "down: <error>"; "" for a source without a stream."""
    if not stream:
        return ""
    if stream["state"] == "live":
        return f"live · lag {_duration(stream.get('lag_seconds'))}"
    if stream["state"] == "silent":
        return f"silent {_duration(stream.get('heard_seconds_ago'))}"
    if stream["state"] == "stopped":
        return "stopped"
    if stream["state"] == "off":
        return f"off: {one_line(stream.get('last_error') or '', 60)}"
    error = stream.get("last_error")
    return "down" + (f": {one_line(error, 60)}" if error else " (not started)")


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

    from harken.notify.registry import build_sinks
    from harken.pipeline.scheduler import Daemon
    from harken.platforms.registry import build_sources, build_streams
    from harken.platforms.source import Runtime

    config = root_state(ctx).config()
    stop = threading.Event()
    sources = build_sources(config, runtime=Runtime(stop=stop))
    if not sources:
        raise HarkenError(
            "no source is enabled", hint="set enabled: true under sources in the config"
        )
    slack = _slack_app(config)  # its settings checked before anything starts
    store = open_store(config)
    _stop_on_signals(stop, _say)
    mode = " (scheduler only: workers process)" if scheduler_only else ""
    with_app = "; the Slack app in Socket Mode" if slack else ""
    _say(
        f"harken run{mode}: {len(sources)} sources, database {_redacted(config)}{with_app};"
        " Ctrl-C stops"
    )
    daemon = Daemon(
        store, config, sources, build_sinks(config, out), stop, _say, streams=build_streams(sources)
    )
    beside = slack(config, store, stop, _say) if slack else None
    web = _web_workspace(config, store, stop)
    try:
        daemon.run(scheduler_only=scheduler_only, on_lock=beside.start if beside else None)
    finally:
        stop.set()  # the scheduler stopped (or never got the lock): so do the app and the web
        if beside:
            beside.join()
        if web:
            web.join()


def _web_workspace(config: Config, store: Any, stop: Any) -> Any:
    """With ``web.enabled``: the workspace served beside the scheduler, started now (it reads
    and acts through the store, so a standby scheduler serves it too)."""
    if not config.web.enabled:
        return None
    from harken.web.beside import WebBeside

    web = WebBeside(config, store, stop, _say)
    web.start()
    return web


def _slack_app(config: Config) -> type[SlackBeside] | None:
    """The Slack app's runner when ``alerts.slack.app_token`` is set, else None; imported
    only then (slack_bolt is not needed by a daemon without it)."""
    if not (config.alerts.slack and config.alerts.slack.app_token):
        return None
    from harken.slackapp.beside import SlackBeside, check

    check(config)
    return SlackBeside


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

    signals: list[int] = []  # received so far (no lock: the handler may interrupt itself)

    def request_stop(signum: int, _frame: Any) -> None:
        # A second signal, or one while the run is stopping anyway: do not wait for a slow
        # request to finish (is_set takes no lock).
        if signals or stop.is_set():
            say("second signal: exiting now (committed work is safe)")
            os._exit(130)
        signals.append(signum)

        def begin_stop() -> None:
            say(f"received {signal.Signals(signum).name}; again to exit at once")
            stop.set()
            cutter = threading.Timer(STOP_GRACE_S, abort_all)
            cutter.daemon = True
            cutter.start()

        from_signal_handler(begin_stop)

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)


def worker(
    ctx: typer.Context,
    stages: Annotated[
        # Written out, not read from pipeline.stages: importing the pipeline for a help text
        # would slow every command's start (tests/test_stages.py checks they agree).
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

    from harken.notify.registry import build_sinks
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


def register(app: typer.Typer) -> None:
    """Adds listen, sources, run and worker to ``app``, in that order."""
    app.command()(listen)
    app.command()(sources)
    app.command()(run)
    app.command()(worker)
