"""Storms: many people reporting one problem in their own words become one incident.

The keys of ``harken.routing.incidents`` join retweets, copies, shared links and near-identical
texts. An outage reported by sixty people in sixty phrasings shares none of those, so each
complaint is also compared with the meaning of the brand's recent incidents:

* Each incident keeps, per encoder, the running mean of its complaints' meaning vectors and how
  many of them had each topic (``incident_centroids``, float16 like ``classifications.vector``).
* A complaint (negative, or complaint score ≥ ``storms.complaint``: praise never joins an
  outage) that no key joined reads the ``storms.candidates`` most recent centroids of its
  brand whose last complaint is within ``storms.window`` of it (one indexed query on
  ``(brand, last_at)``, open incidents only), and joins the most similar
  whose centroid reaches ``storms.similarity``: on MiniLM's scale, e5's mapped onto it.
  Bounded work per post, whatever the size of the storm. A neutral post (complaint score ≥
  ``storms.neutral_complaint``) is compared too, but joins only on a shared topic at
  ``storms.similarity``; a positive one never.
* Bursts: an outage's first reports each open an incident, and two phrasings of it are only
  ~0.45 alike on MiniLM while each is 0.6-0.8 from the whole storm's mean. When at least
  ``storms.burst`` incidents of the brand had a complaint within the window, a complaint needs
  ``storms.burst_similarity`` instead of ``storms.similarity`` (the topicless bar drops as
  much), so the fragments come together (tuned on the gold set's tune split).
* Guards against one incident swallowing everything: the topics must agree when both sides
  have topics (a post's topic among the incident's leading ones), a post or incident without
  topics needs ``storms.topicless_similarity`` (unless the post's best topic score, at least
  ``storms.topic_hint``, is for the incident's leading topic), and an incident never spans more than
  ``storms.max_span`` from its first complaint to its last.
* Across languages: MiniLM (English) and e5 (Japanese) vectors live in different spaces and
  cannot be compared. An incident holds one centroid per encoder that has reported it; a
  Japanese complaint meets an English-only incident on a shared leading topic alone, within
  ``storms.across_languages`` of its last complaint (shorter than the window: topic agreement
  is weaker evidence than meaning), and only when its score for the topic is clear
  (``ACROSS_SCORE``) and the brand is in a burst (``storms.burst`` incidents, or that many
  complaints on the topic in this incident) or the post comes within ``ACROSS_CLOSE`` of the
  incident's last complaint: a lone Japanese billing complaint does not join the English
  billing incident of ten minutes ago. Once it joined, the incident has an e5
  centroid too and later Japanese complaints compare meaning with it.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import numpy as np
from sqlalchemy import bindparam, select
from sqlmodel import Session

from harken import vectors
from harken.config.schema import StormsConfig
from harken.store.db import written_at_commit
from harken.store.repo import insert_now
from harken.store.tables import Classification, Incident, IncidentCentroid

MERGED = "merged"  # the status of an incident merged into another (storm_merge)
# The score (MiniLM's scale, e5's mapped onto it) a post's topic needs to meet an incident of
# another language on that topic alone: the default topic threshold (0.45) plus a margin.
ACROSS_SCORE = 0.5
# Without a burst, a report in another language this close to the incident's last complaint
# still counts as the storm beginning (the demo's first Japanese outage report came 37 s after
# the second English one); ten minutes later it is just another complaint on the same topic.
ACROSS_CLOSE = timedelta(minutes=5)


@dataclass(frozen=True)
class Candidate:
    incident_id: int
    model: str
    vector: np.ndarray | None
    topics: dict[str, int]
    first_at: datetime
    last_at: datetime


@dataclass(frozen=True)
class StormJoin:
    incident_id: int
    reason: str
    similarity: float | None  # None: joined on topic alone (another encoder's incident)
    # The incident's leading topic that the post has, or leans to (its best, below threshold).
    topic: str | None = None
    # Other open incidents of the burst the post is as like, on the same topic: one problem.
    merge: tuple[int, ...] = ()


@dataclass(frozen=True)
class Miss:
    """Why a post did not join one recent incident (for ``route --explain``)."""

    incident_id: int
    similarity: float | None
    why: str


def complaint_like(c: Classification, config: StormsConfig) -> bool:
    return c.sentiment == "negative" or c.complaint >= config.complaint


def neutral_report(c: Classification, config: StormsConfig) -> bool:
    """A neutral post that may still report the problem: it joins on a shared topic only."""
    return c.sentiment == "neutral" and c.complaint >= config.neutral_complaint


def find(
    session: Session,
    brand: str,
    at: datetime,
    c: Classification,
    vector: np.ndarray | None,
    config: StormsConfig,
    misses: list[str] | None = None,
) -> StormJoin | None:
    """The recent incident of the brand whose complaints this post's words also describe.
    ``misses``: when it joins none although the brand has recent incidents, why is added
    there ("no storm: nearest incident #66, similarity 0.41, 0.50 needed"), for
    ``route --explain``."""
    if not config.enabled or vector is None or not c.vector_model:
        return None
    low, high = at - config.window, at + config.window
    by_incident: dict[int, list[Candidate]] = {}
    batch = _batch(session)
    if not complaint_like(c, config) and not neutral_report(c, config):
        neutral = misses is not None and c.sentiment == "neutral"  # praise never joins
        if neutral and batch.recent(session, brand, low, high, config.candidates):
            assert misses is not None
            misses.append(
                f"no storm: a neutral post is compared only from a complaint score of "
                f"{config.neutral_complaint:.2f} (storms.neutral_complaint); it has "
                f"{c.complaint:.2f}"
            )
        return None
    for row in batch.recent(session, brand, low, high, config.candidates):
        candidate = Candidate(row.incident_id, row.model, vectors.unpack(row.vector),
                              row.topics or {}, row.first_at, row.last_at)  # fmt: skip
        by_incident.setdefault(row.incident_id, []).append(candidate)
    # Several incidents with a complaint this close (fragments merged since included): the
    # brand is in a storm whose reports have not met yet; their phrasings are less alike than
    # each is to the storm's mean.
    recent = len(by_incident) + batch.fragments(brand, low, high)
    bursting = bool(config.burst) and recent >= config.burst
    bar = _bar(recent, config)
    best: StormJoin | None = None
    alike: list[StormJoin] = []  # incidents whose meaning this post shares
    nearest: Miss | None = None
    for incident_id, candidates in by_incident.items():
        judged = _judge(incident_id, candidates, at, c, vector, config, bar, bursting)
        if isinstance(judged, Miss):
            if nearest is None or _nearer(judged, nearest):
                nearest = judged
            continue
        found = judged
        if _better(found, best):
            best = found
        if found.similarity is not None and found.topic is not None:
            alike.append(found)
    if best is None and nearest is not None and misses is not None:
        misses.append(f"no storm: nearest incident #{nearest.incident_id}, {nearest.why}")
    if bursting and config.merge and best is not None and best.topic is not None:
        # A storm's first reports each opened an incident; a post as like two of them as
        # either is of the storm, on the same leading topic (had or leaned to), says they are
        # one (storm_merge). Meaning alone is too weak a link: a product comparison was 0.62
        # from a billing and from a sync incident; and a post about an outage and a double
        # charge must not merge the two problems.
        others = tuple(f.incident_id for f in alike if f.topic == best.topic and f is not best)
        return replace(best, merge=others) if others else best
    return best


def _judge(
    incident_id: int,
    candidates: list[Candidate],
    at: datetime,
    c: Classification,
    vector: np.ndarray,
    config: StormsConfig,
    bar: float,
    bursting: bool,
) -> StormJoin | Miss:
    first = min(x.first_at for x in candidates)
    last = max(x.last_at for x in candidates)
    same = [x for x in candidates if x.model == c.vector_model]
    if max(last, at) - min(first, at) > config.max_span:
        said = "longer than storms.max_span with this post"
        return Miss(incident_id, _similarity_to(same, vector), said)
    if same:  # meaning is comparable: it decides, with the topics
        x = same[0]
        similarity = _similarity_to(same, vector)
        if similarity is None:
            return Miss(incident_id, None, "its meaning cannot be compared")
        shared = _shared_topic(c.topics, x.topics)
        if config.same_topic and c.topics and x.topics and shared is None:
            said = (
                f"similarity {similarity:.2f}, but about {_leading(x.topics)} and this post "
                f"about {' and '.join(c.topics)}"
            )
            return Miss(incident_id, similarity, said)
        if complaint_like(c, config):
            leaning = None if c.topics else _leaning(c.topic_scores or {}, x.topics, config)
            needed = config.similarity if shared or leaning else config.topicless_similarity
            needed -= bar
        elif shared is None:  # a neutral report joins only on a shared topic, at the full bar
            said = f"similarity {similarity:.2f}; a neutral post joins only on a shared topic"
            return Miss(incident_id, similarity, said)
        else:
            leaning, needed = None, config.similarity
        if similarity < needed:
            said = _below(similarity, needed)
            if not (shared or leaning):
                said += " without a shared topic"
            return Miss(incident_id, similarity, said)
        said = f"similarity {similarity:.2f}"
        if shared:
            said += f", topic {shared}"
        elif leaning:
            said += f", leaning to topic {leaning} ({c.topic_scores[leaning]:.2f})"
        return StormJoin(
            incident_id, _reason(incident_id, said, at, last), similarity, shared or leaning
        )
    # Only other encoders' centroids: a shared leading topic, closer in time.
    other = "its posts are in another language"
    if not complaint_like(c, config):
        return Miss(incident_id, None, f"{other}: only a complaint meets it on a topic")
    topics: dict[str, int] = {}
    for x in candidates:
        for name, count in x.topics.items():
            topics[name] = topics.get(name, 0) + count
    shared = _shared_topic(c.topics, topics)
    if shared is None:
        if not c.topics:
            return Miss(incident_id, None, f"{other}, and this post has no topic to meet it on")
        return Miss(incident_id, None, f"{other}, on topic {_leading(topics)}")
    if abs(at - last) > config.across_languages:
        return Miss(incident_id, None, f"{other}: farther than storms.across_languages")
    close = abs(at - last) <= ACROSS_CLOSE
    if not _clear_storm(shared, topics[shared], bursting or close, c, config):
        return Miss(incident_id, None, f"{other}: topic {shared} is not clear enough alone")
    said = f"topic {shared} (its posts are in another language: meaning not compared)"
    return StormJoin(incident_id, _reason(incident_id, said, at, last), None)


def _clear_storm(
    topic: str, members: int, bursting: bool, c: Classification, config: StormsConfig
) -> bool:
    """A topic alone is weak evidence: on a busy brand some English incident shares the topic
    of most complaints (a Japanese double charge meets an English one). It joins only when the
    post clearly has the topic (its score at least ``ACROSS_SCORE``, over the classifier's
    default threshold) and the brand is in a storm: ``storms.burst`` incidents with a complaint
    within the window, or that many of this incident's complaints on the topic (an outage
    whose first reports already came together). ``storms.burst: 0`` turns this join off."""
    if not config.burst or (c.topic_scores or {}).get(topic, 0.0) < ACROSS_SCORE:
        return False
    return bursting or members >= config.burst


def _bar(incidents: int, config: StormsConfig) -> float:
    """How much lower the similarity bar is for this many recent incidents of the brand."""
    if config.burst and incidents >= config.burst:
        return max(0.0, config.similarity - config.burst_similarity)
    return 0.0


def _better(found: StormJoin, best: StormJoin | None) -> bool:
    """Meaning beats topic alone; then the higher similarity; then the newer incident."""
    if best is None:
        return True
    rank = (found.similarity is not None, found.similarity or 0.0, found.incident_id)
    return rank > (best.similarity is not None, best.similarity or 0.0, best.incident_id)


def _similarity(vector: np.ndarray, centroid: np.ndarray, model: str) -> float:
    norms = float(np.linalg.norm(vector)) * float(np.linalg.norm(centroid))
    return vectors.comparable(float(vector @ centroid) / (norms or 1.0), model)


def _shared_topic(post: list[str] | tuple[str, ...], counts: dict[str, int]) -> str | None:
    """The post's first topic among the incident's leading ones (held by at least half as many
    of its complaints as its most common topic): a stray topic of one member is not enough."""
    if not post or not counts:
        return None
    leading = _leading_topics(counts)
    return next((t for t in post if t in leading), None)


def _leading_topics(counts: dict[str, int]) -> set[str]:
    """The topics held by at least half as many complaints as the most common one."""
    top = max(counts.values(), default=0)
    return {name for name, count in counts.items() if 2 * count >= top}


def _nearer(miss: Miss, than: Miss) -> bool:
    """Meaning compared beats not compared (another language); then the more similar."""
    if miss.similarity is None or than.similarity is None:
        return than.similarity is None and miss.similarity is not None
    return miss.similarity > than.similarity


def _similarity_to(same: list[Candidate], vector: np.ndarray) -> float | None:
    """The post's similarity to the incident's centroid of its encoder, if comparable."""
    x = same[0] if same else None
    if x is None or x.vector is None or x.vector.shape != vector.shape:
        return None
    return _similarity(vector, x.vector, x.model)


def _below(similarity: float, needed: float) -> str:
    """ "similarity 0.47, 0.60 needed": a similarity under the bar never printed as equal to
    it (0.598 against 0.60, 0.621 against 0.625: three decimals)."""
    shown, bar = f"{similarity:.2f}", f"{needed:.2f}"
    if shown == bar or float(bar) != round(needed, 6):
        shown, bar = f"{math.floor(similarity * 1000) / 1000:.3f}", f"{needed:.3f}"
    return f"similarity {shown}, {bar} needed"


def _leading(counts: dict[str, int]) -> str:
    """The incident's leading topics as words ("outage", "outage or bug", "none yet")."""
    return " or ".join(sorted(_leading_topics(counts))) or "none yet"


def _leaning(scores: dict[str, float], counts: dict[str, int], config: StormsConfig) -> str | None:
    """A post below every topic's threshold whose best topic is the incident's leading one
    ("acme down. again. seriously?" is closest to outage, a late parcel to billing)."""
    best = _best_topic(scores, config)
    return best[0] if best and counts and _shared_topic(best, counts) else None


def _best_topic(scores: dict[str, float], config: StormsConfig) -> tuple[str, ...]:
    """The topic a post without topics comes closest to, if it comes close enough: what it
    counts for in its incident's topics, so that a storm whose first reports name no topic
    can still be met on its topic from another language."""
    if not scores:
        return ()
    best = max(scores, key=lambda name: scores[name])
    return (best,) if scores[best] >= config.topic_hint else ()


def _reason(incident_id: int, said: str, at: datetime, last: datetime) -> str:
    minutes = round(abs((at - last) / timedelta(minutes=1)))
    when = "after" if at >= last else "before"
    return f"same problem as incident #{incident_id}: {said}, {minutes} min {when} its last post"


def prepare(session: Session, posts: list[tuple[str, datetime]], config: StormsConfig) -> None:
    """Read the open centroids a batch's posts (brand, posted at) may join: per brand, those
    with a complaint within ``storms.window`` of its posts. The posts then find their storms
    in memory."""
    if not config.enabled:
        return
    spans: dict[str, tuple[datetime, datetime]] = {}
    for brand, at in posts:
        low, high = spans.get(brand, (at, at))
        spans[brand] = (min(low, at), max(high, at))
    batch = _batch(session)
    for brand, (low, high) in spans.items():
        batch.load(session, brand, low - config.window, high + config.window)


def remember(
    session: Session,
    brand: str,
    incident: Incident,
    at: datetime,
    c: Classification,
    vector: np.ndarray | None,
    config: StormsConfig,
) -> None:
    """Fold a complaint into its incident's centroid for its encoder (a running mean).

    A new centroid is inserted at once; a changed one is written when the batch commits. The
    batch's later posts find both in memory (``_Batch``): only the router writes centroids."""
    if not config.enabled or vector is None or not c.vector_model or not complaint_like(c, config):
        return
    assert incident.id is not None
    batch = _batch(session)
    key = (incident.id, c.vector_model)
    row = batch.get(session, key)
    if row is None:
        row = _Centroid(0, incident.id, key[1], vectors.pack(vector), 0, {}, at, at)
    else:
        mean = vectors.unpack(row.vector)
        if mean is not None and mean.shape == vector.shape:
            row.vector = vectors.pack(mean + (vector - mean) / (row.members + 1))
        row.first_at, row.last_at = min(row.first_at, at), max(row.last_at, at)
    row.members += 1
    row.topics = dict(row.topics)
    for name in c.topics or _best_topic(c.topic_scores or {}, config):
        row.topics[name] = row.topics.get(name, 0) + 1
    if not row.id:
        new = IncidentCentroid(brand=brand, **row.values())
        row.id = insert_now(session, new)
    batch.keep(brand, row, changed=True, open_=incident.status == "open")


@dataclass
class _Centroid:
    id: int  # 0: not stored yet
    incident_id: int
    model: str
    vector: bytes
    members: int
    topics: dict[str, int]
    first_at: datetime
    last_at: datetime

    def values(self) -> dict[str, Any]:
        return {
            "incident_id": self.incident_id,
            "model": self.model,
            "vector": self.vector,
            "members": self.members,
            "topics": self.topics,
            "first_at": self.first_at,
            "last_at": self.last_at,
        }


class _Batch:
    """The centroids a route batch has read or changed. ``recent`` answers as the statement
    it replaces did (a brand's open centroids with a complaint in a span, latest first), from
    the brand's centroids read at ``load`` and those the batch touched since."""

    def __init__(self) -> None:
        self._kept: dict[tuple[int, str], _Centroid] = {}
        self._open: dict[str, dict[tuple[int, str], _Centroid]] = {}  # open incidents' only
        self._spans: dict[str, tuple[datetime, datetime]] = {}
        self._changed: set[tuple[int, str]] = set()
        # Centroids of incidents merged into others (storm_merge): no longer candidates, but
        # each was a fragment of the burst, which it still counts for (``fragments``).
        self._merged: dict[str, dict[tuple[int, str], _Centroid]] = {}

    def load(self, session: Session, brand: str, low: datetime, high: datetime) -> None:
        span = self._spans.get(brand)
        if span is not None:  # read what it held again too: the span it keeps has no gap
            low, high = min(low, span[0]), max(high, span[1])
        params = {"brand": brand, "low": low, "high": high}
        merged = self._merged.setdefault(brand, {})
        for *found, status in session.connection().execute(_recent_statement(), params):
            row = _Centroid(*found)
            key = (row.incident_id, row.model)
            row = self._kept.get(key, row)
            # Merged in this batch, its status not written yet: it stays retired.
            if status == "open" and key not in merged:
                self.keep(brand, row)
            else:
                merged[key] = row
        self._spans[brand] = (low, high)

    def recent(
        self, session: Session, brand: str, low: datetime, high: datetime, limit: int
    ) -> list[_Centroid]:
        """The ``limit`` latest (last complaint, then id) between ``low`` and ``high``."""
        span = self._spans.get(brand)
        if span is None or span[0] > low or span[1] < high:
            self.load(session, brand, low, high)
        found = (r for r in self._open.get(brand, {}).values() if low <= r.last_at <= high)
        return heapq.nlargest(limit, found, key=lambda r: (r.last_at, r.id))

    def get(self, session: Session, key: tuple[int, str]) -> _Centroid | None:
        return self._kept.get(key) or _stored(session, *key)

    def keep(
        self, brand: str, row: _Centroid, *, changed: bool = False, open_: bool = True
    ) -> None:
        key = (row.incident_id, row.model)
        self._kept[key] = row
        if open_:
            self._open.setdefault(brand, {})[key] = row
        if changed:
            self._changed.add(key)

    def retire(self, brand: str, key: tuple[int, str]) -> None:
        """A merged incident's centroid: no longer a candidate, still a fragment."""
        row = self._open.get(brand, {}).pop(key, None) or self._kept.get(key)
        if row is not None:
            self._merged.setdefault(brand, {})[key] = row

    def fragments(self, brand: str, low: datetime, high: datetime) -> int:
        """Merged incidents with a complaint between ``low`` and ``high`` (``recent`` read
        the span)."""
        found = self._merged.get(brand, {}).values()
        return len({r.incident_id for r in found if low <= r.last_at <= high})

    def write(self, session: Session) -> None:
        """The changed centroids, in one executemany."""
        if not self._changed:
            return
        t = IncidentCentroid.__table__  # type: ignore[attr-defined]
        update = t.update().where(t.c.id == bindparam("row"))
        rows = [self._kept[key] for key in sorted(self._changed)]
        session.connection().execute(update, [{"row": r.id, **r.values()} for r in rows])
        self._changed.clear()


def merge_centroids(session: Session, brand: str, into: int, other: int) -> None:
    """``other``'s centroids join ``into``'s (storm_merge): per encoder, the members-weighted
    mean of both, topic counts added up (a copy where ``into`` has none). ``other``'s stay as
    they are, no longer candidates but still fragments of the burst."""
    batch = _batch(session)
    t = IncidentCentroid.__table__  # type: ignore[attr-defined]
    stored = session.connection().execute(
        _centroid_columns().where(t.c.incident_id.in_([into, other]))
    )
    rows = {}
    for found in stored:
        row = _Centroid(*found)
        rows[(row.incident_id, row.model)] = batch.get(session, (row.incident_id, row.model)) or row
    for (incident_id, model), gone in rows.items():
        if incident_id != other:
            continue
        batch.retire(brand, (other, model))
        keep = rows.get((into, model))
        if keep is None:
            keep = replace(gone, id=0, incident_id=into, topics=dict(gone.topics))
            keep.id = insert_now(session, IncidentCentroid(brand=brand, **keep.values()))
            batch.keep(brand, keep)
            continue
        keep.vector = _weighted(keep, gone)
        keep.members += gone.members
        keep.topics = {name: keep.topics.get(name, 0) + gone.topics.get(name, 0)
                       for name in {*keep.topics, *gone.topics}}  # fmt: skip
        keep.first_at = min(keep.first_at, gone.first_at)
        keep.last_at = max(keep.last_at, gone.last_at)
        batch.keep(brand, keep, changed=True)


def _weighted(keep: _Centroid, gone: _Centroid) -> bytes:
    a, b = vectors.unpack(keep.vector), vectors.unpack(gone.vector)
    if a is None or b is None or a.shape != b.shape:
        return keep.vector
    mean = (a * keep.members + b * gone.members) / max(keep.members + gone.members, 1)
    return vectors.pack(mean.astype(np.float32))


def _batch(session: Session) -> _Batch:
    return written_at_commit(session, "storm_centroids", _Batch)


def _centroid_columns() -> Any:
    """A stored centroid's columns, in ``_Centroid``'s order: what every read of them selects."""
    t = IncidentCentroid.__table__  # type: ignore[attr-defined]
    return select(
        t.c.id, t.c.incident_id, t.c.model, t.c.vector, t.c.members, t.c.topics,
        t.c.first_at, t.c.last_at,
    )  # fmt: skip


def _stored(session: Session, incident_id: int, model: str) -> _Centroid | None:
    t = IncidentCentroid.__table__  # type: ignore[attr-defined]
    statement = _centroid_columns().where(t.c.incident_id == incident_id, t.c.model == model)
    found = session.connection().execute(statement).first()
    return None if found is None else _Centroid(*found)


@cache
def _recent_statement() -> Any:
    """The brand's centroids with a complaint in a span, of open incidents (and merged ones,
    which still count as fragments of a burst): an index range on (brand, last_at), never a
    scan of the brand's history."""
    t = IncidentCentroid.__table__  # type: ignore[attr-defined]
    i = Incident.__table__  # type: ignore[attr-defined]
    return (
        _centroid_columns()
        .add_columns(i.c.status)
        .join(i, i.c.id == t.c.incident_id)
        .where(
            t.c.brand == bindparam("brand"),
            t.c.last_at.between(bindparam("low"), bindparam("high")),
            i.c.status.in_(("open", MERGED)),
        )
    )
