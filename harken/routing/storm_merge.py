"""Merging a storm's fragments: the incidents its first reports opened, once a post shows they
are one.

An outage's first reports come before the brand is known to be in a burst, each in its own
words, so each opens an incident (``harken.routing.storms``). A later report whose meaning joins
two or more of them on the same topic (``StormJoin.merge``) says they are one problem: they
become the oldest of them at once, before the post joins it. Every row that names a merged
incident moves (posts, incident keys, queue items), the meaning centroids are averaged, and
the merged incident is left empty with status ``merged`` (its id is never given again, as
SQLite would give a deleted newest id). Items are not folded into each other: a department may
hold two items of the incident, and people close the one they do not need; later posts fold
into the oldest (``routing.items``).

Guards: only open incidents of one brand merge, never past ``storms.max_span`` from their first
post to their last, and never one that was alerted anywhere (a pending alert included): an
alert's thread, idempotency key and PagerDuty dedup key name its incident, and moving them
would re-alert the item or leave a page open. The oldest may have been alerted: it stays.
The merge runs in the route batch's transaction under the route lock, and updates what the
batch keeps in memory (the key index, centroids, incidents, open items), so a batch of 200
posts routes as 200 batches of one would.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import bindparam, select, update
from sqlmodel import Session, col

from harken.config.schema import StormsConfig
from harken.routing import storms
from harken.routing.key_index import KeyIndex
from harken.routing.storms import MERGED
from harken.store.tables import Alert, Incident, Mention, QueueItem

# What a merged post's reason keeps of what it said before (`route --explain` shows one line).
REASON_CHARS = 400


@dataclass(frozen=True)
class Merged:
    into: int
    merged: tuple[int, ...]


def merge(
    session: Session,
    incident_ids: Sequence[int],
    mention_id: int,
    config: StormsConfig,
    index: KeyIndex,
) -> Merged | None:
    """Merge these incidents into the oldest of them, if they may be merged; None if not.
    ``mention_id``: the post that showed they are one."""
    incidents = _open_incidents(session, incident_ids)
    if len(incidents) < 2 or len({i.brand for i in incidents}) > 1:
        return None
    first = min(i.first_seen for i in incidents)
    last = max(i.last_seen for i in incidents)
    if last - first > config.max_span:
        return None
    into, *others = sorted(incidents, key=lambda i: i.id or 0)
    others = [o for o in others if not _alerted(session, o.id or 0)]
    if not others:
        return None
    for other in others:
        _merge(session, into, other, mention_id, index)
    return Merged(into.id or 0, tuple(o.id or 0 for o in others))


def _alerted(session: Session, incident_id: int) -> bool:
    """Whether any alert (in any state, in any sink) names the incident: one indexed look."""
    t = Alert.__table__  # type: ignore[attr-defined]
    found = session.connection().execute(
        select(t.c.id).where(t.c.incident_id == incident_id).limit(1)
    )
    return found.first() is not None


def _open_incidents(session: Session, ids: Sequence[int]) -> list[Incident]:
    """The incidents, as the batch holds them (its unwritten changes included)."""
    found = []
    for incident_id in sorted(set(ids)):
        incident = session.get(Incident, incident_id)
        if incident is not None and incident.status == "open":
            found.append(incident)
    return found


def _merge(
    session: Session, into: Incident, other: Incident, mention_id: int, index: KeyIndex
) -> None:
    assert into.id is not None and other.id is not None
    said = f"merged into incident #{into.id} (mention {mention_id} is like both); before: "
    # Stored posts: one executemany. The batch's own (maybe unwritten) ones: in memory too.
    stored = session.execute(
        select(col(Mention.id), col(Mention.incident_reason)).where(
            col(Mention.incident_id) == other.id
        )
    ).all()
    if stored:
        t = Mention.__table__  # type: ignore[attr-defined]
        statement = (
            t.update()
            .where(t.c.id == bindparam("mention"))
            .values(incident_id=into.id, incident_reason=bindparam("reason"))
        )
        reasons = {m: _reason(said, reason) for m, reason in stored}
        session.connection().execute(
            statement, [{"mention": m, "reason": r} for m, r in reasons.items()]
        )
    for held in list(session.identity_map.values()):
        if isinstance(held, Mention) and held.incident_id == other.id:
            held.incident_id = into.id
            held.incident_reason = _reason(said, held.incident_reason)
        elif isinstance(held, QueueItem) and held.incident_id == other.id:
            held.incident_id = into.id
    session.execute(
        update(QueueItem)
        .where(col(QueueItem.incident_id) == other.id)
        .values(incident_id=into.id)
        .execution_options(synchronize_session=False)
    )
    index.moved(session, other.id, into.id)
    storms.merge_centroids(session, other.brand, into.id, other.id)
    into.size += other.size
    into.first_seen = min(into.first_seen, other.first_seen)
    into.last_seen = max(into.last_seen, other.last_seen)
    if other.top_risk > into.top_risk:
        into.top_mention_id, into.top_risk = other.top_mention_id, other.top_risk
    session.add(into)
    # The merged incident stays as an empty row (no post, item, alert, key or centroid names
    # it; every view finds incidents through their posts): its id is never given again, as
    # SQLite would give a deleted newest id, and its key is freed for the post it came from.
    other.status, other.size, other.key = MERGED, 0, f"merged:{other.id}:into:{into.id}"
    session.add(other)
    session.info.get("open_items", {}).pop(into.id, None)  # read again: both incidents' items


def merged_into(incident: Incident) -> int | None:
    """The incident a merged one was merged into (its key says), else None."""
    if incident.status != MERGED:
        return None
    into = incident.key.rsplit(":", 1)[-1]
    return int(into) if into.isdigit() else None


def _reason(said: str, before: str | None) -> str:
    if (before or "").startswith(said):  # merged again by the same post: said once
        return before or said
    return (said + (before or ""))[:REASON_CHARS]
