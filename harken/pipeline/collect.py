"""Polling live sources into the store: page by page, each page with its cursor, health kept.

A page's mentions and the cursor that covers them are one transaction, so a poll killed at
any point resumes from the last committed page; the store's unique keys absorb the overlap a
resumed page may bring. Whatever happens, the poll's outcome lands in ``source_health``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime

from harken.brands import BrandDetector
from harken.classify.classifier import Classifier
from harken.config import Config
from harken.errors import RateLimited, SourceError
from harken.logs import redact
from harken.notify.contract import Sink
from harken.pipeline.ingest import brand_detector, store_records
from harken.pipeline.process import run_pass
from harken.pipeline.stages import PassResult
from harken.platforms.base import Rejection
from harken.platforms.source import Page, Source, Stopped
from harken.records import MentionRecord
from harken.store import Store
from harken.store import sources as source_repo
from harken.text import strip_controls

log = logging.getLogger(__name__)

# After this many failed polls in a row a source is reported unhealthy.
UNHEALTHY_AFTER = 3
LOGGED_REJECTIONS = 10  # unreadable items of one page logged one by one; the rest summed up


@dataclass
class PollReport:
    source: str
    pages: int = 0
    stored: int = 0
    duplicates: int = 0
    skipped: int = 0  # off-brand, or written by the brand's own accounts
    rejected: int = 0  # items the parser could not read or the store refused (logged)
    cut: int = 0  # posts stored cut to fit harken's limits (harken.platforms.base, logged)
    last_rejection: str | None = None  # the latest one's reason
    error: str | None = None
    rate_limited_until: datetime | None = None
    stopped: bool = False  # a shutdown interrupted the poll (not an error)

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass
class ListenResult:
    polls: list[PollReport]
    passed: PassResult


def poll_source(store: Store, config: Config, source: Source) -> PollReport:
    """One poll: every new page stored with its cursor; the outcome recorded as health."""
    report = PollReport(source.name)
    brands = brand_detector(config)
    with store.session() as session:
        cursor = source_repo.get_cursor(session, source.name)
    try:
        for page in source.pages(cursor):
            store_page(store, brands, source, page, report)
            source.runtime.check_stop()  # a shutdown ends the poll between pages
    except Stopped:
        report.stopped = True
    except RateLimited as err:
        report.error = str(err)
        report.rate_limited_until = err.reset_at
    except SourceError as err:
        report.error = str(err)
    except Exception as err:  # a bug or an unmapped library error: the other sources go on
        log.exception("%s: poll failed", source.name)
        report.error = f"unexpected {type(err).__name__}: {err}"
    if report.error:
        # Server-written text (API error messages) and URLs: no escapes, no credentials.
        report.error = redact(strip_controls(report.error))[:1000]
    _record_health(store, source, report)
    return report


def store_page(
    store: Store,
    brands: BrandDetector,
    source: Source,
    page: Page,
    report: PollReport,
    cursor_key: str | None = None,
) -> None:
    """A page's mentions and its cursor (under ``cursor_key``, default the source's name) in
    one transaction; what it brought counted in ``report``."""
    records = [item for item in page.items if isinstance(item, MentionRecord)]
    unreadable = [item for item in page.items if isinstance(item, Rejection)]
    _log_unreadable(source, page, unreadable)
    cut = _log_cut(source, page, records)
    with store.session() as session:
        counts = store_records(session, records, brands, source.name)
        if page.cursor is not None:
            source_repo.set_cursor(session, cursor_key or source.name, page.cursor)
    report.pages += 1
    report.stored += counts.stored
    report.duplicates += counts.duplicates
    report.skipped += counts.off_brand + counts.own_posts
    report.rejected += len(unreadable) + len(counts.refused)
    report.cut += cut
    if counts.refused:
        report.last_rejection = f"refused by the store: {counts.refused[-1]}"
    elif unreadable:
        report.last_rejection = f"unreadable ({page.label}): {unreadable[-1].reason}"
    log.info("%s: %s: %d new, %d seen", source.name, page.label, counts.stored, counts.duplicates)


def _log_unreadable(source: Source, page: Page, unreadable: list[Rejection]) -> None:
    """The first few rejections of a page one by one, then one line for the rest: a page
    of a million bad items is not a million log lines."""
    for item in unreadable[:LOGGED_REJECTIONS]:
        log.warning("%s: skipped an unreadable item (%s): %s", source.name, page.label, item)
    if len(unreadable) > LOGGED_REJECTIONS:
        log.warning(
            "%s: … and %d more unreadable items skipped (%s)",
            source.name,
            len(unreadable) - LOGGED_REJECTIONS,
            page.label,
        )


def _log_cut(source: Source, page: Page, records: list[MentionRecord]) -> int:
    """How many posts of the page were cut to fit harken's limits (harken.platforms.base);
    one log line says so, naming the first and what of it was cut."""
    cut = [record for record in records if record.cut]
    if cut:
        log.warning(
            "%s: %s: %d post(s) cut to fit harken's limits (%s: %s)",
            source.name,
            page.label,
            len(cut),
            cut[0].external_id[:80],
            ", ".join(cut[0].cut),
        )
    return len(cut)


def _record_health(store: Store, source: Source, report: PollReport) -> None:
    now = source.runtime.now()
    with store.session() as session:
        health = source_repo.health_for_update(session, source.name)
        health.last_poll_at = now
        health.last_stored = report.stored
        health.last_rejected = report.rejected
        health.rejected_total += report.rejected
        if report.last_rejection:
            health.last_rejection = redact(strip_controls(report.last_rejection))[:1000]
            health.last_rejection_at = now
        if report.ok:
            if not report.stopped:
                health.last_success_at = now
                health.consecutive_failures = 0
                health.rate_limited_until = None
        elif report.rate_limited_until is not None:
            # Being told "not now" is not the source failing: it is not counted towards
            # unhealthy, and the source rests until the reset.
            health.rate_limited_until = report.rate_limited_until
            health.last_error = report.error
            health.last_error_at = now
        else:
            health.last_error = report.error
            health.last_error_at = now
            health.consecutive_failures += 1
            health.rate_limited_until = None
        if source.quota is not None:
            health.quota = source.quota.to_json()
        session.add(health)


def rate_limited(store: Store, source: Source) -> datetime | None:
    """When the source may be called again, if the last poll hit a limit still in force."""
    with store.session() as session:
        health = source_repo.get_health(session, source.name)
    until = health.rate_limited_until if health else None
    return until if until is not None and until > source.runtime.now() else None


def listen_once(
    store: Store,
    config: Config,
    sources: list[Source],
    sinks: Mapping[str, Sink],
    classifier: Classifier | None = None,
    on_poll: Callable[[PollReport], None] = lambda report: None,
) -> ListenResult:
    """Poll each source once (skipping those still rate limited), then one pipeline pass."""
    polls: list[PollReport] = []
    for source in sources:
        until = rate_limited(store, source)
        if until is not None:
            polls.append(
                PollReport(
                    source.name,
                    error="still rate limited: not polled",
                    rate_limited_until=until,
                )
            )
        else:
            polls.append(poll_source(store, config, source))
        on_poll(polls[-1])
    return ListenResult(polls, run_pass(store, config, sinks, classifier=classifier))
