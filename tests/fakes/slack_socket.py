"""The WebSocket end of a fake Slack's Socket Mode (tests/fakes/slack.py serves
``apps.connections.open``, which hands out this server's ``ws://`` URL).

As Slack does: on connect it sends ``hello``; then each envelope a test sends
(``send(payload, type="interactive")``, also ``slash_commands`` and ``events_api``) goes out as
``{"envelope_id", "type", "payload", "accepts_response_payload", "retry_attempt",
"retry_reason"}``, and the app must answer ``{"envelope_id": ...}`` (with an optional
``payload``): every answer is kept in ``acks``. ``send(..., envelope_id=same)`` sends an
envelope again, as Slack does when an ack is late.
"""

from __future__ import annotations

import json
import queue
import threading
import time
import uuid
from typing import Any, Self

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

APP_ID = "A0HKAPP01"


class SocketModeServer:
    def __init__(self) -> None:
        self.acks: list[dict[str, Any]] = []  # every answer the app sent, in order
        self.sent: list[dict[str, Any]] = []  # every envelope that went out
        self.connections = 0  # sessions opened so far
        self.connected = threading.Event()
        self._outbox: queue.Queue[dict[str, Any]] = queue.Queue()
        self._acked = threading.Condition()
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- what tests use ---------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the server first"
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/link"

    def send(
        self, payload: dict[str, Any], type: str = "interactive", envelope_id: str | None = None
    ) -> str:
        """Queue an envelope for the connected app; returns its id."""
        ident = envelope_id or str(uuid.uuid4())
        retry = sum(1 for e in self.sent if e["envelope_id"] == ident)
        self._outbox.put(
            {
                "envelope_id": ident,
                "type": type,
                "payload": payload,
                "accepts_response_payload": type != "events_api",
                "retry_attempt": retry,
                "retry_reason": "timeout" if retry else "",
            }
        )
        return ident

    def wait_ack(self, envelope_id: str, timeout: float = 5.0, count: int = 1) -> dict[str, Any]:
        """The app's answer to the envelope (its ``count``-th); AssertionError if none came."""
        deadline = time.monotonic() + timeout
        with self._acked:
            while True:
                found = [a for a in self.acks if a.get("envelope_id") == envelope_id]
                if len(found) >= count:
                    return found[count - 1]
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"no ack for envelope {envelope_id} in {timeout}s")
                self._acked.wait(left)

    # -- serving ----------------------------------------------------------------------------

    def start(self) -> Self:
        self._server = serve(self._session, "127.0.0.1", 0, compression=None)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _session(self, ws: ServerConnection) -> None:
        self.connections += 1
        hello = {
            "type": "hello",
            "num_connections": 1,
            "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
            "connection_info": {"app_id": APP_ID},
        }
        ws.send(json.dumps(hello))
        self.connected.set()
        try:
            while True:
                self._flush(ws)
                try:
                    message = ws.recv(timeout=0.02)
                except TimeoutError:
                    continue
                self._record(message)
        except ConnectionClosed:
            return

    def _flush(self, ws: ServerConnection) -> None:
        while True:
            try:
                envelope = self._outbox.get_nowait()
            except queue.Empty:
                return
            self.sent.append(envelope)
            ws.send(json.dumps(envelope))

    def _record(self, message: str | bytes) -> None:
        try:
            answer = json.loads(message)
        except ValueError:
            answer = {"unparsed": str(message)}
        with self._acked:
            self.acks.append(answer if isinstance(answer, dict) else {"unparsed": answer})
            self._acked.notify_all()
