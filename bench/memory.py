"""Memory of the real daemon over many polls: does `harken run`'s resident set keep growing?

    .venv/bin/python bench/memory.py [--minutes 60] [--interval 1s] [--every 10] [--json FILE]

``harken run`` (a subprocess, SQLite) polls a fake X (tests/fakes/x.py) every ``--interval``;
every ``--every``-th search returns one new post, so the pipeline (store, classify, route; no
alert sink) runs now and then as in production, and the other polls find nothing. The
daemon's VmRSS is read from /proc every few seconds. After a warm-up (the model loaded, the
first posts processed) the growth per poll is the least-squares slope of RSS against the
number of searches served, over the first and second halves of the run separately: a leak
keeps its slope, while allocator warm-up flattens. Nothing is asserted: figures go in the notes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import Row, bench_env, harken_command, print_table, say, stop_process, write_json
from tests.fakes.http import Reply, Request
from tests.fakes.x import FakeX, tweet

WARMUP_S = 120.0


def config_text(x_url: str, interval: str) -> str:
    return (
        'database: {url: "sqlite:///memory.db"}\n'
        "brands: [{name: Acme, keywords: [acme]}]\n"
        "departments: [{name: support}]\n"
        "alerts: {console: false}\n"
        "refresh: {enabled: false}\n"
        "spikes: {enabled: false}\n"
        "digest: {enabled: false}\n"
        f'sources: {{x: {{enabled: true, bearer_token: "${{X_BEARER_TOKEN}}", '
        f'api_base_url: "{x_url}", interval: {interval}, max_results: 10}}}}\n'
    )


def rss_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def slope(points: list[tuple[int, int]]) -> float:
    """KB per poll, least squares."""
    n = len(points)
    if n < 2:
        return float("nan")
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / sxx if sxx else float("nan")


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=60.0)
    parser.add_argument("--interval", default="1s")
    parser.add_argument("--every", type=int, default=10, help="a new post every N searches")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    fake = FakeX()
    served = {"count": 0}
    lock = threading.Lock()
    original = fake.api.routes[("GET", "/2/tweets/search/recent")]

    def search(request: Request) -> Reply:
        with lock:
            served["count"] += 1
            if served["count"] % args.every == 1:
                n = served["count"]
                fake.add(tweet(10_000 + n, f"acme post number {n}: the app is slow today"))
        return original(request)

    fake.api.routes[("GET", "/2/tweets/search/recent")] = search
    samples: list[tuple[float, int, int]] = []  # (seconds since start, searches, rss kb)
    with tempfile.TemporaryDirectory() as tmp, fake.api:
        directory = Path(tmp)
        config = directory / "config.yaml"
        config.write_text(config_text(fake.api.url, args.interval), encoding="utf-8")
        log = directory / "run.log"
        with log.open("wb") as sink:
            daemon = subprocess.Popen(
                harken_command(config, "run"),
                cwd=directory,
                env=bench_env(),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        started = time.monotonic()
        try:
            while time.monotonic() - started < args.minutes * 60 and daemon.poll() is None:
                kb = rss_kb(daemon.pid)
                if kb is not None:
                    samples.append((time.monotonic() - started, served["count"], kb))
                time.sleep(5)
        finally:
            stop_process(daemon)
        say(f"{served['count']} searches served; daemon exit {daemon.returncode}")
    return report(samples, args)


def report(samples: list[tuple[float, int, int]], args: argparse.Namespace) -> list[Row]:
    steady = [(polls, kb) for t, polls, kb in samples if t >= WARMUP_S]
    if len(steady) < 4:
        raise SystemExit("too short to measure: run longer than the warm-up (2 min)")
    half = len(steady) // 2
    first, second = steady[:half], steady[half:]
    figures = [
        ("polls after warm-up", steady[-1][0] - steady[0][0], "polls"),
        ("RSS after warm-up", steady[0][1] / 1024, "MB"),
        ("RSS at the end", steady[-1][1] / 1024, "MB"),
        ("RSS max", max(kb for _, kb in steady) / 1024, "MB"),
        ("growth, first half", slope(first), "KB/poll"),
        ("growth, second half", slope(second), "KB/poll"),
    ]
    rows = [Row("memory", "sqlite", what, round(value, 2), unit) for what, value, unit in figures]
    print_table(rows, f"harken run every {args.interval}, {args.minutes:g} min")
    write_json(rows, args.json)
    return rows


if __name__ == "__main__":
    main()
