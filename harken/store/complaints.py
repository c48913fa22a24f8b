"""What counts as a complaint, in every count of them (``report summary``, ``report trend``,
the digest): a complaint score of at least ``COMPLAINT``, by an author who is no press, no
account of the brand's own and no moderator. Routing records those roles on the mention as
flags (``harken.pipeline.route``), so counting needs no config.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import String, and_, case, cast, func, not_
from sqlmodel import col

from harken.store.tables import Classification, Mention

COMPLAINT = 0.5  # a complaint score at least this counts as a complaint
# Mention flags of authors whose posts are never complaints (their roles in accounts:).
NOT_COMPLAINTS = ("press", "own", "staff", "moderator")


def is_complaint() -> Any:
    """A SQL condition over Mention joined with its Classification (NULL when unclassified)."""
    # JSON lists as text: the same test on SQLite and PostgreSQL (json and jsonb alike).
    flags = func.coalesce(cast(col(Mention.flags), String), "")
    return and_(
        col(Classification.complaint) >= COMPLAINT,
        *(not_(flags.like(f'%"{flag}"%')) for flag in NOT_COMPLAINTS),
    )


def is_own(flags: list[str] | None) -> bool:
    """Whether a mention's flags say the brand wrote it (flag ``own``: see not_own)."""
    return "own" in (flags or ())


def not_own() -> Any:
    """A SQL condition over Mention: not the brand's own post (flag ``own``: its answers, and
    its accounts' posts). Reports and spike counts leave those out: the brand answering a
    hundred customers in an outage is no rise in what people say about it."""
    flags = func.coalesce(cast(col(Mention.flags), String), "")
    return not_(flags.like('%"own"%'))


def complaint_count() -> Any:
    """1 for a complaint, else 0: sum it."""
    return case((is_complaint(), 1), else_=0)


def role_flags(flags: list[str] | None, role: str | None) -> list[str]:
    """The mention's flags with its author's role among ``NOT_COMPLAINTS`` (and no other such
    role: a changed config re-routed), other flags kept, sorted."""
    others = {f for f in (flags or []) if f not in NOT_COMPLAINTS}
    return sorted(others | {role}) if role in NOT_COMPLAINTS else sorted(others)
