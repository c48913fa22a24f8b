"""Meaning vectors as the store keeps them: float16 bytes (768 bytes for 384 dimensions).

Half precision keeps cosine similarities to about 1e-3, which is far finer than any threshold
harken uses, at half the size of float32.
"""

from __future__ import annotations

import numpy as np


def pack(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype=np.float16).tobytes()


def unpack(blob: bytes | None) -> np.ndarray | None:
    if not blob:
        return None
    return np.frombuffer(blob, dtype=np.float16).astype(np.float32)


# Encoders whose cosine similarities crowd near 1 (multilingual-e5: unrelated texts score
# about 0.77) are mapped onto MiniLM's scale, so one threshold means the same everywhere.
# (zero, scale): similarity' = (cosine - zero) * scale, fitted on the topic examples (e5.py).
COSINE_SCALES: dict[str, tuple[float, float]] = {"e5": (0.7734, 4.644)}


def comparable(cosine: float, model: str | None) -> float:
    """A cosine similarity between two of ``model``'s vectors, on MiniLM's scale."""
    zero, scale = COSINE_SCALES.get(model or "", (0.0, 1.0))
    return max(-1.0, min(1.0, (cosine - zero) * scale))
