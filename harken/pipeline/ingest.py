"""The ingest stage: parsed records stored once each, a batch per transaction.

Replay files (``harken import``), the demo and live polls (``harken/pipeline/collect.py``)
all store through here: posts about none of the configured brands, and the brand's own posts
(by its configured account ids, or its exact handles) but its answers to stored posts, are
counted and left out; a record the database refuses is named and skipped. The brand's answers
are kept, flagged ``own``: routing marks the items of the posts they answer responded.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import timedelta

from sqlalchemy.exc import DataError, IntegrityError
from sqlmodel import Session

from harken.authors.roles import role_of
from harken.brands import BrandDetector, own_ids
from harken.config import Config
from harken.pipeline.progress import Progress, no_progress
from harken.platforms.replay import LineRejection
from harken.records import MentionRecord
from harken.store import Store, repo
from harken.store.db import savepoint
from harken.text import strip_controls

log = logging.getLogger(__name__)


@dataclass
class IngestResult:
    stored: int = 0
    duplicates: int = 0
    off_brand: int = 0  # about none of the configured brands (or excluded)
    own_posts: int = 0  # written by the brand's own accounts and answering nobody: skipped
    own_answers: int = 0  # the brand's own replies, stored (of ``stored``) to mark answered items
    rejected: list[LineRejection] = field(default_factory=list)
    # Records the database would not take ("x:123: DataError: ..."): skipped, not retried.
    refused: list[str] = field(default_factory=list)

    def own_described(self, label: str) -> str:
        """``N <label> (M answers, kept)``: what the brand's own accounts wrote."""
        kept = f" ({self.own_answers} answers, kept)" if self.own_answers else ""
        return f"{self.own_posts + self.own_answers} {label}{kept}"

    def add(self, other: IngestResult) -> None:
        self.stored += other.stored
        self.duplicates += other.duplicates
        self.off_brand += other.off_brand
        self.own_posts += other.own_posts
        self.own_answers += other.own_answers
        self.rejected += other.rejected
        self.refused += other.refused


def ingest(
    store: Store,
    config: Config,
    records: Iterable[MentionRecord | LineRejection],
    source: str,
    shift: timedelta | None = None,
    batch_size: int = 500,
    on_progress: Progress = no_progress,
) -> IngestResult:
    """Store parsed records once each; a batch is one transaction (authors with mentions)."""
    result = IngestResult()
    brands = brand_detector(config)
    batch: list[MentionRecord] = []
    for record in records:
        if isinstance(record, LineRejection):
            result.rejected.append(record)
            on_progress("ingest", 1)
            continue
        batch.append(record)
        if len(batch) >= batch_size:
            _store_batch(store, batch, brands, source, shift, result, on_progress)
            batch = []
    if batch:
        _store_batch(store, batch, brands, source, shift, result, on_progress)
    return result


def _store_batch(
    store: Store,
    batch: list[MentionRecord],
    brands: BrandDetector,
    source: str,
    shift: timedelta | None,
    result: IngestResult,
    on_progress: Progress,
) -> None:
    with store.session() as session:
        counts = store_records(session, batch, brands, source, shift)
    # Counted only once the transaction committed: a failed batch reports nothing stored.
    result.add(counts)
    on_progress("ingest", len(batch))


def store_records(
    session: Session,
    records: Iterable[MentionRecord],
    brands: BrandDetector,
    source: str,
    shift: timedelta | None = None,
) -> IngestResult:
    """Store what is about a brand, and the brand's answers; the caller commits.

    The batch goes in under one savepoint. Should the database refuse a row (a value it
    cannot hold), the batch is stored again one savepoint per record: the refused records
    are listed in ``refused`` and the others stored, so one bad post cannot hold back its
    page (a page whose cursor never commits is read again, forever). Lost connections and
    locks are not refusals: they fail the whole batch, to be retried."""
    # The brand's own posts last: an answer is kept only when the post it answers is stored,
    # which a customer's post of the same page then is (whatever order the page came in).
    records = sorted(records, key=lambda r: _own_brand(r, brands)[0])
    try:
        with savepoint(session):
            return _store_each(session, records, brands, shift, source)
    except REFUSED:
        pass
    counts = IngestResult()
    for record in records:
        try:
            with savepoint(session):
                counts.add(_store_each(session, [record], brands, shift, source))
        except REFUSED as err:
            reason = refusal_reason(err)
            log.warning(
                "%s: the store refused %s:%s: %s",
                source,
                record.platform,
                record.external_id,
                reason,
            )
            counts.refused.append(f"{record.platform}:{record.external_id}: {reason}")
    return counts


# What a database says about one row it will not hold; not connection or lock failures.
REFUSED = (DataError, IntegrityError, UnicodeError)


def refusal_reason(err: Exception) -> str:
    """The database's one-line reason, without the statement and its parameters (which
    SQLAlchemy puts in str(err), and which hold the stranger's text)."""
    cause = getattr(err, "orig", None) or err
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return strip_controls(f"{type(cause).__name__}: {first}")[:300]


def _store_each(
    session: Session,
    records: list[MentionRecord],
    brands: BrandDetector,
    shift: timedelta | None,
    source: str,
) -> IngestResult:
    counts = IngestResult()
    for record in records:
        mine, own = _own_brand(record, brands)
        if mine and not _answers_a_stored_post(session, record):
            # The brand's announcements are not mentions; nor is an answer to a post harken
            # does not hold (its own thread's "2/2", a customer never collected): it would
            # mark nothing, and stand alone for an incident of the brand's own words.
            counts.own_posts += 1
            continue
        brand = own or brands.brand_of(record.text) or brands.known(record.about)
        if brands.active and brand is None:
            counts.off_brand += 1
            continue
        if shift:
            record = _shifted(record, shift)
        author_id = repo.upsert_author(session, record.author)
        # The brand's own answer is stored flagged: routing never queues it, and it marks an
        # item of the post it answers responded (queue.platform_answers), though it was
        # written outside harken.
        flags = ["own"] if mine else None
        if repo.insert_mention(session, record, author_id, brand, source, flags=flags):
            counts.stored += 1
            counts.own_answers += flags is not None
        else:
            counts.duplicates += 1
    return counts


def brand_detector(config: Config) -> BrandDetector:
    """Which brand a post is about, and who speaks for the brands: the accounts the sources'
    config names by id, brands[].handles, and (for their replies) accounts: entries of role
    own."""

    def listed_own(platform: str, author_id: str, handle: str) -> bool:
        return role_of(config, platform, handle) == "own"  # (its ids: own_ids, asked first)

    return BrandDetector(config.brands, own_ids(config), listed_own)


def _own_brand(record: MentionRecord, brands: BrandDetector) -> tuple[bool, str | None]:
    """Whether the brand wrote the post (by its account's id or exact handle, an accounts:
    entry of role own, or as its source says), and which brand, when known."""
    author = record.author
    own = brands.own_account(record.platform, author.external_id, author.handle) or (
        brands.known(record.about) if record.own else None
    )
    # An accounts: entry of role own names a feed or account the brand chose to hear (its
    # status page's updates tell an incident's story): its posts are stored, routed as own;
    # only its replies are answers, kept when what they answer is held.
    listed = (
        own is None
        and _answered_id(record) is not None
        and brands.listed_own(record.platform, author.external_id, author.handle)
    )
    return own is not None or record.own or listed, own


def _answered_id(record: MentionRecord) -> str | None:
    """The id of the post this one replies to, if it is a reply."""
    reference = record.reference
    return reference[1] if reference is not None and reference[0] == "reply" else None


def _answers_a_stored_post(session: Session, record: MentionRecord) -> bool:
    """Whether the post replies to a stored post (one stored in this transaction too)."""
    answered = _answered_id(record)
    return answered is not None and repo.mention_id(session, record.platform, answered) is not None


def _shifted(record: MentionRecord, shift: timedelta) -> MentionRecord:
    return replace(record, created_at=record.created_at + shift)
