from __future__ import annotations

from harken.classify.risk import escalation_risk
from harken.classify.types import Signals

SMALL = Signals(followers=80)
BIG = Signals(followers=85_000, verified=True, engagement=6_500)


def test_reach_raises_the_risk_of_a_complaint() -> None:
    small, _ = escalation_risk(0.95, 0.8, 0.1, SMALL)
    big, factors = escalation_risk(0.95, 0.8, 0.1, BIG)
    assert 0.2 < small < 0.4 < 0.6 < big <= 1
    assert factors[:2] == ("complaint 0.95", "negative sentiment 0.80")
    assert "author reach 85,000 followers" in factors
    assert escalation_risk(0.95, 0.8, 0.1, SMALL)[1] == (
        "complaint 0.95",
        "negative sentiment 0.80",
    )


def test_praise_stays_low_whoever_writes_it() -> None:
    risk, _ = escalation_risk(0.05, 0.02, 0.01, BIG)
    assert risk < 0.1


def test_abuse_counts_and_scores_stay_in_range() -> None:
    calm, _ = escalation_risk(0.5, 0.5, 0.0, SMALL)
    rude, factors = escalation_risk(0.5, 0.5, 0.95, SMALL)
    assert rude > calm
    assert "abusive language 0.95" in factors
    assert (
        escalation_risk(1, 1, 1, Signals(followers=10**9, verified=True, engagement=10**9))[0] == 1
    )
    assert escalation_risk(0, 0, 0, Signals())[0] == 0


def test_velocity_and_a_growing_incident_raise_risk_and_say_why() -> None:
    alone, _ = escalation_risk(0.9, 0.8, 0.1, SMALL)
    spreading, factors = escalation_risk(0.9, 0.8, 0.1, Signals(followers=80, velocity=400))
    assert spreading > alone + 0.1
    assert "spreading: 400 interactions/hour" in factors
    storm, factors = escalation_risk(0.9, 0.8, 0.1, Signals(followers=80, incident_recent=40))
    assert storm > alone + 0.1
    assert "growing incident: 40 more posts in the last hour" in factors
    # A trickle is not worth naming.
    _, quiet = escalation_risk(0.9, 0.8, 0.1, Signals(followers=80, velocity=0.5))
    assert not any(f.startswith("spreading") for f in quiet)


def test_risky_topics_and_configured_weights() -> None:
    from harken.classify.risk import RiskWeights

    weights = RiskWeights(topics={"security": 0.3})
    plain, _ = escalation_risk(0.4, 0.4, 0.0, SMALL, topics=("security",))
    risky, factors = escalation_risk(0.4, 0.4, 0.0, SMALL, ("security",), weights)
    assert risky > plain and "risky topic: security" in factors
    lenient = RiskWeights(complaint=0.1, negative=0.1, abuse=0.1)
    assert (
        escalation_risk(0.9, 0.9, 0.0, BIG, weights=lenient)[0]
        < escalation_risk(0.9, 0.9, 0.0, BIG)[0]
    )
    # Praise stays low even when it spreads fast.
    assert escalation_risk(0.05, 0.02, 0.0, Signals(velocity=5000, incident_recent=99))[0] < 0.1
