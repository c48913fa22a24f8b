"""Embeddings of the training texts, computed once and cached on disk per source.

The training commands and ``bench/multilingual.py`` embed thousands of texts; a rerun (another
seed, another C grid, another head) reads them back instead of running the encoder again.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from harken.classify.training.progress import log


@dataclass
class EmbeddingCache:
    """Embeddings on disk, one shard per source: ``<source>.keys.npy`` + ``<source>.vecs.npy``.

    A key is the SHA-1 of a text, so a rerun only embeds texts it has not seen.
    """

    directory: Path
    encoder_factory: Callable[[], Any]
    batch_size: int = 32
    chunk: int = 2048  # texts embedded between two saves (a slow encoder loses little on a crash)
    _encoder: Any = None

    @staticmethod
    def key(text: str) -> bytes:
        return hashlib.sha1(text.encode("utf-8")).digest()

    def encoder(self) -> Any:
        if self._encoder is None:
            started = time.monotonic()
            self._encoder = self.encoder_factory()
            log(f"encoder loaded in {time.monotonic() - started:.1f}s")
        return self._encoder

    def shard(self, source: str) -> tuple[dict[bytes, int], np.ndarray]:
        """The cached keys (text hash -> row) and vectors of a source; empty if none or broken."""
        keys_path = self.directory / f"{source}.keys.npy"
        vecs_path = self.directory / f"{source}.vecs.npy"
        empty: tuple[dict[bytes, int], np.ndarray] = ({}, np.zeros((0, 0), dtype=np.float32))
        if not keys_path.is_file() or not vecs_path.is_file():
            return empty
        keys, vecs = np.load(keys_path), np.load(vecs_path)
        index = {row.tobytes(): i for i, row in enumerate(keys)}
        if keys.ndim != 2 or keys.shape[1] != 20 or not len(index) == len(keys) == len(vecs):
            log(f"  cache for {source} is inconsistent; embedding it again")
            return empty
        return index, vecs

    def save(self, source: str, index: dict[bytes, int], vecs: np.ndarray) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        ordered = b"".join(key for key, _ in sorted(index.items(), key=lambda kv: kv[1]))
        keys = np.frombuffer(ordered, dtype=np.uint8).reshape(-1, 20)  # one SHA-1 per row
        for name, array in (("keys", keys), ("vecs", vecs)):
            tmp = self.directory / f"{source}.{name}.tmp.npy"
            np.save(tmp, array)
            os.replace(tmp, self.directory / f"{source}.{name}.npy")

    def embed(self, source: str, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """Vectors for ``texts`` (unique), embedding only the ones the shard lacks."""
        index, vecs = self.shard(source)
        missing = [t for t in texts if self.key(t) not in index]
        if missing:
            started = time.monotonic()
            cached = len(texts) - len(missing)
            log(f"embedding {len(missing):,} texts of {source} ({cached:,} cached)")
            for start in range(0, len(missing), self.chunk):
                part = missing[start : start + self.chunk]
                new = self.encoder().embed(part, batch_size=self.batch_size)
                base = len(index)
                vecs = new if base == 0 else np.concatenate([vecs, new])
                for offset, t in enumerate(part):
                    index[self.key(t)] = base + offset
                self.save(source, index, vecs)
                done = start + len(part)
                rate = done / max(time.monotonic() - started, 1e-9)
                log(f"  {source}: {done:,}/{len(missing):,} embedded, {rate:.1f} texts/s")
        return {t: vecs[index[self.key(t)]] for t in texts}


def embed_rows(cache: EmbeddingCache, frames: Iterable[pd.DataFrame]) -> dict[str, np.ndarray]:
    """One embedding per distinct text across all heads, grouped by source for the cache."""
    by_source: dict[str, set[str]] = {}
    for df in frames:
        for source, texts in df.groupby("source")["text"]:
            by_source.setdefault(str(source), set()).update(texts)
    vectors: dict[str, np.ndarray] = {}
    for source in sorted(by_source):
        vectors.update(cache.embed(source, sorted(by_source[source])))
    return vectors


def matrix(vectors: dict[str, np.ndarray], texts: Iterable[str]) -> np.ndarray:
    return np.stack([vectors[t] for t in texts]).astype(np.float32)
