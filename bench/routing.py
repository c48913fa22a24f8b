"""Routing throughput and incident grouping time on a generated store of N classified mentions.

    .venv/bin/python bench/routing.py [--sizes 10000,100000]

For each size, a fresh SQLite store is filled (bulk inserts, not timed) with mentions that
look like a busy brand's traffic (300 an hour; 100k is two weeks): 30% retweets of earlier
posts, 5% copies, 5% posts sharing a news link, 10% near-duplicates of a recent post
(meaning vectors at cosine ~0.95), the rest distinct posts whose vectors share a brand and
a topic direction (cosine ~0.25-0.5 between unrelated posts, as MiniLM gives for one
brand's mentions). Every mention has a classification (scores, topics, float16 vector).
Then it times:

* ``group`` : incident assignment alone (``routing.incidents.assign``), batch by batch;
* ``route`` : the whole route stage on a second copy (incidents + rules + queue items +
  alerts), as ``harken process`` runs it.

Per-mention cost that stays flat from 10k to 100k is what "no all-pairs comparison" means;
ratios matter more than absolute figures on a noisy machine.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, insert, select
from sqlmodel import col

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harken import vectors
from harken.config import Config, load_config
from harken.pipeline.route import route_pending
from harken.pipeline.stages import PASS_ROUTE_BATCH, PASS_ROUTE_SECONDS
from harken.routing.incidents import assign, prepare
from harken.routing.storms import MERGED
from harken.store import Store, repo
from harken.store.tables import Author, Classification, Incident, IncidentKey, Mention

START = datetime(2026, 11, 1, tzinfo=UTC)
DIM = 384
TOPICS = ["outage", "bug", "billing", "security"]


def config(url: str) -> Config:
    example = load_config(Path(__file__).resolve().parents[1] / "config.yaml", environ={})
    return load_config(
        overrides={
            **example.model_dump(include={"brands", "departments", "topics", "routing", "risk"}),
            "database": {"url": url},
            "alerts": {"console": True},
        },
        environ={},
    )


def unit(v: np.ndarray) -> np.ndarray:
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def generate(store: Store, n: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    brand = unit(rng.standard_normal(DIM))
    topic_dirs = unit(rng.standard_normal((len(TOPICS), DIM)))
    # A constant rate (300 mentions an hour, a busy brand) at every size: what one post is
    # compared with depends on how many posts share its window, never on how many are stored.
    seconds = np.sort(rng.uniform(0, n / 300 * 3600, n))
    kinds = rng.choice(
        ["original", "retweet", "copy", "link", "similar"], n, p=[0.5, 0.3, 0.05, 0.05, 0.1]
    )
    authors = [
        {"id": i + 1, "platform": "x", "external_id": str(i + 1), "handle": f"user{i + 1}",
         "followers": int(rng.pareto(1.2) * 100)}
        for i in range(5000)
    ]  # fmt: skip
    mentions: list[dict[str, Any]] = []
    labels: list[dict[str, Any]] = []
    vecs = np.zeros((n, DIM), dtype=np.float32)
    originals: list[int] = []
    for i in range(n):
        kind = kinds[i] if originals else "original"
        created = START + timedelta(seconds=float(seconds[i]))
        topic = int(rng.integers(len(TOPICS)))
        text, ref = f"acme post {i} about {TOPICS[topic]} number {rng.integers(1e9)}", None
        metrics: dict[str, Any] = {}
        raw: dict[str, Any] = {}
        recent = originals[-200:]
        if kind == "retweet":
            target = int(rng.choice(recent))
            ref, text, vecs[i] = (
                ("retweet", str(target + 1)),
                "RT " + mentions[target]["text"],
                vecs[target],
            )
        elif kind == "copy":
            target = int(rng.choice(recent))
            text, vecs[i] = mentions[target]["text"] + "!!", vecs[target]
        elif kind == "similar":
            target = int(rng.choice(recent))
            vecs[i] = unit(vecs[target] + 0.3 * unit(rng.standard_normal(DIM)))
        else:
            vecs[i] = unit(
                0.5 * brand + 0.5 * topic_dirs[topic] + 0.7 * unit(rng.standard_normal(DIM))
            )
        if kind == "link":
            story = int(rng.integers(50))
            raw = {
                "entities": {"urls": [{"expanded_url": f"https://news.example.com/acme/{story}"}]}
            }
        if kind in ("original", "link", "similar"):
            originals.append(i)
        mentions.append(
            {
                "id": i + 1,
                "platform": "x",
                "external_id": str(i + 1),
                "brand": "Acme",
                "text": text,
                "created_at": created,
                "collected_at": created,
                "author_id": int(rng.integers(1, 5001)),
                "source": "bench",
                "metrics": metrics,
                "raw": raw,
                "language": "en",
                "ref_kind": ref[0] if ref else None,
                "ref_external_id": ref[1] if ref else None,
                "routing": [],
            }
        )
        negative = float(rng.beta(2, 2))
        labels.append(
            {
                "mention_id": i + 1,
                "model": "bench",
                "sentiment": "negative" if negative > 0.5 else "neutral",
                "sentiment_scores": {"negative": negative, "neutral": 1 - negative},
                "complaint": float(rng.beta(2, 2)),
                "abuse": float(rng.beta(1, 8)),
                "risk": float(rng.beta(2, 4)),
                "risk_factors": [],
                "topics": [TOPICS[topic]] if rng.random() < 0.4 else [],
                "topic_scores": {TOPICS[topic]: 0.5},
                "language": "en",
                "created_at": created,
                "vector": vectors.pack(vecs[i]),
                "vector_model": "minilm",
            }
        )
    with store.session() as session:
        session.execute(insert(Author), authors)
        for k in range(0, n, 5000):
            session.execute(insert(Mention), mentions[k : k + 5000])
            session.execute(insert(Classification), labels[k : k + 5000])


def time_grouping(store: Store, cfg: Config, batch: int = 500) -> float:
    started = time.perf_counter()
    while True:
        with store.session() as session:
            rows = repo.unrouted(session, batch)
            prepare(session, [(m, c) for m, _, c in rows], cfg.incidents)  # as the route stage
            for mention, _author, c in rows:
                assign(session, mention, c, cfg.incidents)
                mention.routed_at = START  # the bookmark, so the next batch moves on
        if not rows:
            return time.perf_counter() - started


def summary(store: Store) -> tuple[int, int, int, int]:
    """Incidents (merged storm fragments apart), the largest, key rows, merged fragments."""
    with store.session() as session:
        live = col(Incident.status) != MERGED
        incidents = session.execute(select(func.count(Incident.id)).where(live)).scalar_one()
        merged = session.execute(select(func.count(Incident.id)).where(~live)).scalar_one()
        largest = session.execute(select(func.max(Incident.size))).scalar_one()
        keys = session.execute(select(func.count(IncidentKey.id))).scalar_one()
    return incidents, largest or 0, keys, merged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()
    print(
        f"{'mentions':>9} {'stage':>6} {'seconds':>8} {'mentions/s':>10} {'ms/mention':>10}  result"
    )
    for n in (int(s) for s in args.sizes.split(",")):
        with tempfile.TemporaryDirectory() as tmp:
            template = Path(tmp) / "template.db"
            store = Store(f"sqlite:///{template}")
            generate(store, n)
            store.close()
            for stage in ("group", "route"):
                path = Path(tmp) / f"{stage}.db"
                shutil.copyfile(template, path)
                url = f"sqlite:///{path}"
                cfg, copy = config(url), Store(url)
                if stage == "group":
                    seconds = time_grouping(copy, cfg)
                    extra = ""
                else:
                    started = time.perf_counter()
                    result = route_pending(copy, cfg, PASS_ROUTE_BATCH, seconds=PASS_ROUTE_SECONDS)
                    seconds = time.perf_counter() - started
                    extra = f"; {result.queue_items} queue items, {result.alerts} alerts"
                incidents, largest, keys, merged = summary(copy)
                rate, per = n / seconds, 1000 * seconds / n
                print(
                    f"{n:>9} {stage:>6} {seconds:>8.1f} {rate:>10.0f} {per:>10.2f}"
                    f"  {incidents} incidents (largest {largest}; {merged} merged into others),"
                    f" {keys} keys{extra}",
                    flush=True,
                )
                copy.close()


if __name__ == "__main__":
    main()
