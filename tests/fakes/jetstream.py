"""A fake Jetstream (Bluesky's JSON firehose) on a real WebSocket, as the ``websockets``
client sees one.

``/subscribe`` with ``wantedCollections`` (repeated), ``cursor`` (unix microseconds: replay
from there; absent: live tail from the moment of connecting) and ``maxMessageSizeBytes``.
Events are the legacy JSON shape: ``{"did", "time_us", "kind": "commit", "commit": {"rev",
"operation", "collection", "rkey", "record", "cid"}}``, identity and account events too.
``drop()`` cuts every open connection (a network blip); each connection's query is kept.
"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve

POST = "app.bsky.feed.post"


def micros(at: datetime) -> int:
    return int(at.timestamp() * 1_000_000)


def post_event(
    did: str, rkey: str, text: str, at: datetime, operation: str = "create", **record: Any
) -> dict[str, Any]:
    body = {"$type": POST, "text": text, "createdAt": at.astimezone(UTC).isoformat(), **record}
    commit: dict[str, Any] = {
        "rev": f"rev{rkey}",
        "operation": operation,
        "collection": POST,
        "rkey": rkey,
    }
    if operation != "delete":
        commit |= {"record": body, "cid": f"bafy{rkey}"}
    return {"did": did, "time_us": micros(at), "kind": "commit", "commit": commit}


class FakeJetstream:
    def __init__(self) -> None:
        self.events: list[dict[str, Any] | str] = []  # a str goes out as it is (garbage)
        self.queries: list[dict[str, list[str]]] = []  # each connection's query
        self._changed = threading.Condition()
        self._generation = 0  # bumped by drop(): connections of an older one close
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.socket.getsockname()[:2]
        return f"ws://{host}:{port}/subscribe"

    def add(self, *events: dict[str, Any] | str) -> None:
        with self._changed:
            self.events.extend(events)
            self._changed.notify_all()

    def drop(self) -> None:
        with self._changed:
            self._generation += 1
            self._changed.notify_all()

    def __enter__(self) -> Self:
        self._server = serve(self._serve, "127.0.0.1", 0)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.drop()
        if self._server is not None:
            self._server.shutdown()

    def _serve(self, connection: ServerConnection) -> None:
        request = connection.request
        query = parse_qs(urlsplit(request.path if request else "").query)
        self.queries.append(query)
        with self._changed:
            generation = self._generation
            if "cursor" in query:
                cursor = int(query["cursor"][0])
                sent = next(
                    (i for i, e in enumerate(self.events) if _time(e) >= cursor), len(self.events)
                )
            else:
                sent = len(self.events)
        try:
            while True:
                with self._changed:
                    while sent >= len(self.events) and generation == self._generation:
                        self._changed.wait(0.2)
                    if generation != self._generation:
                        return  # dropped: the handler's return closes the socket
                    event = self.events[sent]
                sent += 1
                connection.send(event if isinstance(event, str) else json.dumps(event))
        except ConnectionClosed:
            return


def _time(event: dict[str, Any] | str) -> int:
    return event["time_us"] if isinstance(event, dict) else 0
