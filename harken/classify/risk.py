"""Escalation risk, first version: how bad the text is, scaled by how far it can travel.

    text_signal = 0.35 * complaint + 0.35 * p(negative) + 0.3 * abuse
    exposure    = min(1, 0.6 * reach + 0.2 * verified + 0.4 * engagement)
    risk        = text_signal * (0.45 + 0.55 * exposure)

reach is log10(followers + 1) / 6 and engagement is log10(likes + reposts + replies + quotes
+ 1) / 4, both capped at 1 (1,000,000 followers and 10,000 interactions saturate). A routine
complaint from a small account lands near 0.3, the same complaint from a verified account with
85,000 followers whose post is spreading near 0.8; praise stays low whoever writes it. Every
score comes with its contributing factors, largest first, in plain words.
"""

from __future__ import annotations

import math

from harken.classify.types import Signals

TEXT_WEIGHTS = {"complaint": 0.35, "negative": 0.35, "abuse": 0.3}
EXPOSURE_WEIGHTS = {"reach": 0.6, "verified": 0.2, "engagement": 0.4}
BASE = 0.45  # the share of the text signal a post carries with no audience at all


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
    exposure_parts = {
        "reach": EXPOSURE_WEIGHTS["reach"] * reach,
        "verified": EXPOSURE_WEIGHTS["verified"] * signals.verified,
        "engagement": EXPOSURE_WEIGHTS["engagement"] * engagement,
    }
    exposure = min(1.0, sum(exposure_parts.values()))
    scale = BASE + (1 - BASE) * exposure
    risk = text_signal * scale
    labels = {
        "complaint": f"complaint {complaint:.2f}",
        "negative": f"negative sentiment {negative:.2f}",
        "abuse": f"abusive language {abuse:.2f}",
        "reach": f"author reach {signals.followers or 0:,} followers",
        "verified": "verified author",
        "engagement": f"engagement {signals.engagement:,}",
    }
    # Each factor's share of the final score: text terms scaled by the audience, audience
    # terms by how bad the text is.
    shares = {k: v * scale for k, v in parts.items()}
    shares |= {k: v * (1 - BASE) * text_signal for k, v in exposure_parts.items()}
    # A few hundred followers or a handful of likes is no audience worth naming.
    if reach < 0.5:
        shares.pop("reach")
    if engagement < 0.25:
        shares.pop("engagement")
    factors = sorted((share, labels[k]) for k, share in shares.items() if share >= 0.04)
    return round(risk, 4), tuple(label for _, label in reversed(factors[-4:]))
