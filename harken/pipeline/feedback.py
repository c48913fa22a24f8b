"""The feedback loop: people correct the classifier (`harken label`), `harken retrain` learns.

Corrections are stored per mention (table ``labels``; a new label replaces the old one).
Retraining embeds the corrected mentions with the configured model's encoder, tunes each of its
heads towards the corrections (``classify.training.tune``: anchored to the current weights, so a
handful of labels nudges rather than overturns), and writes a new head set. ``classifier.heads`` in
config.yaml points the classifier at it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from harken.classify.adapter import load_adapter
from harken.classify.classifier import SENTIMENT_LABELS
from harken.classify.encoder import load_encoder
from harken.classify.heads import Head, bundled_heads_dir, load_heads, save_heads
from harken.classify.preprocess import clean_text, strip_retweet_prefix
from harken.classify.training.tune import agreement, tune_head
from harken.config import Config
from harken.errors import ClassifierError, HarkenError
from harken.store import Store, repo
from harken.store.tables import Label, utcnow

FOLDS = 5  # cross-validation folds for the held-out agreement figure


def label_mention(
    store: Store,
    mention_id: int,
    sentiment: str | None = None,
    complaint: bool | None = None,
    abuse: bool | None = None,
) -> Label:
    """Store (or update) a person's correction; unspecified fields keep their earlier value."""
    if sentiment is None and complaint is None and abuse is None:
        raise HarkenError("nothing to label", hint="give --sentiment, --complaint or --abuse")
    if sentiment is not None and sentiment not in SENTIMENT_LABELS:
        raise HarkenError(f"sentiment must be one of {', '.join(SENTIMENT_LABELS)}")
    with store.session() as session:
        if repo.mention_by_id(session, mention_id) is None:
            raise HarkenError(
                f"no mention {mention_id}", hint="ids are in `harken queue list` (mention N)"
            )
        label = repo.label_of(session, mention_id) or Label(mention_id=mention_id)
        if sentiment is not None:
            label.sentiment = sentiment
        if complaint is not None:
            label.complaint = complaint
        if abuse is not None:
            label.abuse = abuse
        label.labelled_at = utcnow()
        session.add(label)
        session.flush()
        return label


@dataclass
class HeadReport:
    corrections: int
    fit_before: float  # agreement with the corrections, current heads
    fit_after: float  # agreement with the corrections, tuned heads
    held_out_before: float | None = None  # cross-validated (when there are enough)
    held_out_after: float | None = None


@dataclass
class RetrainReport:
    out: Path
    model: str
    heads: dict[str, HeadReport] = field(default_factory=dict)


def retrain(store: Store, config: Config, out: Path, strength: float = 10.0) -> RetrainReport:
    model = config.classifier.model
    current_dir = Path(config.classifier.heads) if config.classifier.heads else None
    current_path = current_dir or bundled_heads_dir(model)
    current = load_heads(current_path)
    adapter = load_adapter(current_path, current.meta)
    with store.session() as session:
        rows = repo.labelled_texts(session)
    if not rows:
        raise HarkenError("no corrections yet", hint="label mentions with `harken label ID ...`")
    texts = [clean_text(strip_retweet_prefix(text)) for text, _ in rows]
    embeddings = load_encoder(model, adapter).embed(texts, config.classifier.batch_size)
    if embeddings.shape[1] != current.dim:
        raise ClassifierError(f"heads expect {current.dim} dimensions, {model} gives another")
    report = RetrainReport(out=out, model=model)
    tuned: dict[str, Head] = {}
    for name, head in current.heads.items():
        index, targets = _targets(name, head, [label for _, label in rows])
        tuned[name] = tune_head(head, embeddings[index], targets, strength)
        if len(index):
            report.heads[name] = _measure(head, tuned[name], embeddings[index], targets, strength)
    record = {
        k: v for k, v in current.meta.items() if k not in ("format", "encoder", "dim", "heads")
    }
    record["tuned"] = {
        "date": datetime.now(UTC).date().isoformat(),
        "from": str(current_dir or f"bundled {model} heads"),
        "strength": strength,
        "corrections": {name: r.corrections for name, r in report.heads.items()},
    }
    save_heads(out, tuned, current.encoder, record)
    if adapter is not None:  # the tuned heads read the same adapted encoder: keep it beside them
        copy = out / adapter.path.name
        if copy.resolve() != adapter.path.resolve():
            shutil.copyfile(adapter.path, copy)
    return report


def _targets(name: str, head: Head, labels: list[Label]) -> tuple[np.ndarray, np.ndarray]:
    """Row indexes that carry a label for this head, and the label indexes."""
    index, targets = [], []
    for i, label in enumerate(labels):
        value: str | bool | None = getattr(label, name, None)
        if value is None:
            continue
        if head.kind == "sigmoid":
            targets.append(1 if value else 0)
        else:
            targets.append(head.labels.index(str(value)))
        index.append(i)
    return np.array(index, dtype=int), np.array(targets, dtype=int)


def _measure(old: Head, new: Head, x: np.ndarray, y: np.ndarray, strength: float) -> HeadReport:
    report = HeadReport(len(y), agreement(old, x, y), agreement(new, x, y))
    if len(y) >= 2 * FOLDS:
        folds = np.arange(len(y)) % FOLDS
        hits_old = hits_new = 0.0
        for fold in range(FOLDS):
            train, test = folds != fold, folds == fold
            held = tune_head(old, x[train], y[train], strength)
            hits_old += agreement(old, x[test], y[test]) * test.sum()
            hits_new += agreement(held, x[test], y[test]) * test.sum()
        report.held_out_before = hits_old / len(y)
        report.held_out_after = hits_new / len(y)
    return report
