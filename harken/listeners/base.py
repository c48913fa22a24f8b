"""What every parser shares: the result types and the field-checking helpers.

A parser turns one payload in the platform's own JSON shape (a line of a replay file, or
what the live API returned) into MentionRecords (see ``harken.records``). Listeners know
nothing of classification or routing: they only say what was posted, by whom, when, and how
it was engaged with.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

from harken.errors import PayloadError
from harken.records import AuthorRecord, MentionRecord

__all__ = ["AuthorRecord", "MentionRecord", "ParseResult", "Parser", "Rejection"]


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
    """A count from a payload; anything that is not a non-negative integer becomes None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return int(value)


def metrics_of(**counts: Any) -> dict[str, int]:
    return {k: v for k, v in ((k, as_int(c)) for k, c in counts.items()) if v is not None}


def parse_time(value: Any, field_name: str) -> datetime:
    """ISO 8601 / RFC 822 strings or Unix seconds -> aware UTC datetime."""
    try:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return datetime.fromtimestamp(float(value), tz=UTC)
        if isinstance(value, str):
            text = value.strip()
            try:
                parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
            except ValueError:
                parsed = parsedate_to_datetime(text)
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=UTC)
            return parsed.astimezone(UTC)
    except (ValueError, TypeError, OverflowError, OSError):
        pass
    raise PayloadError(f"field {field_name} is not a valid timestamp")


def each_item(
    items: list[Any], parse_one: Callable[[Any], MentionRecord], page: bool = True
) -> Iterator[ParseResult]:
    """Parse a page item by item: one bad item is rejected, the rest still come through."""
    for index, item in enumerate(items):
        try:
            yield parse_one(item)
        except PayloadError as err:
            yield Rejection(str(err), item=index if page else None)


def one_or_many(payload: Any, parse_one: Callable[[Any], MentionRecord]) -> Iterator[ParseResult]:
    """A JSON list is a page of items (as timelines return them); anything else is one item."""
    if isinstance(payload, list):
        yield from each_item(payload, parse_one)
    else:
        yield from each_item([payload], parse_one, page=False)
