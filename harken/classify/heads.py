"""Small linear heads on top of the encoder's embeddings.

A head set is a directory with ``heads.json`` (labels, kind and calibration of each head, plus
the training record) and ``heads.npz`` (``<head>.W`` of shape (k, dim) and ``<head>.b`` of
shape (k,)). ``softmax`` heads give one probability per label; ``sigmoid`` heads (k = 1) give
the probability of the positive class. A temperature (fitted on held-out data) calibrates each.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from harken.errors import ClassifierError

FORMAT_VERSION = 1


@dataclass(frozen=True)
class Head:
    name: str
    kind: str  # "softmax" | "sigmoid"
    labels: tuple[str, ...]
    weights: np.ndarray  # (k, dim)
    bias: np.ndarray  # (k,)
    temperature: float = 1.0

    def predict(self, embeddings: np.ndarray) -> np.ndarray:
        """Softmax: (n, k) probabilities. Sigmoid: (n,) probability of the positive class."""
        logits = (embeddings @ self.weights.T + self.bias) / self.temperature
        if self.kind == "sigmoid":
            return 1.0 / (1.0 + np.exp(-logits[:, 0]))
        logits = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(logits)
        return exp / exp.sum(axis=1, keepdims=True)


@dataclass(frozen=True)
class HeadSet:
    encoder: str
    dim: int
    heads: dict[str, Head]
    meta: dict[str, Any]

    def __getitem__(self, name: str) -> Head:
        return self.heads[name]


def bundled_heads_dir(encoder: str = "minilm") -> Path:
    return Path(str(resources.files("harken").joinpath(f"data/models/{encoder}")))


def load_heads(directory: Path) -> HeadSet:
    meta_path, arrays_path = directory / "heads.json", directory / "heads.npz"
    if not meta_path.is_file() or not arrays_path.is_file():
        raise ClassifierError(
            f"no trained heads in {directory}",
            hint="rebuild them with `make heads` (needs ../shared/data)",
        )
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT_VERSION:
        raise ClassifierError(f"{meta_path}: unsupported heads format {meta.get('format')!r}")
    with np.load(arrays_path) as arrays:
        heads = {
            name: Head(
                name=name,
                kind=spec["kind"],
                labels=tuple(spec["labels"]),
                weights=arrays[f"{name}.W"].astype(np.float32),
                bias=arrays[f"{name}.b"].astype(np.float32),
                temperature=float(spec.get("temperature", 1.0)),
            )
            for name, spec in meta["heads"].items()
        }
    return HeadSet(encoder=meta["encoder"], dim=int(meta["dim"]), heads=heads, meta=meta)


def save_heads(
    directory: Path, heads: dict[str, Head], encoder: str, extra: dict[str, Any]
) -> None:
    """Write a head set (used by the training command)."""
    directory.mkdir(parents=True, exist_ok=True)
    dim = next(iter(heads.values())).weights.shape[1]
    arrays = {}
    for name, head in heads.items():
        arrays[f"{name}.W"] = head.weights.astype(np.float32)
        arrays[f"{name}.b"] = head.bias.astype(np.float32)
    np.savez_compressed(directory / "heads.npz", **arrays)
    meta = {
        "format": FORMAT_VERSION,
        "encoder": encoder,
        "dim": int(dim),
        "heads": {
            name: {"kind": h.kind, "labels": list(h.labels), "temperature": h.temperature}
            for name, h in heads.items()
        },
        **extra,
    }
    text = json.dumps(meta, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    (directory / "heads.json").write_text(text, encoding="utf-8")
