"""Deliver alerts to Teams channels through Workflows webhooks (card.py renders them)."""

from __future__ import annotations

import hashlib
import json

from harken.config import Config
from harken.notify.contract import Delivered, Skip, Thread
from harken.notify.http import JsonPoster, endpoint
from harken.notify.teams.card import teams_message
from harken.notify.teams.plugin import teams_url
from harken.store.repo import AlertView
from harken.store.tables import Alert

MAX_BYTES = 27 * 1024  # Teams refuses a message over 28 KB


class TeamsSink:
    name = "teams"
    verifiable = False  # a webhook answers 202 and no id: an interrupted post is sent again
    budgeted = True  # people read it

    def __init__(self, config: Config) -> None:
        teams = config.alerts.teams
        assert teams is not None
        self.config = config
        self.poster = JsonPoster("Teams", teams.timeout.total_seconds())

    def lane(self, alert: Alert) -> str:
        # One channel per URL; named by a hash (the URL carries its signature).
        url = teams_url(self.config, alert.channel) or alert.channel
        return hashlib.sha256(url.encode()).hexdigest()[:16]

    def verify(self, view: AlertView, thread: Thread | None = None) -> Delivered | None:
        return None

    def _body(self, view: AlertView) -> bytes:
        """The message, its strangers' text shortened until it fits Teams' 28 KB (an emoji
        post or a Japanese digest is 3-4 bytes a character)."""
        for scale in (1.0, 0.5, 0.2, 0.05):
            body = json.dumps(teams_message(view, self.config, scale), ensure_ascii=False)
            if len(body.encode()) <= MAX_BYTES:
                break
        return body.encode()

    def deliver(self, view: AlertView, thread: Thread | None = None) -> Delivered:
        kind = view.alert.kind
        if kind not in ("item", "escalation", "spike", "digest"):
            raise Skip(f"Teams does not show {kind} alerts")
        url = teams_url(self.config, view.alert.channel)
        if url is None:
            raise Skip(f"no Teams webhook reaches {view.alert.channel} any more (alerts.teams)")
        answer = self.poster.post(url, self._body(view))
        return Delivered(remote_channel=endpoint(url), note=f"HTTP {answer.status}")
