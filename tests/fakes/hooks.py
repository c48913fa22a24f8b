"""Fake receivers for the hand-off sinks, on tests/fakes/http.py: each answers as the real one
does and checks what it is sent.

* ``FakeReceiver``: a webhook receiver that verifies each request with the Standard Webhooks
  reference library (``standardwebhooks``) and keeps each event once by its ``webhook-id``.
* ``FakeTeams``: a Teams Workflows trigger: 202 and an empty body for a message with one
  Adaptive Card, 400 otherwise.
* ``FakePagerDuty``: Events API v2 ``/v2/enqueue``: 202 {"status": "success", ...}, 400
  {"status": "invalid event", "errors": [...]} as PagerDuty answers, alerts kept by dedup key.
* ``FakeJira``, ``FakeZendesk``: issues and tickets created, searched, read and moved to done
  as their REST APIs do (basic auth checked).
"""

from __future__ import annotations

import base64
import re
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
            # another service's acknowledge or resolve is dropped; a resolved alert stays so
            paged, action = self.alerts[key], event["event_action"]
            if action == "resolve" or paged.status != "resolved":
                paged.status = "acknowledged" if action == "acknowledge" else "resolved"
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


def _basic(request: Request) -> str:
    """The user part a Basic Authorization header carries ("" if none)."""
    value = request.headers.get("authorization", "")
    if not value.startswith("Basic "):
        return ""
    return base64.b64decode(value[6:]).decode()


class FakeJira(FakeAPI):
    """Jira Cloud REST v3: create issues (201 {id, key, self}), search them by label (POST
    /rest/api/3/search/jql), read one (GET /rest/api/3/issue/KEY; 404 once deleted)."""

    def __init__(self, login: str, project: str = "OPS") -> None:
        super().__init__()
        self.login, self.project = login, project
        self.issues: dict[str, dict[str, Any]] = {}
        self.route("POST", "/rest/api/3/issue")(self._create)
        self.route("POST", "/rest/api/3/search/jql")(self._search)

    def _create(self, request: Request) -> Reply:
        if _basic(request) != self.login:
            return Reply(401, json={"errorMessages": ["You are not authenticated."]})
        fields = (request.json() or {}).get("fields") or {}
        errors = {}
        if (fields.get("project") or {}).get("key") != self.project:
            errors["project"] = "valid project is required"
        if not fields.get("summary") or len(fields["summary"]) > 255:
            errors["summary"] = "Summary must be less than 255 characters."
        document = fields.get("description") or {}
        nodes = [n for p in document.get("content", []) for n in p.get("content", [])]
        if document.get("type") != "doc" or any(not n.get("text") for n in nodes):
            errors["description"] = "Operation value must be an Atlassian Document."
        if errors:
            return Reply(400, json={"errorMessages": [], "errors": errors})
        key = f"{self.project}-{len(self.issues) + 1}"
        self.issues[key] = {"key": key, "fields": fields, "status": ("To Do", "new")}
        self.route("GET", f"/rest/api/3/issue/{key}")(lambda r, key=key: self._read(key))
        return Reply(201, json={"id": str(10000 + len(self.issues)), "key": key,
                                "self": f"{self.url}/rest/api/3/issue/{key}"})  # fmt: skip

    def _view(self, key: str) -> dict[str, Any]:
        name, category = self.issues[key]["status"]
        return {
            "key": key,
            "fields": {"status": {"name": name, "statusCategory": {"key": category}}},
        }

    def _read(self, key: str) -> Reply:
        if key not in self.issues:
            return Reply(404, json={"errorMessages": ["Issue does not exist."]})
        return Reply(json=self._view(key))

    def _search(self, request: Request) -> Reply:
        jql = (request.json() or {}).get("jql", "")
        label = re.search(r'labels = "([^"]+)"', jql)
        project = re.search(r'project = "([^"]+)"', jql)
        found = [
            self._view(k)
            for k, i in self.issues.items()
            if label
            and label[1] in i["fields"]["labels"]
            and (project is None or i["fields"]["project"]["key"] == project[1])
        ]
        return Reply(json={"issues": found, "isLast": True})

    def done(self, key: str) -> None:
        self.issues[key]["status"] = ("Done", "done")

    def delete(self, key: str) -> None:
        del self.issues[key]


class FakeZendesk(FakeAPI):
    """Zendesk API v2: create tickets (201 {ticket}), list them by external_id, show_many."""

    def __init__(self, login: str) -> None:
        super().__init__()
        self.login = login
        self.tickets: dict[int, dict[str, Any]] = {}
        self.idempotency: dict[str, int] = {}  # Idempotency-Key -> the ticket it made
        self.route("POST", "/api/v2/tickets.json")(self._create)
        self.route("GET", "/api/v2/tickets.json")(self._by_external_id)
        self.route("GET", "/api/v2/tickets/show_many.json")(self._show_many)

    def _create(self, request: Request) -> Reply:
        if _basic(request) != self.login:
            return Reply(401, json={"error": "Couldn't authenticate you"})
        ticket = (request.json() or {}).get("ticket") or {}
        if not (ticket.get("comment") or {}).get("body"):
            blank = {"base": [{"description": "Comment: cannot be blank"}]}
            return Reply(422, json={"error": "RecordInvalid", "details": blank})
        again = self.idempotency.get(request.headers.get("idempotency-key", ""))
        if again is not None:  # a repeated key: the ticket made the first time
            return Reply(201, json={"ticket": self.tickets[again]})
        ticket_id = 35436 + len(self.tickets)
        self.tickets[ticket_id] = {**ticket, "id": ticket_id, "status": "new"}
        if request.headers.get("idempotency-key"):
            self.idempotency[request.headers["idempotency-key"]] = ticket_id
        return Reply(201, json={"ticket": self.tickets[ticket_id]})

    def _by_external_id(self, request: Request) -> Reply:
        wanted = request.query.get("external_id")
        return Reply(json={"tickets": [t for t in self.tickets.values()
                                       if t.get("external_id") == wanted]})  # fmt: skip

    def _show_many(self, request: Request) -> Reply:
        ids = [int(i) for i in request.query.get("ids", "").split(",") if i.isdigit()]
        return Reply(json={"tickets": [self.tickets[i] for i in ids if i in self.tickets]})

    def solve(self, ticket_id: int) -> None:
        self.tickets[ticket_id]["status"] = "solved"
