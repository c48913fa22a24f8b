"""Risk scored again once more is known about a classified post: how fast its incident is
growing (the route stage, once the post has an incident) and how fast its engagement climbs
(``harken/pipeline/engagement.py``, after new snapshots). The text scores stay.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlmodel import Session

from harken.classify.risk import escalation_risk
from harken.classify.sarcasm import read_as_sarcasm, sarcasm_in_post
from harken.config import Config
from harken.pipeline.classify import risk_weights, signals_of
from harken.routing.impersonation import impostor_risk, known_impostor
from harken.store import incident_posts, repo
from harken.store import sources as source_repo
from harken.store.tables import Author, Classification, Mention

RECENT = timedelta(hours=1)  # an incident's growth: its other posts within this of the post


def rescore_mention(session: Session, config: Config, mention_id: int) -> bool:
    """Rescore one stored, classified mention (after new engagement snapshots)."""
    mention = session.get(Mention, mention_id)
    c = repo.classification_of(session, mention_id)
    if mention is None or c is None:
        return False
    author = session.get(Author, mention.author_id)
    assert author is not None
    incident_id = incident_posts.incident_of(session, mention_id)
    return rescore(session, config, mention, author, c, incident_id)


def rescore(
    session: Session,
    config: Config,
    mention: Mention,
    author: Author,
    c: Classification,
    incident_id: int | None,
    alone: bool = False,
    snapshotted: bool = True,
    *,
    recent: int | None = None,
) -> bool:
    """Recompute a classification's risk with what is known now: incident growth, velocity.

    The text scores stay; only the audience terms change. Returns True when the risk moved.
    ``alone`` (the mention's incident is new) and ``snapshotted=False`` (no engagement
    snapshots) skip queries whose answer is already known; ``recent``, the incident's other
    posts in the last hour, is given by the route stage (which writes its posts' incidents at
    the end of a batch) and counted here otherwise.
    """
    if recent is None:
        recent = 0
        if incident_id is not None and not alone:
            since = mention.created_at - RECENT
            recent = incident_posts.incident_recent(session, incident_id, since, [mention.id])  # type: ignore[list-item]
    snapshots = source_repo.snapshots_of(session, mention.id) if snapshotted else []  # type: ignore[arg-type]
    rates = source_repo.velocity(snapshots)
    per_hour = sum(rates.values()) if rates else None
    if not recent and per_hour is None:
        return False
    signals = replace(signals_of(mention, author), velocity=per_hour, incident_recent=recent)
    risk, factors = escalation_risk(
        c.complaint,
        c.sentiment_scores.get("negative", 0.0),
        c.abuse,
        signals,
        c.topics,
        risk_weights(config),
        text=mention.text,  # the escalation signals it states, as at classification
        # Said again only where the classification said it: its scores were turned round.
        sarcastic=sarcasm_in_post(mention.text) if read_as_sarcasm(c.risk_factors) else None,
    )
    # A flagged impostor keeps its factor and risk floor whatever the audience does.
    risk, kept = impostor_risk(known_impostor(config, mention, author), risk, list(factors))
    moved = risk != c.risk
    c.risk, c.risk_factors = risk, kept
    session.add(c)
    return moved
