"""Alert latency through the real daemon: a post is published on X -> its alert is in Slack.

    .venv/bin/python bench/latency.py [--posts 30] [--every 5] [--interval 15s]
                                      [--backends sqlite,postgresql] [--pg-durable] [--json FILE]

A fake X API (tests/fakes/x.py) publishes one post every ``--every`` seconds (each moved by
up to half of that at random, so that posts meet the poll at every phase), each with
``created_at`` = the moment it appears in search; ``harken run`` (the real daemon, a
subprocess, with its real schedule: the X source polled every ``--interval``) stores into a
fresh database and alerts a fake Slack (tests/fakes/slack.py) through slack_sdk; one routing
rule alerts every post. Each post's latency is the time from its ``created_at`` to the
moment its alert message was stored by the fake Slack, split into

* ``poll wait``: created -> served by the fake X in a search response (the schedule: about
  half the interval on average, at most the interval);
* ``processing``: served -> in Slack (HTTP + parse + store, then the pipeline pass the poll
  triggers: classify, route, notify).

Before timing, a warm-up post is published and its alert awaited ("cold start": process
start, first poll, model load, first alert). Posts are made distinct (no two join one
incident: near-duplicate grouping is set to identical vectors only, copies and shared links
off), so every post alerts once. The defaults finish in about three minutes. Real X search
makes a post visible some seconds after it is written; the fake serves it at once.
Nothing is asserted: figures go in the notes.
"""

from __future__ import annotations

import argparse
import json
import random
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import (
    Row,
    bench_env,
    harken_command,
    machine,
    percentile,
    pg_cluster,
    pg_label,
    print_table,
    say,
    stop_process,
    write_json,
    x_time,
)
from harken.config import parse_duration
from tests.fakes.http import Reply, Request
from tests.fakes.slack import FakeSlack
from tests.fakes.x import FakeX, tweet

CHANNEL = "#cs-social"
X_EPOCH_MS = 1288834974657  # tweet ids are snowflakes: milliseconds since then, shifted by 22
COMPLAINTS = [
    "@acme the app is down again, 502 on every page",
    "can't log in to Acme since this morning, the password reset never arrives",
    "Acme charged twice for the same month, where is my refund",
    "where is my Acme order? the tracking number doesn't work",
    "the Acme app crashes every time I open settings",
    "Acme support never answers, waited three days now",
    "my acme account was hacked and nobody replies",
    "Acme dashboard not loading, our whole team is blocked",
]


@dataclass
class Run:
    """What one daemon run saw: publish times, search responses, Slack arrivals."""

    published: dict[str, float] = field(default_factory=dict)  # tweet id -> created_at
    served: dict[str, float] = field(default_factory=dict)  # tweet id -> first served
    arrived: dict[str, float] = field(default_factory=dict)  # tweet id -> alert in Slack
    cold_start: float = float("nan")
    log: str = ""


def post_text(k: int) -> str:
    complaint = COMPLAINTS[k % len(COMPLAINTS)]
    # Distinct words, not only a number: the posts must not read as copies of each other.
    return f"{complaint} (case {k}: {' '.join(_words(k))})"


def _words(k: int) -> list[str]:
    pool = ["billing", "mobile", "desktop", "team", "invoice", "sync", "upload", "europe",
            "asia", "ios", "android", "firefox", "safari", "windows", "linux", "mac"]  # fmt: skip
    return [pool[(k * 7 + j * 3) % len(pool)] for j in range(3)]


def config_text(db_url: str, x_url: str, slack_url: str, interval: str) -> str:
    tree = {
        "database": {"url": db_url},
        "brands": [{"name": "Acme", "keywords": ["acme"], "handles": ["@acmesupport"]}],
        "departments": [{"name": "support", "slack_channel": CHANNEL, "sla": "1h"}],
        "routing": {
            "default": "support",
            "rules": [{"name": "every post", "to": ["support"], "priority": "high", "alert": True}],
        },
        "incidents": {"similarity": 1.0, "copies": False, "urls": False},
        "alerts": {
            "slack": {
                "bot_token": "${SLACK_BOT_TOKEN}",
                "api_base_url": slack_url,
                "timeout": "10s",
            }
        },
        "sources": {
            "x": {
                "enabled": True,
                "bearer_token": "${X_BEARER_TOKEN}",
                "api_base_url": x_url,
                "interval": interval,
                "max_results": 100,
            }
        },
        "refresh": {"enabled": False},
        "spikes": {"enabled": False},
        "digest": {"enabled": False},
    }
    return json.dumps(tree, indent=1)  # YAML reads JSON


def watch_searches(fake: FakeX, run: Run) -> None:
    """Record when each tweet was first served (the moment harken could have read it)."""
    search = fake._search

    def recording(req: Request) -> Reply:
        reply = search(req)
        now = time.time()
        for t in (reply.json or {}).get("data") or []:
            run.served.setdefault(t["id"], now)
        return reply

    fake.api.routes[("GET", "/2/tweets/search/recent")] = recording


def publish(fake: FakeX, run: Run, k: int, tag: str = "") -> str:
    """Post number ``k``, with an id made from its time as X makes them (harken reads a
    tweet's age from its id: a since_id older than X's 7-day search window is dropped)."""
    now = time.time()
    tweet_id = str(((int(now * 1000) - X_EPOCH_MS) << 22) | k)
    text = post_text(k) if not tag else f"{tag}: {post_text(k)}"
    fake.add(tweet(tweet_id, text, created_at=x_time(now)))
    run.published[tweet_id] = now
    return tweet_id


def arrivals(slack: FakeSlack, run: Run) -> dict[str, float]:
    """tweet id -> when its alert (a channel message, not a thread reply) was stored; the
    message links to the post (x.com/<user>/status/<id>)."""
    found: dict[str, float] = {}
    for message in slack.messages(CHANNEL):
        if message.is_reply:
            continue
        blob = json.dumps(message.params)
        for tweet_id in run.published:
            if f"/status/{tweet_id}" in blob:
                found.setdefault(tweet_id, message.key / 1e6)
    return found


def wait_until(condition: Any, timeout: float, daemon: subprocess.Popen[bytes], log: Path) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if daemon.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:]
            raise SystemExit(f"harken run exited ({daemon.returncode}); its log ends:\n{tail}")
        time.sleep(0.1)
    return bool(condition())


def schedule(start: float, posts: int, every: float, seed: int) -> list[float]:
    """One post per ``every`` seconds, each moved by up to half of that at random: posts
    published on a strict period that divides the poll interval would all meet the poll at
    the same few phases, and the wait for the poll would take only those few values."""
    rng = random.Random(seed)
    return [start + every * (k + 0.5 + rng.uniform(-0.5, 0.5)) for k in range(posts)]


def measure(backend: str, url: str | None, args: argparse.Namespace, tmp: Path) -> Run:
    run = Run()
    fake, slack = FakeX(), FakeSlack()
    with fake.api, slack:
        slack.add_channel(CHANNEL)
        watch_searches(fake, run)
        db_url = url or f"sqlite:///{tmp / 'latency.db'}"
        config = tmp / "config.yaml"
        config.write_text(config_text(db_url, fake.api.url, slack.api_url, args.interval))
        warm = publish(fake, run, 0, tag="warm-up")
        log = tmp / f"daemon-{backend}.log"
        started = time.time()
        with log.open("wb") as sink:
            daemon = subprocess.Popen(
                harken_command(config, "run"),
                cwd=tmp,
                env=bench_env(),
                stdout=sink,
                stderr=subprocess.STDOUT,
            )
        try:
            say(f"{backend}: harken run started; waiting for the warm-up alert")
            warmed = wait_until(
                lambda: warm in arrivals(slack, run), args.warmup_timeout, daemon, log
            )
            if not warmed:
                raise SystemExit(f"no warm-up alert within {args.warmup_timeout}s; see {log}")
            run.cold_start = arrivals(slack, run)[warm] - started
            say(f"{backend}: cold start {run.cold_start:.1f}s; publishing {args.posts} posts")
            for due in schedule(time.time(), args.posts, args.every, args.seed):
                time.sleep(max(0.0, due - time.time()))
                publish(fake, run, len(run.published))
            wanted = set(run.published)
            limit = parse_duration(args.interval).total_seconds() + args.drain_timeout
            wait_until(lambda: wanted <= set(arrivals(slack, run)), limit, daemon, log)
        finally:
            stop_process(daemon)
            run.log = log.read_text(errors="replace")
        polls = [line for line in run.log.splitlines() if " x: " in line]
        reread = sum("already stored" in line for line in polls)
        say(f"{backend}: {len(polls)} polls ({reread} of them re-read stored posts)")
        run.published.pop(warm)
        got = arrivals(slack, run)
        run.served = {k: v for k, v in run.served.items() if k in run.published}
        run.arrived = {k: got[k] for k in run.published if k in got}
    return run


def rows_of(backend: str, run: Run, args: argparse.Namespace) -> list[Row]:
    arrived = run.arrived
    total = [arrived[k] - run.published[k] for k in arrived]
    wait = [run.served[k] - run.published[k] for k in arrived if k in run.served]
    work = [arrived[k] - run.served[k] for k in arrived if k in run.served]
    conf = f"{args.posts} posts, 1 every ~{args.every:g}s, X polled every {args.interval}"
    rows = [
        Row("latency: alerts received", backend, conf, len(arrived), "posts"),
        Row("latency: alerts missing", backend, conf, len(run.published) - len(arrived), "posts"),
    ]
    for name, values in (("created -> Slack", total), ("poll wait", wait), ("processing", work)):
        for label, q in (("p50", 50), ("p95", 95), ("max", 100)):
            rows.append(Row(f"latency: {name} {label}", backend, conf, percentile(values, q), "s"))
    rows.append(Row("latency: cold start -> 1st alert", backend, conf, run.cold_start, "s"))
    return rows


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=30)
    parser.add_argument("--every", type=float, default=5.0, help="seconds between posts")
    parser.add_argument("--interval", default="15s", help="the X source's polling interval")
    parser.add_argument("--seed", type=int, default=7, help="of the publishing times' jitter")
    parser.add_argument("--backends", default="sqlite", help="sqlite,postgresql")
    parser.add_argument("--pg-durable", action="store_true", help="PostgreSQL with fsync on")
    parser.add_argument("--warmup-timeout", type=float, default=180.0)
    parser.add_argument("--drain-timeout", type=float, default=90.0)
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    print(f"# bench/latency.py: {machine()}")
    rows: list[Row] = []
    for backend in args.backends.split(","):
        with tempfile.TemporaryDirectory(prefix="harken-latency-") as tmp, ExitStack() as stack:
            url = None
            label = backend
            if backend == "postgresql":
                cluster = stack.enter_context(pg_cluster(args.pg_durable))
                url = cluster.create_database("latency")
                label = pg_label(args.pg_durable)
            elif backend != "sqlite":
                parser.error(f"unknown backend {backend!r}")
            run = measure(label, url, args, Path(tmp))
            rows += rows_of(label, run, args)
    print_table(rows, "alert latency through `harken run`")
    write_json(rows, args.json)
    return rows


if __name__ == "__main__":
    main()
