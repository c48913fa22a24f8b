from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score
from typer.testing import CliRunner

from harken.classify.evaluate import calibration_of, read_tsv, scores_of
from harken.cli import app
from harken.errors import HarkenError

LABELS = ("negative", "neutral", "positive")


def test_scores_match_scikit_learn() -> None:
    rng = random.Random(7)
    gold = [rng.choice(LABELS) for _ in range(300)]
    predicted = [g if rng.random() < 0.6 else rng.choice(LABELS) for g in gold]
    scores = scores_of(gold, predicted, LABELS)
    assert scores["n"] == 300
    assert scores["macro_recall"] == pytest.approx(
        recall_score(gold, predicted, average="macro"), abs=1e-4
    )
    assert scores["macro_f1"] == pytest.approx(f1_score(gold, predicted, average="macro"), abs=1e-4)
    assert scores["accuracy"] == pytest.approx(accuracy_score(gold, predicted), abs=1e-4)
    assert sum(c["support"] for c in scores["per_class"].values()) == 300


def test_calibration_by_hand() -> None:
    labels = ("0", "1")
    # Four predictions at confidence 0.9 (bin 9), three right: |0.9 - 0.75| = 0.15 there.
    # Two at 0.6 (bin 6), one right: |0.6 - 0.5| = 0.1. ECE = (4·0.15 + 2·0.1) / 6.
    gold = ["1", "1", "1", "0", "1", "0"]
    probs = [[0.1, 0.9]] * 4 + [[0.4, 0.6]] * 2
    result = calibration_of(gold, probs, labels)
    assert result["ece"] == pytest.approx((4 * 0.15 + 2 * 0.1) / 6, abs=1e-4)
    # Brier: right at 0.9 -> 2·0.1² ; wrong at 0.9 -> 2·0.9² ; right/wrong at 0.6 -> 2·0.4², 2·0.6²
    expected = (3 * 0.02 + 1.62 + 0.32 + 0.72) / 6
    assert result["brier"] == pytest.approx(expected, abs=1e-4)
    perfect = calibration_of(["0", "1"], [[1.0, 0.0], [0.0, 1.0]], labels)
    assert perfect == {"ece": 0.0, "brier": 0.0}


def test_bad_tsv_lines_name_the_line(tmp_path: Path) -> None:
    path = tmp_path / "d.tsv"
    path.write_text("fine\tpositive\nno tab here\n", encoding="utf-8")
    with pytest.raises(HarkenError, match=r"d.tsv:2: expected text<TAB>label"):
        read_tsv(path, "sentiment")
    path.write_text("fine\tpositive\nbad\tmeh\n", encoding="utf-8")
    with pytest.raises(HarkenError, match=r"d.tsv:2: label 'meh' is not one of"):
        read_tsv(path, "sentiment")


def test_eval_cli_json_contract(tmp_path: Path) -> None:
    data = tmp_path / "s.tsv"
    data.write_text(
        "I love the new acme update, it is wonderful\tpositive\n"
        "acme charged me twice and support ignores me, awful\tnegative\n"
        "acme will publish its earnings on Thursday\tneutral\n",
        encoding="utf-8",
    )
    result = CliRunner().invoke(
        app, ["eval", "--task", "sentiment", "--data", str(data), "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)
    assert set(scores) == {
        "task",
        "n",
        "macro_recall",
        "macro_f1",
        "accuracy",
        "per_class",
        "calibration",
        "posts_per_second",
    }
    assert set(scores["calibration"]) == {"ece", "brier"}
    assert scores["task"] == "sentiment" and scores["n"] == 3
    assert set(scores["per_class"]) == set(LABELS)
    assert scores["accuracy"] >= 2 / 3
