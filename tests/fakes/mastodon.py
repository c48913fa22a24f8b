"""A fake Mastodon instance, as Mastodon.py sees one.

* ``GET /api/v1/timelines/tag/:tag`` with ``min_id`` (the page immediately newer), ``since_id``
  (the newest page above), ``max_id`` and ``limit`` (default 20, at most 40); newest first;
  ``Link`` headers like Mastodon's.
* ``GET /api/v2/search?type=statuses``: newest first, ``min_id`` a lower bound (Mastodon makes it
  an ``after:`` filter, so it does *not* page forward), ``offset`` paging; signed-in only for
  statuses and for ``offset``, as on Mastodon.
* ``GET /api/v1/statuses/:id``; ``/api/v1/instance/`` and ``/api/v2/instance/`` (Mastodon.py
  reads them; without them it retries the version lookup until it crashes).
* ``POST /api/v1/statuses`` (signed in; form fields as Mastodon.py sends them; a replayed
  ``Idempotency-Key`` answers the status it created before), and ``resolve=true`` search: a
  status URI or URL this instance holds, or one of ``remote`` (statuses of other instances it
  can fetch), which it then stores under an id of its own.
* rack-attack's ``X-RateLimit-Limit/Remaining/Reset`` (ISO 8601) on every API answer.

Status ids are local to the instance; ``uri`` is global (two fakes may hold one status).
"""

from __future__ import annotations

import html
import json
import threading
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from tests.fakes.http import FakeAPI, Handler, Reply, Request

TAG_PREFIX = "/api/v1/timelines/tag/"
STATUS_PREFIX = "/api/v1/statuses/"


def status(
    local_id: int | str,
    text: str,
    tags: tuple[str, ...] = ("acme",),
    acct: str = "alice",
    origin: str = "mastodon.social",
    **extra: Any,
) -> dict[str, Any]:
    """A Status entity as the REST API returns it (``text`` becomes the HTML content)."""
    uri = f"https://{origin}/users/{acct}/statuses/{local_id}"
    return {
        "id": str(local_id),
        "uri": uri,
        "url": f"https://{origin}/@{acct}/{local_id}",
        "created_at": "2026-11-22T10:00:00.000Z",
        "content": f"<p>{html.escape(text)}</p>",
        "spoiler_text": "",
        "visibility": "public",
        "sensitive": False,
        "language": "en",
        "in_reply_to_id": None,
        "in_reply_to_account_id": None,
        "reblog": None,
        "replies_count": 0,
        "reblogs_count": 1,
        "favourites_count": 3,
        "tags": [{"name": t, "url": f"https://{origin}/tags/{t}"} for t in tags],
        "mentions": [],
        "emojis": [],
        "media_attachments": [],
        "account": {
            "id": "1",
            "username": acct,
            "acct": acct,
            "display_name": acct.title(),
            "url": f"https://{origin}/@{acct}",
            "followers_count": 120,
        },
        **extra,
    }


class _Routes(dict):
    """Exact routes, then ``/prefix/*`` ones (tag names and status ids live in the path)."""

    def get(self, key: Any, default: Any = None) -> Any:
        if key in self:
            return self[key]
        method, path = key
        for (m, pattern), handler in self.items():
            if m == method and pattern.endswith("*") and path.startswith(pattern[:-1]):
                return handler
        return default


class _API(FakeAPI):
    """FakeAPI with prefix routes (``/api/v1/timelines/tag/*``)."""

    def __init__(self) -> None:
        super().__init__()
        self.routes = _Routes()


class FakeMastodon:
    def __init__(self, domain: str = "mastodon.social", token: str | None = None) -> None:
        self.api = _API()
        self.domain = domain
        self.token = token  # the one token this instance accepts
        self.statuses: list[dict[str, Any]] = []
        self.limit, self.remaining = 300, 300
        self.reset_at = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
        self._failures: deque[Reply | Handler] = deque()
        # A test's own script: a Reply to serve instead of the API's answer, or None.
        self.before: Callable[[Request], Reply | None] | None = None
        self.api.route("GET", "/api/v1/instance/")(self._instance_v1)
        self.api.route("GET", "/api/v2/instance/")(self._instance_v2)
        self.api.route("GET", TAG_PREFIX + "*")(self._scripted(self._tag_timeline))
        self.api.route("GET", "/api/v2/search")(self._scripted(self._search))
        self.api.route("GET", STATUS_PREFIX + "*")(self._scripted(self._status))
        self.api.route("POST", "/api/v1/statuses")(self._scripted(self._post_status))
        self.api.route("GET", "/api/v1/streaming/hashtag")(self._stream_hashtag)
        self.api.route("GET", "/api/v1/streaming/public")(self._stream_public)
        self.api.route("GET", "/api/v1/streaming/public/local")(self._stream_public)
        # The streaming API (server-sent events): statuses pushed with push() go to every open
        # hashtag stream of their tags; drop_streams() ends the open ones; a heartbeat
        # comment every ``heartbeat`` seconds, as Mastodon's ":thump" every 15.
        self.streaming_url: str | None = None  # what /api/v2/instance says (None: the domain)
        self.heartbeat = 0.2
        self.refused_tags: set[str] = set()  # hashtags whose stream the instance refuses
        self.pushed: list[dict[str, Any]] = []
        self.stream_requests: list[Request] = []
        self._stream_changed = threading.Condition()
        self._stream_generation = 0
        self.remote: dict[str, dict[str, Any]] = {}  # uri -> a status another instance holds
        self.posted: list[dict[str, str]] = []  # the form of each status created
        self._idempotent: dict[str, dict[str, Any]] = {}
        self.next_id = 900_000

    # -- scripting ----------------------------------------------------------------------------

    def add(self, *statuses: dict[str, Any]) -> None:
        self.statuses.extend(statuses)

    def fail_next(self, *replies: Reply | Handler) -> None:
        """Serve these to the next API calls (instance info is always answered); a handler
        is called with the request it answers."""
        self._failures.extend(replies)

    @property
    def url(self) -> str:
        return self.api.url

    def calls(self, prefix: str) -> list[Request]:
        return [r for r in self.api.requests if r.path.startswith(prefix)]

    @property
    def tag_calls(self) -> list[Request]:
        return self.calls(TAG_PREFIX)

    @property
    def searches(self) -> list[Request]:
        return self.calls("/api/v2/search")

    @property
    def posts(self) -> list[Request]:
        return [r for r in self.api.requests if (r.method, r.path) == ("POST", "/api/v1/statuses")]

    def add_remote(self, *statuses: dict[str, Any]) -> None:
        """Statuses of other instances this one can fetch when asked to resolve them."""
        self.remote.update({s["uri"]: s for s in statuses})

    # -- serving ------------------------------------------------------------------------------

    def _scripted(self, handler: Handler) -> Handler:
        def serve(req: Request) -> Reply:
            if self._failures:
                failure = self._failures.popleft()
                return failure(req) if callable(failure) else failure
            scripted = self.before(req) if self.before else None
            if scripted is not None:
                return scripted
            denied = self._check_token(req)
            if denied is not None:
                return denied
            reply = handler(req)
            reply.headers = {**self._rate_headers(), **reply.headers}
            return reply

        return serve

    def _check_token(self, req: Request) -> Reply | None:
        given = req.headers.get("authorization")
        if given is not None and given != f"Bearer {self.token}":
            return Reply(401, json={"error": "The access token is invalid"})
        return None

    def _rate_headers(self) -> dict[str, str]:
        self.remaining = max(0, self.remaining - 1)
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": self.reset_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }

    def _instance_v1(self, req: Request) -> Reply:
        return Reply(
            json={
                "uri": self.domain,
                "title": "Fake Mastodon",
                "version": "4.3.2",
                "urls": {"streaming_api": f"wss://{self.domain}"},
            }
        )

    def _instance_v2(self, req: Request) -> Reply:
        return Reply(
            json={
                "domain": self.domain,
                "title": "Fake Mastodon",
                "version": "4.3.2",
                "api_versions": {"mastodon": 2},
                "configuration": {
                    "urls": {"streaming": self.streaming_url or f"wss://{self.domain}"}
                },
            }
        )

    def push(self, *statuses: dict[str, Any]) -> None:
        """Statuses written now: on the open streams of their tags (and on the timelines)."""
        with self._stream_changed:
            self.statuses.extend(statuses)
            self.pushed.extend(statuses)
            self._stream_changed.notify_all()

    def drop_streams(self) -> None:
        with self._stream_changed:
            self._stream_generation += 1
            self._stream_changed.notify_all()

    def _stream_hashtag(self, req: Request) -> Reply:
        tag = req.query.get("tag", "").lower()
        if tag in self.refused_tags:
            self.stream_requests.append(req)
            return Reply(422, json={"error": "Invalid hashtag"})
        return self._stream(
            req, lambda status: tag in {t["name"].lower() for t in status.get("tags") or []}
        )

    def _stream_public(self, req: Request) -> Reply:
        """The federated (or local) timeline: every status, whatever it says."""
        return self._stream(req, lambda status: True)

    def _stream(self, req: Request, wanted: Callable[[dict[str, Any]], bool]) -> Reply:
        self.stream_requests.append(req)
        if req.headers.get("authorization") != f"Bearer {self.token}" or not self.token:
            return Reply(401, json={"error": "The access token is invalid"})
        with self._stream_changed:
            generation, sent = self._stream_generation, len(self.pushed)

        def events() -> Iterator[bytes]:
            nonlocal sent
            yield b":)\n"
            while True:
                with self._stream_changed:
                    if sent >= len(self.pushed) and generation == self._stream_generation:
                        self._stream_changed.wait(self.heartbeat)
                    if generation != self._stream_generation:
                        return
                    fresh, sent = self.pushed[sent:], len(self.pushed)
                if not fresh:
                    yield b":thump\n"
                for status in fresh:
                    if wanted(status):
                        yield f"event: update\ndata: {json.dumps(status)}\n\n".encode()

        return Reply(headers={"Content-Type": "text/event-stream"}, stream=events)

    def _tag_timeline(self, req: Request) -> Reply:
        tag = unquote(req.path[len(TAG_PREFIX) :]).lower()
        found = [
            s for s in self.statuses if tag in {t["name"].lower() for t in s.get("tags") or []}
        ]
        found.sort(key=lambda s: -int(s["id"]))  # newest first
        limit = min(int(req.query.get("limit", "20")), 40)
        if "max_id" in req.query:
            found = [s for s in found if int(s["id"]) < int(req.query["max_id"])]
        if "since_id" in req.query:
            found = [s for s in found if int(s["id"]) > int(req.query["since_id"])]
        if "min_id" in req.query:
            # The page *immediately* newer than min_id: the oldest ones above it.
            above = [s for s in found if int(s["id"]) > int(req.query["min_id"])]
            page = above[-limit:]
        else:
            page = found[:limit]
        headers = {}
        if page:
            base = f"{self.url}{req.path}"
            headers["Link"] = (
                f'<{base}?max_id={page[-1]["id"]}>; rel="next", '
                f'<{base}?min_id={page[0]["id"]}>; rel="prev"'
            )
        return Reply(json=page, headers=headers)

    def _search(self, req: Request) -> Reply:
        signed_in = "authorization" in req.headers
        if not signed_in and "offset" in req.query:
            error = "Search queries pagination is not supported without authentication"
            return Reply(401, json={"error": error})
        if not signed_in and req.query.get("resolve") in ("1", "true"):
            error = "Search queries that resolve remote resources are not supported without auth"
            return Reply(401, json={"error": error})
        if req.query.get("resolve") in ("1", "true") and "://" in req.query.get("q", ""):
            found = self._resolve(req.query["q"])
            return Reply(json={"accounts": [], "statuses": found, "hashtags": []})
        term, exclusions = _parse_query(req.query.get("q", ""))
        found = []
        if signed_in and req.query.get("type") in (None, "statuses"):
            found = [s for s in self.statuses if _matches(s, term, exclusions)]
        found.sort(key=lambda s: -int(s["id"]))  # Mastodon orders search results by id desc
        if "min_id" in req.query:  # becomes after:<time>: a bound, not a page position
            found = [s for s in found if int(s["id"]) > int(req.query["min_id"])]
        if "max_id" in req.query:
            found = [s for s in found if int(s["id"]) < int(req.query["max_id"])]
        offset = int(req.query.get("offset", "0"))
        limit = min(int(req.query.get("limit", "20")), 40)
        page = found[offset : offset + limit]
        return Reply(json={"accounts": [], "statuses": page, "hashtags": []})

    def _resolve(self, url: str) -> list[dict[str, Any]]:
        for s in self.statuses:
            if url in (s["uri"], s["url"]):
                return [s]
        remote = self.remote.get(url) or next(
            (s for s in self.remote.values() if s["url"] == url), None
        )
        if remote is None:
            return []
        self.next_id += 1
        origin = remote["uri"].split("/")[2]
        account = {**remote["account"], "acct": f"{remote['account']['username']}@{origin}"}
        local = {**remote, "id": str(self.next_id), "account": account}
        self.statuses.append(local)
        return [local]

    def _post_status(self, req: Request) -> Reply:
        if "authorization" not in req.headers:
            return Reply(401, json={"error": "The access token is invalid"})
        key = req.headers.get("idempotency-key")
        if key and key in self._idempotent:
            return Reply(json=self._idempotent[key])
        form = req.form
        parent_id = form.get("in_reply_to_id")
        parent = next((s for s in self.statuses if s["id"] == parent_id), None)
        if parent_id and parent is None:
            return Reply(404, json={"error": "Record not found"})
        if len(form.get("status", "")) > 500:
            error = "Validation failed: Text character limit of 500 exceeded"
            return Reply(422, json={"error": error})
        self.posted.append(form)
        self.next_id += 1
        created = status(self.next_id, form.get("status", ""), (), "acme", self.domain)
        created["in_reply_to_id"] = parent_id
        created["visibility"] = form.get("visibility", "public")
        created["spoiler_text"] = form.get("spoiler_text", "")
        self.statuses.append(created)
        if key:
            self._idempotent[key] = created
        return Reply(json=created)

    def _status(self, req: Request) -> Reply:
        local_id = unquote(req.path[len(STATUS_PREFIX) :])
        for s in self.statuses:
            if s["id"] == local_id:
                return Reply(json=s)
        return Reply(404, json={"error": "Record not found"})


def _parse_query(q: str) -> tuple[str, list[str]]:
    """The first term or "phrase", and the -excluded ones (enough of Mastodon's syntax)."""
    terms: list[str] = []
    rest = q.strip()
    while rest:
        negated = rest.startswith("-")
        rest = rest.removeprefix("-")
        if rest.startswith('"'):
            phrase, _, rest = rest[1:].partition('"')
        else:
            phrase, _, rest = rest.partition(" ")
        terms.append(("-" if negated else "") + phrase.lower())
        rest = rest.strip()
    positive = [t for t in terms if not t.startswith("-")]
    return (positive[0] if positive else ""), [t[1:] for t in terms if t.startswith("-")]


def _matches(status: dict[str, Any], term: str, exclusions: list[str]) -> bool:
    text = html.unescape(str(status.get("content", ""))).lower()
    return bool(term) and term in text and not any(e in text for e in exclusions)
