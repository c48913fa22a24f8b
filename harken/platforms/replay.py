"""Replay listener: read JSONL files of platform payloads through the live parsers.

Demos, backfills and imports share this path. A line that is not JSON, or that the parser
rejects, becomes a Rejection carrying its line number; the other lines go on.

A file can hold anything, so reading it is bounded (docs/listeners.md, "Limits"): a line
over MAX_LINE bytes is rejected without being read into memory (it is skipped in chunks up
to its newline), and ``Rejections`` keeps the first few rejections whole and only counts the
rest, so a page of a million bad items costs a counter, not a million messages.
"""

from __future__ import annotations

import json
import stat
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from harken.errors import IngestError
from harken.platforms.base import MentionRecord, Parser, Rejection
from harken.platforms.registry import parser_for

# One line is one payload: a post or a whole page. The largest real page (100 posts with
# their expansions) is well under 1 MiB; 16 MiB leaves room for any honest export.
MAX_LINE = 16 * 1024 * 1024  # bytes
_CHUNK = 1024 * 1024  # bytes read at a time
SHOWN_REJECTIONS = 10  # rejections printed one by one; the rest are summed up by reason
_REASONS_KEPT = 20  # distinct reasons counted by name; any further ones as "other reasons"


@dataclass(frozen=True)
class LineRejection:
    line: int
    reason: str  # with " (item N)" when the line is a page and one of its items was bad
    cause: str = ""  # the reason without the item: what rejections are summed up by

    @property
    def why(self) -> str:
        return self.cause or self.reason


def read_jsonl(path: Path, platform: str) -> Iterator[MentionRecord | LineRejection]:
    parse = parser_for(platform)
    with _open_input(path) as handle:
        lineno = 0
        while (line := _next_line(handle)) != b"":
            lineno += 1
            if isinstance(line, int):
                yield _too_long(lineno, line)
            elif line.strip():
                loaded = _load(line, lineno)
                del line  # a page's bytes are not kept while its items are parsed and stored
                if isinstance(loaded, LineRejection):
                    yield loaded
                else:
                    yield from _results(loaded.value, lineno, parse)


def _open_input(path: Path) -> BinaryIO:
    """A regular file, or a pipe (``<(zcat pages.jsonl.gz)``); not a directory or a device,
    which has no end (``/dev/zero``) or no lines."""
    shown = repr(str(path))
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise IngestError(f"{shown} is a directory, not a file of payloads")
        if not (stat.S_ISREG(mode) or stat.S_ISFIFO(mode)):
            raise IngestError(f"{shown} is a device, not a file of payloads")
        return path.open("rb")
    except FileNotFoundError:
        raise IngestError(f"file {shown} does not exist") from None
    except OSError as err:
        raise IngestError(f"cannot read {shown}: {err.strerror or err}") from None


def _next_line(handle: BinaryIO) -> bytes | int:
    """The next line (b"" at the end of the file), or its size in bytes when it is over
    MAX_LINE: read a chunk at a time, so an over-size line is never held whole."""
    chunks: list[bytes] = []
    size = 0
    while chunk := handle.readline(_CHUNK):
        size += len(chunk)
        ended = chunk.endswith(b"\n")
        if size - ended > MAX_LINE:
            chunks.clear()
            return size - 1 if ended else _skip_line(handle, size)
        chunks.append(chunk)
        if ended:
            break
    return b"".join(chunks)


def _skip_line(handle: BinaryIO, size: int) -> int:
    """Read past the rest of an over-size line, a chunk at a time; its size in bytes."""
    while chunk := handle.readline(_CHUNK):
        size += len(chunk)
        if chunk.endswith(b"\n"):
            return size - 1
    return size


def _too_long(lineno: int, size: int) -> LineRejection:
    reason = (
        f"the line is {size:,} bytes, over the {MAX_LINE // 1024 // 1024} MiB limit for one "
        "line (split the page into smaller ones)"
    )
    return LineRejection(lineno, reason)


@dataclass(frozen=True)
class _Payload:
    value: Any


def _load(raw: bytes, lineno: int) -> _Payload | LineRejection:
    try:
        return _Payload(json.loads(raw.decode("utf-8")))
    except UnicodeDecodeError:
        return LineRejection(lineno, "not valid UTF-8")
    except json.JSONDecodeError as err:
        return LineRejection(lineno, f"invalid JSON: {err.msg} at column {err.colno}")
    except RecursionError:
        return LineRejection(lineno, "invalid JSON: nested too deeply")


def _results(payload: Any, lineno: int, parse: Parser) -> Iterator[MentionRecord | LineRejection]:
    for result in parse(payload):
        if isinstance(result, Rejection):
            where = f" (item {result.item})" if result.item is not None else ""
            yield LineRejection(lineno, f"{result.reason}{where}", cause=result.reason)
        else:
            yield result


@dataclass
class Rejections:
    """What an import could not read: the first SHOWN_REJECTIONS whole, the rest counted by
    reason, and how many posts were stored cut to fit."""

    shown: list[LineRejection] = field(default_factory=list)
    total: int = 0
    more: Counter[str] = field(default_factory=Counter)  # reason -> count, past the shown ones
    others: int = 0  # past the shown ones, with a reason beyond the _REASONS_KEPT counted
    cut: int = 0

    def add(self, rejection: LineRejection) -> None:
        self.total += 1
        if len(self.shown) < SHOWN_REJECTIONS:
            self.shown.append(rejection)
        elif rejection.why in self.more or len(self.more) < _REASONS_KEPT:
            self.more[rejection.why] += 1
        else:
            self.others += 1

    def summary(self, reasons: int = 3) -> str | None:
        """One line for the rejections past the shown ones (None when there are none)."""
        hidden = self.total - len(self.shown)
        if not hidden:
            return None
        common = self.more.most_common()
        named = [f"{n:,}: {why}" for why, n in common[:reasons]]
        rest = self.others + sum(n for _, n in common[reasons:])
        if rest:
            named.append(f"{rest:,}: other reasons")
        return f"… and {hidden:,} more skipped ({'; '.join(named)})"

    def records(self, results: Iterable[MentionRecord | LineRejection]) -> Iterator[MentionRecord]:
        """The records of ``results``, their rejections taken into this tally on the way."""
        for result in results:
            if isinstance(result, LineRejection):
                self.add(result)
            else:
                self.cut += bool(result.cut)
                yield result
