"""What every parser shares: the result types and the field-checking helpers.

A parser turns one payload in the platform's own JSON shape (a line of a replay file, or
what the live API returned) into MentionRecords (see ``harken.records``). Listeners know
nothing of classification or routing: they only say what was posted, by whom, when, and how
it was engaged with.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from functools import lru_cache
from typing import Any, TypeVar

from harken.errors import PayloadError
from harken.records import AuthorRecord, MentionRecord
from harken.text import html_to_text, strip_controls

__all__ = ["AuthorRecord", "MentionRecord", "ParseResult", "Parser", "Rejection"]

T = TypeVar("T")

# What the store's columns hold (harken/store/tables.py; PostgreSQL enforces them, SQLite
# does not): a record that passes here can be stored on either.
MAX_ID = 512  # mentions.external_id, ref_external_id, conversation_id
MAX_AUTHOR_ID = 255  # authors.external_id, handle, name
MAX_URL = 2048  # mentions.url
MAX_AUTHOR_URL = 1024  # authors.url
MAX_LANGUAGE = 16  # mentions.language
MAX_COUNT = 2**63 - 1  # an engagement or follower count (64-bit columns)
MAX_RAW_DEPTH = 64  # nesting kept of a payload's raw JSON
MAX_REASON = 300  # characters of a rejection's reason
# What one post may bring (docs/listeners.md, "Limits"). No platform allows a longer post
# (a Reddit self-post, the longest, stops at 40,000; X, Bluesky and most Mastodon instances
# far sooner); an RSS article may be longer, but the classifier reads its first few hundred
# words and alerts show less. Anything over is a server's or an export's mistake, or an
# attack on memory: the text is cut, with a marker a reader sees.
MAX_TEXT = 40_000  # characters of a post's text
TEXT_CUT_MARK = f" … [cut by harken: over {MAX_TEXT:,} characters]"
MAX_MARKUP = 4 * MAX_TEXT  # characters of HTML (Mastodon, RSS) read to find that text
MAX_RAW_CHARS = 250_000  # characters of strings (and keys) kept of one payload's raw JSON
MAX_RAW_ITEMS = 1_000  # entries kept of one list or object of a payload's raw JSON
# Times outside these are a client's or a proxy's nonsense (Bluesky's createdAt is written by
# the posting app), and would break date arithmetic downstream (9999-12-31 + 1 day).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(2200, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Rejection:
    """A payload (or one item of a page) that could not be parsed, and why."""

    reason: str
    item: int | None = None  # index within a page, when the payload is a page


ParseResult = MentionRecord | Rejection
Parser = Callable[[Any], Iterator[ParseResult]]


def require(obj: Any, key: str, kind: type | tuple[type, ...] = str, where: str = "") -> Any:
    """obj[key], checked to be of ``kind``; PayloadError naming the field otherwise."""
    if not isinstance(obj, dict):
        raise PayloadError(f"{where or 'payload'} is not a JSON object")
    if key not in obj or obj[key] is None:
        raise PayloadError(f"missing field {where + '.' if where else ''}{key}")
    value = obj[key]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise PayloadError(f"field {where + '.' if where else ''}{key} has the wrong type")
    return value


def as_int(value: Any) -> int | None:
    """A count from a payload; anything that is not a plausible non-negative integer (NaN,
    infinities, negative or absurdly large numbers, strings, ...) becomes None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if not 0 <= value <= MAX_COUNT:
        return None
    return int(value)


def text_or_none(value: Any) -> str | None:
    """An optional text field: a string, or None when the payload has anything else."""
    return value if isinstance(value, str) else None


def dict_or_empty(value: Any) -> dict[str, Any]:
    """An optional object field: the object, or {} when the payload has anything else."""
    return value if isinstance(value, dict) else {}


def clip(value: Any, limit: int = 60) -> str:
    """A payload value quoted in a reason: short, and with nothing a terminal would obey."""
    shown = value if isinstance(value, str) else repr(value)
    shown = " ".join(strip_controls(clean_str(shown)).split())
    return shown if len(shown) <= limit else shown[: limit - 1] + "…"


@lru_cache(maxsize=256)  # a bad page repeats one reason for each of its items
def readable(reason: str) -> str:
    """A rejection's reason as one short line a person can read (logs, terminals)."""
    return clip(reason, MAX_REASON) or "unreadable item"


def clean_str(value: str) -> str:
    """A string the store can keep on any database: UTF-8 (a lone surrogate, as JSON's
    ``"\\ud83d"`` gives, becomes U+FFFD; a proper pair becomes its character) and no NUL."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        value = value.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return value.replace("\x00", "")


def cut_text(value: str) -> tuple[str, bool]:
    """A post's text within MAX_TEXT (cut, with TEXT_CUT_MARK), and whether it was cut.

    It is cut before it is cleaned: cleaning 20 MB to keep 40 KB of it would cost seconds."""
    if len(value) > MAX_TEXT:
        return clean_str(value[:MAX_TEXT]) + TEXT_CUT_MARK, True
    value = clean_str(value)
    return value, value.endswith(TEXT_CUT_MARK)  # html_text may have cut it already


def html_text(markup: str) -> str:
    """The plain text of a post's HTML, reading at most MAX_MARKUP characters of it (a text
    whose markup was cut ends with TEXT_CUT_MARK)."""
    if len(markup) <= MAX_MARKUP:
        return html_to_text(markup)
    return html_to_text(markup[:MAX_MARKUP]) + TEXT_CUT_MARK


class RawCopy:
    """A payload as JSON any store keeps (JSONB included): finite numbers, clean strings,
    bounded nesting, and bounded size: each string within MAX_TEXT, each list or object within
    MAX_RAW_ITEMS entries, all strings within MAX_RAW_CHARS. ``cut`` says whether anything
    was left out. The fields harken reads back (ids, references, links) are small: only a
    payload carrying several times a post's worth of text can lose any of them."""

    def __init__(self) -> None:
        self.left = MAX_RAW_CHARS
        self.cut = False

    def of(self, value: Any, depth: int = 0) -> Any:
        if isinstance(value, str):
            return self._string(value)
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if value is None or isinstance(value, bool | int):
            return value
        if depth >= MAX_RAW_DEPTH:
            return None
        if isinstance(value, Mapping):
            pairs = self._entries(value.items())
            return {self._string(str(k)): self.of(v, depth + 1) for k, v in pairs}
        if isinstance(value, list | tuple):
            return [self.of(v, depth + 1) for v in self._entries(value)]
        return self._string(str(value))

    def _string(self, value: str) -> str:
        keep = max(0, min(len(value), MAX_TEXT, self.left))
        self.left -= keep
        if keep == len(value):
            return clean_str(value)
        self.cut = True
        return clean_str(value[:keep]) + TEXT_CUT_MARK

    def _entries(self, entries: Iterable[T]) -> Iterator[T]:
        for count, entry in enumerate(entries):
            if count >= MAX_RAW_ITEMS or self.left <= 0:
                self.cut = True
                return
            yield entry


def metrics_of(**counts: Any) -> dict[str, int]:
    return {k: v for k, v in ((k, as_int(c)) for k, c in counts.items()) if v is not None}


def parse_time(value: Any, field_name: str) -> datetime:
    """ISO 8601 / RFC 822 strings or Unix seconds -> aware UTC datetime."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            parsed = datetime.fromtimestamp(float(value), tz=UTC)
        elif isinstance(value, str):
            text = value.strip()
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                parsed = parsedate_to_datetime(text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            parsed = parsed.astimezone(UTC)
        else:
            raise TypeError(type(value).__name__)
    except (ValueError, TypeError, OverflowError, OSError, IndexError):
        raise PayloadError(f"field {field_name} is not a valid timestamp") from None
    return plausible(parsed, field_name)


def plausible(moment: datetime, field_name: str) -> datetime:
    """``moment``, unless it is before 1970 or after 2200 (see EARLIEST)."""
    if not EARLIEST <= moment < LATEST:
        raise PayloadError(f"field {field_name} is not a plausible time ({moment:%Y-%m-%d})")
    return moment


def checked(record: MentionRecord) -> MentionRecord:
    """The record as the store can keep it, whatever the payload held, or PayloadError.

    Ids must be non-empty strings that fit their columns (cutting one would merge posts);
    optional fields of the wrong type or too long for their column (urls) are dropped (a cut
    address would lead somewhere else); display text is cut to fit (the post's text at
    MAX_TEXT with a marker, names at their column's width with "…"), and ``cut`` names what
    was; every string loses NUL and lone surrogates; raw becomes clean, bounded JSON.
    """
    external_id = _identifier(record.external_id, "id", MAX_ID)
    author, cut = _checked_author(record.author)
    if not isinstance(record.text, str):
        raise PayloadError("field text has the wrong type")
    text, text_cut = cut_text(record.text)
    raw = RawCopy()
    reference = record.reference
    if reference is not None:
        kind, target = reference
        target = _optional(target, MAX_ID)
        reference = (kind, target) if isinstance(kind, str) and target else None
    return replace(
        record,
        external_id=external_id,
        text=text,
        url=_optional(record.url, MAX_URL),
        language=_optional(record.language, MAX_LANGUAGE),
        metrics=metrics_of(**{str(k): v for k, v in record.metrics.items()}),
        reference=reference,
        conversation_id=_optional(record.conversation_id, MAX_ID),
        raw=raw.of(dict(record.raw)) if isinstance(record.raw, Mapping) else {},
        author=author,
        cut=("text",) * text_cut + cut + ("raw",) * raw.cut,
    )


def _checked_author(author: AuthorRecord) -> tuple[AuthorRecord, tuple[str, ...]]:
    """The author as the store keeps it, and which of its fields were cut to fit."""
    author_id = _identifier(author.external_id, "author id", MAX_AUTHOR_ID)
    if not isinstance(author.handle, str):
        raise PayloadError("field author.handle has the wrong type")
    handle = _cut(author.handle, MAX_AUTHOR_ID)
    name = _cut(author.name, MAX_AUTHOR_ID) if isinstance(author.name, str) else None
    cut = ("author.handle",) * (handle != author.handle) + ("author.name",) * (
        name is not None and name != author.name
    )
    checked_author = replace(
        author,
        external_id=author_id,
        handle=clean_str(handle),
        name=clean_str(name) if name is not None else None,
        followers=as_int(author.followers) if author.followers is not None else None,
        verified=author.verified is True,
        url=_optional(author.url, MAX_AUTHOR_URL),
    )
    return checked_author, cut


def _identifier(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str):
        raise PayloadError(f"field {what} has the wrong type")
    value = clean_str(value)
    if not value.strip():
        raise PayloadError(f"field {what} is empty")
    if len(value) > limit:
        raise PayloadError(f"field {what} is longer than {limit} characters")
    return value


def _optional(value: Any, limit: int) -> str | None:
    """An optional string column: None when missing, of another type, empty or too long."""
    if not isinstance(value, str):
        return None
    value = clean_str(value)
    return value if value.strip() and len(value) <= limit else None


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def each_item(
    items: list[Any], parse_one: Callable[[Any], MentionRecord], page: bool = True
) -> Iterator[ParseResult]:
    """Parse a page item by item: one bad item is rejected, the rest still come through."""
    for index, item in enumerate(items):
        try:
            yield checked(parse_one(item))
        except PayloadError as err:
            yield Rejection(readable(str(err)), item=index if page else None)
        except (AttributeError, TypeError, ValueError, KeyError, IndexError, RecursionError) as err:
            # A shape no parser expected: that item is lost, not the page (tests/test_fuzz.py
            # holds the parsers to never getting here).
            reason = f"unexpected payload shape ({type(err).__name__}: {err})"
            yield Rejection(readable(reason), item=index if page else None)


def one_or_many(payload: Any, parse_one: Callable[[Any], MentionRecord]) -> Iterator[ParseResult]:
    """A JSON list is a page of items (as timelines return them); anything else is one item."""
    if isinstance(payload, list):
        yield from each_item(payload, parse_one)
    else:
        yield from each_item([payload], parse_one, page=False)
