"""A fake X API v2: recent search with since_id / next_token paging, tweet lookup, rate headers,
and posting (``POST /2/tweets``) with OAuth 1.0a signatures checked as X checks them."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

from oauthlib.oauth1.rfc5849 import signature

from tests.fakes.http import FakeAPI, Reply, Request

# The user-context credentials the fake accepts for posting (an app's key pair and a user's).
CONSUMER_KEY = "test-consumer-key"
CONSUMER_SECRET = "test-consumer-secret-5a4b3c"
ACCESS_TOKEN = "100-test-access-token"
ACCESS_TOKEN_SECRET = "test-access-token-secret-7d6e5f"
# What a config's ${X_...} references read to search (bearer) and to reply (OAuth 1.0a user).
ENV = {
    "X_BEARER_TOKEN": "test-bearer-token",
    "X_CONSUMER_KEY": CONSUMER_KEY,
    "X_CONSUMER_SECRET": CONSUMER_SECRET,
    "X_ACCESS_TOKEN": ACCESS_TOKEN,
    "X_ACCESS_TOKEN_SECRET": ACCESS_TOKEN_SECRET,
}
# tweepy signs the URL it means to call; the transport adapter only changes where it goes.
SIGNED_URL = "https://api.twitter.com/2/tweets"

USERS = {
    "100": {
        "id": "100",
        "name": "Kenji",
        "username": "kenji_t",
        "verified": False,
        "public_metrics": {"followers_count": 1200},
    },
    "200": {
        "id": "200",
        "name": "Big Voice",
        "username": "bigvoice",
        "verified": True,
        "public_metrics": {"followers_count": 85000},
    },
}


def tweet(tweet_id: int | str, text: str, author: str = "100", **extra: Any) -> dict[str, Any]:
    return {
        "id": str(tweet_id),
        "text": text,
        "author_id": author,
        "created_at": "2026-11-22T09:15:00.000Z",
        "lang": "en",
        "conversation_id": str(tweet_id),
        "public_metrics": {
            "retweet_count": 3,
            "reply_count": 1,
            "like_count": 10,
            "quote_count": 0,
        },
        **extra,
    }


class FakeX:
    """Tweets live in ``self.tweets``; search returns them newest first, like the real API."""

    def __init__(self, reset_epoch: int = 2_000_000_000) -> None:
        self.api = FakeAPI()
        self.tweets: list[dict[str, Any]] = []
        self.users = dict(USERS)
        self.remaining = 450
        self.reset_epoch = reset_epoch
        self.expired_tokens: set[str] = set()
        # since_ids refused as X refuses one from before its 7-day search window.
        self.refused_since: set[str] = set()
        self.posted: list[dict[str, Any]] = []  # the tweets created, as the body asked for them
        self.next_id = 1_990_000_000_000_000_000
        self.api.route("GET", "/2/tweets/search/recent")(self._search)
        self.api.route("GET", "/2/tweets")(self._lookup)
        self.api.route("POST", "/2/tweets")(self._create)
        # The filtered stream: rules (GET, and POST add / delete), and the stream itself,
        # newline-delimited JSON with a keep-alive newline every ``keep_alive`` seconds.
        # ``stream_plan`` False: the 403 of a plan without the filtered stream.
        self.rules: list[dict[str, str]] = [{"id": "1", "value": "other tool", "tag": "theirs"}]
        self.stream_plan = True
        self.keep_alive = 0.2
        self.streamed: list[dict[str, Any]] = []  # tweets written, for open streams
        self.stream_requests: list[Request] = []
        self._stream_changed = threading.Condition()
        self._stream_generation = 0
        self.api.route("GET", "/2/tweets/search/stream/rules")(self._get_rules)
        self.api.route("POST", "/2/tweets/search/stream/rules")(self._change_rules)
        self.api.route("GET", "/2/tweets/search/stream")(self._stream)

    def add(self, *tweets: dict[str, Any]) -> None:
        self.tweets.extend(tweets)

    @property
    def searches(self) -> list[Request]:
        return self.api.calls("/2/tweets/search/recent")

    @property
    def posts(self) -> list[Request]:
        return [r for r in self.api.requests if r.method == "POST" and r.path == "/2/tweets"]

    def _rate_headers(self) -> dict[str, str]:
        self.remaining -= 1
        return {
            "x-rate-limit-limit": "450",
            "x-rate-limit-remaining": str(self.remaining),
            "x-rate-limit-reset": str(self.reset_epoch),
        }

    def _search(self, req: Request) -> Reply:
        if req.headers.get("authorization") != "Bearer test-bearer-token":
            return Reply(401, json={"title": "Unauthorized", "detail": "Unauthorized"})
        if "query" not in req.query:
            return Reply(400, json={"errors": [{"message": "query is required"}]})
        token = req.query.get("next_token")
        if token in self.expired_tokens:
            return Reply(400, json={"errors": [{"message": "Invalid next_token"}], "title": "x"})
        since_id = req.query.get("since_id", "0")
        if not _is_tweet_id(since_id) or since_id in self.refused_since:
            return Reply(400, json=_invalid("since_id", since_id))
        since = int(since_id)
        size = int(req.query.get("max_results", "10"))
        found = sorted(
            (t for t in self.tweets if int(t["id"]) > since), key=lambda t: -int(t["id"])
        )
        if token:  # "before:<id>": the page continues below that tweet
            below = int(token.split(":", 1)[1])
            found = [t for t in found if int(t["id"]) < below]
        page, rest = found[:size], found[size:]
        meta: dict[str, Any] = {"result_count": len(page)}
        if page:
            meta["newest_id"], meta["oldest_id"] = page[0]["id"], page[-1]["id"]
        if rest:
            meta["next_token"] = f"before:{page[-1]['id']}"
        body: dict[str, Any] = {"meta": meta}
        if page:
            body["data"] = page
            ids = {t.get("author_id") for t in page} - {None}
            body["includes"] = {"users": [self.users[i] for i in sorted(ids) if i in self.users]}
        return Reply(json=body, headers=self._rate_headers())

    def push(self, *tweets: dict[str, Any]) -> None:
        """Tweets written now: on open streams whose rules match (and in search)."""
        with self._stream_changed:
            self.tweets.extend(tweets)
            self.streamed.extend(tweets)
            self._stream_changed.notify_all()

    def push_raw(self, chunk: bytes) -> None:
        """Bytes sent as they are on open streams (a line without end, garbage)."""
        with self._stream_changed:
            self.streamed.append(chunk)  # type: ignore[arg-type]
            self._stream_changed.notify_all()

    def drop_streams(self) -> None:
        with self._stream_changed:
            self._stream_generation += 1
            self._stream_changed.notify_all()

    def _forbidden(self, req: Request) -> Reply | None:
        if req.headers.get("authorization") != "Bearer test-bearer-token":
            return Reply(401, json={"title": "Unauthorized", "detail": "Unauthorized"})
        if not self.stream_plan:
            return Reply(
                403,
                json={
                    "client_id": "1",
                    "title": "Client Forbidden",
                    "reason": "client-not-enrolled",
                    "detail": "This request must be made using an approved developer account "
                    "that is enrolled in the requested endpoint.",
                    "type": "https://api.twitter.com/2/problems/client-forbidden",
                },
            )
        return None

    def _get_rules(self, req: Request) -> Reply:
        refused = self._forbidden(req)
        if refused:
            return refused
        return Reply(json={"data": list(self.rules), "meta": {"result_count": len(self.rules)}})

    def _change_rules(self, req: Request) -> Reply:
        refused = self._forbidden(req)
        if refused:
            return refused
        body = req.json()
        if "delete" in body:
            gone = set(body["delete"]["ids"])
            self.rules = [r for r in self.rules if r["id"] not in gone]
            return Reply(json={"meta": {"summary": {"deleted": len(gone)}}})
        added, errors = [], []
        values = {r["value"] for r in self.rules}
        for rule in body.get("add", []):
            if rule["value"] in values or len(rule["value"]) > 1024:
                errors.append({"value": rule["value"], "title": "DuplicateRule"
                               if rule["value"] in values else "RuleLengthExceeded"})  # fmt: skip
                continue
            ident = str(100 + len(self.rules) + len(added))
            added.append({"id": ident, "value": rule["value"], "tag": rule.get("tag", "")})
        self.rules += added
        body = {"data": added, "meta": {"summary": {"created": len(added)}}}
        return Reply(json={**body, **({"errors": errors} if errors else {})})

    def _stream(self, req: Request) -> Reply:
        self.stream_requests.append(req)
        refused = self._forbidden(req)
        if refused:
            return refused
        with self._stream_changed:
            generation, sent = self._stream_generation, len(self.streamed)

        def lines() -> Iterator[bytes]:
            nonlocal sent
            while True:
                with self._stream_changed:
                    if sent >= len(self.streamed) and generation == self._stream_generation:
                        self._stream_changed.wait(self.keep_alive)
                    if generation != self._stream_generation:
                        return
                    fresh, sent = self.streamed[sent:], len(self.streamed)
                if not fresh:
                    yield b"\r\n"
                for item in fresh:
                    if isinstance(item, bytes):
                        yield from (item[i : i + 65536] for i in range(0, len(item), 65536))
                        continue
                    matched = [r for r in self.rules if _matches(r["value"], item["text"])]
                    if matched:
                        author = self.users.get(item.get("author_id", ""))
                        message = {
                            "data": item,
                            "includes": {"users": [author] if author else []},
                            "matching_rules": [{"id": r["id"], "tag": r["tag"]} for r in matched],
                        }
                        yield json.dumps(message).encode() + b"\r\n"

        return Reply(headers={"Content-Type": "application/json"}, stream=lines)

    def _lookup(self, req: Request) -> Reply:
        ids = req.query.get("ids", "").split(",")
        data = [t for t in self.tweets if t["id"] in ids]
        return Reply(json={"data": data}, headers=self._rate_headers())

    def _create(self, req: Request) -> Reply:
        if not _signed(req.headers.get("authorization", "")):
            body = {"title": "Unauthorized", "type": "about:blank", "status": 401}
            return Reply(401, json={**body, "detail": "Unauthorized"})
        body = req.json() or {}
        text = body.get("text")
        if not isinstance(text, str) or not text:
            return Reply(400, json={"errors": [{"message": "text is required"}], "title": "x"})
        parent = (body.get("reply") or {}).get("in_reply_to_tweet_id")
        if parent is not None and parent not in {t["id"] for t in self.tweets}:
            detail = "You attempted to reply to a Tweet that is deleted or not visible to you."
            return Reply(403, json={"detail": detail, "title": "Forbidden", "status": 403})
        self.next_id += 1
        self.posted.append(body)
        headers = {**self._rate_headers(), "x-user-limit-24hour-remaining": "16"}
        data = {
            "id": str(self.next_id),
            "text": text,
            "edit_history_tweet_ids": [str(self.next_id)],
        }
        return Reply(201, json={"data": data}, headers=headers)


def _is_tweet_id(value: str) -> bool:
    """What X takes as an id: decimal digits of a positive 64-bit signed number."""
    return value.isascii() and value.isdigit() and int(value) < 2**63


def _invalid(parameter: str, value: str) -> dict[str, Any]:
    """X's 400 body for a parameter it refuses (the shape of its invalid-request problem)."""
    message = f"Invalid '{parameter}':'{value}'. '{parameter}' must be a valid tweet id."
    return {
        "errors": [{"parameters": {parameter: [value]}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


def _signed(header: str) -> bool:
    """An OAuth 1.0a HMAC-SHA1 header made with the fake's consumer and access token pairs."""
    if not header.startswith("OAuth "):
        return False
    params = signature.collect_parameters(
        headers={"Authorization": header}, exclude_oauth_signature=False
    )
    given = dict(params)
    if (given.get("oauth_consumer_key"), given.get("oauth_token")) != (CONSUMER_KEY, ACCESS_TOKEN):
        return False
    unsigned = [(k, v) for k, v in params if k != "oauth_signature"]
    base = signature.signature_base_string(
        "POST", signature.base_string_uri(SIGNED_URL), signature.normalize_parameters(unsigned)
    )
    key = f"{signature.utils.escape(CONSUMER_SECRET)}&{signature.utils.escape(ACCESS_TOKEN_SECRET)}"
    digest = hmac.new(key.encode(), base.encode(), hashlib.sha1).digest()
    return unquote(given.get("oauth_signature", "")) == base64.b64encode(digest).decode()


def _matches(rule: str, text: str) -> bool:
    """A rule's quoted phrases and bare words, ORed, against the text (enough for the tests'
    rules: what harken's build_query writes for a brand)."""
    terms = re.findall(r'"([^"]+)"|([#@]?\w+)', rule.split(" -")[0])
    words = [a or b for a, b in terms if (a or b).upper() != "OR"]
    folded = text.casefold()
    return any(w.casefold().lstrip("#@") in folded for w in words)
