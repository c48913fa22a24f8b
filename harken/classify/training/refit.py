"""Re-fit one head on a shipped encoder (its adapter included), keeping every other head.

    python -m harken.classify.training.refit --model minilm --head complaint --data ../shared/data

A head is a logistic regression on the encoder's features, so a change to one head's *data*
(new sources, new negatives) does not need the 95-minute adapter training again: this command
reads the shipped heads and adapter, embeds the head's rows exactly as the runtime does
(:func:`harken.classify.encoder.load_encoder`, the same code path as ``harken classify``), and
fits the head by the fine-tuning protocol (:mod:`harken.classify.training.finetune`): a ``dev``
split carved from the training rows by a seeded hash chooses C and the temperature, the ``val``
rows are only reported. The other heads, the adapter and the training record stay as they are;
``heads.json`` gains a ``refits`` entry (date, command, rows, validation) and the model's name
takes the refit's date (``minilm+adapter+heads:2026-12-06``), so stored classifications say which
heads scored them.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from harken.classify.heads import bundled_heads_dir, load_heads, save_heads
from harken.classify.training import train
from harken.classify.training.data import (
    DEFAULT_ABUSE_SOURCES,
    DEFAULT_SENTIMENT_SOURCES,
    LICENSES,
    dataset_of,
)
from harken.classify.training.finetune import carve_dev
from harken.classify.training.fit import SPECS, evaluate_head, fit_head, subset_report
from harken.classify.training.progress import log
from harken.classify.training.report import table


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m harken.classify.training.refit", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--model", choices=("minilm", "e5"), default="minilm")
    parser.add_argument("--head", choices=tuple(SPECS), default="complaint")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=None, help="default: the bundled heads")
    parser.add_argument("--dev-size", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=None, help="at most N rows per split")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/harken-refit"))
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    if not args.data.is_dir():
        parser.error(f"no data folder at {args.data}")
    args.out = args.out or bundled_heads_dir(args.model)
    return args


def head_rows(args: argparse.Namespace) -> Any:
    """The head's rows as the full training builds them, with ``dev`` carved out."""
    ns = argparse.Namespace(
        data=args.data,
        seed=args.seed,
        model=args.model,
        heads=[args.head],
        limit=args.limit,
        sentiment_sources=list(DEFAULT_SENTIMENT_SOURCES),
        abuse_sources=list(DEFAULT_ABUSE_SOURCES),
    )
    return carve_dev(train.build_rows(ns)[args.head], args.seed, args.dev_size)


def embed(args: argparse.Namespace, texts: list[str]) -> dict[str, np.ndarray]:
    """Each text's features through the runtime encoder (adapter folded in, if any), cached
    under ``--cache-dir`` per model and adapter: a rerun embeds only texts it has not seen."""
    from harken.classify.adapter import load_adapter
    from harken.classify.encoder import load_encoder

    heads = load_heads(args.out)
    adapter = heads.meta.get("adapter", {}).get("sha256", "none")[:16]
    cache = args.cache_dir / f"{args.model}-{adapter}.npz"
    known: dict[str, np.ndarray] = {}
    if cache.is_file():
        with np.load(cache, allow_pickle=False) as saved:
            known = dict(zip(saved["texts"].tolist(), saved["features"], strict=True))
    missing = [t for t in texts if t not in known]
    if missing:
        encoder = load_encoder(args.model, load_adapter(args.out, heads.meta))
        started = time.monotonic()
        features = encoder.encode(missing, args.batch_size).features
        log(f"embedded {len(missing):,} texts in {time.monotonic() - started:.0f}s")
        known.update(zip(missing, features, strict=True))
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.savez(cache, texts=np.array(list(known)), features=np.stack(list(known.values())))
    return {text: known[text] for text in texts}


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    log(f"refit: {vars(args)}")
    rows = head_rows(args)
    log(f"{args.head}: {rows['split'].value_counts().to_dict()}")
    vectors = embed(args, sorted(set(rows["text"])))
    old = load_heads(args.out)
    spec = SPECS[args.head]
    before = {
        "val": subset_report(old[args.head], rows[rows["split"] == "val"], vectors),
        "dev": subset_report(old[args.head], rows[rows["split"] == "dev"], vectors),
    }
    train_rows, dev_rows = rows[rows["split"] == "train"], rows[rows["split"] == "dev"]
    fitted = fit_head(spec, train_rows, dev_rows, vectors, args.seed)
    validation = evaluate_head(fitted, rows, vectors)
    validation["dev"] = subset_report(fitted.head, dev_rows, vectors)
    print(f"\nshipped {args.head} head on these rows:", json.dumps(before), flush=True)
    print("\nrefitted:\n" + table({args.head: validation}), flush=True)
    if args.no_save:
        return 0
    heads = {name: old[name] for name in old.heads} | {args.head: fitted.head}
    meta = {k: v for k, v in old.meta.items() if k not in ("format", "encoder", "dim", "heads")}
    meta.setdefault("validation", {})[args.head] = validation
    counts = rows.groupby(["split", "source", "label"]).size()
    meta.setdefault("refits", []).append(
        {
            "date": datetime.now(UTC).strftime("%Y-%m-%d"),
            "command": "python -m harken.classify.training.refit " + " ".join(sys.argv[1:]),
            "head": args.head,
            "protocol": "logistic regression on the shipped encoder's features; C and "
            "temperature chosen on dev (carved from the training rows); val only reported",
            "C": fitted.c,
            "rows": {"/".join(map(str, key)): int(n) for key, n in counts.items()},
            "licenses": {
                source: LICENSES[dataset_of(source)] for source in sorted(set(rows["source"]))
            },
            "before_on_these_rows": before,
        }
    )
    save_heads(args.out, heads, encoder=old.encoder, extra=meta)
    log(f"saved {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
