"""A fake X API v2: recent search with since_id / next_token paging, tweet lookup, rate headers."""

from __future__ import annotations

from typing import Any

from tests.fakes.http import FakeAPI, Reply, Request

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
        self.api.route("GET", "/2/tweets/search/recent")(self._search)
        self.api.route("GET", "/2/tweets")(self._lookup)

    def add(self, *tweets: dict[str, Any]) -> None:
        self.tweets.extend(tweets)

    @property
    def searches(self) -> list[Request]:
        return self.api.calls("/2/tweets/search/recent")

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
        since = int(req.query.get("since_id", "0"))
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

    def _lookup(self, req: Request) -> Reply:
        ids = req.query.get("ids", "").split(",")
        data = [t for t in self.tweets if t["id"] in ids]
        return Reply(json={"data": data}, headers=self._rate_headers())
