"""``harken worker``: processes that share the pipeline's work through the database.

Each worker loops over its stages (the worker stages of the table in
``harken/pipeline/stages.py``), one batch per stage and round, and sleeps when a round found
nothing. Nothing is handed out by a coordinator: every batch is claimed in the store,
so any number of workers, on any number of hosts, share the work without doing it twice.

* **classify**: PostgreSQL ``SELECT ... FOR NO KEY UPDATE SKIP LOCKED`` of the oldest
  unclassified mentions; the rows stay locked while the model runs and the results are
  committed with the claim's transaction. A worker killed mid-batch commits nothing and lets
  go of its rows, which the next claim takes. (SQLite has no row locks: workers take turns.)
* **route**: one batch at a time per database (store/lock.py serial_session), because a post
  joins the incidents and open items of the posts before it, and alerts must be committed in
  id order (each channel gets them in that order). Routing is cheap next to classification,
  so workers rarely wait for it.
* **notify**: the outbox (notify/outbox.py): each alert is claimed (pending -> sending) in its
  own transaction before the call; a lane (sink and channel) whose head is in flight waits,
  so alerts go out exactly once and in order per channel, whoever sends them. A claim names
  its delivery run's lease (store/lock.py SenderLease), which dies with the worker: the
  next sender takes back a killed worker's claims at once, and never a live one's.

The scheduler (``harken run --scheduler-only``) polls the sources and runs the timed jobs;
workers do the rest. ``--concurrency N`` starts N worker processes and restarts one that
dies; ``--drain`` stops once the pipeline is empty (benchmarks, batch imports, tests).
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from harken.classify.classifier import Classifier
from harken.config import Config
from harken.errors import HarkenError
from harken.notify.contract import Sink
from harken.notify.outbox import describe_waiting
from harken.pipeline.stages import WORKER_STAGES, PassResult, Pipeline, stage
from harken.store import Store
from harken.store.repo import count_pending

log = logging.getLogger(__name__)

Say = Callable[[str], None]
REPORT_EVERY = 10.0  # seconds between progress lines while busy


def parse_stages(value: str) -> tuple[str, ...]:
    names = [s.strip() for s in value.split(",") if s.strip()]
    unknown = [s for s in names if s not in WORKER_STAGES]
    if unknown or not names:
        raise HarkenError(
            f"unknown stage {', '.join(unknown) or '(none)'}",
            hint=f"--stages takes a comma-separated list of {', '.join(WORKER_STAGES)}",
        )
    return tuple(s for s in WORKER_STAGES if s in names)  # pipeline order, each once


@dataclass
class WorkerTotals(PassResult):
    """What a worker's rounds did, summed."""

    def line(self) -> str:
        n = self.notify
        text = (
            f"classified {self.classified} · routed {self.route.mentions} into "
            f"{self.route.queue_items} queue items · {n.sent} alerts sent"
        )
        extra = [
            f"{count} {what}"
            for count, what in (
                (n.held, "held for the digest"),
                (n.retry_later, "waiting to retry"),
                (n.failed, "failed"),
                (n.recovered, "found delivered after an interruption"),
            )
            if count
        ]
        if n.waiting:  # what the last round left, and on what it waits
            extra.append(describe_waiting(n.waiting))
        return text + "".join(f" · {e}" for e in extra)


class Worker:
    """One worker process's loop. ``step()`` is one round: a batch of each stage."""

    def __init__(
        self,
        store: Store,
        config: Config,
        sinks: Mapping[str, Sink],
        stages: Sequence[str] = WORKER_STAGES,
        stop: threading.Event | None = None,
        classifier: Classifier | None = None,
        classify_batch_size: int | None = None,
        route_batch_size: int = 200,
    ) -> None:
        self.store, self.config, self.sinks = store, config, sinks
        self.stages = tuple(stages)
        self.stop = stop or threading.Event()
        # Smaller claims than a pass makes (stages.Pipeline): workers side by side on PostgreSQL
        # share a backlog by claiming it batch by batch.
        claim = classify_batch_size or config.classifier.batch_size * 2
        self.pipeline = Pipeline(store, config, sinks, classifier, claim, route_batch_size)
        # Built at start: a rule set that cannot be compiled stops the worker, not each round.
        _ = self.pipeline.router, self.pipeline.plan
        chosen = [stage(name).batch for name in WORKER_STAGES if name in self.stages]
        self._batches = [batch for batch in chosen if batch is not None]
        self.totals = WorkerTotals()

    def step(self) -> bool:
        """One batch of each stage; True when any of them did something."""
        busy = False
        for batch in self._batches:  # in pipeline order, whatever order they were given in
            if not self.stop.is_set():
                busy |= batch(self.pipeline, self.totals) > 0
        return busy

    def upstream_empty(self) -> bool:
        """Nothing is left that this worker's stages (or the ones before them) will make."""
        with self.store.session() as session:
            pending = count_pending(session)
        last = max(WORKER_STAGES.index(s) for s in self.stages)
        if last >= WORKER_STAGES.index("route"):
            return pending["unrouted"] == 0
        return pending["unclassified"] == 0

    def run(self, drain: bool = False, idle: float = 1.0, say: Say = lambda _: None) -> None:
        """Rounds until stopped (or, with ``drain``, until a round finds nothing to do and
        nothing is on its way). An error is reported and the loop goes on after a pause:
        what failed was not committed and is claimed again."""
        last_report = time.monotonic()
        while not self.stop.is_set():
            try:
                busy = self.step()
            except Exception as err:  # the store went away, a sink's bug: retried, not fatal
                log.exception("worker round failed")
                say(f"round failed ({type(err).__name__}: {err}); retrying in {idle * 5:.0f}s")
                self.stop.wait(idle * 5)
                continue
            if busy and time.monotonic() - last_report >= REPORT_EVERY:
                say(self.totals.line())
                last_report = time.monotonic()
            if busy:
                continue
            if drain and self.upstream_empty():
                return
            self.stop.wait(idle)


# -- several processes ------------------------------------------------------------------------

RESTART_PAUSE = 2.0  # seconds before a dead worker is started again
MAX_QUICK_DEATHS = 3  # a worker that keeps dying at start (bad config) is not restarted forever
QUICK = 15.0  # seconds: a death sooner than this after start counts as quick


def supervise(
    argv: list[str],
    concurrency: int,
    env: Mapping[str, str],
    stop: threading.Event,
    say: Say,
) -> int:
    """Run ``concurrency`` worker processes (``argv`` each), restart one that dies, and stop
    them all on ``stop``. Returns 0 when every worker finished cleanly (``--drain``)."""
    procs: dict[int, tuple[subprocess.Popen[bytes], float]] = {}
    quick_deaths = dict.fromkeys(range(concurrency), 0)

    def start(slot: int) -> None:
        child_env = {**env, "HARKEN_WORKER_SLOT": str(slot)}
        procs[slot] = (subprocess.Popen(argv, env=child_env), time.monotonic())

    for slot in range(concurrency):
        start(slot)
    say(f"started {concurrency} worker processes (pids {', '.join(_pids(procs))})")
    failed = 0
    try:
        while procs:
            if stop.wait(0.2):
                break
            for slot, (proc, started) in list(procs.items()):
                code = proc.poll()
                if code is None:
                    continue
                del procs[slot]
                if code == 0:
                    continue  # drained
                quick = time.monotonic() - started < QUICK
                quick_deaths[slot] = quick_deaths[slot] + 1 if quick else 0
                if quick_deaths[slot] >= MAX_QUICK_DEATHS:
                    say(f"worker {proc.pid} exited {_exit(code)} {MAX_QUICK_DEATHS} times at "
                        "start; not restarting it (see its error above)")  # fmt: skip
                    failed += 1
                    continue
                say(f"worker {proc.pid} exited {_exit(code)}; its batch is claimed again; "
                    f"restarting it in {RESTART_PAUSE:.0f}s")  # fmt: skip
                if stop.wait(RESTART_PAUSE):
                    break
                start(slot)
    finally:
        for proc, _ in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc, _ in procs.values():
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    return 1 if failed else 0


def child_env(concurrency: int, database_url: str | None) -> dict[str, str]:
    """The environment of one of N workers: the database URL (kept off the command line,
    where ``ps`` shows it) and a share of the cores for the encoder."""
    env = dict(os.environ)
    if database_url:
        env["HARKEN_DATABASE_URL"] = database_url
    if "HARKEN_ENCODER_THREADS" not in env:
        env["HARKEN_ENCODER_THREADS"] = str(max(1, (os.cpu_count() or 1) // concurrency))
    return env


def worker_argv(config_path: str | None, options: list[str]) -> list[str]:
    head = [sys.executable, "-m", "harken"]
    if config_path:
        head += ["--config", config_path]
    return [*head, "worker", *options]


def _pids(procs: Mapping[int, tuple[subprocess.Popen[bytes], float]]) -> list[str]:
    return [str(p.pid) for p, _ in procs.values()]


def _exit(code: int) -> str:
    if code < 0:
        try:
            return f"on {signal.Signals(-code).name}"
        except ValueError:
            return f"on signal {-code}"
    return f"with status {code}"
