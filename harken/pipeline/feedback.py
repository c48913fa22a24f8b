"""The feedback loop: people correct the classifier (`harken label`), `harken retrain` learns.

Corrections are stored per mention (table ``labels``; a new label replaces the old one).
Routing feedback teaches the complaint head too (``harken.queue.feedback.complaint_feedback``):
a mention whose queue item was dismissed as "not actionable" or "spam or bot" needed no
response, one whose item was claimed, answered or resolved did; the latest word per mention
counts, and a ``harken label`` that says whether it is a complaint always wins over it.
Retraining embeds the corrected mentions with the configured model's encoder, tunes each of its
heads towards the corrections (``classify.training.tune``: anchored to the current weights, so a
handful of labels nudges rather than overturns), and writes a new head set. ``classifier.heads`` in
config.yaml points the classifier at it.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sqlmodel import Session

from harken.classify.adapter import load_adapter
from harken.classify.classifier import SENTIMENT_LABELS
from harken.classify.encoder import load_encoder
from harken.classify.heads import Head, bundled_heads_dir, load_heads, save_heads
from harken.classify.preprocess import clean_text, strip_retweet_prefix
from harken.classify.training.tune import agreement, tune_head
from harken.config import Config
from harken.errors import ClassifierError, HarkenError
from harken.queue.feedback import ComplaintWord, complaint_feedback, labels_of
from harken.store import Store, repo
from harken.store.tables import Classification, Label, RoutingLabel, utcnow

FOLDS = 5  # cross-validation folds for the held-out agreement figure
LABEL, ROUTING = "harken label", "routing feedback"  # where a correction came from


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


@dataclass(frozen=True)
class Correction:
    """What retraining learns about one mention: a ``harken label``, with routing feedback
    saying whether it is a complaint where the label does not."""

    mention_id: int
    text: str
    sentiment: str | None = None
    complaint: bool | None = None
    abuse: bool | None = None
    origin: str = LABEL  # of ``complaint`` (the other heads learn from labels alone)
    feedback: ComplaintWord | None = None  # the routing feedback on it, used or overridden

    def origin_of(self, head: str) -> str:
        return self.origin if head == "complaint" else LABEL

    @property
    def overrides(self) -> bool:
        """Whether a label's complaint replaced routing feedback on this mention."""
        return self.origin == LABEL and self.complaint is not None and self.feedback is not None


def collect_corrections(session: Session, routing_feedback: bool = True) -> list[Correction]:
    """Every mention retraining learns from: labelled ones oldest label first, then those with
    routing feedback alone (by mention id)."""
    words = complaint_feedback(session) if routing_feedback else {}
    labelled = repo.labelled_texts(session)
    found = [
        _correction(text, label, words.pop(label.mention_id, None)) for text, label in labelled
    ]
    return found + [_correction(w.text, None, w) for _, w in sorted(words.items())]


def _correction(text: str, label: Label | None, word: ComplaintWord | None) -> Correction:
    if label is None:
        assert word is not None
        return Correction(
            word.mention_id, text, complaint=word.complaint, origin=ROUTING, feedback=word
        )
    correction = Correction(
        label.mention_id, text, label.sentiment, label.complaint, label.abuse, feedback=word
    )
    if label.complaint is None and word is not None:  # the label says nothing on it
        return replace(correction, complaint=word.complaint, origin=ROUTING)
    return correction


@dataclass(frozen=True)
class MentionFeedback:
    """Everything recorded about one mention that `harken retrain` could learn from."""

    mention_id: int
    platform: str
    external_id: str
    text: str
    classification: Classification | None  # what harken decided
    label: Label | None  # what a person said, with `harken label`
    routing: list[RoutingLabel]  # what people said by transferring or dismissing its items
    learns: Correction | None  # what retraining takes from all that


def mention_feedback(store: Store, mention_id: int) -> MentionFeedback:
    with store.session() as session:
        mention = repo.mention_by_id(session, mention_id)
        if mention is None:
            raise HarkenError(
                f"no mention {mention_id}: nothing to label or show",
                hint="ids are in `harken queue list` (mention N)",
            )
        label = repo.label_of(session, mention_id)
        word = complaint_feedback(session, mention_id).get(mention_id)
        learns = None if label is None and word is None else _correction(mention.text, label, word)
        return MentionFeedback(
            mention_id,
            mention.platform,
            mention.external_id,
            mention.text,
            repo.classification_of(session, mention_id),
            label,
            labels_of(session, mention_id),
            learns,
        )


@dataclass
class HeadReport:
    corrections: int
    fit_before: float  # agreement with the corrections, current heads
    fit_after: float  # agreement with the corrections, tuned heads
    held_out_before: float | None = None  # cross-validated (when there are enough)
    held_out_after: float | None = None
    origins: dict[str, int] = field(default_factory=dict)  # LABEL / ROUTING: how many of each
    overridden: int = 0  # routing feedback a label replaced (complaint only)


@dataclass
class RetrainReport:
    out: Path
    model: str
    heads: dict[str, HeadReport] = field(default_factory=dict)
    routing_feedback: bool = True  # whether it was used


def retrain(
    store: Store,
    config: Config,
    out: Path,
    strength: float = 10.0,
    routing_feedback: bool = True,
) -> RetrainReport:
    model = config.classifier.model
    current_dir = Path(config.classifier.heads) if config.classifier.heads else None
    current_path = current_dir or bundled_heads_dir(model)
    current = load_heads(current_path)
    adapter = load_adapter(current_path, current.meta)
    with store.session() as session:
        rows = collect_corrections(session, routing_feedback)
    if not rows:
        raise HarkenError("no corrections yet", hint=_no_corrections_hint(routing_feedback))
    texts = [clean_text(strip_retweet_prefix(row.text)) for row in rows]
    embeddings = load_encoder(model, adapter).embed(texts, config.classifier.batch_size)
    if embeddings.shape[1] != current.dim:
        raise ClassifierError(f"heads expect {current.dim} dimensions, {model} gives another")
    report = RetrainReport(out=out, model=model, routing_feedback=routing_feedback)
    tuned: dict[str, Head] = {}
    for name, head in current.heads.items():
        index, targets = _targets(name, head, rows)
        tuned[name] = tune_head(head, embeddings[index], targets, strength)
        if len(index):
            measured = _measure(head, tuned[name], embeddings[index], targets, strength)
            report.heads[name] = _with_origins(measured, name, [rows[i] for i in index])
    record = {
        k: v for k, v in current.meta.items() if k not in ("format", "encoder", "dim", "heads")
    }
    record["tuned"] = {
        "date": datetime.now(UTC).date().isoformat(),
        "from": str(current_dir or f"bundled {model} heads"),
        "strength": strength,
        "corrections": {name: r.corrections for name, r in report.heads.items()},
        "origins": {name: r.origins for name, r in report.heads.items()},
        "routing_feedback": routing_feedback,
    }
    save_heads(out, tuned, current.encoder, record)
    if adapter is not None:  # the tuned heads read the same adapted encoder: keep it beside them
        copy = out / adapter.path.name
        if copy.resolve() != adapter.path.resolve():
            shutil.copyfile(adapter.path, copy)
    return report


def _no_corrections_hint(routing_feedback: bool) -> str:
    if routing_feedback:
        return (
            "label mentions with `harken label ID ...`, or dismiss (not actionable, spam or "
            "bot), claim or resolve their queue items"
        )
    return "label mentions with `harken label ID ...`, or drop --no-routing-feedback"


def _with_origins(report: HeadReport, name: str, rows: list[Correction]) -> HeadReport:
    origins = [row.origin_of(name) for row in rows]
    report.origins = {origin: origins.count(origin) for origin in (LABEL, ROUTING)}
    if name == "complaint":
        report.overridden = sum(row.overrides for row in rows)
    return report


def _targets(name: str, head: Head, labels: list[Correction]) -> tuple[np.ndarray, np.ndarray]:
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
