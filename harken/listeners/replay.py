"""Replay listener: read JSONL files of platform payloads through the live parsers.

Demos, backfills and imports share this path. A line that is not JSON, or that the parser
rejects, becomes a Rejection carrying its line number; the other lines go on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harken.errors import IngestError
from harken.listeners.base import MentionRecord, Parser, Rejection
from harken.listeners.registry import parser_for


@dataclass(frozen=True)
class LineRejection:
    line: int
    reason: str


def read_jsonl(path: Path, platform: str) -> Iterator[MentionRecord | LineRejection]:
    parse = parser_for(platform)
    if not path.is_file():
        raise IngestError(f"file {str(path)!r} does not exist")
    try:
        handle = path.open("rb")
    except OSError as err:
        raise IngestError(f"cannot read {str(path)!r}: {err.strerror}") from None
    with handle:
        for lineno, raw in enumerate(handle, start=1):
            if raw.strip():
                yield from _parse_line(raw, lineno, parse)


def _parse_line(raw: bytes, lineno: int, parse: Parser) -> Iterator[MentionRecord | LineRejection]:
    try:
        payload = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        yield LineRejection(lineno, "not valid UTF-8")
        return
    except json.JSONDecodeError as err:
        yield LineRejection(lineno, f"invalid JSON: {err.msg} at column {err.colno}")
        return
    except RecursionError:
        yield LineRejection(lineno, "invalid JSON: nested too deeply")
        return
    for result in parse(payload):
        if isinstance(result, Rejection):
            where = f" (item {result.item})" if result.item is not None else ""
            yield LineRejection(lineno, f"{result.reason}{where}")
        else:
            yield result
