"""Mentions per second through the whole pipeline, and how it scales with worker processes.

    .venv/bin/python bench/e2e.py [--mentions 2000] [--workers 1,2,4]
                                  [--backends sqlite,postgresql] [--modes concurrency,processes]
                                  [--no-baseline] [--threads N] [--repeat 1] [--pg-durable]
                                  [--slack-latency S] [--json FILE]

``--mentions`` posts with bench/make_store.py's texts, authors, times and retweet/quote
cascades (three brands, 15% Japanese, a week) are written as X API pages to a JSONL file;
for each configuration a fresh database (SQLite file, or a database in a throwaway PostgreSQL
cluster from tests/pg.py) gets them through ``harken import``'s ingest path
(``read_jsonl`` + ``pipeline.ingest``, timed alone), then worker processes take them through
classify -> route -> notify into a fake Slack (tests/fakes/slack.py, the real slack_sdk),
with make_store's production-like config (five departments with channels, eleven rules, the
e5 model for Japanese; no hourly alert cap). The fake Slack answers at once unless
``--slack-latency`` gives each call the time Slack's own takes. Configurations:

* ``harken process``: one process, the stages one after the other (the baseline, no workers);
* ``--concurrency N``: one ``harken worker --concurrency N --drain`` (N processes, the
  encoder's threads split between them: HARKEN_ENCODER_THREADS = cores / N);
* ``N processes``: N separate ``harken worker --drain`` processes started together (each with
  the encoder's default threads, unless ``--threads``).

Figures per configuration: mentions/s over the whole drain (from starting the workers until
the last exits: process start and model load included), mentions/s after start-up (from
the first classified batch seen to every mention routed, sampled every 0.25 s; the first
batches are left out of the count), and the ratio of each to one worker. On a machine of C
cores, more than C workers can only share the same cores: the ratio says what the extra
processes cost or gain there, not what more hardware would give. Nothing is asserted:
figures go in the notes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    Row,
    bench_config_tree,
    bench_env,
    harken_command,
    machine,
    pg_cluster,
    pg_label,
    print_table,
    say,
    slack_channels,
    write_json,
    write_jsonl,
)
from harken.config import load_config
from harken.pipeline.ingest import ingest
from harken.platforms.replay import read_jsonl
from harken.store import Store
from tests.fakes.slack import FakeSlack

COUNTS = {
    "classified": "SELECT count(*) FROM classifications",
    "routed": "SELECT count(*) FROM mentions WHERE routed_at IS NOT NULL",
    "sent": "SELECT count(*) FROM alerts WHERE status = 'sent'",
    "alerts": "SELECT count(*) FROM alerts",
    "mentions": "SELECT count(*) FROM mentions",
}


@dataclass
class Result:
    backend: str
    configuration: str
    workers: int
    mode: str  # process, concurrency, processes
    ingest_s: float = 0.0
    wall_s: float = 0.0
    steady: float = float("nan")  # mentions/s after start-up (see Sampler.steady_rate)
    final: dict[str, int] = field(default_factory=dict)
    slack_messages: int = 0
    exit_codes: list[int] = field(default_factory=list)

    @property
    def n(self) -> int:
        return self.final.get("mentions", 0)

    @property
    def rate(self) -> float:
        return self.n / self.wall_s if self.wall_s else float("nan")


class Sampler:
    """Counts in the store every ``every`` seconds, from its own connection."""

    def __init__(self, url: str, every: float = 0.25) -> None:
        self.engine = create_engine(url)
        self.every = every
        self.samples: list[tuple[float, int, int]] = []  # (monotonic, classified, routed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                sample = (time.monotonic(), self.count("classified"), self.count("routed"))
            except Exception:  # the file is busy, a worker holds a lock: next time
                sample = None
            if sample is not None:
                self.samples.append(sample)
            self._stop.wait(self.every)

    def count(self, name: str) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(text(COUNTS[name])).scalar_one())

    def counts(self) -> dict[str, int]:
        return {name: self.count(name) for name in COUNTS}

    def steady_rate(self, n: int) -> float:
        """Mentions/s after start-up: from the first sample that sees a classified batch
        (processes started, models loaded, first batches done) to the first that sees every
        mention routed, counting only the mentions classified in between (the first
        batches of all workers land together: they are left out, not spread over time)."""
        first = next(((t, c) for t, c, _ in self.samples if c > 0), None)
        last = next((t for t, _, r in self.samples if r >= n), None)
        if first is None or last is None or last <= first[0]:
            return float("nan")
        return (n - first[1]) / (last - first[0])


def launch(config: Path, mode: str, workers: int, log: Path, threads: str | None) -> list[Any]:
    env = bench_env(**({"HARKEN_ENCODER_THREADS": threads} if threads else {}))
    with log.open("ab") as sink:
        if mode == "process":
            commands = [harken_command(config, "process")]
        elif mode == "concurrency":
            commands = [harken_command(config, "worker", "--concurrency", str(workers), "--drain")]
        else:
            commands = [harken_command(config, "worker", "--drain")] * workers
        return [
            subprocess.Popen(c, cwd=config.parent, env=env, stdout=sink, stderr=subprocess.STDOUT)
            for c in commands
        ]


def run_one(
    result: Result,
    url: str,
    jsonl: Path,
    tmp: Path,
    args: argparse.Namespace,
) -> Result:
    with FakeSlack() as slack:
        slack.latency = args.slack_latency
        tree = bench_config_tree(url, slack.api_url)
        for channel in slack_channels(tree):
            slack.add_channel(channel)
        config_path = tmp / f"config-{result.mode}-{result.workers}.yaml"
        config_path.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False))
        config = load_config(config_path, environ=bench_env())
        store = Store(config.database.url)
        started = time.perf_counter()
        ingest(store, config, read_jsonl(jsonl, "x"), source=f"import:{jsonl.name}")
        result.ingest_s = time.perf_counter() - started
        store.close()
        log = tmp / f"{result.backend.split()[0]}-{result.mode}-{result.workers}.log"
        say(f"{result.backend} · {result.configuration}: ingested in {result.ingest_s:.1f}s")
        with Sampler(url) as sampler:
            started = time.perf_counter()
            procs = launch(config_path, result.mode, result.workers, log, args.threads)
            result.exit_codes = [p.wait() for p in procs]
            result.wall_s = time.perf_counter() - started
        result.final = sampler.counts()
        result.steady = sampler.steady_rate(result.final["mentions"])
        sampler.engine.dispose()
        result.slack_messages = sum(len(slack.messages(c)) for c in slack_channels(tree))
    f = result.final
    say(
        f"{result.backend} · {result.configuration}: {result.wall_s:.1f}s, "
        f"{result.rate:.1f} mentions/s (after start-up {result.steady:.1f}); classified "
        f"{f['classified']}/{f['mentions']}, routed {f['routed']}, alerts sent "
        f"{f['sent']}/{f['alerts']}, Slack messages {result.slack_messages}, "
        f"exit {result.exit_codes}"
    )
    unfinished = f["classified"] < f["mentions"] or f["routed"] < f["mentions"]
    if any(result.exit_codes) or unfinished or f["sent"] < f["alerts"]:
        tail = log.read_text(errors="replace")[-3000:]
        say(f"{result.configuration} did not finish cleanly; its log ends:\n{tail}")
    return result


def plan(args: argparse.Namespace) -> list[tuple[str, int]]:
    """(mode, workers) in the order they run; one worker is the same in both worker modes."""
    runs = [] if args.no_baseline else [("process", 1)]
    modes = args.modes.split(",")
    for workers in (int(w) for w in args.workers.split(",")):
        if workers == 1:
            runs.append((modes[0], 1))
            continue
        runs += [(mode, workers) for mode in modes]
    return runs


def describe(mode: str, workers: int, threads: str | None) -> str:
    if mode == "process":
        return "harken process (no workers)"
    if workers == 1:
        return "1 worker"
    if mode == "concurrency":
        return f"{workers} workers: --concurrency {workers}"
    shared = f", HARKEN_ENCODER_THREADS={threads}" if threads else ""
    return f"{workers} workers: {workers} processes{shared}"


@dataclass
class Figures:
    """One configuration's figures: the median over its repeats."""

    backend: str
    configuration: str
    workers: int
    mode: str
    rate: float
    steady: float
    runs: int


def medians(results: list[Result]) -> list[Figures]:
    groups: dict[tuple[str, str], list[Result]] = {}
    for r in results:
        groups.setdefault((r.backend, r.configuration), []).append(r)
    return [
        Figures(
            rs[0].backend,
            rs[0].configuration,
            rs[0].workers,
            rs[0].mode,
            statistics.median(r.rate for r in rs),
            statistics.median(r.steady for r in rs),
            len(rs),
        )
        for rs in groups.values()
    ]


def rows_of(results: list[Result], n: int) -> list[Row]:
    rows: list[Row] = []
    figures = medians(results)
    ones = {f.backend: f for f in figures if f.workers == 1 and f.mode != "process"}
    for f in figures:
        conf = f"{f.configuration}, {n:,} mentions"
        if f.runs > 1:
            conf += f", median of {f.runs}"
        rows.append(Row("e2e throughput (whole drain)", f.backend, conf, f.rate, "mentions/s"))
        rows.append(Row("e2e throughput (after start-up)", f.backend, conf, f.steady, "mentions/s"))
        one = ones.get(f.backend)
        if one is not None and f.workers > 1:
            drain, steady = f.rate / one.rate, f.steady / one.steady
            rows.append(Row("e2e scaling vs 1 worker (drain)", f.backend, conf, drain, "x"))
            rows.append(
                Row("e2e scaling vs 1 worker (after start-up)", f.backend, conf, steady, "x")
            )
    for backend in dict.fromkeys(r.backend for r in results):
        mine = [r for r in results if r.backend == backend]
        ingest_rate = sum(r.n for r in mine) / sum(r.ingest_s for r in mine)
        rows.append(Row("e2e ingest (harken import path)", backend, f"{n:,} mentions, mean of "
                        f"{len(mine)}", ingest_rate, "mentions/s"))  # fmt: skip
        first = mine[0]
        rows.append(Row("e2e alerts delivered to Slack", backend, first.configuration,
                        first.final.get("sent", 0), "alerts"))  # fmt: skip
    return rows


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=2000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--modes", default="concurrency,processes", help="or one of them")
    parser.add_argument("--no-baseline", action="store_true", help="skip `harken process`")
    parser.add_argument("--threads", help="HARKEN_ENCODER_THREADS for every worker")
    parser.add_argument("--days", type=int, default=7, help="the posts' time span")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of the plan (median)")
    parser.add_argument("--pg-durable", action="store_true", help="PostgreSQL with fsync on")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    parser.add_argument(
        "--slack-latency",
        type=float,
        default=0.0,
        help="seconds each call to the fake Slack takes (Slack's own: 0.1-0.3; default 0)",
    )
    args = parser.parse_args(argv)
    for mode in args.modes.split(","):
        if mode not in ("concurrency", "processes"):
            parser.error(f"unknown mode {mode!r}")
    print(f"# bench/e2e.py: {machine()}")
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="harken-e2e-") as name, ExitStack() as stack:
        tmp = Path(name)
        jsonl = write_jsonl(tmp / "posts.jsonl", args.mentions, days=args.days)
        for backend in args.backends.split(","):
            make_url: Callable[[int], str]
            if backend == "sqlite":
                label = "sqlite"

                def make_url(k: int) -> str:
                    return f"sqlite:///{tmp / f'e2e-{k}.db'}"
            elif backend == "postgresql":
                cluster = stack.enter_context(pg_cluster(args.pg_durable))
                label = pg_label(args.pg_durable)

                def make_url(k: int, cluster: Any = cluster) -> str:
                    return str(cluster.create_database(f"e2e_{k}"))
            else:
                parser.error(f"unknown backend {backend!r}")
            # Repeats go round the whole plan, so that load from other processes on a shared
            # machine falls on every configuration alike; the median is reported.
            runs = [run for _ in range(args.repeat) for run in plan(args)]
            for k, (mode, workers) in enumerate(runs):
                configuration = describe(mode, workers, args.threads)
                if args.slack_latency:
                    configuration += f", Slack {args.slack_latency:g} s a call"
                result = Result(label, configuration, workers, mode)
                results.append(run_one(result, make_url(k), jsonl, tmp, args))
    rows = rows_of(results, args.mentions)
    print_table(rows, f"the whole pipeline, {os.cpu_count()} CPUs")
    write_json(rows, args.json)
    return rows


if __name__ == "__main__":
    main()
