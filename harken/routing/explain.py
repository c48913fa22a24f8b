"""Routing decisions looked at after the fact: why one mention went where it went
(``harken route --explain``), and what a changed config would do to stored mentions
(``harken rules test``), before it is applied.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select

from harken import vectors
from harken.config import Config
from harken.errors import HarkenError
from harken.routing import impersonation
from harken.routing.items import decision_json, not_queued_json, subject_of
from harken.routing.rules import Decision, Router, RuleTrace
from harken.store import Store
from harken.store.tables import Author, Classification, Incident, Mention, QueueItem

# Mentions and their stored classifications in; each one's topic scores and topics out.
TopicScorer = Callable[
    [list[Mention], list[Classification]], list[tuple[dict[str, float], list[str]]]
]


@dataclass
class Explanation:
    mention: dict[str, Any]
    scores: dict[str, Any]
    topics: list[dict[str, Any]]  # every configured topic with its score, best first
    topic_threshold: float
    topic_margin: float
    rules: list[dict[str, Any]]  # each rule: name, matched, conditions [{holds, text}], to
    decided: list[dict[str, Any]]  # what routing decides with this config now
    stored: list[dict[str, Any]]  # what it decided when the mention was routed
    incident: dict[str, Any] | None
    items: list[dict[str, Any]]


def explain_mention(store: Store, config: Config, mention_id: int) -> Explanation:
    with store.session() as session:
        mention = session.get(Mention, mention_id)
        if mention is None:
            raise HarkenError(
                f"no mention {mention_id}", hint="queue items show their mention id ('mention N')"
            )
        c = session.execute(
            select(Classification).where(Classification.mention_id == mention_id)
        ).scalar_one_or_none()
        if c is None:
            raise HarkenError(
                f"mention {mention_id} is not classified yet", hint="run `harken process`"
            )
        author = session.get(Author, mention.author_id)
        assert author is not None
        incident = session.get(Incident, mention.incident_id) if mention.incident_id else None
        items = session.execute(
            select(QueueItem).where(
                (QueueItem.mention_id == mention_id)
                | (
                    (QueueItem.incident_id == mention.incident_id)
                    & (QueueItem.incident_id.is_not(None))  # type: ignore[union-attr]
                )
            )
        ).scalars()
        item_rows = [
            {
                "id": i.id,
                "department": i.department,
                "status": i.status,
                "priority": i.priority,
                "mention_id": i.mention_id,
                "mentions": i.mentions,
            }
            for i in items
        ]
        router = Router(config.routing, config.topics)
        subject = subject_of(mention, author, c, config)
        traces = router.explain(subject)
        impostor = impersonation.impostor_in(config, mention, author)
        decisions = impersonation.decide(config, router.route(subject), impostor)
        joined = joined_again(decisions, mention)
        if joined:
            decided = joined
        else:
            decided = [decision_json(d) for d in decisions] or [
                not_queued_json(router.set_apart(subject) or "not queued")
            ]
        return Explanation(
            mention={
                "id": mention.id,
                "platform": mention.platform,
                "brand": mention.brand,
                "text": mention.text,
                "author": author.handle,
                "followers": author.followers,
                "verified": author.verified,
                "language": c.language,
                "created_at": mention.created_at.isoformat(),
                "flags": list(mention.flags or []),
                # "author @x is staff (accounts:)": its role, or None
                "author_role": subject.author_line,
            },
            scores={
                "sentiment": c.sentiment,
                "sentiment_scores": c.sentiment_scores,
                "complaint": c.complaint,
                "abuse": c.abuse,
                "risk": c.risk,
                "risk_factors": list(c.risk_factors),
                "model": c.model,
            },
            topics=[
                {"topic": t, "score": s, "assigned": t in c.topics}
                for t, s in sorted((c.topic_scores or {}).items(), key=lambda kv: -kv[1])
            ],
            topic_threshold=config.classifier.topic_threshold,
            topic_margin=config.classifier.topic_margin,
            rules=[_trace_json(t) for t in traces],
            decided=decided,
            stored=list(mention.routing or []),
            incident=(
                {
                    "id": incident.id,
                    "size": incident.size,
                    "reason": mention.incident_reason,
                    "first_seen": incident.first_seen.isoformat(),
                    "last_seen": incident.last_seen.isoformat(),
                    "top_mention_id": incident.top_mention_id,
                }
                if incident
                else None
            ),
            items=item_rows,
        )


def _trace_json(trace: RuleTrace) -> dict[str, Any]:
    return {
        "rule": trace.rule.name,
        "matched": trace.matched,
        "stop": trace.rule.stop,
        "to": list(trace.rule.to),
        "priority": trace.rule.priority.value,
        "conditions": [{"holds": v.holds, "text": v.text} for v in trace.verdicts],
    }


# -- rules test -----------------------------------------------------------------------------


@dataclass
class Move:
    mention_id: int
    platform: str
    text: str
    before: list[str]  # departments
    after: list[str]
    reasons: dict[str, str]  # department -> why (the new decisions)


@dataclass
class RulesReplay:
    replayed: int = 0
    unchanged: int = 0
    unknown: int = 0  # routed before harken stored its decisions: not compared
    topics_recomputed: bool = False
    before: Counter[str] = field(default_factory=Counter)  # department -> mentions
    after: Counter[str] = field(default_factory=Counter)
    moves: list[Move] = field(default_factory=list)


def replay_rules(
    store: Store,
    config: Config,
    since: datetime,
    until: datetime,
    topic_scorer: TopicScorer | None = None,
    batch_size: int = 500,
) -> RulesReplay:
    """Route stored mentions posted in [since, until) with ``config`` and compare with what
    was decided when they were routed. Nothing is written.

    With ``topic_scorer`` (a classifier's ``topic_scores_from`` over the stored meaning
    vectors) a changed ``topics:`` section is replayed too; without it, stored topics stand.
    """
    router = Router(config.routing, config.topics)
    replay = RulesReplay(topics_recomputed=topic_scorer is not None)
    last_id = 0
    while True:
        with store.session() as session:
            rows = session.execute(
                select(Mention, Author, Classification)
                .join(Author, Author.id == Mention.author_id)
                .join(Classification, Classification.mention_id == Mention.id)
                .where(
                    Mention.routed_at.is_not(None),  # type: ignore[union-attr]
                    Mention.created_at >= since,
                    Mention.created_at < until,
                    Mention.id > last_id,  # type: ignore[operator]
                )
                .order_by(Mention.id)
                .limit(batch_size)
            ).all()
            for (mention, author, c), rescored in zip(
                rows, _rescored(rows, topic_scorer), strict=True
            ):
                if rescored is not None:  # a detached copy: replayed topics are never written
                    scores, topics = rescored
                    c = Classification(
                        **{**c.model_dump(), "topic_scores": scores, "topics": topics}
                    )
                _compare(replay, config, router, mention, author, c)
            if not rows:
                return replay
            last_id = rows[-1][0].id
            session.rollback()


def _rescored(
    rows: Any, scorer: TopicScorer | None
) -> list[tuple[dict[str, float], list[str]] | None]:
    if scorer is None:
        return [None] * len(rows)
    return list(scorer([m for m, _, _ in rows], [c for _, _, c in rows]))


def joined_again(decisions: list[Decision], mention: Mention) -> list[dict[str, Any]]:
    """The incident items a mention joined, when routing it again would join them again: only
    the default would take it, so it folds into its incident's open items, wherever they are
    (``routing.items.apply_decisions``). Empty otherwise."""
    if not decisions or any(d.rule is not None for d in decisions):
        return []
    return [d for d in mention.routing or [] if d.get("joined")]


def _compare(
    replay: RulesReplay,
    config: Config,
    router: Router,
    mention: Mention,
    author: Author,
    c: Classification,
) -> None:
    if not mention.routing:
        # Routed before decisions were stored (harken < 0.5's schema): nothing to compare.
        replay.unknown += 1
        return
    # An own or staff post queued nowhere recorded one entry without a department.
    before = sorted({d["department"] for d in mention.routing if d["department"]})
    impostor = impersonation.impostor_in(config, mention, author)
    subject = subject_of(mention, author, c, config)
    decisions = impersonation.decide(config, router.route(subject), impostor)
    after = sorted({d.department for d in decisions if not d.quiet})
    if joined_again(decisions, mention):
        after = before
    replay.replayed += 1
    replay.before.update(before)
    replay.after.update(after)
    if before == after:
        replay.unchanged += 1
        return
    assert mention.id is not None
    replay.moves.append(
        Move(
            mention.id,
            mention.platform,
            mention.text,
            before,
            after,
            {
                ("nowhere" if d.quiet else d.department): d.reason
                for d in decisions
                if d.quiet or d.department not in before
            },
        )
    )


def classifier_topic_scorer(classifier: Any) -> TopicScorer:
    """Topic scores and topics from stored vectors with the classifier's (new) topics, chosen
    as the classifier chooses them when it classifies (``Classifier.topics_of``)."""

    def score(
        mentions: list[Mention], classes: list[Classification]
    ) -> list[tuple[dict[str, float], list[str]]]:
        texts = [m.text for m in mentions]
        fresh = classifier.topic_scores_from(
            texts, [vectors.unpack(c.vector) for c in classes], [c.vector_model for c in classes]
        )
        out = []
        for text, s, c in zip(texts, fresh, classes, strict=True):
            # Without a stored vector (classified before vectors were kept, or in a language
            # its encoder cannot read) the stored scores stand, literal phrases of new
            # examples added.
            stored = {t: v for t, v in (c.topic_scores or {}).items() if classifier.has_topic(t)}
            scores = s if c.vector is not None else {**stored, **s}  # no removed topic stays
            out.append((scores, list(classifier.topics_of(scores, classifier.reader_words(text)))))
        return out

    return score
