"""A routing gold set and its scores (``harken rules test --gold FILE``): posts labelled with
the departments a sensible team wants, read from JSONL, and what harken decided for each,
turned into per-department precision and recall, items per storm and per-kind error counts.

Pure: reading the file and the arithmetic. ``harken.pipeline.gold`` runs the posts through
the real stages and hands the decisions here.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from harken.errors import HarkenError
from harken.records import AuthorRecord, MentionRecord

Split = Literal["tune", "holdout", "all"]
SPLITS: tuple[str, ...] = ("tune", "holdout", "all")
HOLDOUT_PERCENT = 30  # the share of ids the fixed hash puts in the holdout part
# Kinds whose posts a team never wants queued as customers.
OWN_KINDS = frozenset({"staff", "own", "moderator"})
PRAISE_KINDS = frozenset({"praise", "praise_fixed_problem"})
PRESS_KINDS = frozenset({"press", "news"})
DENIED_TO = frozenset({"security", "legal"})  # where a denial must not go unless labelled so
HINT = "one JSON object per line: id, platform, author {handle}, created_at, text, labels"


@dataclass(frozen=True)
class GoldPost:
    id: str
    brand: str | None
    record: MentionRecord
    departments: frozenset[str]
    kind: str
    storm: str | None
    split: str


@dataclass(frozen=True)
class Prediction:
    """What the pipeline did with one gold post."""

    stored: bool  # False: left out at ingest (off brand, or by the brand's own handle)
    departments: frozenset[str] = frozenset()
    complaint: float | None = None
    flags: tuple[str, ...] = ()
    incident_id: int | None = None
    opened: int = 0  # queue items this post opened (not the ones it joined)


def split_of(post_id: str) -> str:
    """The fixed split rule of bench/data/gold/SPLIT.md: the first 8 hex digits of the id's
    SHA-256, mod 100, below HOLDOUT_PERCENT is holdout. Decided before any measurement."""
    bucket = int(hashlib.sha256(post_id.encode("utf-8")).hexdigest()[:8], 16) % 100
    return "holdout" if bucket < HOLDOUT_PERCENT else "tune"


def read_gold(path: Path) -> list[GoldPost]:
    """Every post of a gold file; a bad line is an error naming it (a benchmark with a
    silently skipped post would measure something else)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise HarkenError(f"cannot read gold file {path}: {err}", hint=HINT) from None
    posts: list[GoldPost] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            post = _post(json.loads(line))
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise HarkenError(
                f"{path}:{number}: not a gold post ({err!s:.200})", hint=HINT
            ) from None
        if post.id in seen:
            raise HarkenError(f"{path}:{number}: id {post.id!r} appears twice", hint=HINT)
        seen.add(post.id)
        posts.append(post)
    if not posts:
        raise HarkenError(f"{path} holds no posts", hint=HINT)
    return posts


def _post(raw: dict[str, Any]) -> GoldPost:
    pid, platform = str(raw["id"]), str(raw["platform"])
    author, labels = raw["author"], raw["labels"]
    created = datetime.fromisoformat(str(raw["created_at"]).replace("Z", "+00:00"))
    if created.tzinfo is None:
        raise ValueError("created_at needs a time zone (…Z)")
    reference = raw.get("reference")
    record = MentionRecord(
        platform=platform,
        external_id=pid,
        text=str(raw["text"]),
        created_at=created.astimezone(UTC),
        author=AuthorRecord(
            platform=platform,
            external_id=str(author["handle"]),
            handle=str(author["handle"]),
            name=author.get("name"),
            followers=author.get("followers"),
            verified=bool(author.get("verified", False)),
        ),
        language=raw.get("language"),
        reference=(str(reference["kind"]), str(reference["id"])) if reference else None,
    )
    departments = labels["departments"]
    if not isinstance(departments, list):
        raise ValueError("labels.departments must be a list")
    split = raw.get("split") or split_of(pid)
    if split not in ("tune", "holdout"):
        raise ValueError(f"split must be tune or holdout, not {split!r}")
    return GoldPost(
        id=pid,
        brand=raw.get("brand"),
        record=record,
        departments=frozenset(str(d) for d in departments),
        kind=str(labels["kind"]),
        storm=labels.get("storm"),
        split=split,
    )


def choose(posts: Iterable[GoldPost], split: str) -> list[GoldPost]:
    return [p for p in posts if split == "all" or p.split == split]


@dataclass
class DepartmentScore:
    department: str
    labelled: int  # posts labelled for it (support)
    predicted: int
    true_positives: int
    precision: float
    recall: float
    f1: float


@dataclass
class StormScore:
    storm: str
    posts: int
    stored: int
    items: int  # queue items its posts opened
    items_by_department: dict[str, int]
    incidents: int  # distinct incidents its stored posts fell into


@dataclass
class GoldScore:
    split: str
    posts: int
    stored: int
    departments: list[DepartmentScore]
    micro: dict[str, float]
    macro: dict[str, float]
    exact: int  # posts whose predicted departments equal the labelled ones
    queued_unwanted: int  # labelled "nothing to queue" but queued somewhere
    storms: list[StormScore]
    kinds: dict[str, dict[str, int]]  # kind -> {posts, exact}
    errors: dict[str, dict[str, int]] = field(default_factory=dict)
    # Posts routed otherwise than labelled: {id, kind, labelled, routed, text}.
    wrong: list[dict[str, Any]] = field(default_factory=list)


def _ratio(num: int, den: int) -> float:
    return num / den if den else 0.0


def _f1(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r else 0.0


def score(
    posts: list[GoldPost],
    predictions: Mapping[str, Prediction],
    departments: Iterable[str],
    split: str = "",
) -> GoldScore:
    """Precision, recall and F1 per department (a post is a positive for each department it
    went to), micro and macro over the departments, storms and per-kind errors."""
    names = sorted(set(departments) | {d for p in posts for d in p.departments})
    tp: Counter[str] = Counter()
    fp: Counter[str] = Counter()
    fn: Counter[str] = Counter()
    for post in posts:
        got = predictions[post.id].departments
        for d in got & post.departments:
            tp[d] += 1
        for d in got - post.departments:
            fp[d] += 1
        for d in post.departments - got:
            fn[d] += 1
    rows = []
    for d in names:
        p, r = _ratio(tp[d], tp[d] + fp[d]), _ratio(tp[d], tp[d] + fn[d])
        rows.append(DepartmentScore(d, tp[d] + fn[d], tp[d] + fp[d], tp[d], p, r, _f1(p, r)))
    all_tp, all_fp, all_fn = sum(tp.values()), sum(fp.values()), sum(fn.values())
    micro_p, micro_r = _ratio(all_tp, all_tp + all_fp), _ratio(all_tp, all_tp + all_fn)
    scored = [row for row in rows if row.labelled or row.predicted]
    macro = {
        key: sum(getattr(row, key) for row in scored) / len(scored) if scored else 0.0
        for key in ("precision", "recall", "f1")
    }
    return GoldScore(
        split=split,
        posts=len(posts),
        stored=sum(1 for p in posts if predictions[p.id].stored),
        departments=rows,
        micro={"precision": micro_p, "recall": micro_r, "f1": _f1(micro_p, micro_r)},
        macro=macro,
        exact=sum(1 for p in posts if predictions[p.id].departments == p.departments),
        queued_unwanted=sum(
            1 for p in posts if not p.departments and predictions[p.id].departments
        ),
        storms=storm_scores(posts, predictions),
        kinds=kind_scores(posts, predictions),
        errors=kind_errors(posts, predictions),
        wrong=[
            {
                "id": p.id,
                "kind": p.kind,
                "labelled": sorted(p.departments),
                "routed": sorted(predictions[p.id].departments),
                "text": p.record.text,
            }
            for p in posts
            if predictions[p.id].departments != p.departments
        ],
    )


def storm_scores(posts: list[GoldPost], predictions: Mapping[str, Prediction]) -> list[StormScore]:
    """Per labelled storm: how many queue items and incidents its posts made (one each, per
    department it concerns, is the goal)."""
    members: dict[str, list[GoldPost]] = defaultdict(list)
    for post in posts:
        if post.storm:
            members[post.storm].append(post)
    found = []
    for storm in sorted(members):
        its = [predictions[p.id] for p in members[storm]]
        by_department: Counter[str] = Counter()
        for prediction in its:
            for d in prediction.departments if prediction.opened else ():
                by_department[d] += 1
        found.append(
            StormScore(
                storm=storm,
                posts=len(its),
                stored=sum(1 for p in its if p.stored),
                items=sum(p.opened for p in its),
                items_by_department=dict(sorted(by_department.items())),
                incidents=len({p.incident_id for p in its if p.incident_id is not None}),
            )
        )
    return found


def kind_scores(
    posts: list[GoldPost], predictions: Mapping[str, Prediction]
) -> dict[str, dict[str, int]]:
    kinds: dict[str, dict[str, int]] = defaultdict(lambda: {"posts": 0, "exact": 0})
    for post in posts:
        kinds[post.kind]["posts"] += 1
        kinds[post.kind]["exact"] += predictions[post.id].departments == post.departments
    return dict(sorted(kinds.items()))


def kind_errors(
    posts: list[GoldPost], predictions: Mapping[str, Prediction]
) -> dict[str, dict[str, int]]:
    """The failure kinds of issue 21, each as {count, of}: how many of the posts it concerns
    went wrong (for impostors_caught, how many were caught)."""

    def tally(kinds: frozenset[str], wrong: Any) -> dict[str, int]:
        concerned = [p for p in posts if p.kind in kinds]
        return {
            "count": sum(1 for p in concerned if wrong(p, predictions[p.id])),
            "of": len(concerned),
        }

    return {
        "denials_to_security_or_legal": tally(
            frozenset({"denial"}),
            lambda p, got: bool((got.departments - p.departments) & DENIED_TO),
        ),
        "praise_complaint_0_5": tally(
            PRAISE_KINDS, lambda _p, got: got.complaint is not None and got.complaint >= 0.5
        ),
        "praise_queued": tally(PRAISE_KINDS, lambda _p, got: bool(got.departments)),
        "impostors_caught": tally(
            frozenset({"impostor"}), lambda _p, got: "impersonation" in got.flags
        ),
        "press_not_to_pr": tally(PRESS_KINDS, lambda _p, got: "pr" not in got.departments),
        "staff_own_moderator_queued": tally(OWN_KINDS, lambda _p, got: bool(got.departments)),
    }
