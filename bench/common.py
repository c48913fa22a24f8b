"""What the benchmark scripts share: the result table, generated X posts, PostgreSQL, processes.

Every script prints its own table and, with ``--json FILE``, writes its rows there, so that
``bench/run_all.py`` can run each one as a subprocess and print one table of everything.
Nothing here asserts anything: figures are measured and reported.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HEADER = ("benchmark", "backend", "configuration", "figure", "unit")


@dataclass
class Row:
    benchmark: str
    backend: str
    configuration: str
    figure: float | int | str
    unit: str

    def cells(self) -> list[str]:
        return [self.benchmark, self.backend, self.configuration, shown(self.figure), self.unit]


def shown(value: float | int | str) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return f"{value:,}"
    if value != value:  # NaN: not measured
        return "-"
    magnitude = abs(value)
    if magnitude >= 1000:
        return f"{value:,.0f}"
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}" if magnitude >= 0.01 or value == 0 else f"{value:.4f}"


def print_table(rows: Sequence[Row], title: str | None = None) -> None:
    """One plain-text table: text columns left-aligned, the figure right-aligned."""
    if title:
        print(f"\n## {title}")
    body = [r.cells() for r in rows]
    widths = [max(len(c[i]) for c in [list(HEADER), *body]) for i in range(len(HEADER))]

    def line(cells: Sequence[str]) -> str:
        out = [
            c.rjust(w) if i == 3 else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(out).rstrip()

    print(line(HEADER))
    print(line(["-" * w for w in widths]))
    for cells in body:
        print(line(cells))
    sys.stdout.flush()


def write_json(rows: Sequence[Row], path: Path | None) -> None:
    if path is not None:
        path.write_text(json.dumps([asdict(r) for r in rows], ensure_ascii=False, indent=1))


def read_json(path: Path) -> list[Row]:
    return [Row(**r) for r in json.loads(path.read_text())]


def say(message: str) -> None:
    """Progress, on stderr, so that stdout holds the tables."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine(when: str = "at start") -> str:
    load = os.getloadavg()[0]
    return f"{os.cpu_count()} CPUs, load average {load:.1f} {when}"


def percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (numpy's default), NaN when there is nothing."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = (len(ordered) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


# -- generated posts ------------------------------------------------------------------------


def x_time(seconds: float) -> str:
    """An X API v2 ``created_at``: ISO 8601, milliseconds, Z."""
    moment = datetime.fromtimestamp(seconds, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def generated_pages(
    n: int, *, days: int = 7, seed: int = 7, page_size: int = 100
) -> Iterator[dict[str, Any]]:
    """``n`` posts as X API v2 search pages, with the texts, authors, times and retweet/quote
    cascades of bench/make_store.py's generator (every platform's posts are written as
    tweets here, so they go through the X parser and one ``harken import --platform x``).
    Posts span the ``days`` days up to this hour, oldest first; ids grow with time."""
    from bench import make_store as ms

    end = ms.parse_end(None)
    plan = ms.make_plan(n, days, seed, end)
    authors = ms.Authors(plan)
    posts = ms.Posts(plan, authors)
    tweet_ids = [_snowflake(int(plan.ts[i]), i + 1) for i in range(n)]
    page: list[dict[str, Any]] = []
    users: dict[str, dict[str, Any]] = {}
    for i in range(n):
        a = int(plan.author[i]) - 1
        user_id = str(1_400_000_000_000 + int(plan.a_seq[a]) * 7919)
        seq = int(plan.a_seq[a])
        followers = int(plan.a_followers[a])
        users[user_id] = {
            "id": user_id,
            "name": f"{ms.FIRST[seq % len(ms.FIRST)]} {ms.LAST[(seq // 7) % len(ms.LAST)]}",
            "username": f"{ms.NAME_STEMS[seq % len(ms.NAME_STEMS)][:9]}{seq}"[:15],
            "verified": bool(plan.a_verified[a]),
            "public_metrics": {"followers_count": max(followers, 0)},
        }
        unit = int(plan.unit[i])
        root = int(plan.u_root[unit])
        kind = int(plan.kind[i])
        tweet: dict[str, Any] = {
            "id": tweet_ids[i],
            "text": posts.text(i),
            "author_id": user_id,
            "created_at": x_time(int(plan.ts[i])),
            "lang": "ja" if plan.u_lang[unit] else "en",
            "conversation_id": tweet_ids[root],
            "public_metrics": {
                "retweet_count": max(int(plan.reposts[i]), 0),
                "reply_count": max(int(plan.replies[i]), 0),
                "like_count": max(int(plan.likes[i]), 0),
                "quote_count": max(int(plan.quotes[i]), 0),
            },
        }
        if kind in (ms.RETWEET, ms.QUOTE) and root != i:
            ref = "retweeted" if kind == ms.RETWEET else "quoted"
            tweet["referenced_tweets"] = [{"type": ref, "id": tweet_ids[root]}]
        page.append(tweet)
        if len(page) == page_size or i == n - 1:
            ids = sorted({t["author_id"] for t in page})
            yield {
                "data": page[::-1],  # newest first, as the API pages them
                "includes": {"users": [users[u] for u in ids]},
                "meta": {"result_count": len(page)},
            }
            page = []


def _snowflake(seconds: int, serial: int) -> str:
    millis = seconds * 1000 + serial % 1000 - 1288834974657
    return str((millis << 22) | (serial & 0x3FFFFF))


def write_jsonl(path: Path, n: int, *, days: int = 7, seed: int = 7) -> Path:
    """The generated posts as a JSONL file of X pages, for ``harken import --platform x``."""
    with path.open("w", encoding="utf-8") as out:
        for page in generated_pages(n, days=days, seed=seed):
            out.write(json.dumps(page, ensure_ascii=False) + "\n")
    return path


def bench_config_tree(url: str, slack_api_url: str | None = None) -> dict[str, Any]:
    """make_store's production-like config (three brands, five departments, eleven rules),
    each department with a Slack channel when ``slack_api_url`` is given, and no hourly
    alert cap (so that notify delivers every alert the rules raise instead of holding them)."""
    from bench import make_store as ms

    tree = ms.config_tree(url)
    tree["alerts"].pop("max_per_hour", None)
    tree["spikes"] = {"enabled": False}
    tree["digest"] = {"enabled": False}
    tree["refresh"] = {"enabled": False}
    if slack_api_url:
        for department in tree["departments"]:
            department["slack_channel"] = f"#{department['name']}-social"
        tree["alerts"]["slack"] = {
            "bot_token": "${SLACK_BOT_TOKEN}",
            "api_base_url": slack_api_url,
            "timeout": "10s",
        }
    return tree


def slack_channels(tree: dict[str, Any]) -> list[str]:
    return [d["slack_channel"] for d in tree["departments"] if d.get("slack_channel")]


def bench_env(**extra: str) -> dict[str, str]:
    """The environment harken's subprocesses run in: offline models, test tokens."""
    from tests.fakes.slack import TOKEN

    env = {k: v for k, v in os.environ.items() if not k.startswith("HARKEN_")}
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        SLACK_BOT_TOKEN=TOKEN,
        X_BEARER_TOKEN="test-bearer-token",
    )
    env.update(extra)
    return env


def harken_command(config: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "harken", "--config", str(config), *args]


def stop_process(process: subprocess.Popen[Any], timeout: float = 30) -> int:
    """SIGTERM, then SIGKILL if it does not exit within ``timeout`` seconds."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    return int(process.returncode)


# -- PostgreSQL -----------------------------------------------------------------------------


# tests/pg.py runs its clusters with durability off (fsync, synchronous_commit, full page
# writes). ``durable`` turns it back on: what a production server does on every commit.
DURABLE = {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}
# tests/pg.py also turns autovacuum off (small, short-lived test databases). A benchmark
# needs it on, as every real server has it: without its ANALYZE the planner keeps the empty
# tables' statistics while they grow and picks plans that read whole indexes (the incident
# key lookup read every key of the brand per post: 35 ms instead of 1 ms at 23k keys).
SERVER = {"autovacuum": "on"}


@contextmanager
def pg_cluster(durable: bool = False) -> Iterator[Any]:
    """A throwaway PostgreSQL cluster (tests/pg.py's TempCluster), removed afterwards."""
    try:
        from tests.pg import TempCluster
    except ImportError as err:
        raise SystemExit(f"PostgreSQL benchmarks need tests/pg.py (TempCluster): {err}") from None
    cluster = TempCluster(settings={**SERVER, **(DURABLE if durable else {})})
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def pg_label(durable: bool) -> str:
    return "postgresql" if durable else "postgresql (fsync off)"
