"""The classify stage: the oldest unclassified mentions claimed, scored and stored, a batch
per transaction (PostgreSQL workers claim disjoint batches; on SQLite they take turns).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harken import vectors
from harken.classify.classifier import Classifier
from harken.classify.risk import RiskWeights
from harken.classify.types import Classification, Signals
from harken.config import Config
from harken.pipeline.progress import Progress, no_progress
from harken.store import Store, repo
from harken.store.lock import serial_session
from harken.store.tables import Author, Mention, utcnow


def build_classifier(config: Config) -> Classifier:
    return Classifier(
        model=config.classifier.model,
        topics=config.topics,
        topic_threshold=config.classifier.topic_threshold,
        topic_margin=config.classifier.topic_margin,
        batch_size=config.classifier.batch_size,
        languages=config.classifier.languages,
        risk_weights=risk_weights(config),
        heads_dir=Path(config.classifier.heads) if config.classifier.heads else None,
    )


def risk_weights(config: Config) -> RiskWeights:
    return RiskWeights(**config.risk.model_dump())


def classify_pending(
    store: Store,
    classifier: Classifier,
    batch_size: int = 64,
    max_batches: int | None = None,
    on_progress: Progress = no_progress,
) -> int:
    done = batches = 0
    while max_batches is None or batches < max_batches:
        n = classify_batch(store, classifier, batch_size)
        if not n:
            break
        done += n
        batches += 1
        on_progress("classify", n)
    return done


def classify_batch(store: Store, classifier: Classifier, batch_size: int = 64) -> int:
    """Claim the oldest unclassified mentions, classify them and store the results, in one
    transaction. Workers on PostgreSQL claim disjoint batches (the rows stay locked while the
    model runs; a worker killed mid-batch lets go of them, uncommitted); on SQLite they take
    turns. Returns how many were classified (0: nothing pending)."""
    serial = store.dialect == "sqlite"
    with serial_session(store, "classify") if serial else store.session() as session:
        rows = repo.unclassified(session, batch_size)
        if not rows:
            return 0
        results = classifier.classify(
            [m.text for m, _ in rows],
            languages=[m.language for m, _ in rows],
            signals=[signals_of(m, a) for m, a in rows],
        )
        pairs = zip(rows, results, strict=True)
        repo.insert_classifications(session, [_row(m.id, c) for (m, _), c in pairs])
    return len(rows)


def _row(mention_id: int | None, c: Classification) -> dict[str, Any]:
    return {
        "mention_id": mention_id,
        "model": c.model,
        "sentiment": c.sentiment,
        "sentiment_scores": c.sentiment_scores,
        "complaint": c.complaint,
        "abuse": c.abuse,
        "risk": c.risk,
        "risk_factors": list(c.risk_factors),
        "topics": list(c.topics),
        "topic_scores": c.topic_scores,
        "language": c.language,
        "created_at": utcnow(),
        "vector": vectors.pack(c.vector) if c.vector is not None else None,
        "vector_model": c.vector_model,
    }


def signals_of(mention: Mention, author: Author) -> Signals:
    engagement = sum(
        v for v in (mention.likes, mention.reposts, mention.replies, mention.quotes) if v
    )
    return Signals(followers=author.followers, verified=author.verified, engagement=engagement)
