"""Running the app: Socket Mode (a WebSocket the app opens with its app-level token: no public
address needed) or HTTP (``POST /slack/events`` behind a load balancer, every request's
signature checked by bolt with the signing secret). Both run until ``stop`` is set."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from slack_bolt import App, BoltRequest
from slack_bolt.adapter.socket_mode import SocketModeHandler

from harken.notify.slack.api import error_code
from harken.slackapp.app import SlackAppError

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
MAX_BODY = 1_000_000  # Slack's payloads are a few kB; refuse anything far larger unread


def _nothing() -> None:
    pass


def serve_socket_mode(
    app: App, app_token: str, stop: threading.Event, ready: Callable[[], None] = _nothing
) -> None:
    """Connect to Slack over Socket Mode and answer its envelopes until ``stop``; ``ready``
    is called once connected."""
    handler = SocketModeHandler(app, app_token)
    try:
        handler.connect()
    except Exception as error:  # apps.connections.open refused, or Slack out of reach
        handler.close()
        raise SlackAppError(
            f"Socket Mode could not connect: {_reason(error)}",
            hint="check alerts.slack.app_token (xapp-..., scope connections:write) and that "
            "Socket Mode is on in the app's settings",
        ) from None
    try:
        ready()
        stop.wait()
    finally:
        handler.close()


def serve_http(
    app: App, host: str, port: int, stop: threading.Event, ready: Callable[[], None] = _nothing
) -> None:
    """Serve ``POST /slack/events`` on ``host:port`` until ``stop``; ``ready`` is called once
    listening."""
    try:
        server = ThreadingHTTPServer((host, port), _handler_for(app))
    except OSError as error:
        raise SlackAppError(
            f"cannot listen on {host}:{port}: {error.strerror or error}",
            hint="choose another --port",
        ) from None
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="harken-slack-http", daemon=True)
    thread.start()
    try:
        ready()
        stop.wait()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _handler_for(app: App) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            if self.path.split("?")[0] != EVENTS_PATH:
                return self._answer(404, b"not found", "text/plain")
            try:
                length = int(self.headers.get("Content-Length") or 0)
            except ValueError:
                return self._answer(400, b"bad Content-Length", "text/plain")
            if not 0 <= length <= MAX_BODY:
                return self._answer(413, b"too large", "text/plain")
            body = self.rfile.read(length).decode("utf-8", errors="replace")
            headers: dict[str, str | Sequence[str]] = {
                k.lower(): [v] for k, v in self.headers.items()
            }
            try:
                request = BoltRequest(body=body, headers=headers)
            except Exception:  # bolt parses the payload before the signature is checked
                return self._answer(400, b"malformed payload", "text/plain")
            response = app.dispatch(request)
            kind = (response.headers.get("content-type") or ["text/plain"])[0]
            self._answer(response.status, (response.body or "").encode(), kind)

        def do_GET(self) -> None:
            self._answer(405, b"POST only", "text/plain")

        def _answer(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            log.debug("http: " + format, *args)

    return Handler


def _reason(error: Exception) -> str:
    return error_code(error) or type(error).__name__
