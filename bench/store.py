"""The store at scale: ingest rate on SQLite and PostgreSQL, and report times on 1M mentions.

    .venv/bin/python bench/store.py [--mentions 20000] [--backends sqlite,postgresql]
                                    [--report-mentions 1000000] [--report-db PATH] [--pg-1m]
                                    [--repeat 2] [--export-formats csv,parquet]
                                    [--skip-ingest] [--skip-reports] [--pg-durable] [--json FILE]

* **ingest**: ``--mentions`` posts from bench/make_store.py's generator (texts, authors,
  cascades; see bench/common.py) as X API pages in a JSONL file, into a fresh database through
  ``harken import``'s path: ``read_jsonl`` (the X parser) and ``pipeline.ingest`` (brand
  detection, author upserts, mention inserts, one transaction per 500). Timed: parsing alone,
  ingest alone (records parsed beforehand), the same records again (every one a duplicate:
  the idempotent path), and ``harken import --no-process`` as a command (process start
  included).
* **reports**: the report functions and exports of bench/reports.py (what the CLI calls,
  minus printing) on a store of ``--report-mentions`` made by bench/make_store.py: over the
  last 3 days and over the whole 30 days, best of ``--repeat``. The SQLite store is kept in
  bench/data (``store-1m.db`` for 1M, with its ``.config.yaml``) and reused when it holds the
  asked number of mentions; generating 1M takes a few minutes. ``--pg-1m`` also generates
  the same store in a throwaway PostgreSQL cluster and times the reports there.

Nothing is asserted: figures go in the notes.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import reports as bench_reports
from bench.common import (
    ROOT,
    Row,
    bench_config_tree,
    bench_env,
    harken_command,
    machine,
    pg_cluster,
    pg_label,
    print_table,
    say,
    write_json,
    write_jsonl,
)
from harken.config import load_config
from harken.pipeline.ingest import ingest
from harken.platforms.replay import read_jsonl
from harken.reports.scope import Scope
from harken.store import Store
from harken.store.tables import Mention

DATA = ROOT / "bench" / "data"


# -- ingest ---------------------------------------------------------------------------------


def time_parse(jsonl: Path, n: int) -> tuple[list[Any], Row]:
    started = time.perf_counter()
    records = list(read_jsonl(jsonl, "x"))
    seconds = time.perf_counter() - started
    say(f"parsed {len(records):,} posts in {seconds:.1f}s")
    conf = f"{n:,} posts (X pages of 100): JSON + X parser"
    return records, Row("ingest: parse (read_jsonl)", "-", conf, len(records) / seconds, "posts/s")


def time_ingest(label: str, url: str, records: list[Any], tmp: Path, name: str) -> list[Row]:
    tree = bench_config_tree(url)
    config_path = tmp / f"ingest-{label.split()[0]}.yaml"
    config_path.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False))
    config = load_config(config_path, environ=bench_env())
    conf = f"{len(records):,} parsed posts, batches of 500"

    store = Store(url)
    started = time.perf_counter()
    first = ingest(store, config, records, source=f"import:{name}")
    ingest_s = time.perf_counter() - started
    started = time.perf_counter()
    again = ingest(store, config, records, source=f"import:{name}")
    again_s = time.perf_counter() - started
    store.close()
    say(
        f"{label}: ingest stored {first.stored:,} "
        f"({first.off_brand} off-brand) in {ingest_s:.1f}s; again {again.duplicates:,} "
        f"duplicates in {again_s:.1f}s"
    )
    new = first.stored / ingest_s
    return [
        Row("ingest: store new (pipeline.ingest)", label, conf, new, "mentions/s"),
        Row("ingest: store again (duplicates)", label, conf, len(records) / again_s, "posts/s"),
    ]


def time_import_command(label: str, url: str, jsonl: Path, tmp: Path, n: int) -> Row:
    config_path = tmp / f"import-{label.split()[0]}.yaml"
    tree = bench_config_tree(url)
    config_path.write_text(yaml.safe_dump(tree, allow_unicode=True, sort_keys=False))
    command = harken_command(config_path, "import", str(jsonl), "--platform", "x", "--no-process")
    started = time.perf_counter()
    done = subprocess.run(command, env=bench_env(), capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode:
        say(f"harken import failed ({done.returncode}): {done.stderr[-2000:]}")
        return Row("ingest: harken import command", label, "failed", float("nan"), "")
    say(f"{label}: {done.stdout.strip().splitlines()[-1]} in {seconds:.1f}s")
    conf = f"{n:,} posts, parse + store, process start included"
    return Row("ingest: harken import --no-process", label, conf, n / seconds, "posts/s")


# -- reports --------------------------------------------------------------------------------


def size_label(n: int) -> str:
    return f"{n // 1_000_000}m" if n % 1_000_000 == 0 else f"{n // 1000}k"


def mention_count(url: str) -> int:
    store = Store(url)
    try:
        with store.session() as session:
            return int(session.execute(select(func.count()).select_from(Mention)).scalar_one())
    finally:
        store.close()


def make_store(url: str, n: int, config_out: Path) -> None:
    """bench/make_store.py in its own process (its memory is given back when it ends)."""
    say(f"generating {n:,} mentions into {url} (make_store.py; ~200 s per million on SQLite)")
    command = [sys.executable, str(ROOT / "bench" / "make_store.py"), "--db", url]
    command += ["--mentions", str(n), "--config-out", str(config_out), "--replace"]
    started = time.perf_counter()
    subprocess.run(command, check=True, env=bench_env())
    say(f"generated in {time.perf_counter() - started:.0f}s")


def sqlite_report_store(n: int, db: Path | None) -> Path:
    """The config of a SQLite store of ``n`` mentions in bench/data, made unless it exists."""
    db = db or DATA / f"store-{size_label(n)}.db"
    config = Path(f"{db}.config.yaml")
    url = f"sqlite:///{db.resolve()}"
    if db.exists() and config.exists():
        held = mention_count(url)
        if held == n:
            say(f"reusing {db} ({held:,} mentions)")
            return config
        say(f"{db} holds {held:,} mentions, not {n:,}: generating it again")
    db.parent.mkdir(parents=True, exist_ok=True)
    make_store(url, n, config)
    return config


def time_reports(
    label: str, config_path: Path, repeat: int, formats: list[str], only: list[str]
) -> list[Row]:
    config = load_config(config_path, environ={})
    store = Store(config.database.url)
    with store.session() as session:
        first, last = session.execute(
            select(func.min(Mention.created_at), func.max(Mention.created_at))
        ).one()
    end = max(last, datetime.now(UTC)) + timedelta(seconds=1)
    windows = {"last 3 days": Scope(end - timedelta(days=3), end), "all": Scope(first, end)}
    sizes = {name: bench_reports.count(store, scope) for name, scope in windows.items()}
    total = sizes["all"]
    rows: list[Row] = []
    chosen = bench_reports.reports(store, config)
    for name, run in chosen.items():
        if only and name not in only:
            continue
        for window, scope in windows.items():
            best, _median = bench_reports.best(lambda r=run, s=scope: r(s), repeat)
            conf = f"{window} ({sizes[window]:,} of {total:,} mentions), best of {repeat}"
            rows.append(Row(f"report {name}", label, conf, best, "s"))
            say(f"{label}: report {name} over {window}: {best:.2f}s")
    if formats:
        for fmt, seconds, size in bench_reports.exports(store, windows["all"], formats):
            conf = f"all {total:,} mentions, {size / 1e6:.0f} MB"
            rows.append(Row(f"export mentions {fmt}", label, conf, seconds, "s"))
            rows.append(Row(f"export mentions {fmt}", label, conf, total / seconds, "rows/s"))
            say(f"{label}: export {fmt}: {seconds:.1f}s")
    store.close()
    return rows


# -- main -----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=20_000, help="posts to ingest")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--report-mentions", type=int, default=1_000_000)
    parser.add_argument("--report-db", type=Path, help="SQLite store to reuse or make")
    parser.add_argument("--pg-1m", action="store_true", help="reports on PostgreSQL too")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--export-formats", default="csv,parquet", help="'' for none")
    parser.add_argument("--only", default="", help="comma-separated report names")
    parser.add_argument("--skip-ingest", action="store_true")
    parser.add_argument("--skip-reports", action="store_true")
    parser.add_argument("--pg-durable", action="store_true", help="PostgreSQL with fsync on")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    backends = args.backends.split(",")
    for backend in backends:
        if backend not in ("sqlite", "postgresql"):
            parser.error(f"unknown backend {backend!r}")
    formats = [f for f in args.export_formats.split(",") if f]
    only = [r for r in args.only.split(",") if r]
    print(f"# bench/store.py: {machine()}")
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="harken-store-") as name, ExitStack() as stack:
        tmp = Path(name)
        cluster: Any = None
        if ("postgresql" in backends and not args.skip_ingest) or args.pg_1m:
            cluster = stack.enter_context(pg_cluster(args.pg_durable))
        pg = pg_label(args.pg_durable)
        if not args.skip_ingest:
            jsonl = write_jsonl(tmp / "posts.jsonl", args.mentions)
            records, parsed = time_parse(jsonl, args.mentions)
            rows.append(parsed)
            for k, backend in enumerate(backends):
                label = pg if backend == "postgresql" else "sqlite"

                def url_for(what: str, backend: str = backend, k: int = k) -> str:
                    if backend == "sqlite":
                        return f"sqlite:///{tmp / f'{what}-{k}.db'}"
                    return str(cluster.create_database(f"{what}_{k}"))

                rows += time_ingest(label, url_for("ingest"), records, tmp, jsonl.name)
                rows.append(time_import_command(label, url_for("cli"), jsonl, tmp, args.mentions))
        if not args.skip_reports:
            if "sqlite" in backends:
                config = sqlite_report_store(args.report_mentions, args.report_db)
                rows += time_reports("sqlite", config, args.repeat, formats, only)
            if args.pg_1m:
                url = cluster.create_database("reports")
                config = tmp / "reports-pg.config.yaml"
                make_store(url, args.report_mentions, config)
                rows += time_reports(pg, config, args.repeat, formats, only)
    print_table(rows, "the store: ingest and reports")
    write_json(rows, args.json)
    return rows


if __name__ == "__main__":
    main()
