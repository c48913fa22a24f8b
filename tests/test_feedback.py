"""The feedback loop: corrections stored by `harken label`, folded in by `harken retrain`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from harken.classify.heads import Head, bundled_heads_dir, load_heads
from harken.classify.training.tune import agreement, tune_head
from harken.cli import app
from tests import payloads as p

runner = CliRunner()
RNG = np.random.default_rng(7)


def unit_rows(n: int, dim: int = 16) -> np.ndarray:
    x = RNG.normal(size=(n, dim)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def softmax_head(dim: int = 16) -> Head:
    return Head(
        "sentiment",
        "softmax",
        ("negative", "neutral", "positive"),
        RNG.normal(size=(3, dim)).astype(np.float32),
        np.zeros(3, dtype=np.float32),
        temperature=1.2,
    )


def test_tuning_moves_a_head_towards_the_corrections_and_no_further() -> None:
    head, teacher = softmax_head(), softmax_head()
    x = unit_rows(60)
    # People label the way another (linear) judge would; keep only where the head disagrees.
    labels = teacher.predict(x).argmax(axis=1)
    disagree = head.predict(x).argmax(axis=1) != labels
    x, wrong = x[disagree], labels[disagree]
    tuned = tune_head(head, x, wrong, strength=0.1)
    assert agreement(head, x, wrong) == 0.0 and agreement(tuned, x, wrong) > 0.9
    # Firmer anchoring moves it less; no corrections move it not at all.
    firm = tune_head(head, x, wrong, strength=10.0)
    assert agreement(firm, x, wrong) < agreement(tuned, x, wrong)
    elsewhere = unit_rows(200)
    drift = np.abs(tuned.predict(elsewhere) - head.predict(elsewhere)).mean()
    firm_drift = np.abs(firm.predict(elsewhere) - head.predict(elsewhere)).mean()
    assert firm_drift < drift
    assert tune_head(head, x[:0], wrong[:0]) is head


def test_sigmoid_heads_tune_too() -> None:
    head = Head(
        "complaint",
        "sigmoid",
        ("no", "yes"),
        np.zeros((1, 16), np.float32),
        np.array([-2.0], np.float32),
    )
    x = unit_rows(30)
    yes = np.ones(30, dtype=int)
    assert agreement(head, x, yes) == 0.0
    assert agreement(tune_head(head, x, yes, strength=1.0), x, yes) == 1.0


def test_label_then_retrain_then_the_classifier_uses_the_tuned_heads(
    tmp_path: Path, db_url: str
) -> None:
    (tmp_path / "config.yaml").write_text(
        f'database: {{url: "{db_url}"}}\nbrands: [{{name: Acme, keywords: [acme]}}]\n',
        encoding="utf-8",
    )
    texts = [f"acme update {i}: the new dashboard shipped today" for i in range(12)]
    page = p.x_page(*[p.tweet(str(100 + i), t) for i, t in enumerate(texts)])
    path = p.write_jsonl(tmp_path / "x.jsonl", page)
    assert runner.invoke(app, ["import", str(path), "-p", "x", "--no-process"]).exit_code == 0

    # Say (for the test's sake) that these announcements are complaints with negative tone.
    for mention_id in range(1, 13):
        result = runner.invoke(
            app, ["label", str(mention_id), "--sentiment", "negative", "--complaint", "yes"]
        )
        assert result.exit_code == 0, result.output
    assert "mention 12 labelled: sentiment negative, complaint yes" in result.output
    again = runner.invoke(app, ["label", "12", "--abuse", "no"])
    assert "sentiment negative, complaint yes, abuse no" in again.output  # kept, added

    before = json.loads(runner.invoke(app, ["classify", texts[0], "--format", "json"]).output)
    trained = runner.invoke(app, ["retrain", "--strength", "1"])
    assert trained.exit_code == 0, trained.output
    out = tmp_path / "models" / "minilm-tuned"
    assert "Use them: set classifier.heads:" in trained.output
    heads = load_heads(out)
    assert heads.meta["tuned"]["corrections"] == {"sentiment": 12, "complaint": 12, "abuse": 1}
    # The shipped heads read MiniLM with its adapter: the tuned set carries the same adapter.
    assert (
        heads.meta["adapter"]["sha256"] == load_heads(bundled_heads_dir()).meta["adapter"]["sha256"]
    )
    assert (out / "adapter.npz").read_bytes() == (bundled_heads_dir() / "adapter.npz").read_bytes()

    with (tmp_path / "config.yaml").open("a", encoding="utf-8") as config:
        config.write("classifier: {heads: models/minilm-tuned}\n")
    after = json.loads(runner.invoke(app, ["classify", texts[0], "--format", "json"]).output)
    assert after["complaint"] > before["complaint"]
    assert after["sentiment_scores"]["negative"] > before["sentiment_scores"]["negative"]


def test_label_errors_are_clear(tmp_path: Path, db_url: str) -> None:
    (tmp_path / "config.yaml").write_text(f'database: {{url: "{db_url}"}}\n')
    missing = runner.invoke(app, ["label", "999", "--complaint", "yes"])
    assert missing.exit_code == 1 and "no mention 999" in missing.output
    empty = runner.invoke(app, ["label", "1"])
    assert empty.exit_code == 1 and "nothing to label" in empty.output
    nothing = runner.invoke(app, ["retrain"])
    assert nothing.exit_code == 1 and "no corrections yet" in nothing.output
