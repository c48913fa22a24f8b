"""Escalation risk, first version: text signals amplified by the author's reach.

risk = min(1, text_signal * (1 + 0.6 * reach + 0.2 * verified + 0.2 * engagement))
text_signal = 0.5 * complaint + 0.3 * p(negative) + 0.2 * abuse

reach and engagement are log-scaled to 0..1 (1,000,000 followers and 10,000 interactions
saturate). Praise from a famous account therefore stays low, while a complaint from one rises.
Every score comes with its contributing factors, largest first, in plain words.
"""

from __future__ import annotations

import math

from harken.classify.types import Signals

TEXT_WEIGHTS = {"complaint": 0.5, "negative": 0.3, "abuse": 0.2}
AMPLIFIERS = {"reach": 0.6, "verified": 0.2, "engagement": 0.2}


def escalation_risk(
    complaint: float, negative: float, abuse: float, signals: Signals
) -> tuple[float, tuple[str, ...]]:
    parts = {
        "complaint": TEXT_WEIGHTS["complaint"] * complaint,
        "negative": TEXT_WEIGHTS["negative"] * negative,
        "abuse": TEXT_WEIGHTS["abuse"] * abuse,
    }
    text_signal = sum(parts.values())
    reach = min(1.0, math.log10(1 + (signals.followers or 0)) / 6)
    engagement = min(1.0, math.log10(1 + max(0, signals.engagement)) / 4)
    boost = (
        AMPLIFIERS["reach"] * reach
        + AMPLIFIERS["verified"] * signals.verified
        + AMPLIFIERS["engagement"] * engagement
    )
    risk = min(1.0, text_signal * (1 + boost))
    labels = {
        "complaint": f"complaint {complaint:.2f}",
        "negative": f"negative sentiment {negative:.2f}",
        "abuse": f"abusive language {abuse:.2f}",
    }
    factors = [(v, labels[k]) for k, v in parts.items() if v >= 0.05]
    if reach >= 0.5:
        factors.append(
            (
                text_signal * AMPLIFIERS["reach"] * reach,
                f"author reach {signals.followers:,} followers",
            )
        )
    if signals.verified:
        factors.append((text_signal * AMPLIFIERS["verified"], "verified author"))
    if engagement >= 0.25:
        factors.append(
            (
                text_signal * AMPLIFIERS["engagement"] * engagement,
                f"engagement {signals.engagement:,}",
            )
        )
    factors.sort(key=lambda f: -f[0])
    return round(risk, 4), tuple(label for _, label in factors[:4])
