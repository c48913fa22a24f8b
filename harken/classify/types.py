"""What the classifier returns (``harken classify --format json`` prints these)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Signals:
    """Facts about a post beyond its text that raise or lower its escalation risk."""

    followers: int | None = None
    verified: bool = False
    engagement: int = 0  # likes + reposts + replies + quotes
    velocity: float | None = None  # interactions per hour, from engagement snapshots
    incident_recent: int = 0  # other posts of the same incident in the last hour


@dataclass(frozen=True)
class Classification:
    text: str
    sentiment: str  # negative | neutral | positive
    sentiment_scores: dict[str, float]
    complaint: float  # 0..1: needs a response from the company
    abuse: float  # 0..1: abusive or offensive language
    risk: float  # 0..1: may spread or harm
    risk_factors: tuple[str, ...]
    topics: tuple[str, ...]
    language: str
    model: str
    topic_scores: dict[str, float] = field(default_factory=dict)
    # The text's meaning in the base encoder's space (unit length) and that encoder's name;
    # None when the encoder does not read the post's language. Not part of the JSON output.
    vector: np.ndarray | None = field(default=None, compare=False, repr=False)
    vector_model: str | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data.pop("vector")
        data.pop("vector_model")
        data["risk_factors"] = list(self.risk_factors)
        data["topics"] = list(self.topics)
        return data
