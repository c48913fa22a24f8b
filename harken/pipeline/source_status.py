"""What ``harken sources`` shows: each configured source's health, volume, lag and quota."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any

from harken.config import Config
from harken.pipeline.collect import UNHEALTHY_AFTER
from harken.pipeline.streams import LIVE
from harken.store import Store
from harken.store import sources as source_repo


@dataclass
class SourceStatus:
    name: str
    enabled: bool
    interval_seconds: float
    state: str  # ok | failing | unhealthy | rate limited | never polled | disabled
    last_poll_at: datetime | None
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    consecutive_failures: int
    rate_limited_until: datetime | None
    collected_last_hour: int
    collected_last_day: int
    # Median seconds from posting to being stored, over the last day's mentions.
    lag_seconds: float | None
    quota: dict[str, Any]
    # Items the last poll could not read or store, all of them so far, and the latest reason.
    last_rejected: int = 0
    rejected_total: int = 0
    last_rejection: str | None = None
    last_rejection_at: datetime | None = None
    # The live stream, for a source with ``stream: true``: its state (live | silent | down |
    # stopped | off),
    # lag (seconds between the newest event's time and when it was read), when it was last
    # heard from, reconnections and last error (harken/pipeline/streams.py).
    stream: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, datetime):
                data[key] = value.isoformat()
        return data


def source_statuses(store: Store, config: Config, now: datetime) -> list[SourceStatus]:
    statuses = []
    with store.session() as session:
        health = source_repo.all_health(session)
        for name, entry in config.sources.items():
            h = health.get(name)
            delays = source_repo.collection_delays(session, name, now - timedelta(days=1))
            statuses.append(
                SourceStatus(
                    name=name,
                    enabled=entry.enabled,
                    interval_seconds=entry.interval.total_seconds(),
                    state=_state(entry.enabled, h, now),
                    last_poll_at=h.last_poll_at if h else None,
                    last_success_at=h.last_success_at if h else None,
                    last_error=h.last_error if h else None,
                    last_error_at=h.last_error_at if h else None,
                    consecutive_failures=h.consecutive_failures if h else 0,
                    rate_limited_until=h.rate_limited_until if h else None,
                    collected_last_hour=source_repo.collected_since(
                        session, name, now - timedelta(hours=1)
                    ),
                    collected_last_day=len(delays),
                    lag_seconds=statistics.median(delays) if delays else None,
                    quota=dict(h.quota) if h and h.quota else {},
                    last_rejected=h.last_rejected if h else 0,
                    rejected_total=h.rejected_total if h else 0,
                    last_rejection=h.last_rejection if h else None,
                    last_rejection_at=h.last_rejection_at if h else None,
                    stream=_stream(entry, h, now),
                )
            )
    return statuses


def _stream(entry: Any, health: Any, now: datetime) -> dict[str, Any] | None:
    """The stream's state as ``harken sources`` shows it; None without ``stream: true``."""
    if not getattr(entry, "stream", False):
        return None
    state: dict[str, Any] = dict(health.stream or {}) if health and health.stream else {}
    seen = state.get("seen_at")
    heard = (now - datetime.fromisoformat(seen)).total_seconds() if seen else None
    if state.get("off"):
        state["state"] = "off"  # the platform refused it for good (last_error says why)
    elif state.get("stopped"):
        state["state"] = "stopped"  # harken run is not running
    elif not state.get("connected"):
        state["state"] = "down"
    elif heard is None or heard > LIVE.total_seconds():
        state["state"] = "silent"
    else:
        state["state"] = "live"
    state["heard_seconds_ago"] = heard
    return state


def _state(enabled: bool, health: Any, now: datetime) -> str:
    if health is None or health.last_poll_at is None:
        return "never polled" if enabled else "disabled"
    if health.rate_limited_until is not None and health.rate_limited_until > now:
        return "rate limited"
    if health.consecutive_failures >= UNHEALTHY_AFTER:
        return "unhealthy"
    if health.consecutive_failures:
        return "failing"
    return "ok" if enabled else "disabled"
