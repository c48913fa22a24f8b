"""Replies on Bluesky: atproto ``send_post`` with a ``ReplyRef``, logged in as ``handle`` with
its ``app_password``.

The parent (the stored ``at://`` uri) is read first with ``getPosts``: it must still exist
(Bluesky would accept a reply to a deleted post, which nobody would see), and its record says
its thread's root (a reply's root is its parent's root; a top-level post is its own). Links and
#tags become facets; the reply takes the parent's languages. atproto retries nothing.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx

from harken.errors import ReplyError
from harken.platforms.reply import (
    CHECK_THREAD,
    Account,
    ReplyClient,
    ReplyTarget,
    SentReply,
    attempt,
    gone,
    graphemes,
    lost,
    rate_limited,
    server_error,
)
from harken.platforms.source import SourceSettings, parse_reset

BLUESKY_MAX_BYTES = 3000  # the post record's other limit (UTF-8 bytes)
_POST_URI = re.compile(r"^at://([^/]+)/app\.bsky\.feed\.post/([^/]+)$")


class BlueskyReply(ReplyClient):
    name, label = "bluesky", "Bluesky"
    max_length = 300
    needs = "an account to post as (its handle and an app password)"
    counting = "(graphemes)"
    credentials: ClassVar[dict[str, str | None]] = {
        "handle": None,
        "app_password": "BLUESKY_APP_PASSWORD",
    }

    def settings_class(self) -> type[SourceSettings]:
        from harken.platforms.bluesky.source import BlueskySettings

        return BlueskySettings

    def length(self, target: ReplyTarget, text: str) -> int:
        return graphemes(text)

    def text_problems(self, target: ReplyTarget, text: str) -> list[str]:
        problems = super().text_problems(target, text)
        size = len(text.encode("utf-8"))
        if size > BLUESKY_MAX_BYTES:
            problems.append(f"the reply is {size} bytes; Bluesky allows {BLUESKY_MAX_BYTES}")
        return problems

    def target_problems(self, target: ReplyTarget) -> list[str]:
        if _POST_URI.match(target.external_id):
            return []
        return [f"Bluesky: {target.external_id!r} is not a post's at:// uri"]

    def post(self, account: Account, target: ReplyTarget, text: str, timeout: float) -> SentReply:
        from atproto_client.utils import detect_facets

        from harken.platforms.bluesky.source import BlueskySource

        settings = account.settings.model_copy(update={"timeout": timedelta(seconds=timeout)})
        source = BlueskySource(account.source, settings, account.brands)
        explain = functools.partial(self.explain, account)
        try:
            client = attempt(source.account_client, explain, posting=False, label="Bluesky")
            parent = attempt(
                lambda: _bluesky_post(client, target.external_id), explain, False, "Bluesky"
            )
            reply_to, langs = _reply_ref(parent), _langs(parent)
            created = attempt(
                lambda: client.send_post(
                    text,
                    profile_identify=settings.handle,
                    reply_to=reply_to,
                    langs=langs,
                    facets=detect_facets(text) or None,
                ),
                explain,
                posting=True,
                label="Bluesky",
            )
        finally:
            source.close()
        rkey = str(created.uri).rsplit("/", 1)[-1]
        return SentReply(created.uri, f"https://bsky.app/profile/{settings.handle}/post/{rkey}")

    def explain(self, account: Account, exc: Exception, posting: bool) -> ReplyError | None:
        from atproto_client.exceptions import LoginRequiredError, ModelError, RequestErrorBase

        if isinstance(exc, RequestErrorBase):
            if exc.response is None:  # no answer: timeout, refused, reset
                return lost("Bluesky", exc, posting)
            return self._answered(account, exc, posting)
        if isinstance(exc, httpx.HTTPError):  # what atproto lets through (a closed connection)
            return lost("Bluesky", exc, posting)
        if isinstance(exc, LoginRequiredError):
            return ReplyError("Bluesky: the session cannot be used", hint=self._login_hint(account))
        if isinstance(exc, ModelError | ValueError):
            return ReplyError(
                "Bluesky: the answer is not what the API documents"
                + ("; it may have been posted" if posting else "; nothing was posted"),
                hint=CHECK_THREAD if posting else None,
                maybe_posted=posting,
            )
        return None

    def _answered(self, account: Account, exc: Any, posting: bool) -> ReplyError:
        response = exc.response
        status, detail = response.status_code, _xrpc_detail(response)
        if status == 429:
            headers = response.headers
            reset = headers.get("ratelimit-reset") or headers.get("retry-after")
            return rate_limited("Bluesky", parse_reset(reset, datetime.now(UTC)), detail)
        if status >= 500:
            return server_error("Bluesky", status, posting)
        if status in (401, 403) and not posting:
            return ReplyError(
                f"Bluesky refused the login ({detail}); nothing was posted",
                hint=self._login_hint(account),
            )
        return ReplyError(f"Bluesky refused the reply ({detail}); nothing was posted")

    @staticmethod
    def _login_hint(account: Account) -> str:
        return (
            f"check {account.key('handle')} and its app_password (an app password from "
            "Settings > Privacy and security, not the account password)"
        )


def _bluesky_post(client: Any, uri: str) -> dict[str, Any]:
    """The post being answered, as the AppView has it now (raw JSON, like the listener's)."""
    from atproto_client import models

    params = models.AppBskyFeedGetPosts.Params(uris=[uri])
    body = client.invoke_query("app.bsky.feed.getPosts", params=params).content
    posts = body.get("posts") if isinstance(body, dict) else None
    if not isinstance(posts, list):
        raise ReplyError("Bluesky: getPosts did not answer with posts; nothing was posted")
    found = [p for p in posts if isinstance(p, dict) and p.get("uri") == uri]
    if not found:
        raise gone("Bluesky", "deleted, or hidden from this account")
    if not isinstance(found[0].get("cid"), str):
        raise ReplyError(f"Bluesky: the post {uri} came without its cid; nothing was posted")
    return found[0]


def _reply_ref(post: dict[str, Any]) -> Any:
    from atproto_client import models

    parent = models.ComAtprotoRepoStrongRef.Main(uri=post["uri"], cid=post["cid"])
    record = _record(post)
    root = ((record.get("reply") or {}).get("root")) or {}
    if isinstance(root.get("uri"), str) and isinstance(root.get("cid"), str):
        top = models.ComAtprotoRepoStrongRef.Main(uri=root["uri"], cid=root["cid"])
    else:
        top = parent  # a top-level post is its own thread's root
    return models.AppBskyFeedPost.ReplyRef(parent=parent, root=top)


def _langs(post: dict[str, Any]) -> list[str] | None:
    record = _record(post)
    langs = record.get("langs")
    if isinstance(langs, list) and langs and all(isinstance(x, str) for x in langs):
        return langs[:3]
    return None


def _record(post: dict[str, Any]) -> dict[str, Any]:
    record = post.get("record")
    return record if isinstance(record, dict) else {}


def _xrpc_detail(response: Any) -> str:
    from atproto_client.models.common import XrpcError

    content = response.content
    if isinstance(content, XrpcError):
        detail = f"{content.error}: {content.message}" if content.message else content.error
        return f"HTTP {response.status_code} {detail}"[:300]
    return f"HTTP {response.status_code}"
