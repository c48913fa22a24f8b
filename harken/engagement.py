"""The engagement refresh job: how fast are risky mentions spreading?

Every run re-reads the metrics of recent mentions whose risk is at least
``refresh.min_risk`` (riskiest first, ``refresh.limit`` per source) and stores a snapshot
per mention. The first refresh of a mention also records what was seen at collection, so
the series starts when harken first saw the post; velocity is reposts/replies per hour
between snapshots.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from harken.collect import rate_limited
from harken.config import Config
from harken.errors import SourceError
from harken.listeners.source import RefreshTarget, Source, Stopped
from harken.logs import redact
from harken.store import Store
from harken.store import sources as source_repo
from harken.store.tables import MetricSnapshot
from harken.text import strip_controls

log = logging.getLogger(__name__)


@dataclass
class RefreshReport:
    checked: int = 0
    updated: int = 0
    errors: dict[str, str] = field(default_factory=dict)  # source -> what went wrong


def refresh_engagement(store: Store, config: Config, sources: list[Source]) -> RefreshReport:
    report = RefreshReport()
    for source in sources:
        if rate_limited(store, source) is not None:
            continue  # calling now would only push the reset further away
        now = source.runtime.now()
        with store.session() as session:
            rows = source_repo.refresh_candidates(
                session,
                source.name,
                since=now - config.refresh.window,
                min_risk=config.refresh.min_risk,
                limit=config.refresh.limit,
            )
        if not rows:
            continue
        try:
            found = source.refresh([RefreshTarget(r.external_id, r.raw) for r in rows])
        except Stopped:
            return report
        except SourceError as err:
            report.errors[source.name] = redact(strip_controls(str(err)))
            log.warning("%s: engagement refresh failed: %s", source.name, err)
            continue
        except Exception as err:  # an unmapped library error: the other sources go on
            log.exception("%s: engagement refresh failed", source.name)
            report.errors[source.name] = f"unexpected {type(err).__name__}"
            continue
        report.checked += len(rows)
        with store.session() as session:
            for row in rows:
                metrics = found.get(row.external_id)
                if metrics is None:
                    continue  # deleted, or the source cannot re-read it
                if not row.has_snapshot:
                    source_repo.first_snapshot(session, row.mention_id)
                source_repo.record_snapshot(session, row.mention_id, metrics, now)
                report.updated += 1
    return report


def velocity(snapshots: list[MetricSnapshot]) -> dict[str, float]:
    """Growth per hour of each metric between the first and the last snapshot."""
    if len(snapshots) < 2:
        return {}
    first, last = snapshots[0], snapshots[-1]
    hours = (last.taken_at - first.taken_at).total_seconds() / 3600
    if hours <= 0:
        return {}
    rates = {}
    for key in ("likes", "reposts", "replies", "quotes"):
        start, end = getattr(first, key), getattr(last, key)
        if start is not None and end is not None:
            rates[key] = (end - start) / hours
    return rates
