"""The encoder's speed wiring: length-sorted batches, duplicate skipping, the embedding cache,
the tokenizer read without transformers, and the ONNX Runtime backend. No timings asserted."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from harken.classify.encoder import Encoder
from harken.errors import ClassifierError

TEXTS = [
    "acme cloud is down again",
    "@user thanks, the refund arrived today and support was lovely about it http",
    "ok",
    "",
    "アクメクラウドの写真自動バックアップ、地味に神。🙏",
    "why does every sync take ten minutes now?? " * 3,
    "cancelling plus tonight",
    "the app keeps logging me out 🫠 " * 40,  # truncated at 128 tokens
]


@pytest.fixture(scope="module")
def torch_encoder() -> Encoder:
    return Encoder(backend="torch", cache_size=0)


def one_by_one(encoder: Encoder, texts: list[str]) -> np.ndarray:
    return np.concatenate([encoder.embed([t], batch_size=1) for t in texts])


def test_length_sorted_batches_give_each_text_its_own_embedding(torch_encoder: Encoder) -> None:
    alone = one_by_one(torch_encoder, TEXTS)
    for batch_size in (1, 3, 32):
        batched = torch_encoder.embed(TEXTS, batch_size=batch_size)
        assert batched.shape == (len(TEXTS), torch_encoder.dim)
        assert batched.dtype == np.float32
        assert np.allclose(batched, alone, atol=1e-5)
    assert np.allclose(np.linalg.norm(alone, axis=1), 1.0, atol=1e-5)
    assert torch_encoder.embed([], batch_size=8).shape == (0, torch_encoder.dim)


def test_batches_are_sorted_by_token_count_and_padded_to_their_own_longest(
    torch_encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    widths: list[tuple[int, ...]] = []
    real = torch_encoder._embed_batch

    def spy(batch: dict[str, np.ndarray]) -> np.ndarray:
        widths.append(tuple(batch["attention_mask"].sum(axis=1)))
        return real(batch)

    monkeypatch.setattr(torch_encoder, "_embed_batch", spy)
    torch_encoder.embed(TEXTS, batch_size=3)
    lengths = [n for batch in widths for n in batch]
    assert lengths == sorted(lengths)
    assert max(lengths) == torch_encoder.max_tokens


def test_identical_texts_are_encoded_once(
    torch_encoder: Encoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[list[str]] = []
    real = torch_encoder._encode

    def spy(texts: list[str], batch_size: int) -> np.ndarray:
        seen.append(list(texts))
        return real(texts, batch_size)

    monkeypatch.setattr(torch_encoder, "_encode", spy)
    texts = ["rt storm", "other", "rt storm", "rt storm"]
    out = torch_encoder.embed(texts, batch_size=8)
    assert seen == [["rt storm", "other"]]
    assert np.array_equal(out[0], out[2]) and np.array_equal(out[0], out[3])


def test_the_cache_returns_identical_embeddings_and_stays_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    encoder = Encoder(backend="torch", cache_size=3)
    first = encoder.embed(["a", "b", "c"], batch_size=2)
    calls: list[list[str]] = []
    real = encoder._encode

    def spy(texts: list[str], batch_size: int) -> np.ndarray:
        calls.append(list(texts))
        return real(texts, batch_size)

    monkeypatch.setattr(encoder, "_encode", spy)
    again = encoder.embed(["c", "a", "b"], batch_size=2)
    assert calls == []  # all three from the cache
    assert np.array_equal(again, first[[2, 0, 1]])
    again[:] = 0  # the caller's array is a copy: the cache is not touched
    assert np.array_equal(encoder.embed(["a"], batch_size=1)[0], first[0])
    # Least recently used first: c, b, a. Two new texts push "c" and "b" out.
    encoder.embed(["d", "e"], batch_size=2)
    assert calls == [["d", "e"]]
    assert len(encoder._cache) == 3
    encoder.embed(["a", "b"], batch_size=2)
    assert calls[-1] == ["b"]
    encoder.clear_cache()
    assert len(encoder._cache) == 0
    assert np.allclose(encoder.embed(["a"], 1)[0], first[0], atol=1e-6)


def test_no_cache_when_its_size_is_zero(torch_encoder: Encoder) -> None:
    torch_encoder.embed(["anything at all"], batch_size=1)
    assert len(torch_encoder._cache) == 0


def test_the_plain_tokenizer_file_tokenizes_as_transformers_does(
    torch_encoder: Encoder,
) -> None:
    light = Encoder.__new__(Encoder)
    light._location, light.max_tokens = torch_encoder._location, torch_encoder.max_tokens
    assert light._load_fast_tokenizer()
    assert light.dim == torch_encoder.dim
    assert light._pad_id == torch_encoder._pad_id
    assert light._tokenize(TEXTS) == torch_encoder._tokenize(TEXTS)


def test_backend_and_quantization_come_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HARKEN_ENCODER_BACKEND", "gpu")
    with pytest.raises(ClassifierError, match="backend"):
        Encoder()
    monkeypatch.setenv("HARKEN_ENCODER_BACKEND", "torch")
    monkeypatch.setenv("HARKEN_ENCODER_INT8", "1")
    encoder = Encoder(cache_size=0)
    assert (encoder.backend, encoder.quantized) == ("torch", True)
    # int8 moves the embeddings a little, not much.
    exact = Encoder(backend="torch", quantize=False, cache_size=0)
    cos = (encoder.embed(TEXTS[:3]) * exact.embed(TEXTS[:3])).sum(axis=1)
    assert cos.min() > 0.85
    monkeypatch.setenv("HARKEN_ENCODER_INT8", "false")  # a word that means off is off
    assert not Encoder(cache_size=0).quantized


def test_onnx_runtime_matches_torch(torch_encoder: Encoder, tmp_path: Path) -> None:
    encoder = Encoder(backend="onnx", cache_dir=tmp_path, cache_size=0)
    assert encoder.backend == "onnx"
    (export,) = tmp_path.glob("onnx/minilm-*/model.onnx")
    assert np.allclose(encoder.embed(TEXTS, 3), torch_encoder.embed(TEXTS, 3), atol=1e-5)
    # Loaded again from the export, tokenizing without transformers.
    stamp = export.stat().st_mtime_ns
    again = Encoder(backend="onnx", cache_dir=tmp_path, cache_size=0)
    assert export.stat().st_mtime_ns == stamp
    assert again._fast is not None and again._tokenizer is None
    assert np.allclose(again.embed(TEXTS, 8), torch_encoder.embed(TEXTS, 8), atol=1e-5)
    int8 = Encoder(backend="onnx", quantize=True, cache_dir=tmp_path, cache_size=0)
    assert (export.parent / "model.int8.onnx").is_file()
    cos = (int8.embed(TEXTS, 8) * torch_encoder.embed(TEXTS, 8)).sum(axis=1)
    assert cos.min() > 0.9


def test_by_default_onnx_runtime_scores_a_post_the_same_in_any_batch(
    torch_encoder: Encoder,
) -> None:
    """ONNX Runtime (fp32) is the default: torch's embeddings, whatever else is in the batch.
    int8 stays opt-in: its activations are scaled per batch, so a post's scores would depend
    on the posts it arrived with."""
    encoder = Encoder(cache_size=0)  # nothing named: the default, exported once per machine
    assert (encoder.backend, encoder.quantized) == ("onnx", False)
    alone = np.stack([encoder.embed([text])[0] for text in TEXTS])
    assert np.allclose(encoder.embed(TEXTS, 8), alone, atol=1e-5)
    assert np.allclose(alone, torch_encoder.embed(TEXTS), atol=1e-5)
