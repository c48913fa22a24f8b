"""An incident's posts as the route stage and a re-score read them: how many were posted in the
last hour (its growth, part of the risk), and which incident a post joined."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlmodel import Session

from harken.store.tables import Mention


def incident_of(session: Session, mention_id: int) -> int | None:
    return session.execute(select(Mention.incident_id).where(Mention.id == mention_id)).scalar()


def incident_recent(
    session: Session, incident_id: int, since: datetime, exclude: Sequence[int]
) -> int:
    """Stored posts of this incident posted since ``since``, those in ``exclude`` aside."""
    params = {"incident": incident_id, "since": since, "exclude": list(exclude) or [0]}
    return int(session.connection().execute(_recent_statement(), params).scalar_one())


@cache
def _recent_statement() -> Any:
    t = Mention.__table__  # type: ignore[attr-defined]
    return select(func.count(t.c.id)).where(
        t.c.incident_id == bindparam("incident"),
        t.c.created_at >= bindparam("since"),
        t.c.id.not_in(bindparam("exclude", expanding=True)),
    )


def incident_posts_since(
    session: Session, incident_id: int, since: datetime
) -> list[tuple[int, datetime]]:
    """(id, posted at) of the stored posts of this incident posted since ``since``."""
    params = {"incident": incident_id, "since": since}
    found = session.connection().execute(_posts_since_statement(), params)
    return [(mention_id, at) for mention_id, at in found]


@cache
def _posts_since_statement() -> Any:
    # Built once, run on the connection: the route stage asks this for every incident of a
    # batch, and the ORM's per-statement work was most of its cost.
    t = Mention.__table__  # type: ignore[attr-defined]
    return select(t.c.id, t.c.created_at).where(
        t.c.incident_id == bindparam("incident"), t.c.created_at >= bindparam("since")
    )  # answered from ix_mentions_incident alone (a filter on flags would read every row)
