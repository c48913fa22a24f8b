"""A fake Bluesky XRPC service: post search (newest first, offset cursor), getPosts, sessions,
and posting (``com.atproto.repo.createRecord``, signed in, into the session's own repo).

It plays both the AppView (``app.bsky.feed.*``) and the PDS (``com.atproto.server.*``),
answering with the documented JSON: ``postView`` objects, ``ratelimit-*`` headers, XRPC
errors (``{"error": ..., "message": ...}``), DID documents naming the PDS.

Search follows the reference search service (palomar): ``#tag`` is a tag filter, a quoted
phrase must appear in the text, terms are ANDed (no ``OR``); ``since`` is inclusive and both
it and the order use ``sortAt`` (the earlier of createdAt and indexedAt).
"""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.fakes.http import FakeAPI, Reply, Request

BASE_TIME = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
HANDLE = "harken-bot.bsky.social"
APP_PASSWORD = "abcd-efgh-ijkl-mnop"
ACCOUNT_DID = "did:plc:harkenbot0000000000000"
AUTHORS = {
    "kenji.bsky.social": ("did:plc:kenji00000000000000000", "Kenji"),
    "bigvoice.com": ("did:plc:bigvoice000000000000000", "Big Voice"),
    "acme.com": ("did:plc:acme0000000000000000000", "Acme"),
}


def stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def at(minute: int) -> datetime:
    """Post ``n`` of a test is written ``n`` minutes after a fixed start."""
    return BASE_TIME + timedelta(minutes=minute)


def post(
    n: int,
    text: str,
    author: str = "kenji.bsky.social",
    created: datetime | None = None,
    indexed: datetime | None = None,
    tags: list[str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A ``app.bsky.feed.defs#postView`` as the AppView returns it."""
    did, name = AUTHORS[author]
    created = created or at(n)
    record: dict[str, Any] = {
        "$type": "app.bsky.feed.post",
        "text": text,
        "createdAt": stamp(created),
        "langs": ["en"],
    }
    if tags:
        record["tags"] = tags
    return {
        "uri": f"at://{did}/app.bsky.feed.post/3l{n:011d}",
        "cid": f"bafyreig{n:052d}",
        "author": {
            "did": did,
            "handle": author,
            "displayName": name,
            "avatar": f"https://cdn.bsky.app/img/avatar/plain/{did}/x@jpeg",
            "labels": [],
            "createdAt": "2024-01-01T00:00:00.000Z",
        },
        "record": record,
        "replyCount": 1,
        "repostCount": 2,
        "likeCount": 10,
        "quoteCount": 0,
        "indexedAt": stamp(indexed or created + timedelta(seconds=2)),
        "labels": [],
        **extra,
    }


def _sort_at(p: dict[str, Any]) -> datetime:
    def parse(value: str) -> datetime:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))

    return min(parse(p["record"]["createdAt"]), parse(p["indexedAt"]))


class HangUp(Exception):
    """Raised by a route to drop the connection unanswered (a proxy or server dying)."""


def jwt(claims: dict[str, Any]) -> str:
    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'typ': 'at+jwt', 'alg': 'ES256K'})}.{part(claims)}.c2lnbmF0dXJl"


class FakeBluesky:
    """Posts live in ``self.posts``; search answers newest first, like the real service."""

    def __init__(self, reset_epoch: int = 2_000_000_000) -> None:
        self.api = FakeAPI()
        self.posts: list[dict[str, Any]] = []
        self.remaining = 3000
        self.reset_epoch = reset_epoch
        self.anonymous_search = True  # Bluesky turns it off under load (403)
        self.pds_url: str | None = None  # the DID document's PDS (None: this fake)
        self.access_lifetime = timedelta(hours=2)
        self.tokens: set[str] = set()  # access tokens still accepted
        self.refresh_tokens: set[str] = set()
        self.issued: list[str] = []  # every token ever handed out
        self._issued = 0
        self.hang_ups = 0  # searches still to answer by closing the connection, saying nothing
        self.refuse_cursors = 0  # page tokens still to refuse (400), like an expired one
        self.api.route("GET", "/xrpc/app.bsky.feed.searchPosts")(self._search)
        self.api.route("GET", "/xrpc/app.bsky.feed.getPosts")(self._get_posts)
        self.api.route("POST", "/xrpc/com.atproto.server.createSession")(self._create_session)
        self.api.route("POST", "/xrpc/com.atproto.server.refreshSession")(self._refresh_session)
        self.api.route("POST", "/xrpc/com.atproto.repo.createRecord")(self._create_record)
        self.created: list[dict[str, Any]] = []  # createRecord bodies accepted, in order

    def add(self, *posts: dict[str, Any]) -> None:
        self.posts.extend(posts)

    def calls(self, nsid: str) -> list[Request]:
        return self.api.calls(f"/xrpc/{nsid}")

    @property
    def searches(self) -> list[Request]:
        return self.calls("app.bsky.feed.searchPosts")

    @property
    def logins(self) -> list[Request]:
        return self.calls("com.atproto.server.createSession")

    def expire_sessions(self) -> None:
        """The server forgets every token (the client's own clock still thinks them valid)."""
        self.tokens.clear()
        self.refresh_tokens.clear()

    # -- helpers ------------------------------------------------------------------------------

    def _rate_headers(self) -> dict[str, str]:
        self.remaining -= 1
        return {
            "ratelimit-limit": "3000",
            "ratelimit-remaining": str(self.remaining),
            "ratelimit-reset": str(self.reset_epoch),
            "ratelimit-policy": "3000;w=300",
        }

    @staticmethod
    def _error(status: int, error: str, message: str) -> Reply:
        return Reply(status, json={"error": error, "message": message})

    def _viewer(self, req: Request) -> Reply | str | None:
        """None: anonymous; "ok": a live access token; a Reply: the error to send."""
        auth = req.headers.get("authorization")
        if auth is None:
            return None
        token = auth.removeprefix("Bearer ")
        if token not in self.tokens:
            return self._error(400, "ExpiredToken", "Token has expired")
        return "ok"

    def _session(self) -> dict[str, Any]:
        self._issued += 1
        now = int(time.time())
        access = jwt(
            {
                "scope": "com.atproto.appPass",
                "sub": ACCOUNT_DID,
                "iat": now,
                "exp": now + int(self.access_lifetime.total_seconds()),
                "jti": f"a{self._issued}",
            }
        )
        refresh = jwt(
            {
                "scope": "com.atproto.refresh",
                "sub": ACCOUNT_DID,
                "exp": now + 86400 * 60,
                "jti": f"r{self._issued}",
            }
        )
        self.tokens.add(access)
        self.refresh_tokens.add(refresh)
        self.issued += [access, refresh]
        return {
            "did": ACCOUNT_DID,
            "handle": HANDLE,
            "accessJwt": access,
            "refreshJwt": refresh,
            "active": True,
            "didDoc": {
                "@context": ["https://www.w3.org/ns/did/v1"],
                "id": ACCOUNT_DID,
                "alsoKnownAs": [f"at://{HANDLE}"],
                "service": [
                    {
                        "id": "#atproto_pds",
                        "type": "AtprotoPersonalDataServer",
                        "serviceEndpoint": self.pds_url or self.api.url,
                    }
                ],
            },
        }

    # -- routes -------------------------------------------------------------------------------

    def _create_session(self, req: Request) -> Reply:
        body = req.json() or {}
        if body.get("identifier") != HANDLE or body.get("password") != APP_PASSWORD:
            return self._error(401, "AuthenticationRequired", "Invalid identifier or password")
        return Reply(json=self._session(), headers=self._rate_headers())

    def _refresh_session(self, req: Request) -> Reply:
        token = req.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self.refresh_tokens:
            return self._error(400, "ExpiredToken", "Token has been revoked")
        self.refresh_tokens.discard(token)
        return Reply(json=self._session(), headers=self._rate_headers())

    def _search(self, req: Request) -> Reply:
        if self.hang_ups > 0:
            self.hang_ups -= 1
            # The handler dies before writing a byte: the server closes the connection.
            raise HangUp("closing the connection without an answer")
        if self.refuse_cursors > 0 and "cursor" in req.query:
            self.refuse_cursors -= 1
            return self._error(400, "InvalidRequest", "invalid cursor")
        viewer = self._viewer(req)
        if isinstance(viewer, Reply):
            return viewer
        if viewer is None and not self.anonymous_search:
            return Reply(
                403,
                body="<html><h1>403 Forbidden</h1></html>",
                headers={"Content-Type": "text/html"},
            )
        if viewer is None and "cursor" in req.query:  # the public AppView never pages anonymously
            return Reply(
                403,
                body="Request forbidden by administrative rules.",
                headers={"Content-Type": "text/plain"},
            )
        q = req.query.get("q", "")
        if not q:
            return self._error(400, "InvalidRequest", 'Error: Params must have the property "q"')
        limit = int(req.query.get("limit", "25"))
        if not 1 <= limit <= 100:
            return self._error(400, "InvalidRequest", "limit must be between 1 and 100")
        if req.query.get("sort", "latest") != "latest":
            return self._error(400, "InvalidRequest", "this fake only sorts by latest")
        found = [p for p in self.posts if self._matches(p, q, req.query)]
        found.sort(key=lambda p: (_sort_at(p), p["uri"]), reverse=True)
        offset = int(req.query.get("cursor", "0"))
        page = found[offset : offset + limit]
        body: dict[str, Any] = {"posts": page, "hitsTotal": len(found)}
        if len(page) == limit:  # like palomar: a full page always has a cursor
            body["cursor"] = str(offset + limit)
        return Reply(json=body, headers=self._rate_headers())

    @staticmethod
    def _matches(p: dict[str, Any], q: str, query: dict[str, str]) -> bool:
        record = p.get("record") or {}
        if "lang" in query and query["lang"] not in (record.get("langs") or []):
            return False
        if "since" in query:
            since = datetime.fromisoformat(query["since"].replace("Z", "+00:00"))
            if _sort_at(p) < since:
                return False
        if q.startswith("#"):
            return q[1:].casefold() in {t.casefold() for t in record.get("tags") or []}
        text = str(record.get("text", "")).casefold()
        return all(term.strip('"').casefold() in text for term in q.split('" "'))

    def _create_record(self, req: Request) -> Reply:
        viewer = self._viewer(req)
        if isinstance(viewer, Reply):
            return viewer
        if viewer is None:
            return self._error(401, "AuthenticationRequired", "Authentication Required")
        body = req.json() or {}
        record = body.get("record") or {}
        if body.get("repo") not in (ACCOUNT_DID, HANDLE):
            return self._error(400, "InvalidRequest", "Can not create a record in another repo")
        if body.get("collection") != "app.bsky.feed.post" or not isinstance(record, dict):
            return self._error(400, "InvalidRequest", "this fake only creates posts")
        if record.get("$type") != "app.bsky.feed.post" or "createdAt" not in record:
            return self._error(400, "InvalidRequest", "Invalid app.bsky.feed.post record")
        self.created.append(body)
        rkey = f"3lreply{len(self.created):06d}"
        cid = f"bafyreireply{len(self.created):047d}"
        answer = {
            "uri": f"at://{ACCOUNT_DID}/app.bsky.feed.post/{rkey}",
            "cid": cid,
            "commit": {"cid": f"bafyreicommit{len(self.created):046d}", "rev": "3lrev000000"},
            "validationStatus": "valid",
        }
        return Reply(json=answer, headers=self._rate_headers())

    def _get_posts(self, req: Request) -> Reply:
        viewer = self._viewer(req)
        if isinstance(viewer, Reply):
            return viewer
        uris = req.query_all.get("uris", [])
        if len(uris) > 25:
            return self._error(400, "InvalidRequest", "uris must not have more than 25 elements")
        by_uri = {p["uri"]: p for p in self.posts}
        return Reply(
            json={"posts": [by_uri[u] for u in uris if u in by_uri]}, headers=self._rate_headers()
        )
