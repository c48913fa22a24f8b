"""The engagement refresh job: how fast are risky mentions spreading?

Every run re-reads the metrics of recent mentions whose risk is at least
``refresh.min_risk`` (riskiest first, ``refresh.limit`` per source) and stores a snapshot
per mention. The first refresh of a mention also records what was seen at collection, so
the series starts when harken first saw the post. The velocity it gives (interactions per hour,
``store.sources.velocity``) is folded into the mention's escalation risk straight away.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from harken.config import Config
from harken.errors import SourceError
from harken.logs import redact
from harken.pipeline.collect import rate_limited
from harken.pipeline.rescore import rescore_mention
from harken.platforms.source import RefreshTarget, Source, Stopped
from harken.store import Store
from harken.store import sources as source_repo
from harken.text import strip_controls

log = logging.getLogger(__name__)


@dataclass
class RefreshReport:
    checked: int = 0
    updated: int = 0
    rescored: int = 0  # mentions whose risk changed with their new velocity
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
                # Velocity is part of the risk: a complaint that is taking off rises.
                report.rescored += rescore_mention(session, config, row.mention_id)
    return report
