"""The noise budget: a department channel that pings all day gets muted, so harken holds back.

Per department channel (``alerts:``, overridden by ``departments[].alerts``):

* ``cooldown``: after a ping, the next non-critical one within this long is held;
* ``max_per_hour``: at most this many pings in any rolling hour;
* ``quiet_hours``: local hours when non-critical alerts are held for the morning digest.

Critical alerts (priority at least ``alerts.critical.priority``, risk at least
``alerts.critical.risk``, or an escalation sent up a level) always go through. Held alerts are
never lost: the item is in its queue, and the digest and ``harken alerts --status held`` list
them. Thread updates and digests are not pings and are never held.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlmodel import Session

from harken.config import Config, CriticalConfig, Priority, QuietHours
from harken.store.repo import AlertView
from harken.store.tables import Alert

PINGS = ("item", "escalation", "spike")  # kinds that notify a channel


@dataclass(frozen=True)
class Budget:
    cooldown: timedelta
    max_per_hour: int | None
    quiet_hours: QuietHours | None
    timezone: str  # of the quiet hours
    critical: CriticalConfig


def budget_for(config: Config, department: str) -> Budget:
    alerts = config.alerts
    own = next((d.alerts for d in config.departments if d.name == department), None)
    quiet: QuietHours | None = alerts.quiet_hours
    cooldown, cap = alerts.cooldown, alerts.max_per_hour
    if own is not None:
        cooldown = own.cooldown if own.cooldown is not None else cooldown
        cap = own.max_per_hour if own.max_per_hour is not None else cap
        if own.quiet_hours is False:
            quiet = None
        elif own.quiet_hours is not None:
            quiet = own.quiet_hours
    timezone = (quiet.timezone if quiet else None) or config.digest.timezone
    return Budget(cooldown, cap, quiet, timezone, alerts.critical)


def is_critical(view: AlertView, critical: CriticalConfig) -> bool:
    if view.alert.kind not in PINGS or view.alert.payload.get("released"):
        return True  # updates and digests are never held, nor what a person released
    item, c = view.item, view.classification
    if item is None:
        return False  # a spike: PR reads it in the digest if it lands at night
    if view.alert.kind == "escalation" and item.escalation_level >= 2:
        return True
    if Priority(item.priority).rank >= critical.priority.rank:
        return True
    return c is not None and c.risk >= critical.risk


def hold_reason(session: Session, view: AlertView, budget: Budget, now: datetime) -> str | None:
    """Why this alert must not ping now, or None when it may."""
    if is_critical(view, budget.critical):
        return None
    alert = view.alert
    if budget.quiet_hours is not None and in_quiet_hours(budget.quiet_hours, budget.timezone, now):
        q = budget.quiet_hours
        return f"quiet hours {q.start}-{q.end} {budget.timezone}: held for the digest"
    pinged = select(Alert.sent_at).where(
        Alert.sink == alert.sink,
        Alert.channel == alert.channel,
        Alert.status == "sent",
        Alert.kind.in_(PINGS),  # type: ignore[attr-defined]
    )
    if budget.cooldown > timedelta(0):
        last = session.execute(
            pinged.where(Alert.sent_at > now - budget.cooldown)  # type: ignore[operator]
            .order_by(Alert.sent_at.desc())  # type: ignore[union-attr]
            .limit(1)
        ).scalar()
        if last is not None:
            ago, cooldown = _minutes(now - last), _minutes(budget.cooldown)
            return f"cooldown: {alert.channel} was alerted {ago} ago (cooldown {cooldown})"
    if budget.max_per_hour is not None:
        count = session.execute(
            select(func.count()).select_from(
                pinged.where(Alert.sent_at > now - timedelta(hours=1)).subquery()  # type: ignore[operator]
            )
        ).scalar_one()
        if count >= budget.max_per_hour:
            cap = budget.max_per_hour
            return f"hourly cap: {count} alerts to {alert.channel} in the last hour (max {cap})"
    return None


def in_quiet_hours(quiet: QuietHours, timezone: str, now: datetime) -> bool:
    local = now.astimezone(ZoneInfo(timezone)).time()
    start, end = _clock(quiet.start), _clock(quiet.end)
    if start <= end:
        return start <= local < end
    return local >= start or local < end  # spans midnight


def _clock(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def _minutes(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    return f"{seconds // 60} min"
