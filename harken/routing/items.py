"""What happens once routing has decided: queue items opened or joined, alerts queued.

``harken.routing.rules`` decides where a mention goes; this module turns those decisions into
work, inside the route stage's transaction (``harken/pipeline/route.py``): a new queue item per
department, or a later post of an incident folded into that incident's open item (a stronger
rule raises its priority), one outbox alert per item and sink when the item is worth one
(``AlertPlan``), and a quiet thread update when a post joins an item that already alerted.
The decisions are recorded on the mention (``decision_json``) for ``harken route --explain``.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlmodel import Session

from harken.authors import AuthorRole, author_role
from harken.config import Config, Priority
from harken.notify.contract import Closures, Gate
from harken.notify.registry import alert_sinks, closure_sinks, sink_gates, thread_sinks
from harken.routing.rules import Decision, Subject
from harken.store import repo
from harken.store.complaints import is_own
from harken.store.tables import Author, Classification, Mention, QueueEvent, QueueItem, Ticket
from harken.store.tickets import ticket_of


@dataclass
class RouteResult:
    mentions: int = 0
    queue_items: int = 0
    alerts: int = 0
    responded: int = 0  # open items a staff account's reply on the platform answered


def subject_of(
    mention: Mention, author: Author, c: Classification, config: Config | None = None
) -> Subject:
    """What the rules see of a mention; with ``config``, its author's role (accounts:)."""
    role = (
        author_role(config, mention.platform, author.handle, source_kind=mention.source or None,
                    brand=mention.brand, author_id=author.external_id)
        if config is not None
        else None
    )  # fmt: skip
    if config is not None and role is None and is_own(mention.flags):
        # Stored as the brand's own answer (by its handle, or by its source: the brand's
        # channel, Page or account id, whatever the handle): see harken.pipeline.ingest.
        role = AuthorRole("own", "stored as the brand's own answer")
    return Subject(
        text=mention.text,
        platform=mention.platform,
        brand=mention.brand,
        language=c.language,
        followers=author.followers,
        verified=author.verified,
        sentiment=c.sentiment,
        complaint=c.complaint,
        abuse=c.abuse,
        risk=c.risk,
        topics=tuple(c.topics),
        topic_scores=dict(c.topic_scores or {}),
        author=author.handle,
        role=role.role if role else None,
        role_source=role.source if role else None,
        # The classifier stores a post's meaning only when its encoder reads the language.
        understood=c.vector_model is not None,
    )


def decision_json(decision: Decision) -> dict[str, str | None]:
    if decision.quiet:  # the default's for a post that needs no answer: queued nowhere
        return not_queued_json(decision.reason)
    return {
        "department": decision.department,
        "priority": decision.priority.value,
        "rule": decision.rule,
        "reason": decision.reason,
    }


def not_queued_json(reason: str) -> dict[str, str | None]:
    """What a mention records when routing queues it nowhere (an own or staff post)."""
    return {"department": None, "priority": None, "rule": None, "reason": reason}


@dataclass(frozen=True)
class AlertPlan:
    """Which sinks alert each department, which keep incident threads, and each
    department's threshold (a rule's ``alert: true/false`` overrides it); a sink with a
    threshold of its own (``gates``: PagerDuty's critical items, a webhook's every item)
    follows that instead."""

    config: Config
    alerts: dict[str, list[str]]
    threads: dict[str, list[str]]
    rule_flags: dict[str, bool]
    gates: dict[str, Gate] = field(default_factory=dict)
    rule_tickets: dict[str, str] = field(default_factory=dict)  # rule -> ticket system

    @classmethod
    def of(cls, config: Config) -> AlertPlan:
        names = [d.name for d in config.departments]
        return cls(
            config,
            alerts={n: alert_sinks(config, n) for n in names},
            threads={n: thread_sinks(config, n) for n in names},
            rule_flags={r.name: r.alert for r in config.routing.rules if r.alert is not None},
            gates=sink_gates(config),
            rule_tickets={r.name: r.ticket for r in config.routing.rules if r.ticket},
        )

    def alerted(self, item: QueueItem, decision: Decision, risk: float) -> list[str]:
        """The sinks a new or raised item alerts."""
        worthy: bool | None = None
        chosen = []
        for sink in self.alerts.get(item.department, []):
            gate = self.gates.get(sink)
            if gate is not None:
                if gate.passes(item.priority, risk):
                    chosen.append(sink)
                continue
            if worthy is None:
                worthy = self.worthy(item, decision, risk)
            if worthy:
                chosen.append(sink)
        return chosen

    def worthy(self, item: QueueItem, decision: Decision, risk: float) -> bool:
        if decision.rule in self.rule_flags:
            return self.rule_flags[decision.rule]
        own = self.config.department(item.department).alerts
        min_priority = own.min_priority or self.config.alerts.min_priority
        min_risk = own.min_risk if own.min_risk is not None else self.config.alerts.min_risk
        return Priority(item.priority).rank >= min_priority.rank or risk >= min_risk


def apply_decisions(
    session: Session,
    config: Config,
    sinks: AlertPlan,
    mention: Mention,
    risk: float,
    incident_id: int | None,
    new_incident: bool,
    decisions: list[Decision],
    now: datetime,
    result: RouteResult,
) -> None:
    """Open or join the queue items the decisions ask for, queue their alerts and thread
    updates, and record on the mention what was decided. The caller commits."""
    owned = [] if new_incident else _open_items(session, incident_id)
    # The incident's oldest open item of each department (read once, not once per decision):
    # a department may hold two (merged storm fragments, a transfer); posts join the oldest.
    open_in: dict[str, QueueItem] = {}
    for item in reversed(owned):
        open_in[item.department] = item
    joined = sorted(open_in.values(), key=lambda i: i.id or 0)
    if joined and all(d.rule is None for d in decisions):
        # Only the default caught it, but its incident already has owners: it joins their
        # items ("same here" quoting an outage report belongs to engineering, not support).
        for item in joined:
            _fold(session, config, item, mention, None, now)
            result.alerts += _thread_updates(session, sinks, item, mention)
        decisions = []
    for decision in decisions:
        if decision.quiet:
            continue
        item = open_in.get(decision.department)
        if item is not None:
            _fold(session, config, item, mention, decision, now)
            result.alerts += _thread_updates(session, sinks, item, mention)
        else:
            item = _new_item(session, config, mention, incident_id, decision, now)
            open_in[item.department] = item
            if (system := sinks.rule_tickets.get(decision.rule or "")) is not None:
                queue_ticket(session, item, system, "harken", now)
            session.info.setdefault("open_items", {}).get(incident_id, []).append(item)
            result.queue_items += 1
        result.alerts += queue_alerts(session, sinks.alerted(item, decision, risk), item)
    mention.routing = [decision_json(d) for d in decisions] or [
        {
            "department": i.department,
            "priority": i.priority,
            "rule": None,
            "reason": f"joined item #{i.id} of its incident",
            "joined": True,
        }
        for i in joined
    ]


def _open_items(session: Session, incident_id: int | None) -> list[QueueItem]:
    """The incident's open items, read once per batch: a storm's posts of one batch fold into
    the same items. Items the batch opens are added (above); people close items in their own
    transactions, so an item closed during the batch may take this batch's later posts of its
    incident, as it would had they been read just before it closed."""
    kept: dict[int | None, list[QueueItem]] = session.info.setdefault("open_items", {})
    if incident_id not in kept:
        kept[incident_id] = repo.open_items(session, incident_id)
    return kept[incident_id]


def _new_item(
    session: Session,
    config: Config,
    mention: Mention,
    incident_id: int | None,
    decision: Decision,
    now: datetime,
) -> QueueItem:
    department = config.department(decision.department)
    item = QueueItem(
        mention_id=mention.id,  # type: ignore[arg-type]
        incident_id=incident_id,
        department=decision.department,
        priority=decision.priority.value,
        rule=decision.rule,
        reason=decision.reason,
        due_at=now + department.sla_for(decision.priority),
        created_at=now,
        updated_at=now,
    )
    stored = repo.insert_attached(session, item)  # nothing else flushed
    created = QueueEvent(
        queue_item_id=stored.id,  # type: ignore[arg-type]
        at=now,
        actor="harken",
        action="created",
        to_status="new",
    )
    session.add(created)
    return stored


def _fold(
    session: Session,
    config: Config,
    item: QueueItem,
    mention: Mention,
    decision: Decision | None,
    now: datetime,
) -> None:
    """A later post of an incident that already has an open item in this department joins
    that item instead of queueing again; a stronger rule raises its priority (and deadline)."""
    item.mentions += 1
    item.updated_at = now
    if decision is not None and decision.priority.rank > Priority(item.priority).rank:
        sla = config.department(item.department).sla_for(decision.priority)
        note = f"priority {item.priority} -> {decision.priority.value} by mention {mention.id}"
        item.priority, item.rule = decision.priority.value, decision.rule
        item.reason = f"{decision.reason} (mention {mention.id}; first: {item.reason})"[:4000]
        item.due_at = min(item.due_at, now + sla)
        session.add(
            QueueEvent(queue_item_id=item.id, at=now, actor="harken", action="raised", note=note)  # type: ignore[arg-type]
        )
    session.add(item)


def queue_alerts(
    session: Session, sinks: list[str], item: QueueItem, payload: dict[str, str] | None = None
) -> int:
    """One alert per item, department and sink. Later posts of an incident join its open item,
    so a retweet storm pings once; an item opened after the last one was closed alerts again,
    and so does an item transferred to a department that was never alerted of it (``payload``
    {"transferred_from": ...})."""
    return sum(
        _item_alert(
            session,
            f"{sink}:incident-{item.incident_id}:{item.department}:item-{item.id}",
            item,
            sink,
            payload=dict(payload or {}),
        )
        for sink in sinks
    )


def _item_alert(
    session: Session,
    key: str,
    item: QueueItem,
    sink: str,
    kind: str = "item",
    channel: str | None = None,
    payload: dict[str, Any] | None = None,
) -> bool:
    """An outbox alert about the item and its own post (for its department unless
    ``channel``), once per idempotency ``key``."""
    return repo.add_alert(
        session,
        key,
        kind=kind,
        queue_item_id=item.id,
        mention_id=item.mention_id,
        incident_id=item.incident_id,
        payload=payload or {},
        sink=sink,
        channel=channel or item.department,
    )


def queue_ticket(
    session: Session, item: QueueItem, system: str, by: str, now: datetime, event: bool = True
) -> bool:
    """Ask for a ticket in ``system`` (jira, zendesk) for the item: its ``tickets`` row and an
    outbox alert that creates it (harken.notify.tickets), once per item and system. False if
    it has one there already. The caller commits."""
    assert item.id is not None
    if ticket_of(session, item.id, system) is not None:
        return False
    mark = f"harken-item-{item.id}-{secrets.token_hex(4)}"
    repo.insert_now(
        session, Ticket(queue_item_id=item.id, system=system, mark=mark, requested_by=by)
    )
    _item_alert(session, f"{system}:ticket:item-{item.id}", item, system, kind="ticket")
    if event:  # a person's request records its own (harken.queue.tickets)
        note = f"{system} ticket asked for"
        session.add(QueueEvent(queue_item_id=item.id, at=now, actor=by, action="ticket", note=note))
    return True


def queue_closure_alerts(session: Session, config: Config, item: QueueItem) -> int:
    """An item was resolved or dismissed: the sinks that follow closures hear of it, if they
    were alerted of it: a webhook once (as of the item's department if it heard of the item
    there, else of the first it did), PagerDuty once per department it paged (a page on each
    service it reached).
    The caller commits."""
    assert item.id is not None and item.closed_at is not None
    stamp = f"{item.closed_at:%Y%m%dT%H%M%S.%f}"  # an item may close, reopen and close again
    payload = {"status": item.status, "by": item.closed_by}
    return _follow_up(session, config, item, "closed", stamp, payload)


def queue_claim_alerts(session: Session, config: Config, item: QueueItem) -> int:
    """An item was claimed for the first time: the sinks that follow closures hear that
    someone is on it, as they would hear it closed (PagerDuty acknowledges its page; a
    webhook gets item.claimed). The caller commits."""
    assert item.id is not None and item.claimed_at is not None
    stamp = f"{item.claimed_at:%Y%m%dT%H%M%S.%f}"
    payload = {"status": "claimed", "by": item.assignee}
    return _follow_up(session, config, item, "claimed", stamp, payload)


def _follow_up(
    session: Session,
    config: Config,
    item: QueueItem,
    kind: str,
    stamp: str,
    payload: dict[str, Any],
) -> int:
    """An outbox alert of ``kind`` about the item for each sink that follows closures and was
    alerted of it: once, or once per department it heard of the item in."""
    assert item.id is not None
    heard: dict[str, list[str]] = {}  # sink -> departments it heard of the item in
    scopes: dict[str, Closures] = {}
    for department in [item.department, *(d.name for d in config.departments)]:
        for sink, scope in closure_sinks(config, department).items():
            known = heard.setdefault(sink, [])
            if department not in known and repo.item_alert_written(
                session, sink, item.id, department
            ):
                known.append(department)
                scopes[sink] = scope
    return sum(
        _item_alert(
            session,
            f"{sink}:{kind}-{stamp}:{department}:item-{item.id}",
            item,
            sink,
            kind=kind,
            channel=department,
            payload=payload,
        )
        for sink, known in heard.items()
        for department in (known[:1] if scopes.get(sink) == "item" else known)
    )


def _thread_updates(session: Session, sinks: AlertPlan, item: QueueItem, mention: Mention) -> int:
    """A post that joined an alerted item becomes a quiet reply in the incident's thread.
    While one reply is still waiting to go out, later posts fold into it (it is rendered
    when sent), so a storm of retweets is one reply, not hundreds."""
    added = 0
    for sink in sinks.threads.get(item.department, []):
        waiting = repo.pending_update(session, sink, item.id)  # type: ignore[arg-type]
        if waiting is not None:
            waiting.mention_id = mention.id
            waiting.payload = {**waiting.payload, "joined": waiting.payload.get("joined", 1) + 1}
            session.add(waiting)
        elif repo.item_alerted(session, sink, item.id):  # type: ignore[arg-type]
            added += repo.add_alert(
                session,
                f"{sink}:update:item-{item.id}:mention-{mention.id}",
                kind="update",
                queue_item_id=item.id,
                mention_id=mention.id,
                incident_id=item.incident_id,
                payload={"joined": 1},
                sink=sink,
                channel=item.department,
            )
    return added
