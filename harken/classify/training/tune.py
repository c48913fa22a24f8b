"""Fold people's corrections into trained heads, without the original training data.

Each head is a logistic regression on frozen embeddings. Retraining it from scratch needs the
public data sets it was trained on; users have their corrections instead. So the head is
re-fitted on the corrections alone, pulled towards its current weights:

    minimise  Σ_i CE(head(x_i), y_i)  +  (strength / 2) · ‖θ − θ_current‖²

by gradient descent from θ_current. With few corrections it moves a little, in their direction;
the more corrections agree, the further it moves. ``strength`` is how many corrections it takes
to move the head as far as one unit of weight change costs (bigger: more conservative).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from harken.classify.heads import Head


def tune_head(
    head: Head,
    embeddings: np.ndarray,
    targets: np.ndarray,
    strength: float = 10.0,
    steps: int = 500,
    learning_rate: float = 2.0,
) -> Head:
    """A copy of ``head`` fitted to (embeddings, targets); targets are label indexes."""
    if len(targets) == 0:
        return head
    x = embeddings.astype(np.float64)
    w0 = head.weights.astype(np.float64)
    b0 = head.bias.astype(np.float64)
    w, b = w0.copy(), b0.copy()
    n = len(targets)
    for _ in range(steps):
        grad_logits = _loss_gradient(head, x @ w.T + b, targets)  # (n, k), already / T
        grad_w = grad_logits.T @ x + strength * (w - w0)
        grad_b = grad_logits.sum(axis=0) + strength * (b - b0)
        # Normalised by n + strength so the step size does not depend on how many there are.
        scale = learning_rate / (n + strength)
        w -= scale * grad_w
        b -= scale * grad_b
    return replace(head, weights=w.astype(np.float32), bias=b.astype(np.float32))


def _loss_gradient(head: Head, logits: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """d CE / d logits for each example (logits before temperature)."""
    t = head.temperature
    if head.kind == "sigmoid":
        p = 1.0 / (1.0 + np.exp(-logits[:, 0] / t))
        return ((p - targets) / t)[:, None]
    z = logits / t
    z -= z.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(targets)), targets.astype(int)] -= 1.0
    return p / t


def agreement(head: Head, embeddings: np.ndarray, targets: np.ndarray) -> float:
    """Share of examples the head labels as the corrections do (0.5 cut-off for sigmoid)."""
    if len(targets) == 0:
        return float("nan")
    predicted = head.predict(embeddings)
    sigmoid = head.kind == "sigmoid"
    chosen = (predicted >= 0.5).astype(int) if sigmoid else predicted.argmax(axis=1)
    return float((chosen == targets.astype(int)).mean())
