"""Report and export times on a big store (issue 7: "reports must stay fast on 1M mentions").

    .venv/bin/python bench/make_store.py --db sqlite:///bench/data/store-1m.db --mentions 1000000
    .venv/bin/python bench/reports.py --config bench/data/store-1m.db.config.yaml

Each report runs through the library (what the CLI calls, minus printing) over two windows:
the last 3 days (about a tenth of a 30-day store) and everything (the whole store). Times are
the best of ``--repeat`` runs; the ratio of the two windows' times against the ratio of their
mention counts says whether a report scales with what it reads (~1) or worse. Exports stream
the whole window to a temp file in each format. Nothing is asserted: figures go in the notes.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harken.config import load_config
from harken.reports.authors import authors
from harken.reports.departments import departments
from harken.reports.incidents import incidents
from harken.reports.scope import Scope
from harken.reports.summary import summary
from harken.reports.topics import topics
from harken.reports.trend import trend
from harken.reports.voice import share_of_voice
from harken.store import Store
from harken.store.tables import Mention


def reports(store: Store, config: Any) -> dict[str, Callable[[Scope], Any]]:
    now = datetime.now(UTC)
    return {
        "summary": lambda s: summary(store, s.since, s.until, s.brand, s.platforms),
        "trend": lambda s: trend(store, s, "auto", "UTC"),
        "share-of-voice": lambda s: share_of_voice(store, config, s),
        "authors": lambda s: authors(store, s),
        "topics": lambda s: topics(store, config, s),
        "departments": lambda s: departments(store, config, s, now),
        "incidents": lambda s: incidents(store, s),
    }


def best(run: Callable[[], Any], repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def count(store: Store, scope: Scope) -> int:
    with store.session() as session:
        statement = select(func.count()).select_from(Mention).where(*scope.mention_filters())
        return int(session.execute(statement).scalar_one())


def exports(store: Store, scope: Scope, formats: list[str]) -> list[tuple[str, float, int]]:
    from harken.reports import export

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in formats:
            out = Path(tmp) / f"mentions.{fmt}"
            start = time.perf_counter()
            export.export(store, export.plan("mentions", scope), fmt, out)
            rows.append((fmt, time.perf_counter() - start, out.stat().st_size))
    return rows


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", default="", help="comma-separated report names")
    parser.add_argument("--export-formats", default="csv,jsonl,parquet,xlsx", help="'' for none")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    store = Store(config.database.url)
    with store.session() as session:
        first, last = session.execute(
            select(func.min(Mention.created_at), func.max(Mention.created_at))
        ).one()
    end = max(last, datetime.now(UTC)) + timedelta(seconds=1)
    windows = {"3d": Scope(end - timedelta(days=3), end), "all": Scope(first, end)}
    sizes = {name: count(store, scope) for name, scope in windows.items()}
    print(f"store: {config.database.url} · {sizes['all']:,} mentions", flush=True)
    print(f"{'report':<16}{'3d s':>9}{'all s':>9}{'time ratio':>12}{'rows ratio':>12}")
    chosen = reports(store, config)
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}
    for name, run in chosen.items():
        small, _ = best(lambda r=run: r(windows["3d"]), args.repeat)
        big, _ = best(lambda r=run: r(windows["all"]), args.repeat)
        print(
            f"{name:<16}{small:>9.2f}{big:>9.2f}{big / small:>12.1f}"
            f"{sizes['all'] / max(sizes['3d'], 1):>12.1f}",
            flush=True,
        )
    formats = [f for f in args.export_formats.split(",") if f]
    if formats:
        for fmt, seconds, size in exports(store, windows["all"], formats):
            rate = sizes["all"] / seconds
            print(
                f"export mentions {fmt:<8} {seconds:8.1f} s  {rate:>9,.0f} rows/s  "
                f"{size / 1e6:8.1f} MB",
                flush=True,
            )


if __name__ == "__main__":
    main()
