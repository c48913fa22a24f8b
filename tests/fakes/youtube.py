"""A fake YouTube Data API v3, as google-api-python-client sees one.

* ``GET /youtube/v3/commentThreads`` with ``videoId`` or ``allThreadsRelatedToChannelId``,
  ``order=time`` (newest first), ``maxResults`` (default 20, at most 100), ``pageToken``;
  threads with their top-level comment and up to five replies; ``key`` checked.
* ``GET /youtube/v3/search`` (``type=video``, ``order=date``, ``publishedAfter``, ``q``
  matched as any of its quoted ``|`` terms against the title).
* Errors in Google's envelope: 400 ``badRequest`` (a wrong key), 403 ``quotaExceeded`` once
  ``quota`` units are spent (a thread page costs 1, a search 100), 403 ``commentsDisabled``,
  404 ``videoNotFound``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tests.fakes.http import FakeAPI, Reply, Request

KEY = "AIza-test-youtube-key"
# OAuth, for replies: the refresh token a channel's owner made once, and what it buys.
CLIENT_ID, CLIENT_SECRET = "1234-test.apps.googleusercontent.com", "GOCSPX-test-secret"
REFRESH_TOKEN, ACCESS_TOKEN = "1//test-refresh-token", "ya29.test-access-token"


def error(status: int, reason: str, message: str, domain: str = "youtube.commentThread") -> Reply:
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": domain, "reason": reason}],
        }
    }
    return Reply(status, json=body)


@dataclass
class Video:
    id: str
    channel: str
    title: str
    published: datetime
    comments_off: bool = False
    threads: list[dict[str, Any]] = field(default_factory=list)  # newest first


def thread(
    comment_id: str,
    text: str,
    at: datetime,
    video: str,
    author: str = "@alice",
    replies: tuple[tuple[str, str], ...] = (),
) -> dict[str, Any]:
    def snippet(text: str, who: str) -> dict[str, Any]:
        return {
            "videoId": video,
            "textOriginal": text,
            "textDisplay": text,
            "authorDisplayName": who,
            "authorChannelUrl": f"http://www.youtube.com/{who}",
            "authorChannelId": {"value": "UC" + who.strip("@")},
            "likeCount": 2,
            "publishedAt": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "updatedAt": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        }

    answers = [
        {
            "kind": "youtube#comment",
            "id": f"{comment_id}.{i}",
            "snippet": {**snippet(t, who), "parentId": comment_id},
        }
        for i, (t, who) in enumerate(replies)
    ]
    return {
        "kind": "youtube#commentThread",
        "id": comment_id,
        "snippet": {
            "videoId": video,
            "totalReplyCount": len(answers),
            "canReply": True,
            "topLevelComment": {
                "kind": "youtube#comment",
                "id": comment_id,
                "snippet": snippet(text, author),
            },
        },
        **({"replies": {"comments": answers}} if answers else {}),
    }


class FakeYouTube(FakeAPI):
    def __init__(self, quota: int = 10_000) -> None:
        super().__init__()
        self.videos: dict[str, Video] = {}
        self.quota, self.used = quota, 0
        self.route("GET", "/youtube/v3/commentThreads")(self._threads)
        self.route("GET", "/youtube/v3/search")(self._search)
        self.route("POST", "/token")(self._token)
        self.route("POST", "/youtube/v3/comments")(self._reply)
        self.route("GET", "/youtube/v3/comments")(self._replies_of)
        self.replies: list[dict[str, Any]] = []

    def video(self, video: Video) -> Video:
        self.videos[video.id] = video
        return video

    def _spend(self, request: Request, units: int) -> Reply | None:
        if request.query.get("key") != KEY:
            return error(
                400,
                "badRequest",
                "API key not valid. Please pass a valid API key.",
                domain="global",
            )
        if self.used + units > self.quota:
            return error(
                403,
                "quotaExceeded",
                "The request cannot be completed because you "
                'have exceeded your <a href="/youtube/v3/getting-started#quota">quota</a>.',
                domain="youtube.quota",
            )
        self.used += units
        return None

    def _threads(self, request: Request) -> Reply:
        refused = self._spend(request, 1)
        if refused:
            return refused
        q = request.query
        if "videoId" in q:
            video = self.videos.get(q["videoId"])
            if video is None:
                return error(
                    404,
                    "videoNotFound",
                    "The video identified by the videoId parameter could not be found.",
                )
            if video.comments_off:
                return error(
                    403,
                    "commentsDisabled",
                    "The video identified by the videoId parameter has disabled comments.",
                )
            threads = list(video.threads)
        else:
            channel = q.get("allThreadsRelatedToChannelId")
            threads = [t for v in self.videos.values() if v.channel == channel for t in v.threads]
        threads.sort(
            key=lambda t: t["snippet"]["topLevelComment"]["snippet"]["publishedAt"], reverse=True
        )
        size = min(int(q.get("maxResults", "20")), 100)
        start = int(q.get("pageToken", "0") or 0)
        page = [_carrying_five(t) for t in threads[start : start + size]]
        body: dict[str, Any] = {
            "kind": "youtube#commentThreadListResponse",
            "items": page,
            "pageInfo": {"totalResults": len(page), "resultsPerPage": size},
        }
        if start + size < len(threads):
            body["nextPageToken"] = str(start + size)
        return Reply(json=body)

    def _search(self, request: Request) -> Reply:
        refused = self._spend(request, 100)
        if refused:
            return refused
        q = request.query
        terms = [t.lower() for t in re.findall(r'"([^"]+)"', q.get("q", ""))]
        after = q.get("publishedAfter", "1970-01-01T00:00:00Z")
        found = [
            v
            for v in sorted(self.videos.values(), key=lambda v: v.published, reverse=True)
            if any(t in v.title.lower() for t in terms)
            and v.published.strftime("%Y-%m-%dT%H:%M:%SZ") >= after
        ][: int(q.get("maxResults", "5"))]
        items = [
            {
                "kind": "youtube#searchResult",
                "id": {"kind": "youtube#video", "videoId": v.id},
                "snippet": {
                    "publishedAt": v.published.strftime("%Y-%m-%dT%H:%M:%SZ"),
                    "channelId": v.channel,
                    "title": v.title,
                },
            }
            for v in found
        ]
        return Reply(json={"kind": "youtube#searchListResponse", "items": items})

    def _token(self, request: Request) -> Reply:
        form = request.form
        good = (
            form.get("grant_type") == "refresh_token"
            and form.get("refresh_token") == REFRESH_TOKEN
            and form.get("client_id") == CLIENT_ID
            and form.get("client_secret") == CLIENT_SECRET
        )
        if not good:
            return Reply(
                400,
                json={
                    "error": "invalid_grant",
                    "error_description": "Token has been expired or revoked.",
                },
            )
        scope = "https://www.googleapis.com/auth/youtube.force-ssl"
        return Reply(
            json={
                "access_token": ACCESS_TOKEN,
                "expires_in": 3599,
                "scope": scope,
                "token_type": "Bearer",
            }
        )

    def _reply(self, request: Request) -> Reply:
        if request.headers.get("authorization") != f"Bearer {ACCESS_TOKEN}":
            return error(401, "authError", "Invalid Credentials", domain="global")
        snippet = (request.json() or {}).get("snippet") or {}
        parent = snippet.get("parentId")
        found = [t for v in self.videos.values() for t in v.threads if t["id"] == parent]
        if not found:
            return error(
                404,
                "commentNotFound",
                "The specified comment could not be found.",
                domain="youtube.comment",
            )
        video = found[0]["snippet"]["videoId"]
        comment = {
            "kind": "youtube#comment",
            "id": f"{parent}.r{len(self.replies)}",
            "snippet": {
                "parentId": parent,
                "videoId": video,
                "textOriginal": snippet.get("textOriginal", ""),
                "authorDisplayName": "@acme",
            },
        }
        self.replies.append(comment)
        return Reply(json=comment)

    def _replies_of(self, request: Request) -> Reply:
        refused = self._spend(request, 1)
        if refused:
            return refused
        parent = request.query.get("parentId")
        found = [t for v in self.videos.values() for t in v.threads if t["id"] == parent]
        if not found:
            return error(
                404, "commentNotFound", "The comment could not be found.", "youtube.comment"
            )
        replies = (found[0].get("replies") or {}).get("comments") or []
        newest = sorted(replies, key=lambda c: c["snippet"]["publishedAt"], reverse=True)
        size = min(int(request.query.get("maxResults", "20")), 100)
        return Reply(json={"kind": "youtube#commentListResponse", "items": newest[:size]})


def _carrying_five(thread: dict[str, Any]) -> dict[str, Any]:
    """A thread as a commentThreads page carries it: five replies at most."""
    replies = (thread.get("replies") or {}).get("comments")
    if not replies or len(replies) <= 5:
        return thread
    return {**thread, "replies": {"comments": replies[:5]}}
