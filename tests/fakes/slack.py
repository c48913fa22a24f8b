"""A fake Slack workspace, as slack_sdk's ``WebClient`` and ``WebhookClient`` talk to one.

* Web API at ``fake.api_url`` (``WebClient(token=TOKEN, base_url=fake.api_url)``). slack_sdk
  POSTs every method (even the "GET" ones): chat.* as a JSON body, the rest as a form body; a
  GET query is read too. The token comes from ``Authorization: Bearer`` (or a ``token``
  parameter): none -> ``not_authed``, another one -> ``invalid_auth``, a scope the token lacks
  -> ``missing_scope``. Errors are HTTP 200 ``{"ok": false, "error": ...}``, as on Slack.
  - ``auth.test``
  - ``chat.postMessage``: channel by ID or name (``#cs-social``, ``cs-social``); Block Kit
    limits checked where cheap (50 blocks, section text 3000, header 150, fields 10 x 2000,
    markdown 12000; ``invalid_blocks`` with Slack's ``[json-pointer:...]`` messages), text
    40000 (``msg_too_long``), ``no_text``, ``thread_not_found``, ``is_archived``,
    ``not_in_channel``; a reply to a reply goes to the parent's thread.
  - ``chat.update`` (channel ID + ts): ``message_not_found``, ``cant_update_message`` (not the
    bot's own message); blocks and attachments left out are kept, as Slack keeps them.
  - ``conversations.history``: newest first, ``oldest``/``latest``/``inclusive``, ``limit``
    (100, at most 999), ``cursor`` paging; thread replies only when broadcast; ``metadata``
    only with ``include_all_metadata``. ``conversations.replies``: parent first, then replies.
  - ``conversations.list`` (``types``, ``exclude_archived``, paged).
  - ``chat.postEphemeral`` (channel, user, text or blocks): kept in ``ephemerals``, not in the
    channel's history, as on Slack.
  - ``views.publish`` (user_id, view of type ``home``, at most 100 blocks, checked as
    messages' are): kept in ``views``, the latest per user in ``home_views``.
  - ``views.open`` (trigger_id, view of type ``modal``: a title of at most 24 characters,
    blocks checked as messages' are): kept in ``modals``.
  - ``apps.connections.open``, with the app-level token ``APP_TOKEN`` (the bot token ->
    ``not_allowed_token_type``): the ``ws://`` URL of a Socket Mode server
    (tests/fakes/slack_socket.py) started with the fake, ``fake.socket``.
  - ``files_upload_v2``'s flow: ``files.getUploadURLExternal`` hands out an upload URL on this
    fake, the bytes are POSTed there, ``files.completeUploadExternal`` shares them (a message
    with ``files`` in the channel or thread, ``initial_comment`` as its text).
* Response URLs (``fake.response_url()``, as slash commands carry): what an app POSTs there
  (JSON) is kept in ``responses``, in order; 404 ``expired_url`` for one never handed out.
* Incoming webhooks (``fake.add_webhook("#cs-social")``): 200 ``ok`` (text/html); 400
  ``invalid_payload`` / ``missing_text_or_fallback_or_attachments`` / ``invalid_blocks``,
  403 ``invalid_token``, 404 ``no_service``, 410 ``channel_is_archived``. The message is
  stored; the client gets no ts, as from Slack.
* Faults: ``fail_next`` (any request) and ``fail_method`` (one method's next calls);
  ``down`` (every request 503); ``unreachable`` (connection refused, back on the same port);
  ``accept_then_fail`` (stored, but the client never learns: a 500, a reset, a late answer).
  ``hold(method)``: the method's next call waits, unserved, until the test lets it go (a
  process can be killed while it waits for Slack).
  ``Reply(reset=True)`` drops a connection with a TCP reset.

Timestamps come from ``clock`` (``time.time`` by default) and are unique and increasing.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any, Self

from tests.fakes.http import FakeAPI, Handler, Reply, Request
from tests.fakes.slack_socket import SocketModeServer

TOKEN = "xoxb-1000000001-2000000002-harkentestbottoken"
TEAM_ID = "T0HK00001"
BOT_USER_ID = "U0HKBOT01"
BOT_ID = "B0HKBOT01"
APP_ID = "A0HKAPP01"
HUMAN_USER_ID = "U0HKHUM01"  # the default author of ``add_message``
APP_TOKEN = "xapp-1-A0HKAPP01-3000000003-harkentestapptoken"  # Socket Mode's app-level token
# A bot token that can post (also to public channels it is not in), read and upload, with
# every scope the Slack app needs (harken/pipeline/doctor_slack.py BOT_SCOPES). Every Web API
# answer names the token's scopes in ``X-OAuth-Scopes``, as Slack's do; a test passes
# ``FakeSlack(scopes=...)`` for a token installed with fewer.
SCOPES = frozenset(
    {
        "chat:write",
        "commands",
        "chat:write.public",
        "channels:read",
        "channels:history",
        "groups:read",
        "groups:history",
        "files:write",
    }
)
BOT_PROFILE = {"id": BOT_ID, "app_id": APP_ID, "name": "harken", "team_id": TEAM_ID}

MAX_BLOCKS = 50
MAX_VIEW_BLOCKS = 100  # a Home tab or modal
MAX_TEXT = 40_000
MAX_ATTACHMENTS = 100
BLOCK_TYPES = frozenset(
    {
        "actions",
        "context",
        "divider",
        "file",
        "header",
        "image",
        "input",
        "markdown",
        "rich_text",
        "section",
        "table",
        "video",
    }
)


@dataclass
class Channel:
    id: str
    name: str
    is_private: bool = False
    is_member: bool = True  # the bot's membership
    is_archived: bool = False
    created: int = 0

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "name_normalized": self.name,
            "is_channel": True,
            "is_group": False,
            "is_im": False,
            "is_mpim": False,
            "is_private": self.is_private,
            "is_archived": self.is_archived,
            "is_general": False,
            "is_shared": False,
            "is_ext_shared": False,
            "is_org_shared": False,
            "is_member": self.is_member,
            "created": self.created,
            "creator": HUMAN_USER_ID,
            "context_team_id": TEAM_ID,
            "num_members": 2 if self.is_member else 1,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }


@dataclass
class Message:
    """A message as the fake holds it: what the client sent, not yet rendered for the API."""

    channel: str  # the channel ID
    ts: str
    text: str = ""
    blocks: list[dict[str, Any]] | None = None
    attachments: list[dict[str, Any]] | None = None
    thread_ts: str | None = None  # the parent's ts, for a reply
    reply_broadcast: bool = False
    metadata: dict[str, Any] | None = None
    unfurl_links: bool | None = None
    unfurl_media: bool | None = None
    user: str | None = BOT_USER_ID  # None: posted by an incoming webhook
    bot_id: str | None = None  # the webhook's bot, for a webhook's message
    via: str = "chat.postMessage"  # or "webhook", "files.completeUploadExternal", "seed"
    files: list[dict[str, Any]] = field(default_factory=list)
    edits: int = 0  # chat.update calls that changed it
    edited: dict[str, str] | None = None
    params: dict[str, Any] = field(default_factory=dict)  # everything the client sent

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def key(self) -> int:
        return _ts_key(self.ts)


@dataclass
class Upload:
    """One file of the external upload flow, from its URL to its share."""

    id: str
    filename: str
    length: int  # as announced to files.getUploadURLExternal
    upload_url: str
    alt_txt: str | None = None
    snippet_type: str | None = None
    content: bytes | None = None  # the bytes POSTed to upload_url
    title: str | None = None
    completed: bool = False
    channels: list[str] = field(default_factory=list)  # where it was shared
    initial_comment: str | None = None
    thread_ts: str | None = None

    def to_api(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.filename,
            "title": self.title or self.filename,
            "mimetype": "text/plain",
            "filetype": "text",
            "size": len(self.content or b""),
            "user": BOT_USER_ID,
            "is_public": bool(self.channels),
            "url_private": f"https://files.slack.com/files-pri/{TEAM_ID}-{self.id}/{self.filename}",
            "permalink": f"https://harken-test.slack.com/files/{BOT_USER_ID}/{self.id}",
        }


@dataclass
class Webhook:
    url: str
    path: str
    channel: str  # the channel ID it posts to
    bot_id: str
    revoked: bool = False


@dataclass
class Hold:
    """One held call (``FakeSlack.hold``)."""

    arrived: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    dropped: bool = False

    def wait(self) -> bool:
        """Once released: True to serve the call, False to drop it unserved."""
        self.arrived.set()
        self.released.wait(60)
        return not self.dropped

    def release(self, *, drop: bool = False) -> None:
        """Let the call go on; ``drop``: answer it with a reset, nothing stored (its caller
        is gone)."""
        self.dropped = drop
        self.released.set()


class _Error(Exception):
    """A Slack API error: answered as ``{"ok": false, "error": code, **extra}``."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra


class _Routes(dict):  # type: ignore[type-arg]
    """Exact routes, then prefixes: webhook and upload URLs carry their ids in the path."""

    def __init__(self, prefixes: dict[str, Handler]) -> None:
        super().__init__()
        self.prefixes = prefixes

    def get(self, key: Any, default: Any = None) -> Any:
        if key in self:
            return self[key]
        path = key[1]
        for prefix, handler in self.prefixes.items():
            if path.startswith(prefix):
                return handler
        return default


class FakeSlack(FakeAPI):
    """One workspace, one bot token; ``with FakeSlack() as slack:`` serves it on a free port."""

    def __init__(
        self,
        token: str = TOKEN,
        scopes: frozenset[str] | set[str] = SCOPES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__()
        self.token = token
        self.scopes = set(scopes)
        self.clock = clock
        self.channels: dict[str, Channel] = {}
        self.all_messages: list[Message] = []  # every message, in the order stored
        self.uploads: list[Upload] = []  # every file of the upload flow, completed or not
        self.webhooks: dict[str, Webhook] = {}  # by path
        self.ephemerals: list[dict[str, Any]] = []  # chat.postEphemeral: what, to whom, where
        self.views: list[dict[str, Any]] = []  # views.publish: {"user_id", "view"}, in order
        self.modals: list[dict[str, Any]] = []  # views.open: {"trigger_id", "view"}, in order
        self.responses: list[dict[str, Any]] = []  # what was POSTed to a response URL, + "url"
        self._response_urls: set[str] = set()
        self.app_token = APP_TOKEN
        self.socket = SocketModeServer()
        self.down = False  # every request answered with down_reply
        self.down_reply = Reply(
            503,
            body="<html><body><h1>503 Service Unavailable</h1></body></html>",
            headers={"Content-Type": "text/html"},
        )
        self._state = threading.RLock()
        self.latency = 0.0  # seconds each Web API call takes (Slack's own: a tenth or more)
        self.in_flight = 0  # Web API calls being answered now
        self.most_in_flight = 0  # at once, since the start
        self._last_us = 0
        self._serial = 0
        self._port: int | None = None
        self._unreachable = False
        self._method_failures: dict[str, deque[Reply]] = defaultdict(deque)
        self._after_accept: dict[str, deque[Reply]] = defaultdict(deque)
        self._holds: dict[str, Hold] = {}
        self.routes = _Routes(
            {
                "/services/": self._webhook,
                "/upload/v1/": self._upload_bytes,
                "/respond/": self._respond,
                "/api/": lambda req: Reply(json={"ok": False, "error": "unknown_method"}),
            }
        )
        methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "conversations.history": self._history,
            "conversations.replies": self._replies,
            "conversations.list": self._list,
            "chat.postEphemeral": self._post_ephemeral,
            "views.publish": self._publish_view,
            "views.open": self._open_view,
            "files.getUploadURLExternal": self._upload_url,
            "files.completeUploadExternal": self._complete_upload,
        }
        for name, handler in methods.items():
            for verb in ("GET", "POST"):
                self.route(verb, f"/api/{name}")(self._endpoint(name, handler))
        for verb in ("GET", "POST"):
            self.route(verb, "/api/apps.connections.open")(self._connections_open)

    # -- the workspace ------------------------------------------------------------------------

    def add_channel(
        self,
        name: str,
        *,
        id: str | None = None,
        is_private: bool = False,
        is_member: bool = True,
        is_archived: bool = False,
    ) -> str:
        """A channel (``"#cs-social"`` or ``"cs-social"``); returns its ID (``C0HK00001``)."""
        with self._state:
            channel = Channel(
                id=id or f"C0HK{self._next():05d}",
                name=name.lstrip("#").lower(),
                is_private=is_private,
                is_member=is_member,
                is_archived=is_archived,
                created=int(self.clock()),
            )
            self.channels[channel.id] = channel
            return channel.id

    def archive(self, channel: str) -> None:
        self.channel(channel).is_archived = True

    def channel(self, ref: str) -> Channel:
        """A channel by ID, ``#name`` or name (KeyError if there is none)."""
        found = self._find_channel(ref, by_name=True)
        if found is None:
            raise KeyError(ref)
        return found

    def add_webhook(self, channel: str) -> str:
        """An incoming webhook URL posting to ``channel`` (the fake must be started)."""
        with self._state:
            target = self.channel(channel)
            serial = self._next()
            bot_id = f"B0HK{serial:05d}"
            secret = hashlib.sha1(f"hook-{serial}".encode()).hexdigest()[:24]
            path = f"/services/{TEAM_ID}/{bot_id}/{secret}"
            hook = Webhook(url=self.url + path, path=path, channel=target.id, bot_id=bot_id)
            self.webhooks[path] = hook
            return hook.url

    def response_url(self) -> str:
        """A new response URL, as Slack hands one out with each slash command."""
        with self._state:
            path = f"/respond/T/{self._next()}/x"
            self._response_urls.add(path)
        return f"{self.url}{path}"

    def home_views(self) -> dict[str, dict[str, Any]]:
        """The App Home view each user was last published."""
        return {v["user_id"]: v["view"] for v in self.views}

    def revoke_webhook(self, url: str) -> None:
        """The webhook was removed from the app: it answers 404 ``no_service`` from now on."""
        for hook in self.webhooks.values():
            if hook.url == url:
                hook.revoked = True

    def add_message(
        self,
        channel: str,
        text: str,
        *,
        user: str = HUMAN_USER_ID,
        thread_ts: str | None = None,
        **fields: Any,
    ) -> Message:
        """A message someone else posted (a teammate replying in a thread, say)."""
        with self._state:
            message = Message(
                channel=self.channel(channel).id,
                ts=self._new_ts(),
                text=text,
                thread_ts=thread_ts,
                user=user,
                via="seed",
                **fields,
            )
            self.all_messages.append(message)
            return message

    # -- what happened ------------------------------------------------------------------------

    def messages(self, channel: str) -> list[Message]:
        """Every message in the channel, thread replies included, oldest first."""
        channel_id = self.channel(channel).id
        with self._state:
            return sorted((m for m in self.all_messages if m.channel == channel_id), key=_key)

    def message(self, channel: str, ts: str) -> Message:
        found = self._find_message(self.channel(channel).id, ts)
        if found is None:
            raise KeyError(ts)
        return found

    def thread(self, channel: str, ts: str) -> list[Message]:
        """The parent then its replies, oldest first (``ts`` may be any message of the thread)."""
        parent = self.message(channel, ts)
        root = parent.thread_ts or parent.ts
        with self._state:
            return sorted(
                (
                    m
                    for m in self.all_messages
                    if m.channel == parent.channel and root in (m.ts, m.thread_ts)
                ),
                key=_key,
            )

    def api_calls(self, method: str) -> list[Request]:
        """The requests made to one Web API method (``"chat.postMessage"``), answered or not."""
        return self.calls(f"/api/{method}")

    @property
    def post_count(self) -> int:
        """chat.postMessage requests received (retries and failed ones included)."""
        return len(self.api_calls("chat.postMessage"))

    def webhook_calls(self, url: str | None = None) -> list[Request]:
        return [
            r
            for r in self.requests
            if r.path.startswith("/services/") and (url is None or url.endswith(r.path))
        ]

    def arrivals(self, method: str) -> list[float]:
        """When each call of ``method`` arrived (``time.time()``; ``"webhook"`` for webhooks)."""
        calls = self.webhook_calls() if method == "webhook" else self.api_calls(method)
        return [r.received_at for r in calls]

    # -- faults -------------------------------------------------------------------------------

    def fail_method(self, method: str, *replies: Reply) -> None:
        """Serve these to the next calls of one method only (``"webhook"``, ``"upload"`` too)."""
        with self._state:
            self._method_failures[method].extend(replies)

    def accept_then_fail(
        self, reply: Reply | None = None, *, delay: float = 0.0, method: str = "chat.postMessage"
    ) -> None:
        """The next successful ``method`` call is stored as usual, but the client never learns:
        it gets ``reply`` (a 500, a 503, ...), or Slack's real answer ``delay`` seconds late
        (longer than the client's timeout), or with neither, the connection reset."""
        if reply is None:
            reply = Reply(reset=True) if not delay else Reply(delay=delay)
        with self._state:
            self._after_accept[method].append(reply)

    def hold(self, method: str) -> Hold:
        """The next call of ``method`` waits before it is served (nothing stored) until
        ``.release()`` (``drop=True``: never served); ``.arrived`` is set once it came.
        Stopping the fake lets it go."""
        with self._state:
            held = self._holds[method] = Hold()
        return held

    @property
    def unreachable(self) -> bool:
        return self._unreachable

    @unreachable.setter
    def unreachable(self, value: bool) -> None:
        """True: stop listening (connections refused); False: listen on the same port again."""
        if value and not self._unreachable:
            self.stop()
        elif not value and self._unreachable:
            self.start(self._port or 0)
        self._unreachable = value

    # -- serving ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        assert self._port is not None, "start the fake first"
        return f"http://127.0.0.1:{self._port}"

    @property
    def api_url(self) -> str:
        """The ``base_url`` for ``WebClient``."""
        return f"{self.url}/api/"

    def start(self, port: int = 0) -> Self:
        super().start(port)
        assert self._server is not None
        self._port = self._server.server_address[1]
        if not self.socket.running:
            self.socket.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for held in list(self._holds.values()):
            held.release()
        super().__exit__(*exc)
        self.socket.stop()

    def __enter__(self) -> Self:
        return self.start()

    def _answer(self, request: Request) -> Reply:
        if self.down:
            with self._lock:
                self.requests.append(request)
            return self.down_reply
        return super()._answer(request)

    def _endpoint(
        self, method: str, handler: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> Handler:
        def serve(req: Request) -> Reply:
            with self._state:
                self.in_flight += 1
                self.most_in_flight = max(self.most_in_flight, self.in_flight)
            try:
                if self.latency:
                    time.sleep(self.latency)
                return answer(req)
            finally:
                with self._state:
                    self.in_flight -= 1

        def answer(req: Request) -> Reply:
            with self._state:
                held = self._holds.pop(method, None)
            if held is not None and not held.wait():
                return Reply(reset=True)
            scripted = self._scripted(method)
            if scripted is not None:
                return scripted
            headers = {"x-oauth-scopes": ",".join(sorted(self.scopes))}
            try:
                params = _params(req)
                token = _bearer(req) or params.pop("token", None)
                if not token:
                    raise _Error("not_authed")
                if token != self.token:
                    raise _Error("invalid_auth")
                with self._state:
                    body = handler(params)
            except _Error as error:
                return Reply(
                    json={"ok": False, "error": error.code, **error.extra}, headers=headers
                )
            return self._settle(method, Reply(json={"ok": True, **body}, headers=headers))

        return serve

    def _scripted(self, method: str) -> Reply | None:
        with self._state:
            queue = self._method_failures.get(method)
            return queue.popleft() if queue else None

    def _settle(self, method: str, answer: Reply) -> Reply:
        """The real answer to a stored change, unless a test made the client miss it."""
        with self._state:
            queue = self._after_accept.get(method)
            scripted = queue.popleft() if queue else None
        if scripted is None:
            return answer
        if scripted.status == 200 and scripted.json is None and scripted.body is None:
            return replace(answer, delay=scripted.delay, reset=scripted.reset)  # late or lost
        return scripted

    # -- Web API methods ----------------------------------------------------------------------

    def _auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://harken-test.slack.com/",
            "team": "Harken Test",
            "user": "harken",
            "team_id": TEAM_ID,
            "user_id": BOT_USER_ID,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _post_message(self, p: dict[str, Any]) -> dict[str, Any]:
        self._need("chat:write")
        channel = self._writable(p.get("channel"))
        content = _content(p)
        thread_ts = self._thread_root(channel.id, p.get("thread_ts"))
        message = Message(
            channel=channel.id,
            ts=self._new_ts(),
            thread_ts=thread_ts,
            reply_broadcast=bool(thread_ts) and _flag(p.get("reply_broadcast")),
            unfurl_links=_maybe_flag(p.get("unfurl_links")),
            unfurl_media=_maybe_flag(p.get("unfurl_media")),
            params=p,
            **content,
        )
        self.all_messages.append(message)
        rendered = self._render(message, include_metadata=True)
        return {"channel": channel.id, "ts": message.ts, "message": rendered}

    def _update(self, p: dict[str, Any]) -> dict[str, Any]:
        self._need("chat:write")
        channel = self._find_channel(p.get("channel"), by_name=False)
        if channel is None:
            raise _Error("channel_not_found")
        message = self._find_message(channel.id, str(p.get("ts") or ""))
        if message is None:
            raise _Error("message_not_found")
        if message.user != BOT_USER_ID or message.via == "webhook":
            raise _Error("cant_update_message")
        content = _content(p, required=False)
        if not (content["text"] or content["blocks"] or content["attachments"] or message.blocks):
            raise _Error("no_text")
        if "text" in p:
            message.text = content["text"]
        for name in ("blocks", "attachments", "metadata"):
            if name in p:
                setattr(message, name, content[name] or None)
        message.edits += 1
        message.edited = {"user": BOT_USER_ID, "ts": self._new_ts()}
        rendered = self._render(message, include_metadata=True)
        return {"channel": channel.id, "ts": message.ts, "text": message.text, "message": rendered}

    def _post_ephemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        self._need("chat:write")
        channel = self._writable(p.get("channel"))
        if not p.get("user"):
            raise _Error("user_not_in_channel")
        content = _content(p)
        self.ephemerals.append({"channel": channel.id, "user": str(p["user"]), **content})
        return {"message_ts": self._new_ts()}

    def _publish_view(self, p: dict[str, Any]) -> dict[str, Any]:
        user = p.get("user_id")
        if not user:
            raise _Error("invalid_arguments")
        view = _json_arg(p.get("view"), "invalid_arguments")
        if not isinstance(view, dict) or view.get("type") != "home":
            raise _Error("invalid_arguments")
        blocks = view.get("blocks")
        if not isinstance(blocks, list):
            raise _Error("invalid_arguments")
        problems = _block_problems(blocks, max_blocks=MAX_VIEW_BLOCKS)
        if problems:
            raise _Error("invalid_arguments", response_metadata={"messages": problems})
        self.views.append({"user_id": str(user), "view": view})
        return {"view": {"id": f"V{self._next():08d}", **view}}

    def _open_view(self, p: dict[str, Any]) -> dict[str, Any]:
        view = _json_arg(p.get("view"), "invalid_arguments")
        if not p.get("trigger_id") or not isinstance(view, dict) or view.get("type") != "modal":
            raise _Error("invalid_arguments")
        title = (view.get("title") or {}).get("text")
        blocks = view.get("blocks")
        if not isinstance(title, str) or len(title) > 24 or not isinstance(blocks, list):
            raise _Error("invalid_arguments")
        problems = _block_problems(blocks, max_blocks=MAX_VIEW_BLOCKS)
        if problems:
            raise _Error("invalid_arguments", response_metadata={"messages": problems})
        self.modals.append({"trigger_id": str(p["trigger_id"]), "view": view})
        return {"view": {"id": f"V{self._next():08d}", "hash": f"h{self._next()}", **view}}

    def _respond(self, req: Request) -> Reply:
        with self._state:
            if req.path not in self._response_urls:
                return _text(404, "expired_url")
            try:
                body = req.json()
            except ValueError:
                return _text(400, "invalid_payload")
            self.responses.append({"url": f"{self.url}{req.path}", **body})
        return _text(200, "ok")

    def _connections_open(self, req: Request) -> Reply:
        token = _bearer(req) or _params(req).get("token")
        if not token:
            return Reply(json={"ok": False, "error": "not_authed"})
        if token == self.token:
            return Reply(json={"ok": False, "error": "not_allowed_token_type"})
        if token != self.app_token:
            return Reply(json={"ok": False, "error": "invalid_auth"})
        return Reply(json={"ok": True, "url": self.socket.url})

    def _history(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable(p.get("channel"))
        listed = [
            m
            for m in self.all_messages
            if m.channel == channel.id and (not m.is_reply or m.reply_broadcast)
        ]
        found = sorted(_window(listed, p), key=lambda m: -m.key)
        if p.get("cursor"):
            start = _uncursor(p["cursor"], "next_ts")
            found = [m for m in found if m.key <= start]
        page, rest = _page(found, p, default=100, most=999)
        body: dict[str, Any] = {
            "messages": [self._render(m, _flag(p.get("include_all_metadata"))) for m in page],
            "has_more": bool(rest),
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
        }
        if rest:
            body["response_metadata"] = {"next_cursor": _cursor("next_ts", rest[0].key)}
        return body

    def _replies(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = self._readable(p.get("channel"))
        anchor = self._find_message(channel.id, str(p.get("ts") or ""))
        if anchor is None:
            raise _Error("thread_not_found")
        root = anchor.thread_ts or anchor.ts
        parent = self._find_message(channel.id, root)
        replies = [m for m in self.all_messages if m.channel == channel.id and m.is_reply]
        replies = sorted(_window([m for m in replies if m.thread_ts == root], p), key=_key)
        found = ([parent] if parent else []) + replies
        if p.get("cursor"):
            start = _uncursor(p["cursor"], "next_ts")
            found = [m for m in found if m.key >= start]
        page, rest = _page(found, p, default=1000, most=1000)
        meta = _flag(p.get("include_all_metadata"))
        body: dict[str, Any] = {
            "messages": [self._render(m, meta) for m in page],
            "has_more": bool(rest),
        }
        if rest:
            body["response_metadata"] = {"next_cursor": _cursor("next_ts", rest[0].key)}
        return body

    def _list(self, p: dict[str, Any]) -> dict[str, Any]:
        types = set(str(p.get("types") or "public_channel").split(","))
        if "public_channel" in types:
            self._need("channels:read")
        if "private_channel" in types:
            self._need("groups:read")
        found = [
            c
            for c in self.channels.values()
            if ("private_channel" if c.is_private else "public_channel") in types
            and (c.is_member or not c.is_private)
            and not (c.is_archived and _flag(p.get("exclude_archived")))
        ]
        if p.get("cursor"):
            start = _uncursor(p["cursor"], "team")
            ids = [c.id for c in found]
            found = found[ids.index(start) :] if start in ids else []
        page, rest = _page(found, p, default=100, most=1000)
        next_cursor = _cursor("team", rest[0].id) if rest else ""
        return {
            "channels": [c.to_api() for c in page],
            "response_metadata": {"next_cursor": next_cursor},
        }

    def _upload_url(self, p: dict[str, Any]) -> dict[str, Any]:
        self._need("files:write")
        try:
            length = int(p.get("length") or 0)
        except ValueError:
            raise _Error("invalid_arguments") from None
        if not p.get("filename") or length <= 0:
            raise _Error("missing_argument")
        file_id = f"F0HK{self._next():05d}"
        key = hashlib.sha1(file_id.encode()).hexdigest()[:20]
        upload = Upload(
            id=file_id,
            filename=str(p["filename"]),
            length=length,
            upload_url=f"{self.url}/upload/v1/{key}",
            alt_txt=p.get("alt_txt"),
            snippet_type=p.get("snippet_type"),
        )
        self.uploads.append(upload)
        return {"upload_url": upload.upload_url, "file_id": file_id}

    def _upload_bytes(self, req: Request) -> Reply:
        scripted = self._scripted("upload")
        if scripted is not None:
            return scripted
        with self._state:
            upload = next((u for u in self.uploads if u.upload_url.endswith(req.path)), None)
            if upload is None or req.method != "POST":
                return Reply(404, body="Not Found", headers={"Content-Type": "text/plain"})
            upload.content = req.body
        return Reply(body=f"OK - {len(req.body)}", headers={"Content-Type": "text/plain"})

    def _complete_upload(self, p: dict[str, Any]) -> dict[str, Any]:
        self._need("files:write")
        wanted = _json_arg(p.get("files"), "invalid_arguments")
        if not isinstance(wanted, list) or not wanted:
            raise _Error("invalid_arguments")
        by_id = {u.id: u for u in self.uploads}
        files = [by_id.get(str(f.get("id"))) if isinstance(f, dict) else None for f in wanted]
        if any(u is None or u.content is None or u.completed for u in files):
            raise _Error("file_not_found")
        targets = [p["channel_id"]] if p.get("channel_id") else []
        targets += [c for c in str(p.get("channels") or "").split(",") if c]
        channels = [self._find_channel(c, by_name=False) for c in targets]
        if any(c is None for c in channels):
            raise _Error("invalid_channel")
        for c in channels:
            assert c is not None
            if c.is_archived:
                raise _Error("is_archived")
            if not c.is_member:
                raise _Error("not_in_channel")
        thread_ts = None
        for c in channels:
            assert c is not None
            thread_ts = self._thread_root(c.id, p.get("thread_ts"))
        done: list[Upload] = []
        for f, u in zip(wanted, files, strict=True):
            assert u is not None
            u.title = f.get("title") or u.filename
            u.completed = True
            u.channels = [c.id for c in channels if c is not None]
            u.initial_comment = p.get("initial_comment")
            u.thread_ts = thread_ts
            done.append(u)
        for c in channels:
            assert c is not None
            self.all_messages.append(
                Message(
                    channel=c.id,
                    ts=self._new_ts(),
                    text=str(p.get("initial_comment") or ""),
                    thread_ts=thread_ts,
                    via="files.completeUploadExternal",
                    files=[u.to_api() for u in done],
                    params=p,
                )
            )
        return {"files": [{"id": u.id, "title": u.title} for u in done]}

    # -- incoming webhooks --------------------------------------------------------------------

    def _webhook(self, req: Request) -> Reply:
        scripted = self._scripted("webhook")
        if scripted is not None:
            return scripted
        with self._state:
            hook = self.webhooks.get(req.path)
            if hook is None or hook.revoked:
                bot = req.path.split("/")[3:4]
                known = any(h.bot_id in bot and not h.revoked for h in self.webhooks.values())
                return _text(403, "invalid_token") if known else _text(404, "no_service")
            payload = _webhook_payload(req)
            if payload is None:
                return _text(400, "invalid_payload")
            channel = self.channels[hook.channel]
            if channel.is_archived:
                return _text(410, "channel_is_archived")
            try:
                content = _content(payload)
            except _Error as error:
                code = (
                    "missing_text_or_fallback_or_attachments"
                    if error.code == "no_text"
                    else error.code
                )
                return _text(400, code)
            parent = self._find_message(channel.id, str(payload.get("thread_ts") or ""))
            self.all_messages.append(
                Message(
                    channel=channel.id,
                    ts=self._new_ts(),
                    thread_ts=(parent.thread_ts or parent.ts) if parent else None,
                    reply_broadcast=bool(parent) and _flag(payload.get("reply_broadcast")),
                    unfurl_links=_maybe_flag(payload.get("unfurl_links")),
                    unfurl_media=_maybe_flag(payload.get("unfurl_media")),
                    user=None,
                    bot_id=hook.bot_id,
                    via="webhook",
                    params=payload,
                    **content,
                )
            )
        return self._settle("webhook", _text(200, "ok"))

    # -- helpers ------------------------------------------------------------------------------

    def _next(self) -> int:
        with self._state:
            self._serial += 1
            return self._serial

    def _new_ts(self) -> str:
        with self._state:
            self._last_us = max(int(self.clock() * 1_000_000), self._last_us + 1)
            return f"{self._last_us // 1_000_000}.{self._last_us % 1_000_000:06d}"

    def _need(self, scope: str) -> None:
        if scope not in self.scopes:
            raise _Error("missing_scope", needed=scope, provided=",".join(sorted(self.scopes)))

    def _find_channel(self, ref: Any, *, by_name: bool) -> Channel | None:
        ref = str(ref or "").strip()
        if ref in self.channels:
            return self.channels[ref]
        if not by_name:
            return None
        name = ref.lstrip("#").lower()
        return next((c for c in self.channels.values() if c.name == name), None)

    def _writable(self, ref: Any) -> Channel:
        channel = self._find_channel(ref, by_name=True)
        if channel is None or (channel.is_private and not channel.is_member):
            raise _Error("channel_not_found")
        if channel.is_archived:
            raise _Error("is_archived")
        if not channel.is_member and "chat:write.public" not in self.scopes:
            raise _Error("not_in_channel")
        return channel

    def _readable(self, ref: Any) -> Channel:
        channel = self._find_channel(ref, by_name=False)
        if channel is None or (channel.is_private and not channel.is_member):
            raise _Error("channel_not_found")
        self._need("groups:history" if channel.is_private else "channels:history")
        if not channel.is_member:
            raise _Error("not_in_channel")
        return channel

    def _find_message(self, channel_id: str, ts: str) -> Message | None:
        return next((m for m in self.all_messages if m.channel == channel_id and m.ts == ts), None)

    def _thread_root(self, channel_id: str, thread_ts: Any) -> str | None:
        if thread_ts in (None, ""):
            return None
        try:
            _ts_key(str(thread_ts))
        except ValueError:
            raise _Error(
                "invalid_thread_ts",
                response_metadata={"messages": [f"[ERROR] {thread_ts} is not a valid thread_ts"]},
            ) from None
        parent = self._find_message(channel_id, str(thread_ts))
        if parent is None:
            raise _Error("thread_not_found")
        return parent.thread_ts or parent.ts  # a reply's ts: its parent's thread

    def _render(self, m: Message, include_metadata: bool) -> dict[str, Any]:
        """The message as the Web API returns it."""
        out: dict[str, Any] = {"type": "message", "ts": m.ts, "text": m.text}
        if m.via == "webhook":
            out.update(subtype="bot_message", bot_id=m.bot_id or BOT_ID, app_id=APP_ID)
        elif m.user == BOT_USER_ID:
            out.update(user=BOT_USER_ID, bot_id=BOT_ID, app_id=APP_ID, team=TEAM_ID)
            out["bot_profile"] = BOT_PROFILE
        else:
            out.update(user=m.user, team=TEAM_ID)
        if m.blocks:
            # Slack gives every block an id of its own when the sender gave none.
            out["blocks"] = [
                {
                    **b,
                    "block_id": b.get("block_id")
                    or hashlib.sha1(f"{m.ts}/{i}".encode()).hexdigest()[:5],
                }
                for i, b in enumerate(m.blocks)
            ]
        if m.attachments:
            out["attachments"] = [{"id": i + 1, **a} for i, a in enumerate(m.attachments)]
        if m.files:
            out.update(files=m.files, upload=True)
        if m.edited:
            out["edited"] = m.edited
        if m.is_reply:
            parent = self._find_message(m.channel, m.thread_ts or "")
            out["thread_ts"] = m.thread_ts
            out["parent_user_id"] = (parent.user if parent else None) or BOT_USER_ID
            if m.reply_broadcast:
                out["subtype"] = "thread_broadcast"
        else:
            replies = sorted(
                (
                    r
                    for r in self.all_messages
                    if r.channel == m.channel and r.is_reply and r.thread_ts == m.ts
                ),
                key=_key,
            )
            if replies:
                users = sorted({r.user or BOT_USER_ID for r in replies})
                out.update(
                    thread_ts=m.ts,
                    reply_count=len(replies),
                    reply_users=users,
                    reply_users_count=len(users),
                    latest_reply=replies[-1].ts,
                )
        if include_metadata and m.metadata:
            out["metadata"] = m.metadata
        return out


# -- parsing and validation -------------------------------------------------------------------


def _params(req: Request) -> dict[str, Any]:
    """A method's arguments: the query, then a form or JSON body (slack_sdk sends one of them)."""
    params: dict[str, Any] = dict(req.query)
    kind = req.headers.get("content-type", "")
    if req.body and kind.startswith("application/json"):
        try:
            body = req.json()
        except ValueError:
            raise _Error("invalid_json") from None
        if not isinstance(body, dict):
            raise _Error("invalid_json")
        params.update(body)
    elif req.body and kind.startswith("application/x-www-form-urlencoded"):
        params.update(req.form)
    return params


def _bearer(req: Request) -> str | None:
    value = req.headers.get("authorization", "")
    if not value.startswith("Bearer "):
        return None
    return value[len("Bearer ") :].strip() or None


def _flag(value: Any) -> bool:
    return value in (True, 1, "1", "true", "True")


def _maybe_flag(value: Any) -> bool | None:
    return None if value is None else _flag(value)


def _json_arg(value: Any, error: str) -> Any:
    """A structured argument: as JSON sent it, or a JSON string as a form sends it."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        raise _Error(error) from None


def _content(p: dict[str, Any], *, required: bool = True) -> dict[str, Any]:
    """text, blocks, attachments and metadata, checked the way Slack checks them."""
    text = p.get("text")
    text = "" if text is None else str(text)
    blocks = _json_arg(p.get("blocks"), "invalid_blocks_format")
    if blocks is not None and not isinstance(blocks, list):
        raise _Error("invalid_blocks_format")
    attachments = _json_arg(p.get("attachments"), "invalid_attachments")
    if attachments is not None and not isinstance(attachments, list):
        raise _Error("invalid_attachments")
    metadata = _json_arg(p.get("metadata"), "invalid_metadata_format")
    if metadata is not None and not (
        isinstance(metadata, dict)
        and isinstance(metadata.get("event_type"), str)
        and isinstance(metadata.get("event_payload"), dict)
    ):
        raise _Error("invalid_metadata_format")
    if required and not (text.strip() or blocks or attachments):
        raise _Error("no_text")
    if len(text) > MAX_TEXT:
        raise _Error("msg_too_long")
    if attachments and len(attachments) > MAX_ATTACHMENTS:
        raise _Error("too_many_attachments")
    problems = _block_problems(blocks or [])
    if problems:
        raise _Error(
            "invalid_blocks",
            errors=problems,
            response_metadata={"messages": [f"[ERROR] {p}" for p in problems]},
        )
    return {"text": text, "blocks": blocks, "attachments": attachments, "metadata": metadata}


def _block_problems(blocks: list[Any], max_blocks: int = MAX_BLOCKS) -> list[str]:
    """Slack's messages for the Block Kit limits a notifier can run into; empty if none."""
    problems: list[str] = []
    if len(blocks) > max_blocks:
        problems.append(f"no more than {max_blocks} items allowed [json-pointer:/blocks]")
    block_ids: set[str] = set()
    for i, block in enumerate(blocks):
        at = f"/blocks/{i}"
        if not isinstance(block, dict) or not isinstance(block.get("type"), str):
            problems.append(f"missing required field: type [json-pointer:{at}]")
            continue
        kind = block["type"]
        if kind not in BLOCK_TYPES:
            problems.append(f"unsupported type: {kind} [json-pointer:{at}/type]")
        block_id = block.get("block_id")
        if block_id is not None:
            if not isinstance(block_id, str) or not 0 < len(block_id) <= 255:
                problems.append(f"must be less than 256 characters [json-pointer:{at}/block_id]")
            elif block_id in block_ids:
                problems.append(f"duplicate block_id: {block_id} [json-pointer:{at}/block_id]")
            else:
                block_ids.add(block_id)
        if kind == "section":
            fields = block.get("fields")
            if block.get("text") is None and not fields:
                problems.append(f"must provide either text or fields [json-pointer:{at}]")
            if block.get("text") is not None:
                problems += _text_problems(block["text"], f"{at}/text", 3000)
            if fields is not None:
                if not isinstance(fields, list) or len(fields) > 10:
                    problems.append(f"no more than 10 items allowed [json-pointer:{at}/fields]")
                else:
                    for j, item in enumerate(fields):
                        problems += _text_problems(item, f"{at}/fields/{j}", 2000)
        elif kind == "header":
            text = block.get("text")
            if isinstance(text, dict) and text.get("type") != "plain_text":
                problems.append(f"must be a plain_text object [json-pointer:{at}/text]")
            else:
                problems += _text_problems(text, f"{at}/text", 150)
        elif kind == "context":
            elements = block.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= 10:
                problems.append(f"must have 1 to 10 items [json-pointer:{at}/elements]")
        elif kind == "actions":
            problems += _element_problems(block.get("elements"), at)
        elif kind == "markdown":
            text = block.get("text")
            if not isinstance(text, str) or not 0 < len(text) <= 12000:
                problems.append(f"must be 1 to 12000 characters [json-pointer:{at}/text]")
    return problems


def _element_problems(elements: Any, at: str) -> list[str]:
    """An actions block's buttons and selects, as far as an alert uses them."""
    if not isinstance(elements, list) or not 0 < len(elements) <= 25:
        return [f"must have 1 to 25 items [json-pointer:{at}/elements]"]
    problems: list[str] = []
    for j, element in enumerate(elements):
        here = f"{at}/elements/{j}"
        kind = element.get("type") if isinstance(element, dict) else None
        if kind not in ("button", "static_select", "overflow", "datepicker", "users_select"):
            problems.append(f"unsupported type: {kind} [json-pointer:{here}/type]")
            continue
        if len(str(element.get("action_id") or "")) > 255:
            problems.append(f"must be less than 256 characters [json-pointer:{here}/action_id]")
        if kind == "button":
            problems += _text_problems(element.get("text"), f"{here}/text", 75)
            if len(str(element.get("value") or "")) > 2000:
                problems.append(f"must be less than 2001 characters [json-pointer:{here}/value]")
        if kind == "static_select":
            options = element.get("options")
            if not isinstance(options, list) or not 0 < len(options) <= 100:
                problems.append(f"must have 1 to 100 items [json-pointer:{here}/options]")
                continue
            for k, option in enumerate(options):
                problems += _text_problems(option.get("text"), f"{here}/options/{k}/text", 75)
                if not 0 < len(str(option.get("value") or "")) <= 150:
                    problems.append(
                        f"must be 1 to 150 characters [json-pointer:{here}/options/{k}/value]"
                    )
    return problems


def _text_problems(obj: Any, at: str, limit: int) -> list[str]:
    if not isinstance(obj, dict) or obj.get("type") not in ("plain_text", "mrkdwn"):
        return [f"must be a valid text object [json-pointer:{at}]"]
    text = obj.get("text")
    if not isinstance(text, str) or not text:
        return [f"must be more than 0 characters [json-pointer:{at}/text]"]
    if len(text) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{at}/text]"]
    return []


def _ts_key(ts: str) -> int:
    """A Slack timestamp (``"1764640000.000100"``) in microseconds; ValueError if it is none."""
    seconds, _, fraction = ts.partition(".")
    if not seconds.isdigit() or (fraction and not fraction.isdigit()) or len(fraction) > 6:
        raise ValueError(ts)
    return int(seconds) * 1_000_000 + int(fraction.ljust(6, "0") or "0")


def _key(m: Message) -> int:
    return m.key


def _window(messages: list[Message], p: dict[str, Any]) -> Iterator[Message]:
    """The messages between ``oldest`` and ``latest``, the bounds only when ``inclusive``."""
    bounds = []
    for name in ("oldest", "latest"):
        value = p.get(name)
        try:
            bounds.append(None if value in (None, "") else _ts_key(str(value)))
        except ValueError:
            raise _Error(f"invalid_ts_{name}") from None
    oldest, latest = bounds
    inclusive = _flag(p.get("inclusive"))
    for m in messages:
        if oldest is not None and (m.key < oldest or (m.key == oldest and not inclusive)):
            continue
        if latest is not None and (m.key > latest or (m.key == latest and not inclusive)):
            continue
        yield m


def _page(
    items: list[Any], p: dict[str, Any], *, default: int, most: int
) -> tuple[list[Any], list[Any]]:
    try:
        limit = int(p.get("limit") or default)
    except ValueError:
        raise _Error("invalid_limit") from None
    limit = min(max(limit, 1), most)
    return items[:limit], items[limit:]


def _cursor(kind: str, value: Any) -> str:
    return base64.b64encode(f"{kind}:{value}".encode()).decode()


def _uncursor(cursor: Any, kind: str) -> Any:
    try:
        found, _, value = base64.b64decode(str(cursor), validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        raise _Error("invalid_cursor") from None
    if found != kind or not value or (kind == "next_ts" and not value.isdigit()):
        raise _Error("invalid_cursor")
    return int(value) if kind == "next_ts" else value


def _webhook_payload(req: Request) -> dict[str, Any] | None:
    """A webhook's JSON body, or the ``payload=`` form field; None when it is neither."""
    try:
        if req.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            payload = json.loads(req.form.get("payload", ""))
        else:
            payload = req.json()
    except ValueError:
        return None
    return payload if isinstance(payload, dict) else None


def _text(status: int, body: str) -> Reply:
    """Webhooks answer in plain words, as text/html."""
    return Reply(status, body=body, headers={"Content-Type": "text/html"})
