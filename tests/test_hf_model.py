"""Any Hugging Face sequence-classification model as the sentiment scorer (a tiny local one)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harken.classify.hf import map_labels
from harken.cli import app
from harken.errors import ClassifierError

WORDS = [
    "acme",
    "the",
    "app",
    "is",
    "down",
    "great",
    "love",
    "hate",
    "broken",
    "refund",
    "slow",
    "fast",
    "support",
    "i",
    "my",
    "it",
]


def tiny_model(directory: Path, id2label: dict[int, str]) -> Path:
    """A randomly initialised 1-layer BERT with its own vocabulary, saved like any HF model."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    torch.manual_seed(0)
    vocab = directory / "vocab.txt"
    directory.mkdir(parents=True)
    vocab.write_text("\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS]) + "\n")
    config = BertConfig(
        vocab_size=5 + len(WORDS),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=64,
        num_labels=len(id2label),
        id2label=id2label,
        label2id={v: k for k, v in id2label.items()},
    )
    BertForSequenceClassification(config).save_pretrained(directory)
    BertTokenizerFast(vocab_file=str(vocab)).save_pretrained(directory)
    return directory


def test_label_names_map_onto_harkens_outputs() -> None:
    assert map_labels({0: "negative", 1: "neutral", 2: "positive"}).sentiment == {
        0: "negative",
        1: "neutral",
        2: "positive",
    }
    stars = map_labels({i: f"{i + 1} stars" for i in range(5)}).sentiment
    assert list(stars.values()) == ["negative", "negative", "neutral", "positive", "positive"]
    offensive = map_labels({0: "NOT", 1: "OFF-offensive"})
    assert offensive.abuse == [1] and not offensive.gives_sentiment
    assert map_labels({0: "non-toxic", 1: "toxic"}).abuse == [1]
    with pytest.raises(ClassifierError, match="cannot map the model's labels"):
        map_labels({0: "sports", 1: "politics"})


def test_a_local_model_scores_sentiment_and_the_heads_the_rest(tmp_path: Path) -> None:
    model = tiny_model(tmp_path / "tiny", {0: "Negative", 1: "Neutral", 2: "Positive"})
    (tmp_path / "config.yaml").write_text(f'classifier: {{model: "{model}"}}\n')
    result = CliRunner().invoke(
        app, ["classify", "acme the app is down", "i love it", "--format", "json"]
    )
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    for row in rows:
        assert row["model"].startswith(str(model)) and "minilm" in row["model"]
        assert sum(row["sentiment_scores"].values()) == pytest.approx(1, abs=1e-3)
        assert 0 <= row["complaint"] <= 1 and 0 <= row["abuse"] <= 1
    # The random model's scores are its own, not the bundled heads'.
    bundled = CliRunner().invoke(
        app,
        ["classify", "acme the app is down", "--format", "json"],
        env={"HARKEN_CLASSIFIER_MODEL": "minilm"},
    )
    assert (
        json.loads(bundled.output.splitlines()[0])["sentiment_scores"]
        != rows[0]["sentiment_scores"]
    )


def test_a_model_that_is_not_there_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text('classifier: {model: "no-such-org/no-such-model"}\n')
    result = CliRunner().invoke(app, ["classify", "hello"])
    assert result.exit_code == 1
    assert "cannot load the Hugging Face model id 'no-such-org/no-such-model'" in result.output
    assert "never downloads" in result.output
