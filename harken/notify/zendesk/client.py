"""Zendesk Support's API v2 over httpx (harken.notify.http): create a ticket, find one by
the item's ``external_id``, read tickets' statuses. Auth: an agent's e-mail and an API token
(basic, "EMAIL/token:TOKEN"). The comment is plain text (``body``, never ``html_body``).
"""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from harken.config.sinks import ZendeskConfig
from harken.notify.contract import DeliveryError
from harken.notify.http import JsonPoster
from harken.notify.tickets import RemoteTicket, ticket_body, ticket_summary
from harken.store.repo import AlertView

DONE = ("solved", "closed")
PRIORITY = {"urgent": "urgent", "high": "high", "normal": "normal", "low": "low"}
PAGE = 100  # ids per show_many call, Zendesk's maximum


class ZendeskClient:
    system = "zendesk"
    settle = timedelta(0)  # a repeated create answers the first ticket (Idempotency-Key)

    def __init__(self, settings: ZendeskConfig) -> None:
        self.base = settings.url.rstrip("/")
        login = f"{settings.email}/token:{settings.api_token}".encode()
        self.headers = {"Authorization": "Basic " + base64.b64encode(login).decode()}
        self.http = JsonPoster("Zendesk", settings.timeout.total_seconds())

    def create(self, view: AlertView, mark: str) -> RemoteTicket:
        assert view.item is not None
        comment = "\n\n".join(
            f"{text} {link}" if link else text for text, link in ticket_body(view)
        )
        ticket = {
            "subject": ticket_summary(view),
            "comment": {"body": comment},
            "external_id": mark,
            "tags": ["harken"],
            "priority": PRIORITY.get(view.item.priority, "normal"),
        }
        url = f"{self.base}/api/v2/tickets.json"
        # The same key for every attempt: Zendesk answers a repeat with the ticket it made.
        headers = {**self.headers, "Idempotency-Key": mark}
        made = self.http.request("POST", url, json.dumps({"ticket": ticket}).encode(), headers)
        return self._ticket(made.json().get("ticket") or {})

    def find(self, mark: str) -> RemoteTicket | None:
        url = f"{self.base}/api/v2/tickets.json?external_id={quote(mark)}"
        found = self.http.request("GET", url, None, self.headers).json().get("tickets") or []
        return self._ticket(found[0]) if found else None

    def statuses(self, keys: list[str]) -> dict[str, RemoteTicket]:
        ids = [k for k in keys if k.isdigit()]
        known: dict[str, RemoteTicket] = {}
        for start in range(0, len(ids), PAGE):
            page = ",".join(ids[start : start + PAGE])
            url = f"{self.base}/api/v2/tickets/show_many.json?ids={page}"
            for ticket in (
                self.http.request("GET", url, None, self.headers).json().get("tickets") or []
            ):
                found = self._ticket(ticket)
                known[found.key] = found
        return known

    def _ticket(self, ticket: dict[str, Any]) -> RemoteTicket:
        key = str(ticket.get("id", ""))
        if not key.isdigit():  # after a create: it took the request, a ticket may exist
            said = str(ticket)[:200]
            raise DeliveryError(f"Zendesk answered without a ticket id: {said!r}", in_doubt=True)
        status = str(ticket.get("status", "?"))
        return RemoteTicket(key, f"{self.base}/agent/tickets/{key}", status, status in DONE)
