"""A size limit on every answer a source reads: a broken or hostile server cannot fill memory.

A page of any API harken reads is well under a megabyte (100 tweets, 100 Reddit posts, 40
statuses). ``cap_answers`` installs a response hook on a ``requests`` session (tweepy, praw,
Mastodon.py) and ``capped_httpx_hooks`` an event hook for httpx (atproto): an answer that says
it is larger than ``MAX_ANSWER_BYTES``, or turns out larger while it is read (no
Content-Length, or a compressed body that inflates), is cut off there and raises
``AnswerTooLarge``. With requests the count is of the decoded bytes, so a gzip bomb stops at the
limit too; httpx decodes after its stream, so there the count is of the bytes received. Client
libraries wrap the error in their own; ``answer_too_large`` finds it in the chain.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import requests

MAX_ANSWER_BYTES = 32 * 1024 * 1024


class AnswerTooLarge(Exception):
    def __init__(self, size: int, limit: int = MAX_ANSWER_BYTES, declared: bool = False) -> None:
        how = f"says it is {size:,} bytes" if declared else f"was cut off after {size:,} bytes"
        super().__init__(
            f"the answer is larger than {limit // (1024 * 1024)} MiB (it {how}): no page is "
            "this big, so the server or a proxy is sending something else"
        )


def answer_too_large(error: BaseException) -> AnswerTooLarge | None:
    """The AnswerTooLarge behind ``error``, however the client library wrapped it."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, AnswerTooLarge):
            return current
        seen.add(id(current))
        original = getattr(current, "original_exception", None)  # prawcore's wrapper
        nested = original if isinstance(original, BaseException) else None
        current = nested or current.__cause__ or current.__context__
    return None


def cap_answers(
    session: requests.Session,
    limit: int = MAX_ANSWER_BYTES,
    skip: Callable[[requests.Response], bool] | None = None,
) -> None:
    """Make every answer ``session`` reads stop at ``limit`` bytes (but those ``skip`` says
    are a stream, which is not one answer)."""
    session.hooks["response"].append(functools.partial(_cap_response, limit=limit, skip=skip))


def _cap_response(
    response: requests.Response,
    *args: Any,
    limit: int,
    skip: Callable[[requests.Response], bool] | None = None,
    **kwargs: Any,
) -> None:
    if skip is not None and skip(response):
        return
    # Runs before requests reads the body (hooks come first), so the raw stream can be wrapped.
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise AnswerTooLarge(int(declared), limit, declared=True)
    response.raw = _CappedRaw(response.raw, limit)


class _CappedRaw:
    """urllib3's response as requests reads it (``stream``/``read``), counting what comes out."""

    def __init__(self, raw: Any, limit: int) -> None:
        self._raw = raw
        self._limit = limit
        self._seen = 0

    def stream(self, amt: int = 2**16, decode_content: bool | None = None) -> Iterator[bytes]:
        for chunk in self._raw.stream(amt, decode_content=decode_content):
            yield self._count(chunk)

    def read(self, *args: Any, **kwargs: Any) -> bytes:
        return self._count(self._raw.read(*args, **kwargs))

    def _count(self, chunk: bytes) -> bytes:
        self._seen += len(chunk)
        if self._seen > self._limit:
            self._raw.close()
            raise AnswerTooLarge(self._seen, self._limit)
        return chunk

    def __getattr__(self, name: str) -> Any:
        return getattr(self._raw, name)


MAX_LINE_BYTES = 1024 * 1024  # one line of a stream of lines (a tweet with its author: KBs)


class LineTooLong(Exception):
    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        super().__init__(
            f"a line of the stream is over {limit // (1024 * 1024)} MiB: no message is this "
            "big, so the server or a proxy is sending something else"
        )


def cap_lines(
    session: requests.Session,
    only: Callable[[requests.Response], bool],
    limit: int = MAX_LINE_BYTES,
) -> None:
    """Make each line of the answers ``only`` picks (streams of lines, which no total caps)
    stop at ``limit`` bytes: requests' ``iter_lines`` would hold a line without end."""
    session.hooks["response"].append(functools.partial(_cap_lines, only=only, limit=limit))


def _cap_lines(
    response: requests.Response,
    *args: Any,
    only: Callable[[requests.Response], bool],
    limit: int,
    **kwargs: Any,
) -> None:
    if only(response):
        response.raw = _LineCappedRaw(response.raw, limit)


class _LineCappedRaw(_CappedRaw):
    """Counts the bytes since the last newline, not in all."""

    def _count(self, chunk: bytes) -> bytes:
        cut = chunk.rfind(b"\n")
        self._seen = self._seen + len(chunk) if cut < 0 else len(chunk) - cut - 1
        if self._seen > self._limit:
            self._raw.close()
            raise LineTooLong(self._limit)
        return chunk


def capped_httpx_hooks(limit: int = MAX_ANSWER_BYTES) -> dict[str, list[Any]]:
    """``event_hooks`` for an httpx client: every answer stops at ``limit`` bytes."""

    def cap(response: httpx.Response) -> None:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            response.close()
            raise AnswerTooLarge(int(declared), limit, declared=True)
        response.stream = _CappedStream(response.stream, limit)

    return {"response": [cap]}


class _CappedStream(httpx.SyncByteStream):
    def __init__(self, stream: Any, limit: int) -> None:
        self._stream = stream
        self._limit = limit

    def __iter__(self) -> Iterator[bytes]:
        seen = 0
        for chunk in self._stream:
            seen += len(chunk)
            if seen > self._limit:
                self.close()
                raise AnswerTooLarge(seen, self._limit)
            yield chunk

    def close(self) -> None:
        close = getattr(self._stream, "close", None)
        if close is not None:
            close()
