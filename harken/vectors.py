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
