"""Compare the bundled models (minilm, e5) on the same validation sets, speed and Japanese posts.

    .venv/bin/python bench/multilingual.py scores --data ../shared/data
    .venv/bin/python bench/multilingual.py speed --data ../shared/data
    .venv/bin/python bench/multilingual.py demo

``scores``: each model's committed heads (``harken/data/models/<model>``) on TweetEval sentiment
val (English), XLM-T val per language, the held-out chABSA reports (Japanese; the training
command's split, seed 0), the complaint held-out rows and TweetEval offensive val, through
``Head.predict`` on embeddings from the training command's cache (``.cache/harken-train/<model>``,
or ``<model>-adapter-<sha>`` for heads that read an adapted encoder; missing ones are embedded
and cached).

``speed``: load time (a fresh process: import, encoder and heads) and posts per second of each
model through ``Classifier.classify`` on the same 1,000 texts (TweetEval val tweets, then chABSA
held-out sentences), best of ``--repeat`` runs, the encoder's embedding cache emptied before each.

``demo``: the Japanese posts of the bundled demo data, scored by minilm alone and by minilm
with ``languages={"ja": "e5"}``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harken.classify.adapter import load_adapter
from harken.classify.heads import bundled_heads_dir, load_heads
from harken.classify.training.data import (
    DEFAULT_ABUSE_SOURCES,
    XLMT_LANGUAGES,
    abuse_rows,
    brand_sentiment,
    complaint_rows,
    load_chabsa,
    load_tweeteval_sentiment_val,
    load_xlmt,
)
from harken.classify.training.embeddings import EmbeddingCache, matrix
from harken.classify.training.fit import metrics

MODELS = ("minilm", "e5")
SEED = 0


def validation_sets(data: Path) -> dict[str, tuple[str, pd.DataFrame]]:
    """name -> (head, rows) on the training command's splits."""
    sets: dict[str, tuple[str, pd.DataFrame]] = {}
    val = load_tweeteval_sentiment_val(data)
    sets["sentiment / TweetEval val (en)"] = ("sentiment", val)
    for language in XLMT_LANGUAGES:
        sets[f"sentiment / XLM-T val {language}"] = (
            "sentiment",
            load_xlmt(data, language, "val"),
        )
    chabsa = load_chabsa(data, SEED)
    sets["sentiment / chABSA held out (ja)"] = ("sentiment", chabsa[chabsa["split"] == "val_ja"])
    brand = brand_sentiment(data, SEED)
    sets["sentiment / brand held out (en)"] = ("sentiment", brand[brand["split"] == "val_brand"])
    complaint = complaint_rows(data, SEED)
    held = complaint[complaint["split"] == "val"]
    sets["complaint / held out, all"] = ("complaint", held)
    sets["complaint / held out, tweets"] = ("complaint", held[held["style"] == "social"])
    abuse = abuse_rows(data, DEFAULT_ABUSE_SOURCES)
    sets["abuse / TweetEval offensive val"] = ("abuse", abuse[abuse["split"] == "val"])
    return sets


def encoder_factory(model: str, adapter: Any) -> Any:
    from harken.classify.encoder import load_encoder

    def make() -> Any:
        encoder = load_encoder(model, adapter)
        return encoder.load() if hasattr(encoder, "load") else encoder

    return make


def scores(args: argparse.Namespace) -> None:
    sets = validation_sets(args.data)
    results: dict[str, dict[str, Any]] = {}
    for model in MODELS:
        heads = load_heads(bundled_heads_dir(model))
        trained = heads.meta.get("trained", {})
        # Heads fine-tuned with an adapter read the adapted encoder: cached on their own.
        adapter = load_adapter(bundled_heads_dir(model), heads.meta)
        folder = model if adapter is None else f"{model}-adapter-{adapter.sha256[:12]}"
        cache = EmbeddingCache(
            args.cache_dir / folder,
            encoder_factory(model, adapter),
            batch_size=128 if model == "e5" else 32,
        )
        for name, (head_name, rows) in sets.items():
            vectors: dict[str, np.ndarray] = {}
            for source, part in rows.groupby("source"):
                vectors.update(cache.embed(str(source), sorted(set(part["text"]))))
            head = heads[head_name]
            index = {label: i for i, label in enumerate(head.labels)}
            rows = rows[rows["label"].isin(list(index))]
            m = metrics(head, matrix(vectors, rows["text"]), rows["label"].map(index).to_numpy())
            results.setdefault(name, {})[model] = m
        print(f"{model}: heads trained {trained.get('date')} ({trained.get('command')})")
    print()
    header = f"{'set':<36}{'n':>6}" + "".join(f"{m + ' mR':>10}{m + ' mF1':>10}" for m in MODELS)
    print(header)
    print("-" * len(header))
    for name, by_model in results.items():
        n = next(iter(by_model.values()))["n"]
        cells = "".join(
            f"{by_model[m]['macro_recall']:>10.3f}{by_model[m]['macro_f1']:>10.3f}" for m in MODELS
        )
        print(f"{name:<36}{n:>6}{cells}")
    if args.json:
        args.json.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")


SPEED_CHILD = """
import json, sys, time
started = time.perf_counter()
from harken.classify.classifier import Classifier
model = sys.argv[1]
classifier = Classifier(model=model)
classifier.classify(["warm-up"])
loaded = time.perf_counter() - started
texts = json.load(sys.stdin)
runs = []
for _ in range(int(sys.argv[2])):
    for name, batch in texts.items():
        getattr(classifier.encoder, "clear_cache", lambda: None)()  # minilm's text-hash cache
        t = time.perf_counter()
        classifier.classify(batch)
        runs.append((name, len(batch) / (time.perf_counter() - t)))
best = {name: max(r for n, r in runs if n == name) for name in texts}
import resource
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"model": model, "load_s": round(loaded, 2), "posts_per_s": best,
                  "max_rss_mb": round(rss)}))
"""


def speed(args: argparse.Namespace) -> None:
    tweets = list(load_tweeteval_sentiment_val(args.data)["text"][: args.n])
    chabsa = load_chabsa(args.data, SEED)
    japanese = list(chabsa[chabsa["split"] == "val_ja"]["text"][: args.n])
    texts = {"tweets_en": tweets, "chabsa_ja": japanese}
    for model in MODELS:
        out = subprocess.run(
            [sys.executable, "-c", SPEED_CHILD, model, str(args.repeat)],
            input=json.dumps(texts),
            capture_output=True,
            text=True,
            check=True,
        )
        print(out.stdout.strip().splitlines()[-1])


def demo(_args: argparse.Namespace) -> None:
    from harken.classify.classifier import Classifier
    from harken.classify.language import detect_language
    from harken.classify.preprocess import strip_retweet_prefix
    from harken.pipeline.demo import load_demo_records
    from harken.records import MentionRecord

    records = [r for rs in load_demo_records().values() for r in rs if isinstance(r, MentionRecord)]
    posts = list(
        dict.fromkeys(
            r.text
            for r in records
            if detect_language(strip_retweet_prefix(r.text), r.language) == "ja"
        )
    )
    english = Classifier(model="minilm")
    routed = Classifier(model="minilm", languages={"ja": "e5"})
    started = time.perf_counter()
    by_minilm = english.classify(posts)
    by_e5 = routed.classify(posts)
    print(f"{len(posts)} Japanese demo posts ({time.perf_counter() - started:.1f}s)")
    print(f"{'minilm: sent  neg   cmpl  abuse':<33}| {'e5: sent  neg   cmpl  abuse':<31}| text")
    for a, b in zip(by_minilm, by_e5, strict=True):
        text = " ".join(a.text.split())[:60]
        print(
            f"{a.sentiment[:3]:>11} {a.sentiment_scores['negative']:.2f} {a.complaint:.2f} "
            f"{a.abuse:.2f}   | {b.sentiment[:3]:>7} {b.sentiment_scores['negative']:.2f} "
            f"{b.complaint:.2f} {b.abuse:.2f}   | {text}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("what", choices=("scores", "speed", "demo"))
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--cache-dir", type=Path, default=Path(".cache/harken-train"))
    parser.add_argument("--json", type=Path, default=None, help="scores: also write them here")
    parser.add_argument("--n", type=int, default=1000, help="speed: texts per set")
    parser.add_argument("--repeat", type=int, default=3, help="speed: runs, best one kept")
    args = parser.parse_args()
    {"scores": scores, "speed": speed, "demo": demo}[args.what](args)


if __name__ == "__main__":
    main()
