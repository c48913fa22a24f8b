"""A fake Meta Graph API (v24.0): Facebook Pages and Instagram professional accounts.

* ``GET /v24.0/{page}/feed`` and ``/{page}/tagged``: posts with ``created_time`` at or after
  ``since`` (unix seconds), newest first, ``limit`` and ``after`` cursors; the nested
  ``comments...summary(true)`` field gives each post's comment count.
* ``GET /v24.0/{post}/comments``: ``filter=stream`` (replies too, with ``parent``) or top-level
  only, ``order=reverse_chronological`` or chronological.
* ``GET /v24.0/{ig-user}/media`` (``since``) and ``/{ig-user}/tags``: media newest first, with
  ``comments_count``; ``GET /v24.0/{media}/comments``: top-level comments newest first, 50 at
  most a page, each with its ``replies`` nested.
* ``POST /v24.0/{id}/comments`` (Facebook) and ``/{comment}/replies`` (Instagram): a reply.
* The token in ``Authorization: Bearer`` (code 190 otherwise); Meta's error envelope; paging
  ``next`` links that carry the token, as Meta's do (a client must not follow them);
  ``usage`` (the X-App-Usage header) and ``business_usage`` sent with every answer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tests.fakes.http import FakeAPI, Reply, Request

TOKEN = "EAAG-test-page-token-0123456789"
VERSION = "v24.0"


def graph_error(
    status: int, code: int, message: str, subcode: int | None = None, kind: str = "OAuthException"
) -> Reply:
    error: dict[str, Any] = {"message": message, "type": kind, "code": code, "fbtrace_id": "AbC"}
    if subcode is not None:
        error["error_subcode"] = subcode
    return Reply(status, json={"error": error})


def fb_time(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def ig_time(at: datetime) -> str:
    return fb_time(at)


@dataclass
class Post:
    id: str
    message: str | None
    at: datetime
    author: tuple[str, str]  # (id, name)
    comments: list[dict[str, Any]] = field(default_factory=list)  # any order

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "created_time": fb_time(self.at),
            "from": {"id": self.author[0], "name": self.author[1]},
            "permalink_url": f"https://www.facebook.com/{self.id}",
        }
        if self.message is not None:
            body["message"] = self.message
        return body


@dataclass
class Media:
    id: str
    caption: str | None
    at: datetime
    username: str
    comments: list[dict[str, Any]] = field(default_factory=list)  # top-level, replies nested

    def count(self) -> int:
        return sum(1 + len(c.get("replies", [])) for c in self.comments)

    def json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.id,
            "timestamp": ig_time(self.at),
            "username": self.username,
            "permalink": f"https://www.instagram.com/p/{self.id}/",
            "comments_count": self.count(),
            "like_count": 3,
        }
        if self.caption is not None:
            body["caption"] = self.caption
        return body


def fb_comment(
    comment_id: str, text: str, at: datetime, author: tuple[str, str], parent: str | None = None
) -> dict[str, Any]:
    body = {
        "id": comment_id,
        "message": text,
        "created_time": fb_time(at),
        "from": {"id": author[0], "name": author[1]},
        "permalink_url": f"https://www.facebook.com/{comment_id}",
        "like_count": 1,
        "comment_count": 0,
    }
    if parent:
        body["parent"] = {"id": parent}
    return body


def ig_comment(
    comment_id: str,
    text: str,
    at: datetime,
    username: str,
    parent: str | None = None,
    author_id: str | None = None,  # the account's id, for the brand's own comments
) -> dict[str, Any]:
    body = {
        "id": comment_id,
        "text": text,
        "timestamp": ig_time(at),
        "username": username,
        "from": {"id": author_id or f"ig-{username}", "username": username},
        "like_count": 0,
    }
    if parent:
        body["parent_id"] = parent
    return body


class FakeGraph(FakeAPI):
    def __init__(self) -> None:
        super().__init__()
        self.feeds: dict[str, list[Post]] = {}  # page id -> posts on it
        self.tagged: dict[str, list[Post]] = {}
        self.media: dict[str, list[Media]] = {}  # ig user id -> its media
        self.ig_tags: dict[str, list[Media]] = {}
        self.usage: dict[str, Any] | None = None
        self.business_usage: dict[str, Any] | None = None
        self.replies: list[tuple[str, str]] = []  # (path id, message)
        self.deleted: set[str] = set()  # listed still, but their comments cannot be read
        self.refused: set[str] = set()  # objects Meta will not read (code 100, no subcode)
        self.ignore_order = False  # comments in their documented (chronological) order
        self.refuse_cursors = 0  # the next so many ``after`` cursors are refused, as expired
        # comments and media elsewhere that @mention an account: id -> the object Meta gives
        self.mentioned: dict[str, dict[str, Any]] = {}
        self.mention_replies: list[dict[str, str]] = []  # POST /{ig-user-id}/mentions forms
        self.usernames: dict[str, str] = {}  # ig user id -> its username
        self.username_fails = 0  # the next so many username lookups fail (500)
        base = f"/{VERSION}"
        self.route_pattern("GET", rf"{base}/(\d+)/(feed|tagged)")(self._posts)
        self.route_pattern("GET", rf"{base}/([\w]+)/comments")(self._comments)
        self.route_pattern("GET", rf"{base}/(\d+)/(media|tags)")(self._media)
        self.route_pattern("GET", rf"{base}/([\w]+)/replies")(self._more_replies)
        self.route_pattern("POST", rf"{base}/([\w]+)/(comments|replies)")(self._reply)
        self.route_pattern("GET", rf"{base}/(\d+)")(self._mentioned)
        self.route_pattern("POST", rf"{base}/(\d+)/mentions")(self._mention_reply)

    # -- what the tests set up --------------------------------------------------------------

    def page_post(self, page: str, post: Post) -> Post:
        self.feeds.setdefault(page, []).append(post)
        return post

    def ig_media(self, account: str, media: Media) -> Media:
        self.media.setdefault(account, []).append(media)
        return media

    def post_of(self, post_id: str) -> Post | None:
        return next((p for ps in self.feeds.values() for p in ps if p.id == post_id), None)

    def media_of(self, media_id: str) -> Media | None:
        return next((m for ms in self.media.values() for m in ms if m.id == media_id), None)

    # -- answers ----------------------------------------------------------------------------

    def _answer(self, request: Request) -> Reply:
        reply = super()._answer(request)
        headers = dict(reply.headers)
        if self.usage is not None:
            headers.setdefault("X-App-Usage", json.dumps(self.usage))
        if self.business_usage is not None:
            headers.setdefault("X-Business-Use-Case-Usage", json.dumps(self.business_usage))
        reply.headers = headers
        return reply

    def _refused(self, request: Request) -> Reply | None:
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return graph_error(400, 190, "Invalid OAuth access token - Cannot parse access token")
        if self.refuse_cursors and "after" in request.query:
            self.refuse_cursors -= 1
            return graph_error(400, 100, "The after cursor is invalid")
        if request.groups and request.groups[0] in self.refused:
            return graph_error(400, 100, "Tried accessing nonexisting field (comments)")
        return None

    def _page(self, request: Request, items: list[dict[str, Any]], limit: int = 100) -> Reply:
        size = min(int(request.query.get("limit", 25)), limit)
        start = int(request.query.get("after", "0").removeprefix("cursor-") or 0)
        chunk = items[start : start + size]
        paging: dict[str, Any] = {
            "cursors": {"before": f"cursor-{start}", "after": f"cursor-{start + len(chunk)}"}
        }
        if start + size < len(items):
            paging["next"] = (
                f"{self.url}{request.path}?access_token={TOKEN}&after=cursor-{start + size}"
            )
        return Reply(json={"data": chunk, "paging": paging})

    def _posts(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused:
            return refused
        page, edge = request.groups
        posts = (self.feeds if edge == "feed" else self.tagged).get(page)
        if posts is None and page not in self.feeds:
            return graph_error(400, 100, "Unsupported get request.", subcode=33)
        since = int(request.query.get("since", "0"))
        chosen = sorted(
            (p for p in posts or [] if p.at.timestamp() >= since), key=lambda p: p.at, reverse=True
        )
        counted = "comments.filter(stream).limit(0).summary(true)" in request.query.get(
            "fields", ""
        )
        items = []
        for post in chosen:
            body = post.json()
            if counted:
                body["comments"] = {"data": [], "summary": {"total_count": len(post.comments)}}
            items.append(body)
        return self._page(request, items)

    def _comments(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused:
            return refused
        (object_id,) = request.groups
        if object_id in self.deleted:
            return graph_error(400, 100, f"Object with ID '{object_id}' does not exist", 33)
        post = self.post_of(object_id)
        if post is not None:
            comments = post.comments
            if request.query.get("filter") != "stream":
                comments = [c for c in comments if "parent" not in c]
            newest_first = request.query.get("order") == "reverse_chronological"
            newest_first = newest_first and not self.ignore_order
            ordered = sorted(comments, key=lambda c: c["created_time"], reverse=newest_first)
            return self._page(request, [{**c} for c in ordered])
        media = self.media_of(object_id)
        if media is None:
            return graph_error(400, 100, "Unsupported get request.", subcode=33)
        threads = sorted(media.comments, key=lambda c: c["timestamp"], reverse=True)
        items = []
        for thread in threads:
            body = {k: v for k, v in thread.items() if k != "replies"}
            replies = thread.get("replies") or []
            if replies:  # 50 nested at most, as limit(50) asks; the rest through /replies
                body["replies"] = {"data": replies[:50]}
                if len(replies) > 50:
                    body["replies"]["paging"] = {
                        "cursors": {"after": "cursor-50"},
                        "next": f"{self.url}/{VERSION}/{thread['id']}/replies?after=cursor-50",
                    }
            items.append(body)
        return self._page(request, items, limit=50)

    def _more_replies(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused:
            return refused
        (comment_id,) = request.groups
        for media in (m for ms in self.media.values() for m in ms):
            for thread in media.comments:
                if thread["id"] == comment_id:
                    return self._page(request, list(thread.get("replies") or []), limit=50)
        return graph_error(400, 100, "Unsupported get request.", subcode=33)

    def _media(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused:
            return refused
        account, edge = request.groups
        if account not in self.media and account not in self.ig_tags:
            return graph_error(400, 100, "Unsupported get request.", subcode=33)
        source = (self.media if edge == "media" else self.ig_tags).get(account, [])
        since = int(request.query.get("since", "0"))
        chosen = sorted(
            (m for m in source if m.at.timestamp() >= since), key=lambda m: m.at, reverse=True
        )
        return self._page(request, [m.json() for m in chosen])

    def _mentioned(self, request: Request) -> Reply:
        """``GET /{ig-user-id}?fields=mentioned_comment.comment_id(ID){...}`` (or
        ``mentioned_media.media_id(ID){...}``): the object that @mentions the account."""
        refused = self._refused(request)
        if refused:
            return refused
        account = request.groups[0]
        if request.query.get("fields") == "username" and self.username_fails:
            self.username_fails -= 1
            return graph_error(500, 2, "An unexpected error has occurred.")
        if request.query.get("fields") == "username" and account in self.usernames:
            return Reply(json={"username": self.usernames[account], "id": account})
        found = re.fullmatch(
            r"(mentioned_comment|mentioned_media)\.(comment_id|media_id)\((\d+)\)\{([^}]*(?:\{[^}]*\})?[^}]*)\}",
            request.query.get("fields", ""),
        )
        if found is None:
            return graph_error(400, 100, "Syntax error: the fields are not readable")
        key, _, object_id, _fields = found.groups()
        if object_id not in self.mentioned:
            return graph_error(400, 100, "Unsupported get request: the object does not exist")
        return Reply(json={key: self.mentioned[object_id], "id": request.groups[0]})

    def _mention_reply(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused:
            return refused
        self.mention_replies.append({"account": request.groups[0], **request.form})
        return Reply(json={"id": f"mention_reply{len(self.mention_replies)}"})

    def _reply(self, request: Request) -> Reply:
        refused = self._refused(request)
        if refused:
            return refused
        object_id, _edge = request.groups
        message = request.form.get("message", "")
        self.replies.append((object_id, message))
        return Reply(json={"id": f"{object_id}_reply{len(self.replies)}"})
