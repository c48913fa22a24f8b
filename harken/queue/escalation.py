"""The SLA job: items still waiting for a first response past their due time are escalated.
``harken run`` calls ``escalate_overdue`` every minute, and every pipeline pass does too.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from harken.config import Config
from harken.notify.registry import alert_sinks
from harken.queue.items import WAITING
from harken.store import Store, repo
from harken.store.tables import QueueEvent, QueueItem, utcnow
from harken.text import human_duration


@dataclass
class EscalationResult:
    escalated: int = 0  # items that reached level 1 (past due) now
    sent_up: int = 0  # items that reached level 2 (past due twice over) now
    alerts: int = 0


def escalate_overdue(store: Store, config: Config, now: datetime | None = None) -> EscalationResult:
    """Items still waiting for a first response past their due time are flagged and
    re-alerted to their department (level 1); still waiting when as long again has passed,
    they are alerted to the department's ``escalate_to`` (level 2). Each level alerts once."""
    now = now or utcnow()
    result = EscalationResult()
    with store.session() as session:
        overdue = session.execute(
            select(QueueItem).where(
                QueueItem.status.in_(WAITING),  # type: ignore[attr-defined]
                QueueItem.due_at < now,
                QueueItem.escalation_level < 2,
            )
        ).scalars()
        for item in list(overdue):
            # A department removed from the config since: its items are the default's now.
            known = _known(config, item)
            department = config.department(item.department if known else config.routing.default)
            sla = department.sla_for(item.priority)
            level = 2 if now >= item.due_at + sla else 1
            if level <= item.escalation_level:
                continue
            to = item.department if known else department.name
            if level == 2 and department.escalate_to:
                to = department.escalate_to
            late = now - item.due_at
            note = (
                f"level {level}: no first response {human_duration(late)} after due; alerted {to}"
            )
            item.escalation_level, item.escalated_at = level, now
            session.add(item)
            session.add(
                QueueEvent(
                    queue_item_id=item.id, at=now, actor="harken", action="escalated", note=note
                )
            )  # type: ignore[arg-type]
            result.escalated += level == 1
            result.sent_up += level == 2
            for sink in alert_sinks(config, to, item.priority, repo.risk_of(session, item)):
                result.alerts += repo.add_alert(
                    session,
                    # Once per level and department: an item transferred after it escalated
                    # escalates again in its new department (its level starts over there).
                    f"{sink}:escalation-{level}:{item.department}:item-{item.id}",
                    kind="escalation",
                    payload={"level": level},
                    queue_item_id=item.id,
                    mention_id=item.mention_id,
                    incident_id=item.incident_id,
                    sink=sink,
                    channel=to,
                )
    return result


def _known(config: Config, item: QueueItem) -> bool:
    return any(d.name == item.department for d in config.departments)
