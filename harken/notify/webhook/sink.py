"""Deliver one event to one webhook receiver: its JSON (harken.notify.events), signed the
Standard Webhooks way (https://www.standardwebhooks.com), so that any of their libraries
verifies it:

    webhook-id: msg_...            the same on every retry: dedupe on it
    webhook-timestamp: 1765065600  seconds; refuse old ones (5 minutes) against replays
    webhook-signature: v1,<base64 of HMAC-SHA256(key, "{id}.{timestamp}.{body}")>

The key is the secret after "whsec_", base64-decoded (harken.config.sinks.webhook_key), as
the Standard Webhooks libraries decode it. A receiver cannot be asked whether an interrupted
delivery arrived, so one is sent again (same id): each receiver must dedupe, and can.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

from harken.config.sinks import WebhookConfig, webhook_key
from harken.notify.contract import Delivered, Skip, Thread
from harken.notify.events import event_json
from harken.notify.http import JsonPoster
from harken.store import Store
from harken.store.repo import AlertView, tags_of
from harken.store.tables import Alert


class WebhookSink:
    verifiable = False
    budgeted = False  # a machine: every event when it happens, never held for the digest

    def __init__(
        self, name: str, settings: WebhookConfig, clock: Callable[[], float] = time.time
    ) -> None:
        self.name, self.settings, self.clock = name, settings, clock
        self.key = webhook_key(settings.secret)
        self.poster = JsonPoster(f"webhook {settings.name}", settings.timeout.total_seconds())
        self.store: Store | None = None

    def _tags(self, view: AlertView) -> list[str]:
        if self.store is None or view.item is None or view.item.id is None:
            return []
        with self.store.session() as session:
            return tags_of(session, [view.item.id]).get(view.item.id, [])

    def use_store(self, store: Store) -> None:
        self.store = store  # the outbox's: for the item's tags

    def lane(self, alert: Alert) -> str:
        return "events"  # one receiver: its events in the order they happened

    def verify(self, view: AlertView, thread: Thread | None = None) -> Delivered | None:
        return None

    def deliver(self, view: AlertView, thread: Thread | None = None) -> Delivered:
        event = event_json(view, self._tags(view))
        if event["type"] not in self.settings.events:
            raise Skip(f"webhook {self.settings.name} does not subscribe to {event['type']}")
        body = json.dumps(event, ensure_ascii=True, separators=(",", ":")).encode()
        stamp = str(int(self.clock()))
        headers = {
            "webhook-id": event["id"],
            "webhook-timestamp": stamp,
            "webhook-signature": "v1," + sign(self.key, event["id"], stamp, body),
        }
        answer = self.poster.post(self.settings.url, body, headers)
        return Delivered(note=f"{event['type']} {event['id']}: HTTP {answer.status}")


def sign(key: bytes, event_id: str, timestamp: str, body: bytes) -> str:
    signed = f"{event_id}.{timestamp}.".encode() + body
    return base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
