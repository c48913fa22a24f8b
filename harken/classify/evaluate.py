"""``harken eval``: score the classifier on labelled data (``text<TAB>label`` per line).

Sentiment labels are negative|neutral|positive; complaint labels are 0|1 (a complaint score
of 0.5 or more counts as 1). Metrics are computed here in plain Python, the same way as
scikit-learn's macro averages, so the runtime needs no extra package.

``calibration`` says whether the scores can be read as probabilities: the expected calibration
error (ECE: predictions binned by their confidence in the predicted class, 10 equal-width bins,
the gap between confidence and accuracy averaged by bin size; 0 is perfect) and the Brier score
(mean squared error of the probabilities against the one-hot label; lower is better).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harken.classify.classifier import Classifier
from harken.classify.inputs import read_text_input
from harken.errors import HarkenError

LABELS = {"sentiment": ("negative", "neutral", "positive"), "complaint": ("0", "1")}


@dataclass(frozen=True)
class Example:
    text: str
    label: str


def read_tsv(path: Path, task: str) -> list[Example]:
    if task not in LABELS:
        raise HarkenError(f"unknown task {task!r}", hint=f"choose one of: {', '.join(LABELS)}")
    lines = read_text_input(path).splitlines()
    examples = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        text, tab, label = line.rpartition("\t")
        label = label.strip().lower()
        if not tab or not text.strip():
            raise HarkenError(f"{path}:{number}: expected text<TAB>label")
        if label not in LABELS[task]:
            allowed = "|".join(LABELS[task])
            raise HarkenError(f"{path}:{number}: label {label!r} is not one of {allowed}")
        examples.append(Example(text, label))
    if not examples:
        raise HarkenError(f"{path}: no labelled lines")
    return examples


CHUNK = 256


def evaluate(
    classifier: Classifier,
    examples: list[Example],
    task: str,
    on_progress: Callable[[str, int], None] = lambda _stage, _n: None,
) -> dict[str, Any]:
    started = time.perf_counter()
    results = []
    for start in range(0, len(examples), CHUNK):
        chunk = examples[start : start + CHUNK]
        results += classifier.classify([e.text for e in chunk])
        on_progress("eval", len(chunk))
    seconds = time.perf_counter() - started
    if task == "sentiment":
        predicted = [r.sentiment for r in results]
        probabilities = [[r.sentiment_scores[label] for label in LABELS[task]] for r in results]
    else:
        predicted = ["1" if r.complaint >= 0.5 else "0" for r in results]
        probabilities = [[1.0 - r.complaint, r.complaint] for r in results]
    gold = [e.label for e in examples]
    scores = scores_of(gold, predicted, LABELS[task])
    return {
        "task": task,
        **scores,
        "calibration": calibration_of(gold, probabilities, LABELS[task]),
        "posts_per_second": round(len(examples) / seconds, 1),
    }


def calibration_of(
    gold: list[str], probabilities: list[list[float]], labels: tuple[str, ...], bins: int = 10
) -> dict[str, float]:
    """Expected calibration error of the predicted class and the multi-class Brier score."""
    totals = [[0, 0.0, 0.0] for _ in range(bins)]  # count, confidence sum, correct sum
    brier = 0.0
    for label, probs in zip(gold, probabilities, strict=True):
        best = max(range(len(labels)), key=lambda k: probs[k])
        confidence = probs[best]
        slot = totals[min(bins - 1, int(confidence * bins))]
        slot[0] += 1
        slot[1] += confidence
        slot[2] += labels[best] == label
        brier += sum((p - (labels[k] == label)) ** 2 for k, p in enumerate(probs))
    ece = sum(abs(conf - hits) for _, conf, hits in totals) / len(gold)
    return {"ece": round(ece, 4), "brier": round(brier / len(gold), 4)}


def scores_of(gold: list[str], predicted: list[str], labels: tuple[str, ...]) -> dict[str, Any]:
    per_class = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        support = sum(g == label for g in gold)
        chosen = sum(p == label for p in predicted)
        precision = tp / chosen if chosen else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": round(precision, 4),
            "recall": round(recall, 4),
            "f1": round(f1, 4),
            "support": support,
        }
    present = [label for label in labels if per_class[label]["support"]]
    accuracy = sum(g == p for g, p in zip(gold, predicted, strict=True)) / len(gold)
    return {
        "n": len(gold),
        "macro_recall": round(sum(per_class[c]["recall"] for c in present) / len(present), 4),
        "macro_f1": round(sum(per_class[c]["f1"] for c in present) / len(present), 4),
        "accuracy": round(accuracy, 4),
        "per_class": per_class,
    }
