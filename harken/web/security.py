"""What every response carries, and what every unsafe request must prove.

Posts are written by strangers and shown to staff who hold the keys to a brand's accounts:
the pages run no inline script and no script from anywhere else (CSP), cannot be framed, and
every form that changes something carries the session's CSRF token (compared in constant
time). Failed sign-ins are also counted per client address, on top of the per-account
lockout in the store (``harken.queue.accounts``), so that guessing across many names is slow too.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections import deque

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger(__name__)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
HEADERS = {
    b"content-security-policy": CSP.encode(),
    b"x-content-type-options": b"nosniff",
    b"x-frame-options": b"DENY",
    b"referrer-policy": b"same-origin",
    b"cross-origin-opener-policy": b"same-origin",
    b"permissions-policy": b"camera=(), microphone=(), geolocation=()",
}
HSTS = b"max-age=31536000"
CSP_KEY = (b"content-security-policy",)
# The digest pages are made for e-mail: inline CSS and data: images, and nothing else at all.
DIGEST_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; "
    "form-action 'none'; frame-ancestors 'none'"
)


class SecurityHeaders:
    """Adds ``HEADERS`` to every HTTP response; pages and API answers are never cached (they
    show who is signed in and what they may see); HSTS where served over TLS."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = scope.get("path", "").startswith("/static/")
        tls = scope.get("scheme") == "https"

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                given = message.get("headers", [])
                # A page may set a CSP of its own (the digest archive's pages): it is kept.
                own = [(k, v) for k, v in given if k.lower() == b"content-security-policy"]
                headers = [(k, v) for k, v in given if k.lower() not in HEADERS]
                headers += [(k, v) for k, v in HEADERS.items() if not (own and k in CSP_KEY)]
                headers += own
                if not static:
                    headers.append((b"cache-control", b"no-store"))
                if tls:
                    headers.append((b"strict-transport-security", HSTS))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)


def same_token(given: str | None, expected: str) -> bool:
    return bool(given) and secrets.compare_digest(str(given).encode(), expected.encode())


PRUNE_EVERY = 1000  # failures between two sweeps of the addresses kept


class SignInLimit:
    """At most ``failures`` failed sign-ins per client address in ``window`` seconds (per
    process: each replica counts its own; the per-account lockout is in the store)."""

    def __init__(self, failures: int = 20, window: float = 600.0) -> None:
        self.failures, self.window = failures, window
        self._seen: dict[str, deque[float]] = {}
        self._failures = 0
        self._lock = threading.Lock()

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again (0: now)."""
        with self._lock:
            times = self._recent(client)
            if len(times) < self.failures:
                return 0
            return max(1, int(times[0] + self.window - time.monotonic()) + 1)

    def failed(self, client: str) -> None:
        with self._lock:
            self._recent(client).append(time.monotonic())
            self._failures += 1
            if self._failures % PRUNE_EVERY == 0:  # forget addresses with nothing recent
                stale = time.monotonic() - self.window
                for key in [k for k, v in self._seen.items() if not v or v[-1] < stale]:
                    del self._seen[key]

    def _recent(self, client: str) -> deque[float]:
        times = self._seen.setdefault(client, deque())
        while times and times[0] < time.monotonic() - self.window:
            times.popleft()
        return times


class CatchAll:
    """A crash answers a plain 500 page from inside ``SecurityHeaders`` (Starlette's own error
    page comes from outside it, without the headers); the error is logged, never shown."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def sending(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, sending)
        except Exception:
            log.exception("web: %s %s failed", scope.get("method"), scope.get("path"))
            if started:
                raise
            body = b"harken: something went wrong on the server (it is in the log)\n"
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [(b"content-type", b"text/plain; charset=utf-8")],
                }
            )
            await send({"type": "http.response.body", "body": body})
