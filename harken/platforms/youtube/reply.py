"""Replies on YouTube: ``comments.insert`` (``POST /youtube/v3/comments?part=snippet``) with the
answered thread's top-level comment as ``parentId``, signed in as the brand's channel with OAuth
(a refresh token made once with the channel's Google account; scope ``youtube.force-ssl``).

Each attempt first trades the refresh token for an access token (at ``token_uri``): when that
fails, nothing was posted. The post is then sent once, over httpx: not through the API client,
whose httplib2 sends a request again when the connection drops before the answer (a reply
posted twice). A reply to a reply goes in the same thread (YouTube threads are one level deep).
A reply costs 50 units of the key's daily quota.
"""

from __future__ import annotations

import json
from typing import ClassVar

import httpx

from harken.errors import ReplyError
from harken.platforms.reply import (
    Account,
    ReplyClient,
    ReplyTarget,
    SentReply,
    attempt,
    gone,
    lost,
    rate_limited,
    secret_value,
    server_error,
)
from harken.platforms.source import SourceSettings
from harken.platforms.youtube.parse import watch_url

MAX_LENGTH = 10_000  # characters of a comment


class YouTubeReply(ReplyClient):
    name, label = "youtube", "YouTube"
    max_length = MAX_LENGTH
    needs = (
        "an OAuth client (client_id, client_secret) and a refresh token of the brand channel's "
        "Google account, scope https://www.googleapis.com/auth/youtube.force-ssl"
    )
    counting = "in characters"
    credentials: ClassVar[dict[str, str | None]] = {
        "client_id": "YOUTUBE_CLIENT_ID",
        "client_secret": "YOUTUBE_CLIENT_SECRET",
        "refresh_token": "YOUTUBE_REFRESH_TOKEN",
    }

    def settings_class(self) -> type[SourceSettings]:
        from harken.platforms.youtube.source import YouTubeSettings

        return YouTubeSettings

    def length(self, target: ReplyTarget, text: str) -> int:
        return len(text)

    def target_problems(self, target: ReplyTarget) -> list[str]:
        if not (target.conversation_id or target.external_id):
            return ["YouTube: the comment has no thread to answer in"]
        return []

    def post(self, account: Account, target: ReplyTarget, text: str, timeout: float) -> SentReply:
        import requests
        from google.auth.transport.requests import Request
        from google.oauth2.credentials import Credentials

        from harken.platforms.youtube.source import GOOGLE_APIS

        settings = account.settings  # its credentials were checked (replies.reply_problems)
        credentials = Credentials(
            token=None,
            refresh_token=secret_value(settings.refresh_token),
            client_id=secret_value(settings.client_id),
            client_secret=secret_value(settings.client_secret),
            token_uri=settings.token_uri,
            scopes=["https://www.googleapis.com/auth/youtube.force-ssl"],
        )
        # The access token first: when the sign-in fails, nothing was posted.
        with requests.Session() as session:
            sign_in = Request(session)
            attempt(
                lambda: credentials.refresh(sign_in), self.explain, posting=False, label="YouTube"
            )
        # The post itself once, by hand: httplib2 (under the API client) sends a request again
        # when the connection drops before the answer, which could post the reply twice.
        base = (settings.api_base_url or GOOGLE_APIS).rstrip("/")
        parent = target.conversation_id or target.external_id
        body = {"snippet": {"parentId": parent, "textOriginal": text}}
        with httpx.Client(timeout=timeout, follow_redirects=False) as http:
            response = attempt(
                lambda: http.post(
                    f"{base}/youtube/v3/comments",
                    params={"part": "snippet"},
                    json=body,
                    headers={"Authorization": f"Bearer {credentials.token}"},
                ),
                self.explain,
                posting=True,
                label="YouTube",
            )
        if response.status_code >= 300:
            raise self._refused(response.status_code, response.content)
        try:
            created = response.json()
        except ValueError:
            created = None
        comment_id = str(created.get("id") or "") if isinstance(created, dict) else ""
        if not comment_id:
            raise ReplyError(
                "YouTube answered the reply without its id; it was probably posted",
                hint="look at the thread before sending it again",
                maybe_posted=True,
            )
        snippet = created.get("snippet") or {} if isinstance(created, dict) else {}
        video = snippet.get("videoId") or (target.raw.get("snippet") or {}).get("videoId")
        return SentReply(
            comment_id, watch_url(video if isinstance(video, str) else None, comment_id)
        )

    def _refused(self, status: int, content: bytes) -> ReplyError:
        """The API's answer to the post, other than 2xx."""
        from datetime import UTC, datetime

        from harken.platforms.youtube.source import quota_reset, reason_of

        reason = reason_of(content)
        if reason in ("quotaExceeded", "dailyLimitExceeded"):
            return rate_limited("YouTube", quota_reset(datetime.now(UTC)), reason)
        if status == 429 or reason in ("rateLimitExceeded", "userRateLimitExceeded"):
            return rate_limited("YouTube", None, reason)
        if status >= 500:
            return server_error("YouTube", status, posting=True)
        if status == 404 or reason in ("commentNotFound", "parentCommentNotFound"):
            return gone("YouTube", f"HTTP {status} {reason}".strip())
        if status == 401:
            return ReplyError(
                "YouTube refused the access token (HTTP 401); nothing was posted",
                hint="check client_id, client_secret and refresh_token",
            )
        hint = (
            "comments may be off on that video, or the signed-in channel may not reply there"
            if reason in ("commentsDisabled", "forbidden", "insufficientPermissions")
            else None
        )
        return ReplyError(
            f"YouTube refused the reply (HTTP {status} {reason}); nothing was posted", hint=hint
        )

    def explain(self, exc: Exception, posting: bool) -> ReplyError | None:
        from google.auth.exceptions import RefreshError, TransportError

        if isinstance(exc, RefreshError):
            if getattr(exc, "retryable", False):
                return ReplyError(
                    f"YouTube's sign-in failed for now ({_refresh_reason(exc)}); "
                    "nothing was posted",
                    hint="try again later",
                )
            return ReplyError(
                f"YouTube refused the sign-in ({_refresh_reason(exc)}); nothing was posted",
                hint="check client_id, client_secret and refresh_token: make a new refresh token "
                "if it was revoked or expired",
            )
        if isinstance(
            exc, httpx.HTTPError | TransportError | TimeoutError | ConnectionError | OSError
        ):
            return lost("YouTube", exc, posting)
        if not posting and isinstance(exc, ValueError | TypeError | KeyError):
            # An answer to the sign-in it cannot read (a proxy's page): nothing was posted.
            return ReplyError(
                f"YouTube's sign-in answered something unreadable ({type(exc).__name__}); "
                "nothing was posted",
                hint="check token_uri, or try again later",
            )
        return None


def _refresh_reason(exc: Exception) -> str:
    """The token endpoint's ``error`` ("invalid_grant"), never the request (it holds the
    secrets)."""
    for arg in getattr(exc, "args", ()):
        if isinstance(arg, dict) and arg.get("error"):
            return str(arg["error"])[:80]
        if isinstance(arg, str):
            try:
                found = json.loads(arg)
            except ValueError:
                continue
            if isinstance(found, dict) and found.get("error"):
                return str(found["error"])[:80]
    return type(exc).__name__
