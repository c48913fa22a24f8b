"""What the classifier returns (``harken classify --format json`` prints these)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["risk_factors"] = list(self.risk_factors)
        data["topics"] = list(self.topics)
        return data
