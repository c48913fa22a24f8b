"""A fake Reddit: OAuth token endpoint, search, subreddit new/comments listings, /api/info,
and replying (``POST /api/comment``, as a script app's user: Reddit's ``json.errors`` /
``json.data.things`` answer).

It speaks Reddit's wire format: Listings of ``t3``/``t1`` things newest first, ``after``
fullname paging (an ``after`` naming an item that is gone gives an empty page, as on Reddit),
``x-ratelimit-remaining``/``-used``/``-reset`` (seconds) headers, a 401 with
``www-authenticate`` for a bad token, a 302 for a subreddit that does not exist and a 403 for a
private one.
"""

from __future__ import annotations

import base64
import re
from collections import defaultdict, deque
from typing import Any

from tests.fakes.http import FakeAPI, Reply, Request

CLIENT_ID = "test-client-id"
CLIENT_SECRET = "test-client-secret-9f8e7d"
T0 = 1_790_000_000.0  # created_utc of the oldest test item (2026)
CLOSE = {"Connection": "close"}


def submission(
    n: int, title: str, created: float, sub: str = "sysadmin", body: str = "", **data: Any
) -> dict[str, Any]:
    short = f"p{n}"
    return {
        "kind": "t3",
        "data": {
            "id": short,
            "name": f"t3_{short}",
            "title": title,
            "selftext": body,
            "author": "kenji_t",
            "author_fullname": "t2_kenji",
            "subreddit": sub,
            "created_utc": created,
            "permalink": f"/r/{sub}/comments/{short}/slug/",
            "score": 5,
            "num_comments": 2,
            **data,
        },
    }


def comment(
    n: int, body: str, created: float, link: str = "t3_p1", sub: str = "sysadmin", **data: Any
) -> dict[str, Any]:
    short = f"c{n}"
    return {
        "kind": "t1",
        "data": {
            "id": short,
            "name": f"t1_{short}",
            "body": body,
            "author": "mika",
            "author_fullname": "t2_mika",
            "subreddit": sub,
            "link_id": link,
            "parent_id": link,
            "created_utc": created,
            "permalink": f"/r/{sub}/comments/{link[3:]}/slug/{short}/",
            "score": 3,
            **data,
        },
    }


class FakeReddit:
    """Things live in ``self.things``; every listing serves them newest first."""

    def __init__(self, username: str | None = None, password: str | None = None) -> None:
        self.api = FakeAPI()
        self.things: list[dict[str, Any]] = []
        self.username, self.password = username, password
        self.tokens: list[str] = []  # issued, in order; the last one is valid
        self.remaining, self.used, self.reset = 600.0, 0, 300
        self.private: set[str] = set()
        self.missing: set[str] = set()
        self.failures: dict[str, deque[Reply]] = defaultdict(deque)
        self.api.route("POST", "/api/v1/access_token")(self._token)
        self.api.route("GET", "/api/info/")(self._info)
        self.api.route("POST", "/api/comment/")(self._comment)
        self.api.route("POST", "/api/comment")(self._comment)
        self.replies: list[dict[str, str]] = []  # the form of each reply created
        self.password_tokens: set[str] = set()  # tokens issued to the user (can post)
        self.subreddits("all")

    # -- scripting ----------------------------------------------------------------------------

    def add(self, *things: dict[str, Any]) -> None:
        self.things.extend(things)

    def subreddits(self, *names: str) -> None:
        """Serve these subreddit (or a+b multireddit) paths."""
        for name in names:
            self.api.route("GET", f"/r/{name}/search/")(self._search)
            self.api.route("GET", f"/r/{name}/new/")(self._new)
            self.api.route("GET", f"/r/{name}/comments/")(self._comments)

    def fail(self, endpoint: str, *replies: Reply) -> None:
        """Serve these replies to the next calls of one endpoint (search, new, comments,
        info, token, comment) instead of the real answer."""
        self.failures[endpoint].extend(replies)

    def calls(self, endpoint: str) -> list[Request]:
        suffix = {"search": "/search/", "new": "/new/", "comments": "/comments/"}.get(endpoint)
        if suffix:
            return [r for r in self.api.requests if r.path.endswith(suffix)]
        if endpoint == "comment":
            return [r for r in self.api.requests if r.path.rstrip("/") == "/api/comment"]
        path = {"info": "/api/info/", "token": "/api/v1/access_token"}[endpoint]
        return self.api.calls(path)

    @property
    def searches(self) -> list[Request]:
        return self.calls("search")

    # -- endpoints ----------------------------------------------------------------------------

    def _token(self, req: Request) -> Reply:
        # prawcore asks for "Connection: close" here; the answers say so too, or the client may
        # reuse the socket the server is closing (a ConnectionError, now and then).
        if scripted := self._scripted("token"):
            scripted.headers.update(CLOSE)
            return scripted
        expected = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if req.headers.get("authorization") != f"Basic {expected}":
            return Reply(401, json={"message": "Unauthorized", "error": 401}, headers=CLOSE)
        form = req.form
        if form.get("grant_type") == "password":
            if (form.get("username"), form.get("password")) != (self.username, self.password):
                return Reply(200, json={"error": "invalid_grant"}, headers=CLOSE)
        elif form.get("grant_type") != "client_credentials":
            return Reply(200, json={"error": "unsupported_grant_type"}, headers=CLOSE)
        self.tokens.append(f"fake-access-token-{len(self.tokens) + 1}-abcdef")
        if form.get("grant_type") == "password":
            self.password_tokens.add(self.tokens[-1])
        body = {
            "access_token": self.tokens[-1],
            "token_type": "bearer",
            "expires_in": 86400,
            "scope": "*",
        }
        return Reply(json=body, headers=CLOSE)

    def _search(self, req: Request) -> Reply:
        return self._serve("search", req, lambda scope: self._matches(req, scope))

    def _new(self, req: Request) -> Reply:
        return self._serve("new", req, lambda scope: self._in(scope, "t3"))

    def _comments(self, req: Request) -> Reply:
        return self._serve("comments", req, lambda scope: self._in(scope, "t1"))

    def _info(self, req: Request) -> Reply:
        if denied := self._check(req, "info"):
            return denied
        ids = req.query.get("id", "").split(",")
        found = [t for t in self.things if t["data"]["name"] in ids]
        return Reply(json=listing(found, None), headers=self._rate_headers())

    def _comment(self, req: Request) -> Reply:
        if denied := self._check(req, "comment"):
            return denied
        if req.headers.get("authorization", "").removeprefix("bearer ") not in self.password_tokens:
            return Reply(403, json={"message": "Forbidden", "error": 403})  # app-only tokens
        form = req.form
        parent = form.get("thing_id", "")
        found = next((t for t in self.things if t["data"]["name"] == parent), None)
        if form.get("api_type") != "json" or not form.get("text"):
            return Reply(json={"json": {"errors": [["NO_TEXT", "we need something here", "text"]]}})
        if found is None:
            kind = "DELETED_COMMENT" if parent.startswith("t1_") else "DELETED_LINK"
            errors = [[kind, "that comment has been deleted", "parent"]]
            return Reply(json={"json": {"errors": errors}}, headers=self._rate_headers())
        self.replies.append(form)
        short = f"r{len(self.replies)}"
        link = found["data"].get("link_id") or parent
        sub = found["data"]["subreddit"]
        created = {
            "id": short,
            "name": f"t1_{short}",
            "body": form["text"],
            "author": self.username,
            "parent_id": parent,
            "link_id": link,
            "subreddit": sub,
            "created_utc": T0 + 10_000,
            "permalink": f"/r/{sub}/comments/{link[3:]}/slug/{short}/",
            "score": 1,
        }
        things = [{"kind": "t1", "data": created}]
        body = {"json": {"errors": [], "data": {"things": things}}}
        return Reply(json=body, headers=self._rate_headers())

    # -- helpers ------------------------------------------------------------------------------

    def _serve(self, endpoint: str, req: Request, select: Any) -> Reply:
        if denied := self._check(req, endpoint):
            return denied
        scope = req.path.split("/")[2]
        if scope in self.missing:
            location = f"https://www.reddit.com/subreddits/search.json?q={scope}"
            return Reply(302, headers={"location": location, **self._rate_headers()})
        if scope in self.private:
            body = {"reason": "private", "message": "Forbidden", "error": 403}
            return Reply(403, json=body, headers=self._rate_headers())
        found = newest_first(select(scope))
        after = req.query.get("after")
        if after:
            names = [t["data"]["name"] for t in found]
            found = found[names.index(after) + 1 :] if after in names else []
        size = min(int(req.query.get("limit", "25")), 100)
        page, rest = found[:size], found[size:]
        token = page[-1]["data"]["name"] if page and rest else None
        return Reply(json=listing(page, token), headers=self._rate_headers())

    def _check(self, req: Request, endpoint: str) -> Reply | None:
        if scripted := self._scripted(endpoint):
            return scripted
        if not self.tokens or req.headers.get("authorization") != f"bearer {self.tokens[-1]}":
            challenge = 'Bearer realm="reddit", error="invalid_token"'
            return Reply(401, json={"message": "Unauthorized", "error": 401},
                         headers={"www-authenticate": challenge})  # fmt: skip
        return None

    def _scripted(self, endpoint: str) -> Reply | None:
        queue = self.failures[endpoint]
        return queue.popleft() if queue else None

    def _rate_headers(self) -> dict[str, str]:
        self.remaining -= 1
        self.used += 1
        return {
            "x-ratelimit-remaining": f"{max(self.remaining, 0):.1f}",
            "x-ratelimit-used": str(self.used),
            "x-ratelimit-reset": str(self.reset),
        }

    def _subs(self) -> set[str]:
        return {t["data"]["subreddit"] for t in self.things}

    def _in(self, scope: str, kind: str) -> list[dict[str, Any]]:
        subs = {s.lower() for s in scope.split("+")}
        return [t for t in self.things if t["kind"] == kind and t["data"]["subreddit"] in subs]

    def _matches(self, req: Request, scope: str) -> list[dict[str, Any]]:
        """A rough Lucene: any of the OR'ed terms, none of the NOT'ed ones; submissions only."""
        q = req.query.get("q", "")
        wanted_part, *excluded = re.split(r"\s+NOT\s+", q)
        wanted = _terms(wanted_part)
        unwanted = [t for part in excluded for t in _terms(part)]
        restricted = req.query.get("restrict_sr") == "True"
        pool = (
            self._in(scope, "t3") if restricted else [t for t in self.things if t["kind"] == "t3"]
        )
        found = []
        for thing in pool:
            text = f"{thing['data'].get('title', '')} {thing['data'].get('selftext', '')}".lower()
            if any(w in text for w in wanted) and not any(u in text for u in unwanted):
                found.append(thing)
        return found


def _terms(part: str) -> list[str]:
    found = re.findall(r'"([^"]+)"|([^\s()"]+)', part)
    return [(a or b).lower() for a, b in found if (a or b) not in {"OR", "AND"}]


def newest_first(things: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return sorted(things, key=lambda t: t["data"].get("created_utc") or 0, reverse=True)


def listing(children: list[dict[str, Any]], after: str | None) -> dict[str, Any]:
    return {
        "kind": "Listing",
        "data": {
            "after": after,
            "before": None,
            "dist": len(children),
            "modhash": "",
            "children": children,
        },
    }
