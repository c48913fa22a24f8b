from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from sklearn.metrics import accuracy_score, f1_score, recall_score
from typer.testing import CliRunner

from harken.classify.evaluate import read_tsv, scores_of
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
        "posts_per_second",
    }
    assert scores["task"] == "sentiment" and scores["n"] == 3
    assert set(scores["per_class"]) == set(LABELS)
    assert scores["accuracy"] >= 2 / 3
