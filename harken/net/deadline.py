"""A total deadline for network calls: connect, send and every read, whatever the client.

Client libraries take a timeout per socket operation. A server that answers one byte a second
never trips it, so a poll or an alert can hang for hours. Inside ``with deadline(30, what):``
every socket the thread opens, and every pooled HTTP or SMTP connection it sends on, is
watched; when the time is up a watchdog thread shuts those sockets down. The blocked read
returns at once, the library raises its own error, and the block re-raises it as
``DeadlineExceeded``, a ``TimeoutError`` (so code that already treats a timeout as "no answer"
needs no change). An expired block always raises, even if the library took the cut-off for the
end of a response. ``abort_all()`` does the same at once for every open block: a shutdown does
not wait for a slow server.

How the sockets are found: Python's audit events (PEP 578, a documented, stable list) name them
without reaching into any library. ``socket.__new__`` fires for every socket a thread creates,
TLS-wrapped ones included; ``http.client.send`` (requests, urllib3, urllib, slack_sdk) and
``smtplib.send`` fire for connections reused from a pool. httpx keeps its own pool and raises
no such event, so its callers turn keep-alive off (harken.platforms.bluesky.source). A deadline
that passes during a TLS handshake waits for the handshake's own per-read timeout.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import logging
import socket
import sys
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

# What every caller gives a call in all: this many times the per-read ``timeout`` of its
# config (sources, Slack, SMTP), so one setting bounds both a silent and a trickling server.
log = logging.getLogger(__name__)

DEADLINE_FACTOR = 3


class DeadlineExceeded(TimeoutError):
    """A network call ran past its total deadline (or harken is shutting down)."""


class Aborted(DeadlineExceeded):
    """Cut off because harken is shutting down, not because the server was slow."""


class _Scope:
    def __init__(self, seconds: float, what: str) -> None:
        self.seconds = seconds
        self.what = what
        self.ends_at = time.monotonic() + seconds
        self.sockets: weakref.WeakSet[socket.socket] = weakref.WeakSet()
        self.lock = threading.Lock()
        self.expired = False
        self.aborted = False
        self.closed = False

    def watch(self, sock: Any) -> None:
        if not isinstance(sock, socket.socket):
            return
        with self.lock:
            self.sockets.add(sock)
            cut = self.expired
        if cut:  # a retry inside the library, after the time was up
            _shut(sock)

    def expire(self, aborted: bool = False) -> None:
        with self.lock:
            if self.closed:
                return
            self.expired = True
            self.aborted = self.aborted or aborted
            sockets = list(self.sockets)
        for sock in sockets:
            _shut(sock)


def _shut(sock: socket.socket) -> None:
    # Not connected yet, already closed, or handed over to a TLS socket: nothing to cut.
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


_current: ContextVar[tuple[_Scope, ...]] = ContextVar("harken_deadlines", default=())


def _audit(event: str, args: tuple[Any, ...]) -> None:
    # Runs on every audit event of the process: return at once unless it is ours.
    if event not in _WATCHED:
        return
    scopes = _current.get()
    if not scopes:
        return
    target = args[0] if event == "socket.__new__" else getattr(args[0], "sock", None)
    for scope in scopes:
        scope.watch(target)


_WATCHED = frozenset({"socket.__new__", "http.client.send", "smtplib.send"})


class _Watchdog:
    """One thread for every deadline of the process: it sleeps until the nearest one."""

    def __init__(self) -> None:
        # Weak references: a block that ended early is freed at once, not at its deadline.
        self._heap: list[tuple[float, int, weakref.ref[_Scope]]] = []
        self._open: weakref.WeakSet[_Scope] = weakref.WeakSet()
        self._order = itertools.count()
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None

    def add(self, scope: _Scope) -> None:
        with self._wake:
            self._open.add(scope)
            heapq.heappush(self._heap, (scope.ends_at, next(self._order), weakref.ref(scope)))
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="deadlines", daemon=True)
                self._thread.start()
            self._wake.notify()

    def remove(self, scope: _Scope) -> None:
        with self._wake:
            self._open.discard(scope)

    def abort_all(self) -> int:
        with self._wake:
            scopes = list(self._open)
        for scope in scopes:
            scope.expire(aborted=True)
        return len(scopes)

    def _run(self) -> None:
        while True:
            try:
                self._next()
            except Exception:  # one bad scope must not leave every later deadline unwatched
                log.exception("deadlines: the watchdog hit an error; it goes on")

    def _next(self) -> None:
        """Wait for the nearest deadline, and expire it once it is due."""
        with self._wake:
            while not self._heap:
                self._wake.wait()
            ends_at, _, ref = self._heap[0]
            wait = ends_at - time.monotonic()
            if wait > 0:
                # At most a minute at a time: a wait past what the clock can hold would raise.
                self._wake.wait(min(wait, 60.0))
                return
            heapq.heappop(self._heap)
            scope = ref()
            due = scope is not None and scope in self._open
        if due and scope is not None:
            scope.expire()


_watchdog = _Watchdog()
_hook_lock = threading.Lock()
_hooked = False


def _install_hook() -> None:
    global _hooked
    with _hook_lock:
        if not _hooked:
            sys.addaudithook(_audit)  # cannot be removed: it stays cheap when no deadline is open
            _hooked = True


@contextmanager
def deadline(seconds: float, what: str) -> Iterator[None]:
    """Run the block's network calls within ``seconds`` in all (see the module docstring)."""
    _install_hook()
    scope = _Scope(seconds, what)
    token = _current.set((*_current.get(), scope))
    _watchdog.add(scope)
    try:
        yield
    except BaseException as error:
        if scope.expired and isinstance(error, Exception):
            raise _exceeded(scope) from error
        raise
    finally:
        with scope.lock:
            scope.closed = True
        _watchdog.remove(scope)
        _current.reset(token)
    if scope.expired:
        raise _exceeded(scope)


def _exceeded(scope: _Scope) -> DeadlineExceeded:
    if scope.aborted:
        return Aborted(f"{scope.what}: stopped, harken is shutting down")
    return DeadlineExceeded(f"{scope.what}: no complete answer within {scope.seconds:g}s")


def abort_all() -> int:
    """Cut every network call in flight, in every thread (a shutdown); how many were cut."""
    return _watchdog.abort_all()
