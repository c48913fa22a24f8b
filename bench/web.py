"""Page times of the web workspace on a big store (issue 22: "page load times on the 1M-mention
store for the inbox and the dashboard").

    .venv/bin/python bench/make_store.py --db sqlite:///bench/data/store-1m.db --mentions 1000000
    .venv/bin/python bench/web.py --config bench/data/store-1m.db.config.yaml

Each page is asked for through the app in-process (FastAPI's TestClient: the whole server
side — session lookup, queries, templates — without a socket), signed in as an admin the
bench adds to the store once. A page's time is the best of ``--repeat`` runs after one warm-up;
charts are the PNGs the dashboard's <img> tags load. Nothing is asserted: figures go in the
notes.
"""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from harken.config import load_config
from harken.errors import AccountError
from harken.queue.accounts import add_user, issue_token
from harken.store import Store
from harken.store.tables import Incident, Mention, QueueItem
from harken.web.app import create_app
from harken.web.boards import ReportCache

BENCH_USER, BENCH_PASSWORD = "bench-admin", "bench-password-0"
PANELS = ("trend", "departments", "share-of-voice", "authors", "topics")


def signed_in(client: TestClient) -> None:
    form = client.get("/login").text
    token = re.search(r'name="login_token" value="([^"]+)"', form)
    assert token
    answer = client.post(
        "/login",
        data={"name": BENCH_USER, "password": BENCH_PASSWORD, "login_token": token[1]},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text[:300]


def best(client: TestClient, path: str, repeat: int) -> tuple[float, int, int]:
    client.get(path)  # warm-up: template compilation, the database's page cache
    times = []
    for _ in range(repeat):
        # Reports are kept a minute for the charts that follow a page: timed without them.
        client.app.state.report_cache = ReportCache()  # type: ignore[attr-defined]
        start = time.perf_counter()
        answer = client.get(path)
        times.append(time.perf_counter() - start)
    return min(times), answer.status_code, len(answer.content)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    config = load_config(args.config)
    store = Store(config.database.url)
    with contextlib.suppress(AccountError):  # added by an earlier run
        add_user(store, config, BENCH_USER, "admin", (), BENCH_PASSWORD)
    with store.session() as session:
        mentions = session.execute(select(func.count(Mention.id))).scalar_one()
        items = session.execute(select(func.count(QueueItem.id))).scalar_one()
        item = session.execute(select(func.max(QueueItem.id))).scalar_one()
        incident = session.execute(
            select(Incident.id).order_by(Incident.size.desc()).limit(1)  # type: ignore[attr-defined]
        ).scalar_one()
    department = config.departments[0].name
    topic = next(iter(config.topics), None)
    pages = [
        "/inbox",
        f"/inbox?department={department}&overdue=1",
        "/inbox?status=all&platform=x&risk_gte=0.8",
        *([f"/inbox?status=all&topic={topic}"] if topic else []),
        "/inbox?status=all&offset=5000",
        f"/items/{item}",
        "/api/v1/items?limit=50",
        "/incidents?since=24h",
        f"/incidents/{incident}",
        "/dashboard?since=24h",
        "/dashboard?since=7d",
        "/dashboard?since=7d&all=1",
        *(f"/dashboard/panels/{name}?since=7d" for name in PANELS),
        "/charts/trend.png?since=7d",
        "/charts/departments.png?since=7d",
        "/digests",
    ]
    print(f"store: {mentions:,} mentions, {items:,} queue items ({config.database.url})")
    print(f"{'page':<48} {'best s':>8} {'status':>6} {'kB':>7}")
    with TestClient(create_app(config, store)) as client:
        signed_in(client)
        for path in pages:
            if path.startswith("/api/"):
                client.headers["authorization"] = "Bearer " + issue_token(store, BENCH_USER)
            seconds, status, size = best(client, path, args.repeat)
            client.headers.pop("authorization", None)
            print(f"{path:<48} {seconds:>8.3f} {status:>6} {size / 1024:>7.1f}")
        # A browser's first visit to the dashboard, as its script loads it: the page, then
        # each panel in turn and its chart (the panel's report, cached, draws the chart).
        client.app.state.report_cache = ReportCache()  # type: ignore[attr-defined]
        start = time.perf_counter()
        client.get("/dashboard?since=7d")
        shown = [time.perf_counter() - start]
        for name in PANELS:
            client.get(f"/dashboard/panels/{name}?since=7d")
            client.get(f"/charts/{name}.png?since=7d")
            shown.append(time.perf_counter() - start)
        done = ", ".join(f"{name} {t:.2f}" for name, t in zip(PANELS, shown[1:], strict=True))
        print(f"dashboard 7d from cold: page {shown[0]:.3f} s; panels complete at {done} s")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
