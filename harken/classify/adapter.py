"""Low-rank adapters that ship beside a head set (``adapter.npz``, described in heads.json).

A head set trained by :mod:`harken.classify.training.finetune` reads the embeddings of an *adapted*
encoder: the top layers of MiniLM with ``W + scale · B A`` folded in. ``heads.json`` says so
under ``adapter`` (file, base model, first adapted layer, rank, alpha, SHA-256 of the file); the
file holds ``<layer>.<target>.A`` (rank, in) and ``.B`` (out, rank), the layer counted from the
first adapted one. Without that entry the heads read the base encoder, as before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from harken.errors import ClassifierError

# The Linear layers of a BERT layer that an adapter may target, by short name: the path of
# attributes from a ``BertLayer`` to the ``nn.Linear``. (Here, not in bert.py: reading an
# adapter must not import torch, so that the ONNX Runtime backend loads without it.)
TARGETS = {
    "query": ("attention", "self", "query"),
    "key": ("attention", "self", "key"),
    "value": ("attention", "self", "value"),
    "attention_out": ("attention", "output", "dense"),
    "ffn_in": ("intermediate", "dense"),
    "ffn_out": ("output", "dense"),
}


@dataclass(frozen=True, eq=False)
class Adapter:
    """Equal (and hashed) by content, so one encoder is loaded per adapter per process."""

    path: Path
    base: str  # the encoder it adapts ("minilm")
    first_layer: int
    scale: float  # alpha / rank
    factors: dict[str, tuple[np.ndarray, np.ndarray]]  # "<i>.<target>" -> (A, B)
    sha256: str

    def _identity(self) -> tuple[str, int, float, str]:
        return (self.base, self.first_layer, self.scale, self.sha256)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Adapter) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    @property
    def layers(self) -> int:
        return 1 + max(int(key.split(".", 1)[0]) for key in self.factors)


def load_adapter(directory: Path, meta: dict[str, Any]) -> Adapter | None:
    """The adapter a head set's ``heads.json`` names, checked; None when it names none."""
    spec = meta.get("adapter")
    if not spec:
        return None
    path = directory / str(spec.get("file", "adapter.npz"))
    if not path.is_file():
        raise ClassifierError(
            f"{directory / 'heads.json'} names an adapter, but {path.name} is missing",
            hint="copy the whole head set folder, adapter.npz included",
        )
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    if spec.get("sha256") and spec["sha256"] != digest:
        raise ClassifierError(
            f"{path} does not match the checksum in heads.json (changed or truncated)",
            hint="restore the file, or rebuild with python -m harken.classify.training.finetune",
        )
    factors: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    with np.load(path) as arrays:
        names = set(arrays.files)
        for name in sorted(names):
            key, _, part = name.rpartition(".")
            index, _, target = key.partition(".")
            pair = f"{key}.{'B' if part == 'A' else 'A'}"
            if (
                not index.isdigit()
                or target not in TARGETS
                or part not in "AB"
                or pair not in names
            ):
                raise ClassifierError(f"{path}: unexpected array {name!r}")
            if part == "A":
                factors[key] = (
                    arrays[name].astype(np.float32),
                    arrays[f"{key}.B"].astype(np.float32),
                )
    if not factors:
        raise ClassifierError(f"{path}: no adapter weights in it")
    try:
        first_layer, scale = int(spec["first_layer"]), float(spec["alpha"]) / float(spec["rank"])
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        raise ClassifierError(
            f"{directory / 'heads.json'}: adapter needs first_layer, alpha and rank"
        ) from None
    return Adapter(path, str(spec.get("base", "minilm")), first_layer, scale, factors, digest)
