"""Replies on Reddit: praw ``Comment.reply`` or ``Submission.reply``, chosen by the stored
fullname (``t1_``/``t3_``), as the script app's account (``username``/``password``).

Nothing is retried: prawcore runs without its retry strategy and limiter, and praw's own
sleep-and-post-again on a RATELIMIT answer is off.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime
from typing import Any, ClassVar

from harken.errors import ReplyError
from harken.platforms.reply import (
    CHECK_THREAD,
    Account,
    ReplyClient,
    ReplyTarget,
    SentReply,
    attempt,
    gone,
    lost,
    rate_limited,
    server_error,
)
from harken.platforms.source import SourceSettings, parse_reset

_FULLNAME = re.compile(r"^(t1|t3)_[a-z0-9]+$")


class RedditReply(ReplyClient):
    name, label = "reddit", "Reddit"
    max_length = 10000
    needs = "a script app's account (app-only OAuth cannot post)"
    counting = "long"
    credentials: ClassVar[dict[str, str | None]] = {
        "username": "REDDIT_USERNAME",
        "password": "REDDIT_PASSWORD",
    }

    def settings_class(self) -> type[SourceSettings]:
        from harken.platforms.reddit.source import RedditSettings

        return RedditSettings

    def length(self, target: ReplyTarget, text: str) -> int:
        return len(text)

    def target_problems(self, target: ReplyTarget) -> list[str]:
        if not _FULLNAME.match(target.external_id):
            return [f"Reddit: {target.external_id!r} is not a comment or submission (t1_/t3_)"]
        kind = target.raw.get("kind")
        if kind in ("t1", "t3") and not target.external_id.startswith(f"{kind}_"):
            return [f"Reddit: {target.external_id!r} does not match its stored {kind} thing"]
        return []

    def post(self, account: Account, target: ReplyTarget, text: str, timeout: float) -> SentReply:
        from harken.platforms.reddit.source import add_missing_challenge, make_reddit

        reddit = make_reddit(account.settings, timeout, add_missing_challenge)
        # praw sleeps and posts again when Reddit says "try again in N seconds" (N <= this).
        reddit.config.ratelimit_seconds = -1
        kind, _, short = target.external_id.partition("_")
        thing = reddit.comment(id=short) if kind == "t1" else reddit.submission(id=short)
        explain = functools.partial(self.explain, account)
        scopes = attempt(reddit.auth.scopes, explain, posting=False, label="Reddit")  # the login
        if not scopes & {"*", "submit"}:
            raise ReplyError(
                f"Reddit: the account's token may not post (scopes: {', '.join(sorted(scopes))})",
                hint="use a script app; its password login gets every scope",
            )
        created = attempt(lambda: thing.reply(text), explain, posting=True, label="Reddit")
        data = vars(created) if created is not None else {}
        new_id = data.get("id")
        if not isinstance(new_id, str) or not new_id:
            raise ReplyError(
                "Reddit answered without the new comment; it may have been posted",
                hint=CHECK_THREAD,
                maybe_posted=True,
            )
        permalink = data.get("permalink")
        url = f"https://www.reddit.com{permalink}" if isinstance(permalink, str) else None
        return SentReply(f"t1_{new_id}", url)

    def explain(self, account: Account, exc: Exception, posting: bool) -> ReplyError | None:
        import prawcore
        from praw.exceptions import RedditAPIException

        if isinstance(exc, RedditAPIException):
            return self._api_error(exc)
        if isinstance(exc, prawcore.TooManyRequests):
            headers = exc.response.headers
            reset = headers.get("x-ratelimit-reset") or headers.get("retry-after")
            return rate_limited("Reddit", parse_reset(reset, datetime.now(UTC)), "HTTP 429")
        if isinstance(exc, prawcore.OAuthException):
            return ReplyError(
                f"Reddit refused the login ({exc.error}); nothing was posted",
                hint=f"check {account.key('username')} and password (the account must be a "
                "developer of the script app)",
            )
        if isinstance(exc, prawcore.ServerError):
            return server_error("Reddit", exc.response.status_code, posting)
        if isinstance(exc, prawcore.BadJSON):
            return ReplyError(
                "Reddit: the answer is not valid JSON; it may have been posted",
                hint=CHECK_THREAD,
                maybe_posted=posting,
            )
        if isinstance(exc, prawcore.ResponseException):
            return self._refused(account, exc)
        if isinstance(exc, prawcore.RequestException):  # timeouts and dropped connections
            return lost("Reddit", exc, posting)
        return None

    def _api_error(self, exc: Any) -> ReplyError:
        kinds = {item.error_type for item in exc.items}
        detail = "; ".join(f"{i.error_type}: {i.message}" for i in exc.items)[:300]
        if "RATELIMIT" in kinds:  # "you are doing that too much. try again in 9 minutes."
            return rate_limited("Reddit", None, detail)
        if kinds & {"DELETED_COMMENT", "DELETED_LINK", "DELETED_THING", "NO_THING_ID"}:
            return gone("Reddit", detail)
        if kinds & {"THREAD_LOCKED", "TOO_OLD", "USER_BLOCKED", "SUBREDDIT_NOTALLOWED"}:
            return ReplyError(
                f"Reddit will not take a reply there ({detail}); nothing was posted",
                hint="the thread is locked or archived, or the account may not post there",
            )
        return ReplyError(f"Reddit rejected the reply ({detail}); nothing was posted")

    def _refused(self, account: Account, exc: Any) -> ReplyError:
        import prawcore

        status = exc.response.status_code
        if prawcore.const.ACCESS_TOKEN_PATH in (exc.response.url or ""):
            return ReplyError(
                f"Reddit refused the app's credentials (HTTP {status}); nothing was posted",
                hint=f"check {account.key('client_id')} and client_secret",
            )
        if status == 404:
            return gone("Reddit", "HTTP 404")
        if status in (401, 403):
            return ReplyError(
                f"Reddit refused the reply (HTTP {status}); nothing was posted",
                hint="the account may be banned from that subreddit, or its login revoked",
            )
        return ReplyError(f"Reddit rejected the reply (HTTP {status}); nothing was posted")
