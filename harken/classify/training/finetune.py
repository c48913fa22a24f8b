"""Fine-tune low-rank adapters on MiniLM's top layers (multi-task), then fit the heads on them.

    python -m harken.classify.training.finetune --data ../shared/data \
        --out harken/data/models/minilm

The frozen encoder with logistic-regression heads (:mod:`harken.classify.training.train`) tops
out near 0.68 macro recall on TweetEval sentiment. This command teaches the encoder's top layers the
three tasks instead, without storing a new encoder: each Linear layer of the top ``--layers``
BERT layers gets a trainable low-rank update ``W + s·B·A`` (LoRA, rank ``--rank``), trained with
one small head per task (sentiment, complaint, abuse) on the same rows, splits and
normalisation as ``train`` (:mod:`harken.classify.training.data` has the data and why). Only A
and B are saved (``adapter.npz``, about 1.3 MB for 3 layers at rank 16); the runtime folds them
into a copy of those layers (:mod:`harken.classify.bert`), so an adapted post costs 1.5 base
forward passes (the base top layers still give the ``semantic`` embedding that topics use).

Steps:

1. rows per head as ``train`` builds them; then a ``dev`` split is carved out of each head's
   *training* rows (by a seeded hash, at most ``--dev-size`` rows). Every choice (the best
   epoch, C, the temperature) is made on ``dev``; the ``val`` sets (TweetEval sentiment val,
   brand tweets held out, complaint held out, TweetEval offensive val) are only reported.
2. The layers below the first adapted one never change, so their output for every distinct
   text is computed once and cached (float16, under ``--cache-dir``), with the base model's
   sentence embedding (the frozen baseline, measured in the same run by the same protocol).
3. Multi-task training: single-task batches of similar length, interleaved at random, AdamW,
   linear warm-up and decay; heads start from logistic regressions on the frozen embeddings;
   losses weighted as the frozen heads are (balanced classes; complaint: equal weight per
   (style, label) cell). The adapter of the epoch with the best mean dev score is kept.
4. The adapted embedding of every text is computed with the merged layers (the runtime's code),
   and the final heads are fitted on it exactly as ``train`` fits them (logistic regression, C
   from a grid, temperature by NLL), both on dev; then every validation set is scored.

Deterministic for a seed and thread count up to floating-point summation order.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harken.classify.heads import save_heads
from harken.classify.training import train
from harken.classify.training.data import (
    DEFAULT_ABUSE_SOURCES,
    DEFAULT_SENTIMENT_SOURCES,
    hash_fraction,
)
from harken.classify.training.fit import (
    SPECS,
    Fitted,
    cell_weights,
    evaluate_head,
    fit_head,
    fit_logreg,
    subset_report,
)
from harken.classify.training.progress import log
from harken.classify.training.report import table, training_record

DEFAULT_TARGETS = ("query", "key", "value", "attention_out", "ffn_in", "ffn_out")
MAX_TOKENS = 128  # as the runtime encoder
ADAPTER_FILE = "adapter.npz"


# --------------------------------------------------------------------------- data


def carve_dev(df: pd.DataFrame, seed: int, dev_size: int) -> pd.DataFrame:
    """Move at most ``dev_size`` training rows (a seeded hash of the text) to ``dev``."""
    out = df.copy()
    is_train = out["split"] == "train"
    n = int(is_train.sum())
    if n == 0:
        return out
    fraction = min(0.1, dev_size / n)
    picked = out["text"].map(lambda t: hash_fraction(t, seed + 7919) < fraction)
    out.loc[is_train & picked, "split"] = "dev"
    return out


def build_rows(args: argparse.Namespace) -> dict[str, pd.DataFrame]:
    ns = argparse.Namespace(
        data=args.data,
        seed=args.seed,
        model="minilm",
        heads=list(SPECS),
        limit=args.limit,
        sentiment_sources=list(DEFAULT_SENTIMENT_SOURCES),
        abuse_sources=list(DEFAULT_ABUSE_SOURCES),
    )
    rows = train.build_rows(ns)
    return {name: carve_dev(df, args.seed, args.dev_size) for name, df in rows.items()}


@dataclass
class Task:
    """One head's training or dev rows as indices into the distinct texts."""

    name: str
    kind: str  # softmax | sigmoid
    labels: tuple[str, ...]
    index: np.ndarray  # text index per row
    y: np.ndarray  # label index per row
    weight: np.ndarray  # loss weight per row (mean 1)


def task_of(name: str, df: pd.DataFrame, position: dict[str, int]) -> Task:
    spec = SPECS[name]
    label_index = {label: i for i, label in enumerate(spec.labels)}
    y = df["label"].map(label_index).to_numpy()
    if spec.balance_cells:
        weight = cell_weights(list(df["style"]), y)
    elif spec.class_weight == "balanced":
        counts = np.bincount(y, minlength=len(spec.labels)).astype(np.float64)
        weight = len(y) / (len(spec.labels) * np.maximum(counts, 1))[y]
    else:
        weight = np.ones(len(y))
    index = df["text"].map(position).to_numpy()
    return Task(name, spec.kind, spec.labels, index, y, weight.astype(np.float32))


# --------------------------------------------------------------------------- lower layers


@dataclass
class States:
    """Output of the frozen lower layers for every text, concatenated (float16)."""

    hidden: np.ndarray  # (tokens, dim)
    offsets: np.ndarray  # (texts + 1,)
    baseline: np.ndarray  # (texts, dim): the base model's sentence embedding

    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)


def tokenize(texts: Sequence[str]) -> list[list[int]]:
    from tokenizers import Tokenizer

    from harken.classify.encoder import bundled_model_path

    tokenizer = Tokenizer.from_file(str(bundled_model_path() / "tokenizer.json"))
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    return [e.ids for e in tokenizer.encode_batch(list(texts))]


def length_batches(
    lengths: np.ndarray, rows: np.ndarray, batch_size: int, rng: np.random.Generator | None
) -> list[np.ndarray]:
    """Batches of ``rows`` with similar lengths (little padding); shuffled if ``rng``."""
    if rng is None:
        order = rows[np.argsort(lengths[rows], kind="stable")]
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    shuffled = rows[rng.permutation(len(rows))]
    batches = []
    pool = batch_size * 50  # sort within pools of 50 batches: similar lengths, still random
    for start in range(0, len(shuffled), pool):
        part = shuffled[start : start + pool]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i : i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def padded_ids(ids: list[list[int]], batch: np.ndarray) -> tuple[Any, Any]:
    import torch

    width = max(len(ids[i]) for i in batch)
    input_ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for row, i in enumerate(batch):
        input_ids[row, : len(ids[i])] = torch.tensor(ids[i])
        mask[row, : len(ids[i])] = 1
    return input_ids, mask


def lower_states(bert: Any, ids: list[list[int]], start: int, batch_size: int) -> States:
    """Run the embeddings and layers below ``start`` once per text, plus the base top."""
    import torch

    from harken.classify import bert as B

    lengths = np.array([len(x) for x in ids])
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    hidden = np.zeros((int(offsets[-1]), bert.config.hidden_size), dtype=np.float16)
    baseline = np.zeros((len(ids), bert.config.hidden_size), dtype=np.float32)
    started, done = time.monotonic(), 0
    batches = length_batches(lengths, np.arange(len(ids)), batch_size, None)
    with torch.inference_mode():
        for n, batch in enumerate(batches):
            input_ids, mask = padded_ids(ids, batch)
            h = bert.embeddings(input_ids=input_ids, token_type_ids=torch.zeros_like(input_ids))
            additive = B.additive_mask(mask, h.dtype)
            h = B.run_layers(bert.encoder.layer[:start], h, additive)
            top = B.run_layers(bert.encoder.layer[start:], h, additive)
            baseline[batch] = B.mean_pool(top, mask).numpy()
            h16 = h.to(torch.float16).numpy()
            for row, i in enumerate(batch):
                hidden[offsets[i] : offsets[i + 1]] = h16[row, : lengths[i]]
            done += len(batch)
            if n % 200 == 0 or done == len(ids):
                rate = done / max(time.monotonic() - started, 1e-9)
                log(f"  lower layers: {done:,}/{len(ids):,} texts, {rate:.0f}/s")
    return States(hidden, offsets, baseline)


def cached_states(
    bert: Any, texts: list[str], ids: list[list[int]], start: int, args: argparse.Namespace
) -> States:
    """Lower-layer states from the cache when it holds exactly these texts, else computed."""
    digest = hashlib.sha256("\0".join(texts).encode("utf-8")).hexdigest()[:16]
    folder = args.cache_dir / f"minilm-lower{start}-{digest}"
    files = {name: folder / f"{name}.npy" for name in ("hidden", "offsets", "baseline")}
    if all(f.is_file() for f in files.values()):
        log(f"lower-layer states from {folder}")
        loaded = {k: np.load(f, mmap_mode="r" if k == "hidden" else None) for k, f in files.items()}
        return States(np.asarray(loaded["hidden"]), loaded["offsets"], loaded["baseline"])
    log(f"computing lower-layer states of {len(texts):,} texts (layers 0-{start - 1})")
    states = lower_states(bert, ids, start, batch_size=64)
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in (
        ("hidden", states.hidden),
        ("offsets", states.offsets),
        ("baseline", states.baseline),
    ):
        tmp = folder / f"{name}.tmp.npy"
        np.save(tmp, array)
        os.replace(tmp, files[name])
    return states


def gather(states: States, batch: np.ndarray) -> tuple[Any, Any]:
    """(n, t, dim) float32 lower-layer states of ``batch``, padded, and the 1/0 mask."""
    import torch

    lengths = states.lengths()[batch]
    width = int(lengths.max())
    hidden = np.zeros((len(batch), width, states.hidden.shape[1]), dtype=np.float32)
    mask = np.zeros((len(batch), width), dtype=np.int64)
    for row, i in enumerate(batch):
        hidden[row, : lengths[row]] = states.hidden[states.offsets[i] : states.offsets[i + 1]]
        mask[row, : lengths[row]] = 1
    return torch.from_numpy(hidden), torch.from_numpy(mask)


def top_embeddings(
    layers: Any, states: States, rows: np.ndarray, batch_size: int = 64
) -> np.ndarray:
    """Sentence embeddings of ``rows`` through ``layers`` (eval mode, no gradients)."""
    import torch

    from harken.classify import bert as B

    out = np.zeros((len(rows), states.hidden.shape[1]), dtype=np.float32)
    where = {int(i): j for j, i in enumerate(rows)}
    layers.eval()
    with torch.inference_mode():
        for batch in length_batches(states.lengths(), rows, batch_size, None):
            hidden, mask = gather(states, batch)
            pooled = B.mean_pool(
                B.run_layers(layers, hidden, B.additive_mask(mask, hidden.dtype)), mask
            )
            out[[where[int(i)] for i in batch]] = pooled.numpy()
    return out


# --------------------------------------------------------------------------- training


def initial_head(task: Task, x: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A logistic regression on the frozen embeddings: where each training head starts."""
    spec = SPECS[task.name]
    missing = set(range(len(task.labels))) - set(task.y.tolist())
    if missing:
        names = ", ".join(task.labels[i] for i in sorted(missing))
        raise SystemExit(f"{task.name}: no training rows labelled {names}")
    weights = task.weight.astype(np.float64) if spec.balance_cells else None  # else class_weight
    return fit_logreg(x, task.y, 1.0, spec, weights, seed)


def task_loss(kind: str, logits: Any, y: Any, weight: Any) -> Any:
    import torch.nn.functional as F

    if kind == "sigmoid":
        losses = F.binary_cross_entropy_with_logits(logits[:, 0], y.float(), reduction="none")
    else:
        losses = F.cross_entropy(logits, y, reduction="none")
    return (losses * weight).sum() / weight.sum()


def dev_score(task: Task, logits: np.ndarray) -> float:
    """The metric that picks C for this head in ``train``: macro recall or macro F1."""
    from sklearn.metrics import f1_score, recall_score

    pred = (logits[:, 0] >= 0.0).astype(int) if task.kind == "sigmoid" else logits.argmax(axis=1)
    labels = list(range(len(task.labels)))
    if SPECS[task.name].select_by == "macro_recall":
        return float(recall_score(task.y, pred, labels=labels, average="macro", zero_division=0))
    return float(f1_score(task.y, pred, labels=labels, average="macro", zero_division=0))


def finetune(
    base_layers: Any,
    states: States,
    tasks: dict[str, Task],
    dev: dict[str, Task],
    args: argparse.Namespace,
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], list[dict[str, Any]]]:
    """Train the adapter; returns the best epoch's factors and the per-epoch history."""
    import torch

    from harken.classify import bert as B

    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    top = B.merged_layers(base_layers, {}, 1.0)  # a private copy to wrap
    wrapped = B.attach_low_rank(top, args.targets, args.rank, args.alpha, args.dropout)
    heads = torch.nn.ModuleDict()
    for name, task in tasks.items():
        w, b = initial_head(task, states.baseline[task.index], args.seed)
        linear = torch.nn.Linear(w.shape[1], w.shape[0])
        with torch.no_grad():
            linear.weight.copy_(torch.from_numpy(w))
            linear.bias.copy_(torch.from_numpy(b))
        heads[name] = linear
    adapter_params = [p for m in wrapped.values() for p in (m.A, m.B)]
    optimizer = torch.optim.AdamW(
        [
            {"params": adapter_params, "lr": args.lr, "weight_decay": 0.01},
            {"params": list(heads.parameters()), "lr": args.head_lr, "weight_decay": 0.0},
        ]
    )
    lengths = states.lengths()
    plan = [
        (name, batch)
        for name, task in tasks.items()
        for batch in length_batches(lengths, np.arange(len(task.index)), args.batch_size, rng)
    ]
    steps = len(plan) * args.epochs
    warmup = max(1, int(0.06 * steps))

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return max(0.0, (steps - step) / max(1, steps - warmup))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    history: list[dict[str, Any]] = []
    best: tuple[float, dict[str, tuple[np.ndarray, np.ndarray]]] | None = None
    step = 0
    for epoch in range(args.epochs):
        order = rng.permutation(len(plan))
        top.train()
        heads.train()
        started, seen, running = time.monotonic(), 0, 0.0
        for n, k in enumerate(order):
            name, rows = plan[k]
            task = tasks[name]
            hidden, mask = gather(states, task.index[rows])
            pooled = B.mean_pool(
                B.run_layers(top, hidden, B.additive_mask(mask, hidden.dtype)), mask
            )
            loss = task_loss(
                task.kind,
                heads[name](pooled),
                torch.from_numpy(task.y[rows]),
                torch.from_numpy(task.weight[rows]),
            )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(adapter_params, 1.0)
            optimizer.step()
            scheduler.step()
            step += 1
            seen += len(rows)
            value = float(loss.detach())
            running = 0.98 * running + 0.02 * value if n else value
            if n % 250 == 0 or n == len(order) - 1:
                rate = seen / max(time.monotonic() - started, 1e-9)
                log(
                    f"  epoch {epoch + 1}/{args.epochs} step {n + 1:,}/{len(order):,} "
                    f"loss {running:.4f} {rate:.0f} rows/s"
                )
        factors = adapter_factors(wrapped)
        scores = evaluate_dev(top, heads, states, dev)
        mean = float(np.mean(list(scores.values())))
        history.append({"epoch": epoch + 1, "dev": scores, "dev_mean": round(mean, 4)})
        log(f"  epoch {epoch + 1}: dev {json.dumps(scores)} mean {mean:.4f}")
        if best is None or mean > best[0]:
            best = (mean, factors)
    assert best is not None
    return best[1], history


def adapter_factors(wrapped: dict[str, Any]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    return {
        key: (m.A.detach().numpy().copy(), m.B.detach().numpy().copy())
        for key, m in wrapped.items()
    }


def evaluate_dev(top: Any, heads: Any, states: States, dev: dict[str, Task]) -> dict[str, float]:
    import torch

    heads.eval()
    scores = {}
    for name, task in dev.items():
        x = top_embeddings(top, states, task.index)
        with torch.no_grad():
            logits = heads[name](torch.from_numpy(x)).numpy()
        scores[name] = round(dev_score(task, logits), 4)
    return scores


# --------------------------------------------------------------------------- command


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    from harken.classify.adapter import TARGETS

    parser = argparse.ArgumentParser(
        prog="python -m harken.classify.training.finetune", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--out", type=Path, default=Path("harken/data/models/minilm"))
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/harken-finetune"))
    parser.add_argument("--layers", type=int, default=3, help="adapt the top N of MiniLM's 6")
    parser.add_argument("--rank", type=int, default=16)
    parser.add_argument("--alpha", type=float, default=32.0)
    parser.add_argument("--dropout", type=float, default=0.1)
    parser.add_argument("--targets", default=",".join(DEFAULT_TARGETS))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--lr", type=float, default=5e-4, help="adapter learning rate")
    parser.add_argument("--head-lr", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--dev-size", type=int, default=2000)
    parser.add_argument("--limit", type=int, default=None, help="at most N rows per split")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--no-save", action="store_true")
    args = parser.parse_args(argv)
    args.targets = [t for t in args.targets.split(",") if t]
    unknown = set(args.targets) - set(TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))} (from {', '.join(TARGETS)})")
    if not 1 <= args.layers <= 6:
        parser.error("--layers must be 1..6")
    if not args.data.is_dir():
        parser.error(f"no data folder at {args.data}")
    return args


def fit_and_report(
    rows: dict[str, pd.DataFrame], vectors: dict[str, np.ndarray], seed: int
) -> tuple[dict[str, Fitted], dict[str, Any]]:
    """The runtime heads: logistic regression with C and temperature chosen on dev."""
    fitted, validation = {}, {}
    for name, df in rows.items():
        spec = SPECS[name]
        fitted[name] = fit_head(
            spec, df[df["split"] == "train"], df[df["split"] == "dev"], vectors, seed
        )
        validation[name] = evaluate_head(fitted[name], df, vectors)
        validation[name]["dev"] = subset_report(
            fitted[name].head, df[df["split"] == "dev"], vectors
        )
    return fitted, validation


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    from harken.classify.encoder import bundled_model_path

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()
    if args.threads:
        torch.set_num_threads(args.threads)
    log(f"finetune: {vars(args)}")
    rows = build_rows(args)
    for name, df in rows.items():
        log(f"{name}: {df['split'].value_counts().to_dict()}")
    texts = sorted({t for df in rows.values() for t in df["text"]})
    position = {t: i for i, t in enumerate(texts)}
    bert = AutoModel.from_pretrained(str(bundled_model_path()), local_files_only=True).eval()
    start = bert.config.num_hidden_layers - args.layers
    ids = tokenize(texts)
    states = cached_states(bert, texts, ids, start, args)
    tasks = {n: task_of(n, df[df["split"] == "train"], position) for n, df in rows.items()}
    dev = {n: task_of(n, df[df["split"] == "dev"], position) for n, df in rows.items()}

    log("frozen baseline: heads on the base embeddings, chosen on dev")
    baseline_vectors = {t: states.baseline[i] for t, i in position.items()}
    _, baseline = fit_and_report(rows, baseline_vectors, args.seed)

    base_layers = bert.encoder.layer[start:]
    factors, history = finetune(base_layers, states, tasks, dev, args)

    from harken.classify.bert import merged_layers

    scale = args.alpha / args.rank
    merged = merged_layers(base_layers, factors, scale)
    log("adapted embeddings of every text")
    adapted = top_embeddings(merged, states, np.arange(len(texts)))
    vectors = {t: adapted[i] for t, i in position.items()}
    fitted, validation = fit_and_report(rows, vectors, args.seed)

    print("\nfrozen baseline (C and T on dev):\n" + table(baseline), flush=True)
    print("\nadapted:\n" + table(validation), flush=True)
    if args.no_save:
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    arrays = {}
    for key, (a, b) in factors.items():
        arrays[f"{key}.A"], arrays[f"{key}.B"] = a.astype(np.float32), b.astype(np.float32)
    np.savez_compressed(args.out / ADAPTER_FILE, **arrays)
    adapter = {
        "file": ADAPTER_FILE,
        "base": "minilm",
        "first_layer": start,
        "layers": args.layers,
        "targets": args.targets,
        "rank": args.rank,
        "alpha": args.alpha,
        "sha256": hashlib.sha256((args.out / ADAPTER_FILE).read_bytes()).hexdigest(),
    }
    record = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "command": "python -m harken.classify.training.finetune " + " ".join(sys.argv[1:]),
        "method": "LoRA on the top layers, multi-task; heads refitted on the adapted embeddings",
        "hyperparameters": {
            k: v if isinstance(v, int | float | str | list) or v is None else str(v)
            for k, v in vars(args).items()
            if k not in ("data", "out", "cache_dir")
        },
        "torch": torch.__version__,
        "history": history,
        "frozen_baseline": baseline,
        **{
            k: v
            for k, v in training_record(
                argparse.Namespace(
                    model="minilm",
                    seed=args.seed,
                    limit=args.limit,
                    data=args.data,
                    sentiment_sources=list(DEFAULT_SENTIMENT_SOURCES),
                    abuse_sources=list(DEFAULT_ABUSE_SOURCES),
                ),
                rows,
                fitted,
            ).items()
            if k not in ("date", "command")
        },
    }
    heads = {name: fitted[name].head for name in rows}
    extra = {"adapter": adapter, "trained": record, "validation": validation}
    save_heads(args.out, heads, encoder="minilm", extra=extra)
    sizes = ", ".join(f"{p.name} {p.stat().st_size:,} B" for p in sorted(args.out.glob("*.np*")))
    log(f"saved {args.out} ({sizes}); {math.fsum(a.size for a in arrays.values()):,.0f} weights")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
