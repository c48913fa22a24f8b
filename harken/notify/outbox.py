"""Deliver pending alerts from the outbox, recording each outcome in its own transaction."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from harken.notify.sinks import Sink
from harken.store import Store
from harken.store.repo import pending_alerts
from harken.store.tables import Alert, utcnow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5


@dataclass
class NotifyResult:
    sent: int = 0
    failed: int = 0  # gave up after MAX_ATTEMPTS
    retry_later: int = 0
    errors: list[str] = field(default_factory=list)


def deliver_pending(store: Store, sinks: Mapping[str, Sink], batch_size: int = 100) -> NotifyResult:
    result = NotifyResult()
    skipped: set[int] = set()
    while True:
        with store.session() as session:
            views = [
                v
                for v in pending_alerts(session, batch_size + len(skipped))
                if v.alert.id not in skipped
            ][:batch_size]
        if not views:
            return result
        for view in views:
            alert_id = view.alert.id
            assert alert_id is not None
            sink = sinks.get(view.alert.sink)
            if sink is None:
                skipped.add(alert_id)  # its sink is not configured in this process
                continue
            try:
                sink.deliver(view)
            except Exception as err:  # a sink failing must not stop the others
                skipped.add(alert_id)
                _record_failure(store, alert_id, f"{type(err).__name__}: {err}", result)
            else:
                _record_sent(store, alert_id)
                result.sent += 1


def _record_sent(store: Store, alert_id: int) -> None:
    with store.session() as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        alert.status, alert.sent_at = "sent", utcnow()
        alert.attempts += 1


def _record_failure(store: Store, alert_id: int, error: str, result: NotifyResult) -> None:
    with store.session() as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None
        alert.attempts += 1
        alert.last_error = error[:2000]
        if alert.attempts >= MAX_ATTEMPTS:
            alert.status = "failed"
            result.failed += 1
        else:
            result.retry_later += 1
    log.warning("alert %s not delivered (attempt %s): %s", alert_id, alert.attempts, error)
    result.errors.append(f"alert {alert_id}: {error}")
