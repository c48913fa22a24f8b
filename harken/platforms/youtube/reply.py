"""Replies on YouTube: ``comments.insert`` with the answered thread's top-level comment as
``parentId``, signed in as the brand's channel with OAuth (a refresh token made once with the
channel's Google account; scope ``youtube.force-ssl``).

Each attempt first trades the refresh token for an access token (at ``token_uri``): when that
fails, nothing was posted. A reply to a reply goes in the same thread (YouTube threads are one
level deep). A reply costs 50 units of the key's daily quota.
"""

from __future__ import annotations

import json
from typing import ClassVar

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
        import google_auth_httplib2
        import httplib2
        from google.oauth2.credentials import Credentials
        from googleapiclient.discovery import build

        from harken.platforms.youtube.source import GOOGLE_APIS

        settings = account.settings
        missing = [k for k in self.credentials if not secret_value(getattr(settings, k, None))]
        if missing:
            raise ReplyError(
                f"YouTube replies need {', '.join(account.key(k) for k in missing)}; "
                "nothing was posted",
                hint=f"{self.needs} (docs/listeners.md, YouTube)",
            )
        credentials = Credentials(
            token=None,
            refresh_token=secret_value(settings.refresh_token),
            client_id=secret_value(settings.client_id),
            client_secret=secret_value(settings.client_secret),
            token_uri=settings.token_uri,
            scopes=["https://www.googleapis.com/auth/youtube.force-ssl"],
        )
        http = google_auth_httplib2.AuthorizedHttp(credentials, http=httplib2.Http(timeout=timeout))
        client = build(
            "youtube",
            "v3",
            http=http,
            static_discovery=True,
            cache_discovery=False,
            client_options={"api_endpoint": (settings.api_base_url or GOOGLE_APIS).rstrip("/")},
        )
        try:
            # The access token now, on the same connection: a refused sign-in posted nothing.
            refresh = google_auth_httplib2.Request(http.http)
            attempt(
                lambda: credentials.refresh(refresh), self.explain, posting=False, label="YouTube"
            )
            parent = target.conversation_id or target.external_id
            body = {"snippet": {"parentId": parent, "textOriginal": text}}
            request = client.comments().insert(part="snippet", body=body)
            created = attempt(
                lambda: request.execute(num_retries=0), self.explain, posting=True, label="YouTube"
            )
        finally:
            client.close()
        comment_id = str(created.get("id") or "")
        if not comment_id:
            raise ReplyError(
                "YouTube answered the reply without its id; it was probably posted",
                hint="look at the thread before sending it again",
                maybe_posted=True,
            )
        snippet = created.get("snippet") or {}
        video = snippet.get("videoId") or (target.raw.get("snippet") or {}).get("videoId")
        url = watch_url(video if isinstance(video, str) else None, comment_id)
        return SentReply(comment_id, url)

    def explain(self, exc: Exception, posting: bool) -> ReplyError | None:
        from google.auth.exceptions import RefreshError, TransportError
        from googleapiclient.errors import HttpError

        from harken.platforms.youtube.source import _reason, quota_reset

        if isinstance(exc, RefreshError):
            return ReplyError(
                f"YouTube refused the sign-in ({_refresh_reason(exc)}); nothing was posted",
                hint="check client_id, client_secret and refresh_token: make a new refresh token "
                "if it was revoked or expired",
            )
        if isinstance(exc, HttpError):
            status, reason = int(exc.resp.status), _reason(exc)
            if reason in ("quotaExceeded", "dailyLimitExceeded"):
                from datetime import UTC, datetime

                return rate_limited("YouTube", quota_reset(datetime.now(UTC)), reason)
            if status == 429 or reason in ("rateLimitExceeded", "userRateLimitExceeded"):
                return rate_limited("YouTube", None, reason)
            if status >= 500:
                return server_error("YouTube", status, posting)
            if status == 404 or reason in ("commentNotFound", "parentCommentNotFound"):
                return gone("YouTube", f"HTTP {status} {reason}".strip())
            if reason in ("commentsDisabled", "forbidden", "insufficientPermissions"):
                return ReplyError(
                    f"YouTube refused the reply (HTTP {status} {reason}); nothing was posted",
                    hint="comments may be off on that video, or the signed-in channel may not "
                    "reply there",
                )
            return ReplyError(
                f"YouTube refused the reply (HTTP {status} {reason}); nothing was posted"
            )
        if isinstance(exc, TransportError | TimeoutError | ConnectionError | OSError):
            return lost("YouTube", exc, posting)
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
