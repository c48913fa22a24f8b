"""The outbox's statements that run for every alert, built once (SQLAlchemy then compiles
each once too): building a select or an update cost about as much as running it, a few times
per alert (harken.notify.outbox)."""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import bindparam, select
from sqlmodel import Session

from harken.store.repo import AlertView, alert_view_query
from harken.store.tables import Alert, SinkHold


@cache
def claim_statement() -> Any:
    table = Alert.__table__  # type: ignore[attr-defined]
    return (
        table.update()
        .where(table.c.id == bindparam("alert_id"), table.c.status == "pending")
        .values(
            status="sending",
            sending_at=bindparam("now"),
            claimed_by=bindparam("holder"),
            attempts=table.c.attempts + 1,
        )
    )


@cache
def payload_statement() -> Any:
    return select(Alert.payload).where(Alert.id == bindparam("alert_id"))


@cache
def hold_statement() -> Any:
    return select(SinkHold.until).where(SinkHold.sink == bindparam("sink"))


def thread_root(session: Session, alert: Alert) -> AlertView | None:
    """The first alert of the same sink, incident and channel delivered with a message id
    (the root of the incident's thread there), other than ``alert``."""
    row = session.execute(
        _thread_root_statement(),
        {"sink": alert.sink, "incident_id": alert.incident_id, "channel": alert.channel,
         "alert_id": alert.id},
    ).first()  # fmt: skip
    return AlertView(*row) if row and row[0].remote_channel is not None else None


@cache
def _thread_root_statement() -> Any:
    return (
        alert_view_query()
        .where(
            Alert.sink == bindparam("sink"),
            Alert.incident_id == bindparam("incident_id"),
            Alert.channel == bindparam("channel"),
            Alert.status == "sent",
            Alert.message_ts.is_not(None),  # type: ignore[union-attr]
            Alert.id != bindparam("alert_id"),
        )
        .order_by(Alert.id)  # type: ignore[arg-type]
        .limit(1)
    )
