"""Escalation risk: how bad the text is, scaled by how far and how fast it can travel.

    text     = min(1, complaint·w + p(negative)·w + abuse·w + Σ weight of each risky topic present
                      + Σ weight of each escalation signal stated · max(complaint, p(negative)))
    exposure = min(1, reach·w + verified·w + engagement·w + velocity·w + incident growth·w)
    risk     = text · (base + (1 − base) · exposure)

Each input is scaled to 0..1 before weighting:

* reach      log10(followers + 1) / 6          (1,000,000 followers saturate)
* engagement log10(likes + reposts + replies + quotes + 1) / 4   (10,000 interactions)
* velocity   log10(interactions per hour + 1) / 3, from engagement snapshots   (1,000 an hour)
* incident   log10(other posts of its incident in the last hour + 1) / 2   (100 an hour)

So praise stays low whoever writes it; a routine complaint from a small account lands near 0.3;
the same complaint from a verified account with 85,000 followers, spreading fast or in a growing
incident, near 0.8–1. The weights live in config (``risk:``); every score carries its largest
contributing factors in plain words.

Escalation signals (``harken.classify.signals``: a legal threat, a safety problem, press
attention) need no configuration. Each is weighted by how unhappy the post is, so that "this
deal is fire" or a thank-you that names a lawyer stays low while "I'm taking you to court" from
an angry customer rises.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from harken.classify.sarcasm import said
from harken.classify.signals import find_signals
from harken.classify.types import Signals

DEFAULT_SIGNALS = {"legal": 0.3, "safety": 0.3, "press": 0.2}


@dataclass(frozen=True)
class RiskWeights:
    complaint: float = 0.35
    negative: float = 0.35
    abuse: float = 0.3
    # Risky topics (by the name used in config ``topics:``) and what each adds to the text signal.
    topics: Mapping[str, float] = field(default_factory=dict)
    # Built-in escalation signals (legal, safety, press) and what each adds at full displeasure.
    signals: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_SIGNALS))
    reach: float = 0.6
    verified: float = 0.2
    engagement: float = 0.4
    velocity: float = 0.5
    incident: float = 0.5
    base: float = 0.45  # the share of the text signal a post carries with no audience at all


DEFAULT_WEIGHTS = RiskWeights()

# Below these, an audience term is too small to be worth naming as a reason.
_NOTABLE = {"reach": 0.5, "engagement": 0.25, "velocity": 0.2, "incident": 0.15}


def escalation_risk(
    complaint: float,
    negative: float,
    abuse: float,
    signals: Signals,
    topics: Iterable[str] = (),
    weights: RiskWeights = DEFAULT_WEIGHTS,
    text: str = "",
    sarcastic: str | None = None,
) -> tuple[float, tuple[str, ...]]:
    """(risk 0..1, up to four contributing factors, largest first). ``text``: the post as
    posted, read for escalation signals; ``sarcastic``: its sentence of sarcasm, said with the
    complaint it made (harken.classify.sarcasm)."""
    parts = {
        "complaint": weights.complaint * complaint,
        "negative": weights.negative * negative,
        "abuse": weights.abuse * abuse,
    }
    labels = {
        "complaint": f"complaint {complaint:.2f}" + (said(sarcastic) if sarcastic else ""),
        "negative": f"negative sentiment {negative:.2f}",
        "abuse": f"abusive language {abuse:.2f}",
    }
    for topic in topics:
        if weights.topics.get(topic):
            parts[f"topic:{topic}"] = weights.topics[topic]
            labels[f"topic:{topic}"] = f"risky topic: {topic}"
    for key, (part, label) in _stated_signals(text, max(complaint, negative), weights).items():
        parts[key], labels[key] = part, label
    text_signal = min(1.0, sum(parts.values()))
    scaled, audience_labels = _audience(signals)
    labels |= audience_labels
    exposure_parts = {k: getattr(weights, k) * v for k, v in scaled.items()}
    exposure = min(1.0, sum(exposure_parts.values()))
    scale = weights.base + (1 - weights.base) * exposure
    risk = text_signal * scale
    # Each factor's share of the final score: text terms scaled by the audience, audience
    # terms by how bad the text is.
    shares = {k: v * scale for k, v in parts.items()}
    shares |= {
        k: v * (1 - weights.base) * text_signal
        for k, v in exposure_parts.items()
        if k == "verified" or scaled[k] >= _NOTABLE[k]
    }
    factors = sorted((share, labels[k]) for k, share in shares.items() if share >= 0.04)
    return round(min(1.0, risk), 4), tuple(label for _, label in reversed(factors[-4:]))


def _stated_signals(
    text: str, displeasure: float, weights: RiskWeights
) -> dict[str, tuple[float, str]]:
    """What each escalation signal the text states adds, and how to say it. Weighted by how
    unhappy the post is: a threat is one when it comes with a grievance."""
    return {
        f"signal:{found.kind}": (weights.signals[found.kind] * displeasure, found.label)
        for found in (find_signals(text) if text else ())
        if weights.signals.get(found.kind)
    }


def _audience(signals: Signals) -> tuple[dict[str, float], dict[str, str]]:
    """Each audience signal scaled to 0..1, and how to say it."""
    velocity = max(0.0, signals.velocity or 0.0)
    others = max(0, signals.incident_recent)
    scaled = {
        "reach": min(1.0, math.log10(1 + (signals.followers or 0)) / 6),
        "verified": 1.0 if signals.verified else 0.0,
        "engagement": min(1.0, math.log10(1 + max(0, signals.engagement)) / 4),
        "velocity": min(1.0, math.log10(1 + velocity) / 3),
        "incident": min(1.0, math.log10(1 + others) / 2),
    }
    labels = {
        "reach": f"author reach {signals.followers or 0:,} followers",
        "verified": "verified author",
        "engagement": f"engagement {signals.engagement:,}",
        "velocity": f"spreading: {velocity:,.0f} interactions/hour",
        "incident": f"growing incident: {others} more posts in the last hour",
    }
    return scaled, labels
