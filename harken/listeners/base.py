"""What every parser shares: the result types and the field-checking helpers.

A parser turns one payload in the platform's own JSON shape (a line of a replay file, or
what the live API returned) into MentionRecords (see ``harken.records``). Listeners know
nothing of classification or routing: they only say what was posted, by whom, when, and how
it was engaged with.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from harken.errors import PayloadError
from harken.records import AuthorRecord, MentionRecord
from harken.text import strip_controls

__all__ = ["AuthorRecord", "MentionRecord", "ParseResult", "Parser", "Rejection"]

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


def json_safe(value: Any, depth: int = 0) -> Any:
    """``value`` as JSON any store keeps (JSONB included): finite numbers, clean strings,
    bounded nesting. Values that need nothing are returned as they are."""
    if isinstance(value, str):
        return clean_str(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, bool | int):
        return value
    if depth >= MAX_RAW_DEPTH:
        return None
    if isinstance(value, Mapping):
        return {clean_str(str(k)): json_safe(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, depth + 1) for v in value]
    return clean_str(str(value))


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
    optional fields of the wrong type or too long for their column are dropped; display
    text is cut to fit; every string loses NUL and lone surrogates; raw becomes clean JSON.
    """
    author = record.author
    external_id = _identifier(record.external_id, "id", MAX_ID)
    author_id = _identifier(author.external_id, "author id", MAX_AUTHOR_ID)
    if not isinstance(author.handle, str):
        raise PayloadError("field author.handle has the wrong type")
    if not isinstance(record.text, str):
        raise PayloadError("field text has the wrong type")
    reference = record.reference
    if reference is not None:
        kind, target = reference
        target = _optional(target, MAX_ID)
        reference = (kind, target) if isinstance(kind, str) and target else None
    followers = as_int(author.followers) if author.followers is not None else None
    return replace(
        record,
        external_id=external_id,
        text=clean_str(record.text),
        url=_optional(record.url, MAX_URL),
        language=_optional(record.language, MAX_LANGUAGE),
        metrics=metrics_of(**{str(k): v for k, v in record.metrics.items()}),
        reference=reference,
        conversation_id=_optional(record.conversation_id, MAX_ID),
        raw=json_safe(dict(record.raw)) if isinstance(record.raw, Mapping) else {},
        author=replace(
            author,
            external_id=author_id,
            handle=_cut(clean_str(author.handle), MAX_AUTHOR_ID),
            name=_cut(clean_str(author.name), MAX_AUTHOR_ID)
            if isinstance(author.name, str)
            else None,
            followers=followers,
            verified=author.verified is True,
            url=_optional(author.url, MAX_AUTHOR_URL),
        ),
    )


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
