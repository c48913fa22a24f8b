"""Fake receivers for the hand-off sinks, on tests/fakes/http.py: each answers as the real one
does and checks what it is sent.

* ``FakeReceiver``: a webhook receiver that verifies each request with the Standard Webhooks
  reference library (``standardwebhooks``) and keeps each event once by its ``webhook-id``.
* ``FakeTeams``: a Teams Workflows trigger: 202 and an empty body for a message with one
  Adaptive Card, 400 otherwise.
* ``FakePagerDuty``: Events API v2 ``/v2/enqueue``: 202 {"status": "success", ...}, 400
  {"status": "invalid event", "errors": [...]} as PagerDuty answers, alerts kept by dedup key.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.fakes.http import FakeAPI, Reply, Request

HOOK_PATH = "/hooks/harken"


class FakeReceiver(FakeAPI):
    def __init__(self, secret: str) -> None:
        super().__init__()
        self.verifier = Webhook(secret)  # the reference library, as a receiver would use it
        self.events: dict[str, dict[str, Any]] = {}  # by webhook-id, the first of each
        self.deliveries: list[str] = []  # webhook-ids in the order they came (repeats too)
        self.route("POST", HOOK_PATH)(self._receive)

    def _receive(self, request: Request) -> Reply:
        try:
            # Checks the signature and that the timestamp is within 5 minutes of now.
            event = self.verifier.verify(request.body, request.headers)
        except WebhookVerificationError as err:
            return Reply(401, json={"error": str(err)})
        event_id = request.headers["webhook-id"]
        self.deliveries.append(event_id)
        self.events.setdefault(event_id, event)
        return Reply(204)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events.values() if e["type"] == kind]


class FakeTeams(FakeAPI):
    """Workflows URLs look like /workflows/<id>/triggers/manual/paths/invoke?sig=...; each
    department's is a path here."""

    def __init__(self, *paths: str) -> None:
        super().__init__()
        self.cards: dict[str, list[dict[str, Any]]] = {path: [] for path in paths}
        for path in paths:
            self.route("POST", path)(self._receive)

    def _receive(self, request: Request) -> Reply:
        body = request.json()
        attachments = body.get("attachments") if isinstance(body, dict) else None
        if body.get("type") != "message" or not attachments:
            return Reply(400, json={"error": {"code": "InvalidRequestContent"}})
        card = attachments[0]
        if card.get("contentType") != "application/vnd.microsoft.card.adaptive":
            return Reply(400, json={"error": {"code": "InvalidRequestContent"}})
        if len(request.body) > 28 * 1024:
            return Reply(413, json={"error": {"code": "MessageTooLarge"}})
        self.cards[request.path].append(card["content"])
        return Reply(202, body=b"")


@dataclass
class PagedAlert:
    routing_key: str
    status: str  # triggered | resolved
    triggers: list[dict[str, Any]] = field(default_factory=list)


class FakePagerDuty(FakeAPI):
    def __init__(self) -> None:
        super().__init__()
        self.alerts: dict[str, PagedAlert] = {}  # by dedup key
        self.route("POST", "/v2/enqueue")(self._enqueue)

    def _enqueue(self, request: Request) -> Reply:
        event = request.json()
        errors = _invalid(event)
        if errors:
            return Reply(
                400,
                json={"status": "invalid event", "message": "Event object is invalid",
                      "errors": errors},
            )  # fmt: skip
        key = event["dedup_key"]
        if event["event_action"] == "trigger":
            paged = self.alerts.setdefault(key, PagedAlert(event["routing_key"], "triggered"))
            paged.status = "triggered"
            paged.triggers.append(event)
        elif key in self.alerts and self.alerts[key].routing_key == event["routing_key"]:
            self.alerts[key].status = "resolved"  # another service's resolve is dropped
        return Reply(202, json={"status": "success", "message": "Event processed",
                                "dedup_key": key})  # fmt: skip


def _invalid(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["Event object is not a JSON object"]
    errors = []
    if len(str(event.get("routing_key", ""))) != 32:
        errors.append("Length of 'routing_key' is incorrect (should be 32 characters)")
    action = event.get("event_action")
    if action not in ("trigger", "acknowledge", "resolve"):
        errors.append("'event_action' is invalid")
    if len(str(event.get("dedup_key", ""))) > 255:
        errors.append("'dedup_key' is too long")
    if action == "trigger":
        payload = event.get("payload") or {}
        for name in ("summary", "source", "severity"):
            if not payload.get(name):
                errors.append(f"'payload.{name}' is missing or blank")
        if len(str(payload.get("summary", ""))) > 1024:
            errors.append("'payload.summary' is too long")
        if payload.get("severity") not in ("critical", "error", "warning", "info"):
            errors.append("'payload.severity' is invalid")
    elif not event.get("dedup_key"):
        errors.append("'dedup_key' is required for resolve and acknowledge")
    return errors
