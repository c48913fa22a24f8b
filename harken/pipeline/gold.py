"""``harken rules test --gold FILE``: a labelled gold set through the real stages.

The posts are ingested into a throwaway SQLite store in a temporary directory, then classified
and routed by the same stage table ``harken process`` runs (incidents included), with the
config given. The notify stage is left out: a benchmark must never post to a real Slack. What
routing decided for each post is read back from the store and scored by
``harken.reports.gold``.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from pathlib import Path

from sqlalchemy import select

from harken.classify.classifier import Classifier
from harken.config import Config
from harken.pipeline.ingest import ingest
from harken.pipeline.progress import Progress, no_progress
from harken.pipeline.stages import PassResult, Pipeline, stage
from harken.reports.gold import GoldPost, GoldScore, Prediction, choose, read_gold, score
from harken.store import Store
from harken.store.tables import Classification, Mention, QueueItem

GOLD_STAGES = ("classify", "route")  # escalate and notify act on time and sinks: not measured


def evaluate_gold(
    config: Config,
    path: Path,
    split: str = "all",
    classifier: Classifier | None = None,
    on_progress: Progress = no_progress,
) -> GoldScore:
    """Scores of this config on the posts of ``split`` in the gold file at ``path``.

    Every post of the file goes through the pipeline, whatever the split: a storm or a reply
    thread stays whole, as it would arrive; the split only chooses which posts are scored."""
    posts = read_gold(path)
    return score_split(config, posts, predict(config, posts, classifier, on_progress), split)


def score_split(
    config: Config, posts: list[GoldPost], predictions: dict[str, Prediction], split: str
) -> GoldScore:
    """Scores of the posts of ``split``, every department of the config counted."""
    names = [d.name for d in config.departments]
    return score(choose(posts, split), predictions, names, split)


def predict(
    config: Config,
    posts: list[GoldPost],
    classifier: Classifier | None = None,
    on_progress: Progress = no_progress,
) -> dict[str, Prediction]:
    """What the pipeline does with each post, by gold id. All posts are stored before any is
    routed, in time order, as a batch import followed by ``harken process`` would."""
    with tempfile.TemporaryDirectory(prefix="harken-gold-") as directory:
        store = Store(f"sqlite:///{Path(directory) / 'gold.db'}")
        try:
            ordered = sorted(posts, key=lambda p: p.record.created_at)
            ingest(store, config, [p.record for p in ordered], source="gold")
            pipeline = Pipeline(store, config, {}, classifier)
            done = PassResult()
            for name in GOLD_STAGES:
                stage(name).drain(pipeline, done, on_progress)
            return _read_back(store, posts)
        finally:
            store.engine.dispose()


def _read_back(store: Store, posts: list[GoldPost]) -> dict[str, Prediction]:
    with store.session() as session:
        mentions = {
            (m.platform, m.external_id): m for m in session.execute(select(Mention)).scalars()
        }
        complaint: dict[int, float] = {
            row[0]: row[1]
            for row in session.execute(
                select(Classification.mention_id, Classification.complaint)
            ).all()
        }
        items = [
            (row[0], row[1], row[2])
            for row in session.execute(
                select(QueueItem.mention_id, QueueItem.incident_id, QueueItem.department)
            ).all()
        ]
    opened = Counter(mention_id for mention_id, _, _ in items)
    # A post that joined an item of its incident has no item of its own: the departments of
    # its incident's items that routing recorded for it are where it went.
    held = {(incident, d) for _, incident, d in items if incident is not None}
    held |= {(("mention", mention_id), d) for mention_id, _, d in items}
    found: dict[str, Prediction] = {}
    for post in posts:
        mention = mentions.get((post.record.platform, post.id))
        if mention is None:
            found[post.id] = Prediction(stored=False)
            continue
        routed = {str(d["department"]) for d in mention.routing or [] if d.get("department")}
        departments = {
            d
            for d in routed
            if (mention.incident_id, d) in held or (("mention", mention.id), d) in held
        }
        found[post.id] = Prediction(
            stored=True,
            departments=frozenset(departments),
            complaint=complaint.get(mention.id),
            # Mention flags (impersonation...) exist from migration 0012 on.
            flags=tuple(getattr(mention, "flags", None) or ()),
            incident_id=mention.incident_id,
            opened=opened[mention.id],
        )
    return found
