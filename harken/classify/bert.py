"""BERT layers run by harken itself, so that low-rank adapters can branch off the base model.

A fine-tuned encoder is worse at what the base sentence encoder was trained for: telling whether
two posts say the same thing (topics by example, near-duplicates). So an adapted MiniLM gives
two embeddings per text: ``semantic`` from the base weights (topics, similarity) and
``features`` from the adapted top layers (the heads). The layers below the first adapted one
are shared, so adapting the top 3 of 6 layers costs 1.5 forward passes, not 2.

The forward pass is written out here (embeddings from ``transformers``' own module, then
self-attention, feed-forward, layer norms) instead of calling ``BertLayer``, whose calling
convention (mask format, attention back-end) changes between ``transformers`` releases; a test
checks that it gives the same embeddings as ``transformers``.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from harken.classify.adapter import TARGETS


def additive_mask(attention_mask: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """(n, t) 1/0 mask -> (n, 1, 1, t) additive mask: padding keys get a huge negative score."""
    keep = attention_mask[:, None, None, :].to(dtype)
    return (1.0 - keep) * torch.finfo(dtype).min


def layer_forward(layer: Any, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """One post-norm BERT layer (``BertLayer``'s weights) on (n, t, d) hidden states."""
    attention = layer.attention
    heads = attention.self.num_attention_heads
    n, t, d = hidden.shape

    def split(x: torch.Tensor) -> torch.Tensor:
        return x.view(n, t, heads, d // heads).transpose(1, 2)

    q = split(attention.self.query(hidden))
    k = split(attention.self.key(hidden))
    v = split(attention.self.value(hidden))
    scores = torch.matmul(q, k.transpose(2, 3)) * (d // heads) ** -0.5 + mask
    context = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(n, t, d)
    out = attention.output
    attended = out.LayerNorm(out.dropout(out.dense(context)) + hidden)
    ffn = layer.output
    return ffn.LayerNorm(ffn.dropout(ffn.dense(layer.intermediate(attended))) + attended)


def mean_pool(hidden: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    """Masked mean over tokens, L2-normalised (sentence-transformers' pooling for MiniLM)."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return nn.functional.normalize(pooled, p=2, dim=1)


def run_layers(layers: Iterable[Any], hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    for layer in layers:
        hidden = layer_forward(layer, hidden, mask)
    return hidden


def submodule(layer: Any, target: str) -> Any:
    module = layer
    for name in TARGETS[target]:
        module = getattr(module, name)
    return module


def set_submodule(layer: Any, target: str, value: nn.Module) -> None:
    *parents, last = TARGETS[target]
    module = layer
    for name in parents:
        module = getattr(module, name)
    setattr(module, last, value)


class LowRankLinear(nn.Module):
    """A frozen Linear plus a trainable low-rank update: ``W x + b + s · B A x`` (LoRA).

    B starts at zero, so training starts from the base model exactly.
    """

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.base = base
        for p in base.parameters():
            p.requires_grad_(False)
        self.scale = alpha / rank
        self.A = nn.Parameter(torch.empty(rank, base.in_features))
        self.B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.A, a=5**0.5)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        update = nn.functional.linear(nn.functional.linear(self.dropout(x), self.A), self.B)
        return self.base(x) + self.scale * update


def attach_low_rank(
    layers: Sequence[Any], targets: Sequence[str], rank: int, alpha: float, dropout: float
) -> dict[str, LowRankLinear]:
    """Wrap each target Linear of ``layers`` (in place); returns them by ``<i>.<target>``."""
    wrapped: dict[str, LowRankLinear] = {}
    for i, layer in enumerate(layers):
        for target in targets:
            module = LowRankLinear(submodule(layer, target), rank, alpha, dropout)
            set_submodule(layer, target, module)
            wrapped[f"{i}.{target}"] = module
    return wrapped


def merged_layers(
    layers: Sequence[Any], factors: dict[str, tuple[np.ndarray, np.ndarray]], scale: float
) -> nn.ModuleList:
    """Copies of ``layers`` with ``W + scale · B A`` folded into each adapted Linear.

    ``factors`` maps ``<i>.<target>`` (``i`` counted from the first of ``layers``) to (A, B).
    Merged, an adapted layer costs exactly what a base layer costs.
    """
    copies = nn.ModuleList(copy.deepcopy(layer) for layer in layers)
    with torch.no_grad():
        for key, (a, b) in factors.items():
            index, target = key.split(".", 1)
            linear = submodule(copies[int(index)], target)
            update = torch.from_numpy(b.astype(np.float32)) @ torch.from_numpy(a.astype(np.float32))
            linear.weight += scale * update
    for p in copies.parameters():
        p.requires_grad_(False)
    return copies


class TwoViewBert(nn.Module):
    """Ids in; the base model's embedding and the adapted top layers' embedding out.

    ``start`` is the first adapted layer: layers below it run once for both views.
    """

    def __init__(self, bert: Any, adapted: nn.ModuleList, start: int, inputs: list[str]) -> None:
        super().__init__()
        self.embeddings = bert.embeddings
        self.shared = nn.ModuleList(bert.encoder.layer[:start])
        self.base_top = nn.ModuleList(bert.encoder.layer[start:])
        self.adapted_top = adapted
        self.inputs = inputs

    def forward(self, *args: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = dict(zip(self.inputs, args, strict=True))
        attention_mask = features["attention_mask"]
        hidden = self.embeddings(
            input_ids=features["input_ids"], token_type_ids=features.get("token_type_ids")
        )
        mask = additive_mask(attention_mask, hidden.dtype)
        hidden = run_layers(self.shared, hidden, mask)
        semantic = mean_pool(run_layers(self.base_top, hidden, mask), attention_mask)
        tuned = mean_pool(run_layers(self.adapted_top, hidden, mask), attention_mask)
        return semantic, tuned
