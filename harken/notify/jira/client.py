"""Jira Cloud's REST API v3 over httpx (harken.notify.http): create an issue, find one by
the item's label, read issues' statuses. Auth: the account's e-mail and an API token (basic).

The description is Atlassian Document Format: each paragraph one text node, so a post's
``*bold*``, ``[link|url]`` or ``{code}`` is shown as typed, never as wiki markup.
"""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from typing import Any
from urllib.parse import quote

from harken.config.sinks import JiraConfig
from harken.notify.contract import DeliveryError
from harken.notify.http import JsonPoster
from harken.notify.tickets import RemoteTicket, ticket_body, ticket_summary
from harken.store.repo import AlertView

_KEY = re.compile(r"[A-Z][A-Z0-9_]*-\d+")
_MARK = re.compile(r"harken-item-\d+-[0-9a-f]{8}")


class JiraClient:
    system = "jira"
    settle = timedelta(minutes=5)  # Jira's search shows a new issue within a few minutes

    def __init__(self, settings: JiraConfig) -> None:
        self.settings = settings
        self.base = settings.url.rstrip("/")
        login = f"{settings.email}:{settings.api_token}".encode()
        self.headers = {"Authorization": "Basic " + base64.b64encode(login).decode()}
        self.http = JsonPoster("Jira", settings.timeout.total_seconds())

    def create(self, view: AlertView, mark: str) -> RemoteTicket:
        fields = {
            "project": {"key": self.settings.project},
            "issuetype": {"name": self.settings.issue_type},
            "summary": ticket_summary(view),
            "description": _document(ticket_body(view)),
            "labels": ["harken", mark],
        }
        body = json.dumps({"fields": fields}).encode()
        made = self.http.request("POST", f"{self.base}/rest/api/3/issue", body, self.headers)
        key = str(made.json().get("key", ""))
        if not _KEY.fullmatch(key):  # it took the request: an issue may exist
            raise DeliveryError(
                f"Jira answered without an issue key: {made.text[:200]!r}", in_doubt=True
            )
        return RemoteTicket(key, self._browse(key), "created", done=False)

    def find(self, mark: str) -> RemoteTicket | None:
        if not _MARK.fullmatch(mark):
            raise ValueError(f"not an item mark: {mark!r}")
        jql = f'project = "{self.settings.project}" AND labels = "{mark}" ORDER BY created ASC'
        query = {"jql": jql, "fields": ["status"]}
        url = f"{self.base}/rest/api/3/search/jql"
        found = self.http.request(
            "POST", url, json.dumps({**query, "maxResults": 1}).encode(), self.headers
        )
        issues = found.json().get("issues") or []
        return self._ticket(issues[0]) if issues else None

    def statuses(self, keys: list[str]) -> dict[str, RemoteTicket]:
        """One call per issue: an issue deleted or moved since answers 404 and is left out."""
        known: dict[str, RemoteTicket] = {}
        for key in keys:
            if not _KEY.fullmatch(key):
                continue
            url = f"{self.base}/rest/api/3/issue/{quote(key)}?fields=status"
            answer = self.http.request("GET", url, None, self.headers, accept=(404,))
            if answer.status != 404:
                known[key] = self._ticket(answer.json())
        return known

    def _ticket(self, issue: dict[str, Any]) -> RemoteTicket:
        key = str(issue.get("key", ""))
        status = (issue.get("fields") or {}).get("status") or {}
        category = (status.get("statusCategory") or {}).get("key")
        return RemoteTicket(
            key, self._browse(key), str(status.get("name", "?")), category == "done"
        )

    def _browse(self, key: str) -> str:
        return f"{self.base}/browse/{quote(key)}"


def _document(paragraphs: list[tuple[str, str | None]]) -> dict[str, Any]:
    content = []
    for text, link in paragraphs:
        node: dict[str, Any] = {"type": "text", "text": text or " "}
        if link:
            node["marks"] = [{"type": "link", "attrs": {"href": link}}]
        content.append({"type": "paragraph", "content": [node]})
    return {"type": "doc", "version": 1, "content": content}
