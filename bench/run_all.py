"""Run the pipeline benchmarks and print one table: benchmark, backend, configuration, figure, unit.

    make bench                       # = .venv/bin/python bench/run_all.py (modest defaults)
    .venv/bin/python bench/run_all.py [--only speed,latency,e2e,store] [--full]
        [--posts 30] [--every 5] [--interval 15s] [--latency-backends sqlite]
        [--e2e-mentions 1000] [--workers 1,2,4] [--modes concurrency] [--slack-latency S]
        [--ingest-mentions 20000] [--report-mentions N] [--pg-1m] [--pg-durable] [--json FILE]

Each script runs in its own process (bench/speed.py, bench/latency.py, bench/e2e.py,
bench/store.py: see their docstrings), prints its own progress and table, and hands its rows
back as JSON; the combined table comes last. The defaults take about 15-20 minutes on 2 cores:

* speed: ``harken classify --input`` on 4,000 real tweets (15% Japanese) against the plain
  transformers loop, the route stage on 3,000 mentions, peak memory with both encoders, and
  TweetEval sentiment per encoder backend (about 4 minutes; real data from ../shared/data);
* latency: 30 posts, one every 5 s, X polled every 15 s, SQLite (about 3 minutes);
* e2e: 1,000 mentions on SQLite and PostgreSQL, ``harken process`` and 1, 2 and 4 workers
  (``--concurrency N``), into a fake Slack that answers at once (``--slack-latency 0.15``
  gives each call the time Slack's own takes);
* store: ingest of 20,000 posts on both; reports on the 1M SQLite store in bench/data when
  it is there, else on a 100k one (made in bench/data, ~20 s, and kept).

``--full`` is the issue's full set: latency on both databases, e2e with 2,000 mentions and
both ways of running N workers (``--concurrency N`` and N separate processes), reports on
1M mentions (made once, ~200 s). PostgreSQL runs in throwaway clusters from tests/pg.py.
Nothing is asserted: figures go in the notes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, Row, machine, print_table, read_json, say, write_json

BENCH = ROOT / "bench"
ONE_MILLION = BENCH / "data" / "store-1m.db"


def commands(args: argparse.Namespace) -> dict[str, list[str]]:
    full = args.full
    latency = ["--posts", str(args.posts), "--every", str(args.every)]
    latency += ["--interval", args.interval]
    latency += ["--backends", args.latency_backends or ("sqlite,postgresql" if full else "sqlite")]
    e2e = ["--mentions", str(args.e2e_mentions or (2000 if full else 1000))]
    e2e += ["--workers", args.workers]
    e2e += ["--modes", args.modes or ("concurrency,processes" if full else "concurrency")]
    if args.slack_latency:
        e2e += ["--slack-latency", str(args.slack_latency)]
    report_mentions = args.report_mentions or (
        1_000_000 if full or ONE_MILLION.exists() else 100_000
    )
    store = ["--mentions", str(args.ingest_mentions)]
    store += ["--report-mentions", str(report_mentions)]
    if args.pg_1m:
        store.append("--pg-1m")
    if args.pg_durable:
        for extra in (latency, e2e, store):
            extra.append("--pg-durable")
    return {"speed": [], "latency": latency, "e2e": e2e, "store": store}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="speed,latency,e2e,store")
    parser.add_argument("--full", action="store_true", help="the issue's full set (see above)")
    parser.add_argument("--posts", type=int, default=30)
    parser.add_argument("--every", type=float, default=5.0)
    parser.add_argument("--interval", default="15s")
    parser.add_argument("--latency-backends", help="default sqlite (--full: both)")
    parser.add_argument("--e2e-mentions", type=int, help="default 1000 (--full: 2000)")
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--modes", help="concurrency,processes (default concurrency)")
    parser.add_argument(
        "--slack-latency", type=float, help="seconds each fake Slack call takes in e2e (0)"
    )
    parser.add_argument("--ingest-mentions", type=int, default=20_000)
    parser.add_argument("--report-mentions", type=int, help="default 1M if made, else 100k")
    parser.add_argument("--pg-1m", action="store_true", help="reports on PostgreSQL too")
    parser.add_argument("--pg-durable", action="store_true", help="PostgreSQL with fsync on")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    chosen = [name for name in args.only.split(",") if name]
    planned = commands(args)
    unknown = [name for name in chosen if name not in planned]
    if unknown:
        parser.error(f"unknown benchmark {unknown[0]!r} (speed, latency, e2e, store)")
    print(f"# bench/run_all.py: {machine()}", flush=True)
    rows: list[Row] = []
    failed: list[str] = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="harken-bench-") as tmp:
        for name in chosen:
            out = Path(tmp) / f"{name}.json"
            command = [sys.executable, str(BENCH / f"{name}.py"), *planned[name]]
            command += ["--json", str(out)]
            say(f"running {' '.join(command[1:])}")
            begun = time.perf_counter()
            code = subprocess.run(command, cwd=ROOT, check=False).returncode
            say(f"{name}: exit {code} after {time.perf_counter() - begun:.0f}s")
            if code or not out.exists():
                failed.append(name)
            if out.exists():
                rows += read_json(out)
    minutes = (time.perf_counter() - started) / 60
    print_table(rows, f"harken benchmarks ({machine('at the end')}, {minutes:.0f} min)")
    if failed:
        print(f"\nfailed: {', '.join(failed)} (see their output above)")
    write_json(rows, args.json)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
