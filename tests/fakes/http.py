"""A tiny threaded HTTP server for tests: real sockets, scripted replies, every request kept.

Client libraries (tweepy, praw, atproto, Mastodon.py, feedparser/requests, slack_sdk) talk to it
exactly as they would to the real API, so their own parsing, headers and errors stay in the loop.

    api = FakeAPI()
    @api.route("GET", "/2/tweets/search/recent")
    def search(req): return Reply(json={...})
    api.fail_next(Reply(429, headers={"x-rate-limit-reset": "..."}))   # served before the route
    with api:  # starts on a free port; api.url is "http://127.0.0.1:PORT"
        ...
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]  # the first value of each parameter
    query_all: dict[str, list[str]]
    headers: dict[str, str]  # lower-case names
    body: bytes
    received_at: float = field(default_factory=time.time)  # when the body was in (api.clock())
    groups: tuple[str, ...] = ()  # what a route_pattern's groups matched

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode()).items()}


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes | str | None = None  # raw body (wins over json): malformed JSON, XML feeds
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (timeouts)
    reset: bool = False  # answer nothing: drop the connection with a TCP reset (after delay)
    # Seconds between single bytes: the headers go out at once, then the body (or, with
    # drip_headers, everything) one byte at a time; no per-read timeout ever trips.
    drip: float = 0.0
    drip_headers: bool = False
    # A streamed answer (server-sent events, a newline-delimited stream): its chunks go out
    # as the iterator yields them (chunked); the connection closes at its end.
    stream: Callable[[], Iterator[bytes]] | None = None

    def payload(self) -> bytes:
        if self.body is not None:
            return self.body.encode() if isinstance(self.body, str) else self.body
        if self.json is None and self.status in (204, 304):
            return b""
        return json.dumps(self.json if self.json is not None else {}).encode()


Handler = Callable[[Request], Reply]


class FakeAPI:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.patterns: list[tuple[str, re.Pattern[str], Handler]] = []
        self.requests: list[Request] = []
        self._failures: deque[Reply | Handler] = deque()
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self.default_headers: dict[str, str] = {}
        # What stamps each request's ``received_at``: a test with a fake clock passes
        # ``lambda: clock.now.timestamp()`` and asserts when, on that clock, requests came.
        self.clock: Callable[[], float] = time.time

    # -- scripting ----------------------------------------------------------------------------

    def route(self, method: str, path: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.routes[(method.upper(), path)] = handler
            return handler

        return register

    def route_pattern(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        """A route for paths matching ``pattern`` (a full-match regex; ids in the path): the
        handler finds the groups in ``request.groups``. Exact routes are tried first."""

        def register(handler: Handler) -> Handler:
            self.patterns.append((method.upper(), re.compile(pattern), handler))
            return handler

        return register

    def fail_next(self, *replies: Reply | Handler) -> None:
        """Serve these (in order) to the next requests instead of the routes. A handler is
        called with the request it answers (a reset time relative to when it arrived)."""
        with self._lock:
            self._failures.extend(replies)

    def calls(self, path: str) -> list[Request]:
        return [r for r in self.requests if r.path == path]

    # -- serving ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self, port: int = 0) -> FakeAPI:
        """Listen on ``port`` (0: a free one); a stopped fake can come back on its old port."""
        self._server = ThreadingHTTPServer(("127.0.0.1", port), _handler_for(self))
        self._server.daemon_threads = True
        # A short poll interval: shutdown() waits up to one interval (0.5 s by default).
        threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> FakeAPI:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _answer(self, request: Request) -> Reply:
        with self._lock:
            self.requests.append(request)
            scripted = self._failures.popleft() if self._failures else None
        if scripted is not None:
            return scripted(request) if callable(scripted) else scripted
        handler = self.routes.get((request.method, request.path))
        for method, pattern, candidate in self.patterns if handler is None else ():
            found = pattern.fullmatch(request.path)
            if method == request.method and found:
                request.groups = found.groups()
                handler = candidate
                break
        if handler is None:
            return Reply(404, json={"error": f"no fake route for {request.method} {request.path}"})
        return handler(request)


def _handler_for(api: FakeAPI) -> type[BaseHTTPRequestHandler]:
    class _Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes; with Nagle on, the client's delayed
        # ACK holds every kept-alive reply for ~40 ms.
        disable_nagle_algorithm = True

        def _serve(self) -> None:
            parts = urlsplit(self.path)
            length = int(self.headers.get("Content-Length") or 0)
            query_all = parse_qs(parts.query, keep_blank_values=True)
            request = Request(
                method=self.command,
                path=parts.path,
                query={k: v[0] for k, v in query_all.items()},
                query_all=query_all,
                headers={k.lower(): v for k, v in self.headers.items()},
                body=self.rfile.read(length) if length else b"",
                received_at=api.clock(),
            )
            reply = api._answer(request)
            if reply.delay:
                threading.Event().wait(reply.delay)
            if reply.reset:
                # A zero linger makes close() send RST, not FIN: the client's read fails with
                # ECONNRESET, as when a proxy or load balancer drops the connection.
                linger = struct.pack("ii", 1, 0)
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                self.close_connection = True
                self.connection.close()
                return
            if reply.stream is not None:
                self._stream(reply)
                return
            body = reply.payload()
            if reply.drip:  # long enough to outlast any deadline under test
                body = body.ljust(1000)
            if reply.drip and reply.drip_headers:
                head = f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n\r\n".encode()
                self._drip(head + body, reply.drip)
                return
            self.send_response(reply.status)
            headers = {**api.default_headers, **reply.headers}
            if request.headers.get("connection", "").lower() == "close":
                headers.setdefault("Connection", "close")  # and the client won't reuse it
                self.close_connection = True
            if not any(k.lower() == "content-type" for k in headers):
                headers["Content-Type"] = "application/json; charset=utf-8"
            for name, value in headers.items():
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if reply.drip:
                self._drip(body, reply.drip)
            elif self.command != "HEAD":
                # The client may have given up already (a timeout test).
                with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                    self.wfile.write(body)

        def _stream(self, reply: Reply) -> None:
            assert reply.stream is not None
            self.close_connection = True
            self.send_response(reply.status)
            for name, value in {**api.default_headers, **reply.headers}.items():
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.send_header("Transfer-Encoding", "chunked")  # as the real streams send
            self.end_headers()
            with contextlib.suppress(OSError):  # the client hung up
                for chunk in reply.stream():
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                    self.wfile.flush()
                self.wfile.write(b"0\r\n\r\n")

        def _drip(self, data: bytes, every: float) -> None:
            self.close_connection = True
            with contextlib.suppress(OSError):  # the client hung up: the point of the test
                self.wfile.flush()
                for i in range(len(data)):
                    self.wfile.write(data[i : i + 1])
                    self.wfile.flush()
                    time.sleep(every)

        do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

        def log_message(self, *args: Any) -> None:  # keep test output quiet
            return None

    return _Handler
