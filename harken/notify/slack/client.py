"""Slack delivery through slack_sdk: a bot token (chat.postMessage) or incoming webhooks.

With a bot token each incident gets one thread per channel: its first alert is the root,
later posts become quiet replies and refresh the root (chat.update), escalations and
reopened items are replies broadcast to the channel. Every message carries its alert's
idempotency key in Slack message metadata, so an interrupted delivery can be looked up
(conversations.history / conversations.replies) instead of being posted twice.

Webhooks post to the one channel they were made for; they return no message id, so there are
no threads and an interrupted delivery cannot be checked (it is sent again).

slack_sdk retries nothing here (``retry_handlers=[]``): the outbox owns retries, so a 429's
Retry-After is honoured across processes and a POST is never repeated blindly.
"""

from __future__ import annotations

import http.client
import logging
import socket
import threading
import urllib.error
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError
from slack_sdk.webhook import WebhookClient

from harken.config import Config, DepartmentConfig
from harken.logs import redact
from harken.net.deadline import DEADLINE_FACTOR, DeadlineExceeded, deadline
from harken.notify.contract import Delivered, DeliveryError, Skip, Thread
from harken.notify.slack.api import api_base, read_timeout
from harken.notify.slack.message import SlackMessage
from harken.notify.slack.mode import slack_mode
from harken.store import Store
from harken.store.repo import AlertView, alert_view
from harken.store.tables import Alert

if TYPE_CHECKING:
    from harken.notify.slack.refresh import PostedAlert
    from harken.notify.slack.roots import RootShows

log = logging.getLogger(__name__)

EVENT_TYPE = "harken_alert"
# Slack errors that no retry will fix: the alert fails at once with what to change.
PERMANENT = {
    "invalid_auth": "check alerts.slack.bot_token",
    "not_authed": "set alerts.slack.bot_token",
    "account_inactive": "the bot token's account is deactivated: make a new token",
    "token_revoked": "the bot token was revoked: make a new one",
    "token_expired": "the bot token expired: make a new one",
    "channel_not_found": "check departments[].slack_channel, and invite the bot to it",
    "not_in_channel": "invite the bot to the channel (/invite @yourbot)",
    "is_archived": "the channel is archived: set another departments[].slack_channel",
    "missing_scope": "give the bot the chat:write (and channels:history) scopes",
    "restricted_action": "the workspace does not let the bot post there",
    "invalid_blocks": "harken built a message Slack refused: please report it",
    "msg_too_long": "harken built a message Slack refused: please report it",
    "no_text": "harken built a message Slack refused: please report it",
}


class SlackSink:
    name = "slack"
    budgeted = True

    def __init__(self, config: Config) -> None:
        slack = config.alerts.slack
        assert slack is not None
        self.config = config
        self.timeout = read_timeout(slack)
        # slack_sdk's timeout is per read; the whole call gets DEADLINE_FACTOR times it.
        self.deadline = float(DEADLINE_FACTOR * self.timeout)
        self.client = (
            WebClient(
                token=slack.bot_token,
                base_url=api_base(slack),
                timeout=self.timeout,
                retry_handlers=[],
            )
            if slack.bot_token
            else None
        )
        self.verifiable = self.client is not None
        # Its channels are delivered side by side (harken.notify.outbox): WebClient keeps no
        # state between calls, and each channel's alerts stay in order in one thread.
        self.parallel_lanes = slack.channels_at_once
        # Editing an incident's thread roots, from channels side by side: one at a time per
        # incident, each from the roots as stored now, so an older rendering never lands
        # after a newer one.
        self._roots_guard = threading.Lock()
        self._roots_locks: dict[int | None, threading.Lock] = {}
        self._channel_ids: dict[str, str] = {}
        self.store: Store | None = None  # the outbox's: for an incident's thread roots

    def use_store(self, store: Store) -> None:
        self.store = store

    # -- routing --------------------------------------------------------------------------------

    def _department(self, alert: Alert) -> DepartmentConfig | None:
        name = self.config.digest.department if alert.kind == "digest" else alert.channel
        return self.config.find_department(name)

    def lane(self, alert: Alert) -> str:
        """Alerts are ordered per Slack channel (or per webhook, which is one channel)."""
        department = self._department(alert)
        mode = slack_mode(self.config, department)
        if mode == "bot" and department is not None and department.slack_channel:
            return department.slack_channel.lstrip("#")
        if mode == "webhook" and department is not None:
            own = department.name if department.slack_webhook_url else "default"
            return f"webhook:{own}"
        return f"none:{alert.channel}"

    # -- delivery -------------------------------------------------------------------------------

    def deliver(self, view: AlertView, thread: Thread | None) -> Delivered:
        alert = view.alert
        department = self._department(alert)
        mode = slack_mode(self.config, department)
        if mode is None or department is None:
            raise DeliveryError(
                f"department {alert.channel!r} has no Slack channel or webhook",
                transient=False,
                hint="set departments[].slack_channel (with alerts.slack.bot_token) "
                "or departments[].slack_webhook_url",
            )
        if mode == "webhook":
            if alert.kind == "update":
                raise Skip("webhooks cannot reply in threads")
            self._webhook(department, self._render(view))
            return Delivered()
        if alert.kind == "update":
            return self._thread_update(view, thread)
        return self._post(view, department, thread)

    def _render(self, view: AlertView, section: dict[str, Any] | None = None) -> SlackMessage:
        if view.alert.kind == "digest":
            # Rendered when the digest was made: the digest is a snapshot of its day.
            slack = view.alert.payload["slack"]
            return SlackMessage(slack["text"], slack["blocks"])
        from harken.notify.slack.format import alert_message

        return alert_message(view, self.config, section=section)

    def _post(
        self, view: AlertView, department: DepartmentConfig, thread: Thread | None
    ) -> Delivered:
        assert self.client is not None and department.slack_channel is not None
        alert = view.alert
        shown = self._root_shows(view) if thread is None else None
        message = self._render(view, shown.section if shown else None)
        arguments: dict[str, Any] = {
            "channel": thread.remote_channel if thread else department.slack_channel,
            "text": message.text,
            "blocks": message.blocks,
            "unfurl_links": False,
            "unfurl_media": False,
            "metadata": _metadata(alert),
        }
        if thread is not None:  # a reopened item or an escalation: in the thread, seen by all
            arguments |= {"thread_ts": thread.thread_ts, "reply_broadcast": True}
        response = self._call("chat.postMessage", self.client.chat_postMessage, **arguments)
        channel, ts = response["channel"], response["ts"]
        self._channel_ids[department.slack_channel.lstrip("#")] = channel
        kept = shown.payload() if shown else None
        delivered = Delivered(channel, ts, thread.thread_ts if thread else ts, shown=kept)
        if alert.kind == "digest" and self.config.digest.upload:
            return self._attach_digest(view, delivered)
        if thread is None and shown is None:
            # A new root of a one-item incident: no other root lists items. (An item that joins
            # while this posts brings queue events; the app's catch-up updates roots behind.)
            return delivered
        return self._other_roots(view, delivered, shown)

    # -- an incident's thread roots (roots.py) ----------------------------------------------------

    def _root_shows(self, view: AlertView) -> RootShows | None:
        if self.store is None:  # not delivering from an outbox: the alert alone
            return None
        from harken.notify.slack.roots import shown_on_root

        return shown_on_root(self.store, self.config, view)

    def _other_roots(
        self, view: AlertView, delivered: Delivered, shown: RootShows | None
    ) -> Delivered:
        """The incident's other roots updated to list every department's item: best effort,
        the alert is out (a failure is noted, never raised: raising would send it again).
        ``shown``: what the new root shows, read just before it was posted (else read now)."""
        if self.store is None:
            return delivered
        from harken.notify.slack.roots import update_roots

        try:
            with self._roots_of(view.alert.incident_id):
                failed = update_roots(self.store, self.config, view, self._update_root, shown)
        except Exception as err:  # the store out of reach: the app's next start catches up
            failed = [redact(f"{type(err).__name__}: {err}")[:300]]
        if not failed:
            return delivered
        note = "posted; the incident's other thread roots not updated: " + "; ".join(failed)
        log.warning("alert %s: %s", view.alert.id, note)
        return replace(delivered, note=note)

    def _update_root(self, root: PostedAlert) -> None:
        self._edit(root.channel, root.ts, root.message)

    def _edit(self, channel: str, ts: str, message: SlackMessage) -> None:
        """A posted message replaced by ``message`` (chat.update)."""
        assert self.client is not None
        self._call(
            "chat.update",
            self.client.chat_update,
            channel=channel,
            ts=ts,
            text=message.text,
            blocks=message.blocks,
        )

    def _thread_update(self, view: AlertView, thread: Thread | None) -> Delivered:
        """A quiet reply (no broadcast: nobody is pinged), then the root shows the new size."""
        assert self.client is not None
        if thread is None:
            raise Skip("no thread to reply in: the incident's first alert was not posted")
        from harken.notify.slack.format import incident_root

        message = self._render(view)
        response = self._call(
            "chat.postMessage",
            self.client.chat_postMessage,
            channel=thread.remote_channel,
            thread_ts=thread.thread_ts,
            text=message.text,
            blocks=message.blocks,
            unfurl_links=False,
            unfurl_media=False,
            metadata=_metadata(view.alert),
        )
        note = None
        try:
            with self._roots_of(view.alert.incident_id):
                root = incident_root(self._as_stored(thread.root), self.config)
                self._edit(thread.remote_channel, thread.thread_ts, root)
        except DeliveryError as err:  # the reply is out; a stale count on the root is minor
            note = f"reply posted; the thread's first message was not refreshed: {err}"
            log.warning("alert %s: %s", view.alert.id, note)
        return Delivered(response["channel"], response["ts"], thread.thread_ts, note)

    def _as_stored(self, root: AlertView) -> AlertView:
        """The root as the store holds it now: another channel's delivery may have rendered
        it again since the outbox read it."""
        if self.store is None or root.alert.id is None:
            return root
        try:
            with self.store.session() as session:
                return alert_view(session, root.alert.id) or root
        except Exception as err:  # the reply is out: never raise (it would be sent again)
            log.warning("thread root %s not read again: %s", root.alert.id, redact(str(err)))
            return root

    def _roots_of(self, incident_id: int | None) -> threading.Lock:
        """The lock for editing one incident's thread roots."""
        with self._roots_guard:
            return self._roots_locks.setdefault(incident_id, threading.Lock())

    def _attach_digest(self, view: AlertView, delivered: Delivered) -> Delivered:
        assert self.client is not None
        payload = view.alert.payload
        try:
            self._call(
                "files.uploadV2",
                self.client.files_upload_v2,
                channel=delivered.remote_channel,
                thread_ts=delivered.message_ts,
                content=payload["html"].encode("utf-8"),
                filename=f"harken-digest-{payload['date']}.html",
                title=f"harken digest {payload['date']}",
            )
        except DeliveryError as err:  # the summary is posted: do not post it again
            note = f"summary posted; the HTML file was not attached: {err}"
            log.warning("digest %s: %s", payload.get("date"), note)
            return Delivered(delivered.remote_channel, delivered.message_ts, None, note)
        return delivered

    def _webhook(self, department: DepartmentConfig, message: SlackMessage) -> None:
        slack = self.config.alerts.slack
        assert slack is not None
        url = department.slack_webhook_url or slack.webhook_url
        assert url is not None
        client = WebhookClient(url, timeout=self.timeout, retry_handlers=[])
        try:
            with deadline(self.deadline, "Slack webhook"):
                response = client.send(
                    text=message.text,
                    blocks=message.blocks,
                    unfurl_links=False,
                    unfurl_media=False,
                )
        except Exception as err:
            raise _transport_error("webhook", err) from None
        status, body = response.status_code, (response.body or "").strip()[:200]
        if status == 200:
            return
        problem = f"Slack webhook answered HTTP {status}: {redact(body) or 'no body'}"
        if status == 429:
            raise DeliveryError(problem, retry_after=_retry_after(response.headers))
        if status >= 500:
            raise DeliveryError(problem, transient=True)
        hint = (
            "the webhook was removed or its channel archived: make a new one"
            if status in (403, 404, 410)
            else "harken built a message Slack refused: please report it"
        )
        raise DeliveryError(problem, transient=False, hint=hint)

    # -- checking an interrupted delivery ---------------------------------------------------------

    def verify(self, view: AlertView, thread: Thread | None = None) -> Delivered | None:
        """Find the alert's message by its idempotency key in the message metadata, among
        the channel's messages since the interrupted attempt (and its thread's replies)."""
        assert self.client is not None
        alert = view.alert
        department = self._department(alert)
        if slack_mode(self.config, department) != "bot" or department is None:
            return None
        assert department.slack_channel is not None and alert.sending_at is not None
        channel = thread.remote_channel if thread else self._channel_id(department.slack_channel)
        if channel is None:
            return None  # the channel does not exist (yet): nothing can have arrived
        oldest = f"{(alert.sending_at - timedelta(minutes=1)).timestamp():.6f}"
        pages = [("conversations.history", self.client.conversations_history, {})]
        if thread is not None:
            replies = self.client.conversations_replies
            pages.append(("conversations.replies", replies, {"ts": thread.thread_ts}))
        for method, call, extra in pages:
            cursor = None
            for _ in range(20):  # a few thousand messages since the attempt, at most
                arguments = {"channel": channel, "oldest": oldest, "limit": 200, **extra}
                if cursor:
                    arguments["cursor"] = cursor
                response = self._call(method, call, include_all_metadata=True, **arguments)
                for message in response.get("messages", []):
                    payload = (message.get("metadata") or {}).get("event_payload") or {}
                    if payload.get("key") == alert.idempotency_key:
                        ts = message["ts"]
                        return Delivered(channel, ts, message.get("thread_ts") or ts)
                cursor = (response.get("response_metadata") or {}).get("next_cursor")
                if not cursor:
                    break
        return None

    def _channel_id(self, name: str) -> str | None:
        """A channel's id (history needs ids; posting takes names)."""
        bare = name.lstrip("#")
        if bare in self._channel_ids:
            return self._channel_ids[bare]
        if bare[:1] in "CGD" and bare.isupper() and bare.isalnum():
            return bare  # already an id
        assert self.client is not None
        cursor = None
        for _ in range(50):
            arguments: dict[str, Any] = {
                "types": "public_channel,private_channel",
                "limit": 1000,
                "exclude_archived": True,
            }
            if cursor:
                arguments["cursor"] = cursor
            response = self._call("conversations.list", self.client.conversations_list, **arguments)
            for channel in response.get("channels", []):
                self._channel_ids[channel["name"]] = channel["id"]
            if bare in self._channel_ids:
                return self._channel_ids[bare]
            cursor = (response.get("response_metadata") or {}).get("next_cursor")
            if not cursor:
                return None
        return None

    # -- errors ---------------------------------------------------------------------------------

    def _call(self, method: str, call: Any, **arguments: Any) -> Any:
        try:
            with deadline(self.deadline, f"Slack {method}"):
                return call(**arguments)
        except SlackApiError as err:
            raise _api_error(method, err) from None
        except Exception as err:
            raise _transport_error(method, err) from None


def _metadata(alert: Alert) -> dict[str, Any]:
    return {"event_type": EVENT_TYPE, "event_payload": {"key": alert.idempotency_key}}


def _api_error(method: str, err: SlackApiError) -> DeliveryError:
    response = err.response
    status = getattr(response, "status_code", 0) or 0
    data = response.data if isinstance(getattr(response, "data", None), dict) else {}
    code = str(data.get("error") or f"HTTP {status}")
    problem = f"Slack {method}: {redact(code)}"
    if status == 429 or code == "ratelimited":
        wait = _retry_after(response.headers)
        return DeliveryError(f"{problem} (rate limited)", retry_after=wait)
    if code in PERMANENT:
        return DeliveryError(problem, transient=False, hint=PERMANENT[code])
    if status >= 500 or code in ("internal_error", "fatal_error", "service_unavailable"):
        # Slack may have posted it before failing: check before posting again.
        return DeliveryError(problem, transient=True, in_doubt=True)
    if 400 <= status < 500 and status not in (408, 425):
        return DeliveryError(problem, transient=False, hint="see Slack's docs for this error")
    return DeliveryError(problem, transient=True, in_doubt=True)


def _transport_error(method: str, err: BaseException) -> DeliveryError:
    """Refused connections never reached Slack; a timeout or a reset may have."""
    if isinstance(err, DeadlineExceeded):  # its message names the call and the deadline
        return DeliveryError(str(err), transient=True, in_doubt=True)
    reason = err.reason if isinstance(err, urllib.error.URLError) else err
    if isinstance(reason, ConnectionRefusedError | socket.gaierror):
        return DeliveryError(f"Slack {method}: cannot connect ({reason})", transient=True)
    if isinstance(
        reason,
        TimeoutError | ConnectionError | http.client.HTTPException | SlackClientError | OSError,
    ):
        text = redact(str(reason)) or type(reason).__name__
        return DeliveryError(f"Slack {method}: {text}", transient=True, in_doubt=True)
    text = redact(f"{type(err).__name__}: {err}")
    return DeliveryError(f"Slack {method}: {text}", transient=True, in_doubt=True)


def _retry_after(headers: Any) -> float:
    headers = headers or {}
    for name in ("Retry-After", "retry-after"):
        value = headers.get(name) if hasattr(headers, "get") else None
        if isinstance(value, list):
            value = value[0] if value else None
        if value:
            try:
                return max(float(value), 1.0)
            except ValueError:
                break
    return 30.0  # Slack always sends it; be patient if it did not
