"""Replies: answer a stored mention on its own platform, through the client its listener uses.

``reply_problems`` says, without any network I/O, why a reply could not be sent as it is (the
dry run); ``send_reply`` posts it. Per platform:

* **x** — ``tweepy.Client.create_tweet(text, in_reply_to_tweet_id)`` in OAuth 1.0a user
  context (``consumer_key``, ``consumer_secret``, ``access_token``, ``access_token_secret``):
  the listener's bearer token is app-only and cannot post. A retweet is answered on the tweet
  it retweets, as X's own reply button does.
* **reddit** — praw ``Comment.reply`` or ``Submission.reply``, chosen by the stored fullname
  (``t1_``/``t3_``), as the script app's account (``username``/``password``).
* **bluesky** — atproto ``send_post`` with a ``ReplyRef``, logged in as ``handle`` with its
  ``app_password``. The parent (the stored ``at://`` uri) is read first with ``getPosts``: it
  must still exist (Bluesky would accept a reply to a deleted post, which nobody would see), and
  its record says its thread's root (a reply's root is its parent's root; a top-level post is
  its own). Links and #tags become facets; the reply takes the parent's languages.
* **mastodon** — Mastodon.py ``status_post(in_reply_to_id=...)`` on the first configured
  instance, the one ``access_token`` belongs to. Status ids are local to an instance and the
  stored one may come from another: it is used only when this instance says it is the same
  status (same ``uri``), else the status is resolved there by its URI (``search_v2`` with
  ``resolve=True``). The author is mentioned first unless the text does already (Mastodon only
  notifies mentioned accounts); the parent's visibility and content warning are kept (a reply to
  a followers-only post must not go public), and an ``Idempotency-Key`` makes the same reply sent
  twice within an hour post once. A boost is answered on the status it boosts.

Nothing is retried: a retried POST can post twice. The clients neither sleep nor retry
(tweepy without ``wait_on_rate_limit``; prawcore without its retry strategy and limiter, and
praw's own sleep-and-post-again on a RATELIMIT answer off; Mastodon.py with
``ratelimit_method="throw"``; atproto and requests retry nothing). Every failure is a
``ReplyError`` saying what happened and what to do. ``maybe_posted`` is True when the posting
request went out and its answer was lost or bad (timeout, dropped connection, 5xx, unreadable
answer): look at the thread before sending again. Logins and lookups run before the post, so
when they fail nothing was sent.

Credentials come from the ``sources`` entry of the mention's platform (its ``type``, else its
name; the first with every credential set), enabled or not: ``enabled`` is about polling.
Messages never show them: whatever the config's ``${VAR}`` references resolved to is masked.
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, TypeVar
from urllib.parse import quote, urlsplit

import httpx
import regex  # \X: grapheme clusters, as Bluesky and Mastodon count (installed with transformers)
import requests
import urllib3
from pydantic import SecretStr, ValidationError, field_validator

from harken.config import BrandConfig, Config
from harken.errors import ReplyError
from harken.net.deadline import DEADLINE_FACTOR, DeadlineExceeded, deadline
from harken.platforms.registry import settings_problem
from harken.platforms.source import SourceSettings, parse_reset

T = TypeVar("T")

MAX_LENGTH: dict[str, int] = {"x": 280, "bluesky": 300, "mastodon": 500, "reddit": 10000}
BLUESKY_MAX_BYTES = 3000  # the post record's other limit (UTF-8 bytes)
LINK_LENGTH = 23  # what a link counts on X and Mastodon, however long it is
CHECK_THREAD = "look at the thread before sending it again: a second send could post it twice"
MASK = "***"
_PLAIN_SECRETS = ("password", "client_secret", "bearer_token", "access_token")  # str settings

_LINK = re.compile(r"(?i)\bhttps?://[^\s<>\"]+")
_REMOTE_MENTION = re.compile(r"(?i)(^|[^/\w])@(([a-z0-9_]+)@[a-z0-9.\-]+[a-z0-9]+)")
_PICTOGRAPH = regex.compile(r"[\p{Extended_Pictographic}\p{Regional_Indicator}]")
_X_LIGHT = ((0, 4351), (8192, 8205), (8208, 8223), (8242, 8247))  # twitter-text: weight 1
_FULLNAME = re.compile(r"^(t1|t3)_[a-z0-9]+$")
_POST_URI = re.compile(r"^at://([^/]+)/app\.bsky\.feed\.post/([^/]+)$")
# Failures that prove the request never reached the server: no connection was made.
_NOT_CONNECTED = (
    requests.ConnectTimeout,
    urllib3.exceptions.NewConnectionError,
    urllib3.exceptions.ConnectTimeoutError,
    httpx.ConnectError,
    httpx.ConnectTimeout,
    httpx.PoolTimeout,
    ConnectionRefusedError,
)


@dataclass(frozen=True)
class ReplyTarget:
    platform: str  # "x" | "reddit" | "bluesky" | "mastodon" (rss: not answerable)
    external_id: str  # the stored mention's external_id
    url: str | None
    author_handle: str
    conversation_id: str | None
    raw: Mapping[str, Any]  # the stored mention's raw payload (Mention.raw)


@dataclass(frozen=True)
class SentReply:
    external_id: str  # the new post's id on the platform, as harken stores mentions there
    url: str | None


def reply_problems(config: Config, target: ReplyTarget, text: str) -> list[str]:
    """Why this reply could not be sent as is, in plain words (empty: it can): empty text,
    too long for the platform, platform not answerable (rss), missing credentials (naming the
    config keys / env vars to set). Used by the dry run; does no network I/O."""
    problems = [] if text.strip() else ["the reply is empty"]
    platform = PLATFORMS.get(target.platform)
    if platform is None:
        return [*problems, _not_answerable(target.platform)]
    if text.strip():
        problems += platform.text_problems(target, text)
    problems += platform.target_problems(target)
    return problems + _find_account(config, platform)[1]


def send_reply(
    config: Config, target: ReplyTarget, text: str, timeout: float | None = None
) -> SentReply:
    """Post the reply through the platform's client (see the module docstring). Raises
    ReplyError; ``maybe_posted`` says whether it may have been posted anyway."""
    problems = reply_problems(config, target, text)
    platform = PLATFORMS.get(target.platform)
    account = _find_account(config, platform)[0] if platform else None
    if problems or platform is None or account is None:
        raise _masked(
            ReplyError(
                "cannot send the reply: " + "; ".join(problems),
                hint="nothing was sent; docs/listeners.md (Replies) lists what each platform needs",
            ),
            config,
            None,
        )
    seconds = timeout if timeout is not None else account.settings.timeout.total_seconds()
    try:
        with deadline(DEADLINE_FACTOR * seconds, f"{target.platform} reply"):
            return platform.post(account, target, text, seconds)
    except ReplyError as err:
        raise _masked(err, config, account) from None
    except DeadlineExceeded as err:
        # Cut off mid-call: posted unless the platform said it was not.
        cause = err.__cause__
        maybe = cause.maybe_posted if isinstance(cause, ReplyError) else True
        check = "check the post before sending again" if maybe else "nothing was posted"
        raise ReplyError(str(err), hint=check, maybe_posted=maybe) from None


# -- accounts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Account:
    """The source entry whose credentials post a platform's replies."""

    source: str  # its name under sources:
    settings: Any  # the platform listener's settings (XSettings, RedditSettings...)
    brands: list[BrandConfig]

    def key(self, name: str) -> str:
        return f"sources.{self.source}.{name}"


def _find_account(config: Config, platform: Platform) -> tuple[Account | None, list[str]]:
    """The first entry of the platform with every credential set, else what the first lacks."""
    entries = [
        (name, entry)
        for name, entry in config.sources.items()
        if ((entry.model_extra or {}).get("type") or name) == platform.name
    ]
    if not entries:
        keys = " and ".join(platform.credentials)
        return None, [
            f"no {platform.name} source in the config: add sources.{platform.name} with "
            f"{keys} ({platform.needs})"
        ]
    first: list[str] | None = None
    for name, entry in entries:
        values = entry.model_dump()
        values.pop("type", None)
        try:
            settings = platform.settings_class().model_validate(values)
        except ValidationError as err:
            problems = [_invalid(config, name, err)]
        else:
            account = Account(name, settings, config.brands)
            problems = _missing_credentials(config, platform, account)
            if not problems:
                return account, []
        first = problems if first is None else first
    return None, first or []


def _invalid(config: Config, source: str, err: ValidationError) -> str:
    problem, var = settings_problem(config, source, err)
    return problem + (f" (set {var} in the environment or .env)" if var else "")


def _missing_credentials(config: Config, platform: Platform, account: Account) -> list[str]:
    missing = [key for key in platform.credentials if not _secret(getattr(account.settings, key))]
    if not missing:
        return []
    steps = [_how_to_set(config, account, key, platform.credentials[key]) for key in missing]
    return [f"{platform.label} replies need {platform.needs}: " + "; ".join(steps)]


def _how_to_set(config: Config, account: Account, key: str, variable: str | None) -> str:
    path = account.key(key)
    referenced = config.env_refs.get(path)
    if referenced:
        return f"set {referenced} (read by {path}) in the environment or .env"
    if variable:
        return f'add {key}: "${{{variable}}}" to sources.{account.source} and set {variable}'
    return f"add {key} to sources.{account.source}"


def _secret(value: Any) -> str | None:
    if isinstance(value, SecretStr):
        value = value.get_secret_value()
    return value if isinstance(value, str) and value else None


def _masked(err: ReplyError, config: Config, account: Account | None) -> ReplyError:
    """The error with every credential value masked (servers echo what they were sent)."""
    secrets = set(config.secret_values)
    if account is not None:
        for name, value in account.settings:
            if isinstance(value, SecretStr) or name in _PLAIN_SECRETS:
                secrets.add(_secret(value) or "")
    secrets = {s for s in secrets if len(s) >= 8}  # as the log filter: shorter ones are not keys

    def mask(text: str | None) -> str | None:
        for secret in sorted(secrets, key=len, reverse=True):
            text = text.replace(secret, MASK) if text else text
        return text

    message = mask(str(err.args[0]) if err.args else "") or ""
    return ReplyError(message, hint=mask(err.hint), maybe_posted=err.maybe_posted)


def _not_answerable(platform: str) -> str:
    if platform == "rss":
        return "rss mentions cannot be answered: a feed has no reply (answer on the site itself)"
    return f"{platform} mentions cannot be answered (replies go to: {', '.join(PLATFORMS)})"


# -- what every platform shares -------------------------------------------------------------------


class Platform:
    name: ClassVar[str]
    label: ClassVar[str]
    needs: ClassVar[str]  # what posting needs, in words
    counting: ClassVar[str]  # how the platform counts length, in words
    credentials: ClassVar[dict[str, str | None]]  # settings key -> the ${VAR} to suggest

    def settings_class(self) -> type[SourceSettings]:
        raise NotImplementedError

    def length(self, target: ReplyTarget, text: str) -> int:
        raise NotImplementedError

    def target_problems(self, target: ReplyTarget) -> list[str]:
        return []

    def post(self, account: Account, target: ReplyTarget, text: str, timeout: float) -> SentReply:
        raise NotImplementedError

    def text_problems(self, target: ReplyTarget, text: str) -> list[str]:
        length, limit = self.length(target, text), MAX_LENGTH[self.name]
        if length <= limit:
            return []
        return [f"the reply is {length} characters {self.counting}; {self.label} allows {limit}"]


Explain = Callable[[Exception, bool], ReplyError | None]


def attempt(fn: Callable[[], T], explain: Explain, posting: bool, label: str) -> T:
    """``fn()``, its library's errors explained. ``posting``: this call sends the reply."""
    try:
        return fn()
    except ReplyError:
        raise
    except Exception as exc:
        err = explain(exc, posting)
        if err is None and not posting:
            raise
        if err is None:  # a library error nobody foresaw, after the reply went out
            err = ReplyError(
                f"{label}: {type(exc).__name__} while posting; it may have been posted",
                hint=CHECK_THREAD,
                maybe_posted=True,
            )
        raise err from None


def never_left(exc: BaseException | None) -> bool:
    """True when the request provably never reached the server (no connection was made)."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        reason = getattr(exc.args[0], "reason", None) if exc.args else None  # MaxRetryError
        if isinstance(exc, _NOT_CONNECTED) or isinstance(reason, _NOT_CONNECTED):
            return True
        exc = getattr(exc, "original_exception", None) or exc.__cause__ or exc.__context__
    return False


def lost(label: str, exc: Exception, posting: bool) -> ReplyError:
    """A timeout or a dropped connection: after the reply went out, it may be posted."""
    what = type(exc).__name__
    if posting and not never_left(exc):
        return ReplyError(
            f"{label}: no answer to the reply ({what}); it may have been posted",
            hint=CHECK_THREAD,
            maybe_posted=True,
        )
    return ReplyError(f"{label}: cannot reach the server ({what}); nothing was posted")


def server_error(label: str, status: int | None, posting: bool) -> ReplyError:
    if posting:
        return ReplyError(
            f"{label}: HTTP {status} from the server while posting; it may have been posted",
            hint=CHECK_THREAD,
            maybe_posted=True,
        )
    return ReplyError(
        f"{label}: HTTP {status} from the server; nothing was posted", hint="try again later"
    )


def rate_limited(label: str, reset_at: datetime | None, detail: str = "") -> ReplyError:
    if reset_at is None:
        when = f"{label} did not say when the limit resets"
    else:
        minutes = max(0, -(-int((reset_at - datetime.now(UTC)).total_seconds()) // 60))
        when = f"the limit resets at {reset_at:%Y-%m-%d %H:%M} UTC (in {minutes} min)"
    detail = f" ({detail})" if detail else ""
    return ReplyError(
        f"{label}: rate limited{detail}; nothing was posted; {when}",
        hint="send it again after the reset",
    )


def gone(label: str, detail: str = "") -> ReplyError:
    detail = f" ({detail})" if detail else ""
    return ReplyError(
        f"{label}: the post being answered no longer exists or cannot be seen{detail}; "
        "nothing was posted",
        hint="dismiss the item, or answer the author elsewhere",
    )


def graphemes(text: str) -> int:
    return len(regex.findall(r"\X", text))


def with_links_as(text: str, length: int) -> str:
    return _LINK.sub("x" * length, text)


# -- X ------------------------------------------------------------------------------------------


@functools.cache
def _x_posting_settings() -> type[SourceSettings]:
    from harken.platforms.x.source import XSettings

    class XPostingSettings(XSettings):
        """XSettings less the bearer token, which only listening needs."""

        @field_validator("bearer_token")
        @classmethod
        def _token_given(cls, value: str | None) -> Any:  # replaces XSettings' check
            return value

    return XPostingSettings


class X(Platform):
    name, label = "x", "X"
    needs = "OAuth 1.0a user credentials (the app-only bearer token cannot post)"
    counting = "as X counts them (a link 23, CJK characters and emoji 2)"
    credentials: ClassVar[dict[str, str | None]] = {
        "consumer_key": "X_CONSUMER_KEY",
        "consumer_secret": "X_CONSUMER_SECRET",
        "access_token": "X_ACCESS_TOKEN",
        "access_token_secret": "X_ACCESS_TOKEN_SECRET",
    }

    def settings_class(self) -> type[SourceSettings]:
        return _x_posting_settings()

    def length(self, target: ReplyTarget, text: str) -> int:
        text = unicodedata.normalize("NFC", text)
        links = len(_LINK.findall(text))
        return _x_weight(_LINK.sub("", text)) + links * LINK_LENGTH

    def target_problems(self, target: ReplyTarget) -> list[str]:
        if x_tweet_id(target).isdigit():
            return []
        return [f"X: {x_tweet_id(target)!r} is not a tweet id"]

    def post(self, account: Account, target: ReplyTarget, text: str, timeout: float) -> SentReply:
        import tweepy

        from harken.platforms.x.source import point_at

        s = account.settings
        client = tweepy.Client(
            consumer_key=_secret(s.consumer_key),
            consumer_secret=_secret(s.consumer_secret),
            access_token=_secret(s.access_token),
            access_token_secret=_secret(s.access_token_secret),
            return_type=dict,
            wait_on_rate_limit=False,  # it would sleep, then post again
        )
        point_at(client, s.api_base_url, timeout)
        explain = functools.partial(self.explain, account)
        try:
            body = attempt(
                lambda: client.create_tweet(text=text, in_reply_to_tweet_id=x_tweet_id(target)),
                explain,
                posting=True,
                label="X",
            )
        finally:
            client.session.close()
        data = body.get("data") if isinstance(body, dict) else None
        new_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(new_id, str) or not new_id:
            raise ReplyError(
                "X answered without the new post's id; it may have been posted",
                hint=CHECK_THREAD,
                maybe_posted=True,
            )
        return SentReply(new_id, f"https://x.com/i/status/{new_id}")

    def explain(self, account: Account, exc: Exception, posting: bool) -> ReplyError | None:
        import tweepy

        if isinstance(exc, tweepy.TooManyRequests):
            return rate_limited("X", _x_reset(exc.response.headers), "HTTP 429")
        if isinstance(exc, tweepy.TwitterServerError):
            return server_error("X", exc.response.status_code, posting)
        if isinstance(exc, tweepy.HTTPException):
            return self._refused(account, exc)
        if isinstance(exc, requests.RequestException):
            return lost("X", exc, posting)
        if isinstance(exc, ValueError):  # requests' JSONDecodeError: a garbled answer
            return ReplyError(
                "X: the answer is not valid JSON; it may have been posted",
                hint=CHECK_THREAD,
                maybe_posted=posting,
            )
        return None

    def _refused(self, account: Account, exc: Any) -> ReplyError:
        status = exc.response.status_code
        messages = "; ".join(exc.api_messages or [str(e) for e in exc.api_errors])[:300]
        detail = messages or exc.response.reason or "error"
        if status == 401:
            keys = ", ".join(account.key(k) for k in self.credentials)
            return ReplyError(
                f"X refused the credentials (HTTP 401: {detail}); nothing was posted",
                hint=f"check {keys}; harken doctor",
            )
        if status == 404 or "deleted or not visible" in detail.lower():
            return gone("X", f"HTTP {status}")
        if status == 403 and "duplicate" in detail.lower():
            return ReplyError(
                f"X refused the reply (HTTP 403: {detail})", hint="X refuses the same text twice"
            )
        if status == 403:
            return ReplyError(
                f"X refused the reply (HTTP 403: {detail}); nothing was posted",
                hint="the X app needs Read and Write permission (regenerate the access token "
                "after changing it), and the author may limit who can reply",
            )
        return ReplyError(f"X rejected the reply (HTTP {status}: {detail}); nothing was posted")


def x_tweet_id(target: ReplyTarget) -> str:
    """The tweet to answer: a retweet's original (X's reply button does the same)."""
    for ref in target.raw.get("referenced_tweets") or []:
        if (
            isinstance(ref, dict)
            and ref.get("type") == "retweeted"
            and isinstance(ref.get("id"), str)
        ):
            return str(ref["id"])
    return target.external_id


def _x_weight(text: str) -> int:
    """twitter-text's weighted length: Latin and common punctuation 1, the rest 2, and an emoji
    (however many code points) 2."""
    total = 0
    for cluster in regex.findall(r"\X", text):
        if len(cluster) > 1 and _PICTOGRAPH.search(cluster):
            total += 2
        else:
            total += sum(1 if _x_light(ord(c)) else 2 for c in cluster)
    return total


def _x_light(code: int) -> bool:
    return any(low <= code <= high for low, high in _X_LIGHT)


def _x_reset(headers: Mapping[str, str]) -> datetime | None:
    """The reset of whichever limit is spent: the 15-minute window, or the 24-hour user or app
    posting limits."""
    now = datetime.now(UTC)
    spent = [
        parse_reset(headers.get(f"{prefix}-reset"), now)
        for prefix in ("x-user-limit-24hour", "x-app-limit-24hour", "x-rate-limit")
        if headers.get(f"{prefix}-remaining") == "0"
    ]
    known = [t for t in spent if t is not None]
    return max(known) if known else parse_reset(headers.get("x-rate-limit-reset"), now)


# -- Reddit -------------------------------------------------------------------------------------


class Reddit(Platform):
    name, label = "reddit", "Reddit"
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


# -- Bluesky ------------------------------------------------------------------------------------


class Bluesky(Platform):
    name, label = "bluesky", "Bluesky"
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


# -- Mastodon -----------------------------------------------------------------------------------


class MastodonPlatform(Platform):
    name, label = "mastodon", "Mastodon"
    needs = (
        "an access token of the account to post as, on the first of its instances "
        "(scopes read and write:statuses)"
    )
    counting = "as Mastodon counts them (a link 23, the author's @mention included)"
    credentials: ClassVar[dict[str, str | None]] = {"access_token": "MASTODON_ACCESS_TOKEN"}

    def settings_class(self) -> type[SourceSettings]:
        from harken.platforms.mastodon.source import MastodonSettings

        return MastodonSettings

    def length(self, target: ReplyTarget, text: str) -> int:
        status = answered_status(target)
        acct = ((status.get("account") or {}).get("acct")) or target.author_handle
        full = with_mention(text, str(acct))
        countable = _REMOTE_MENTION.sub(r"\1@\3", with_links_as(full, LINK_LENGTH))
        return graphemes(countable) + graphemes(str(status.get("spoiler_text") or ""))

    def target_problems(self, target: ReplyTarget) -> list[str]:
        uri = answered_status(target).get("uri") or target.external_id
        if isinstance(uri, str) and urlsplit(uri).scheme in ("http", "https"):
            return []
        return [f"Mastodon: {uri!r} is not a status URI"]

    def post(self, account: Account, target: ReplyTarget, text: str, timeout: float) -> SentReply:
        from harken.platforms.mastodon.source import make_client

        settings = account.settings
        instance = settings.api_base_url or settings.instances[0]
        session = requests.Session()
        seen: list[requests.Response] = []
        session.hooks["response"].append(lambda response, *a, **k: _keep(seen, response))
        client = make_client(instance, settings.access_token, timeout, session)
        explain = functools.partial(self.explain, account, seen)
        try:
            parent = attempt(
                lambda: _local_status(client, target, instance), explain, False, "Mastodon"
            )
            full = with_mention(text, str((parent.get("account") or {}).get("acct") or ""))
            created = attempt(
                lambda: client.status_post(
                    full,
                    in_reply_to_id=str(parent["id"]),
                    visibility=_visibility(parent),
                    spoiler_text=parent.get("spoiler_text") or None,
                    idempotency_key=_idempotency_key(instance, parent, full),
                ),
                explain,
                posting=True,
                label="Mastodon",
            )
        finally:
            session.close()
        return SentReply(str(created.get("uri") or created.get("id")), created.get("url"))

    def explain(
        self, account: Account, seen: list[requests.Response], exc: Exception, posting: bool
    ) -> ReplyError | None:
        from mastodon.errors import (
            MastodonAPIError,
            MastodonError,
            MastodonNetworkError,
            MastodonNotFoundError,
            MastodonRatelimitError,
            MastodonServerError,
            MastodonUnauthorizedError,
        )

        response = seen[-1] if seen else None
        status = _status_code(exc)
        if isinstance(exc, MastodonRatelimitError):
            return self._rate_limited(response, posting)
        if isinstance(exc, MastodonNetworkError):
            return lost("Mastodon", exc, posting)
        if isinstance(exc, MastodonServerError):
            return server_error("Mastodon", status, posting)
        if isinstance(exc, MastodonUnauthorizedError):
            return ReplyError(
                f"Mastodon refused the access token (HTTP 401: {_api_message(exc, response)}); "
                "nothing was posted",
                hint=f"check {account.key('access_token')}: a token of an account on the first "
                "instance, with scopes read and write:statuses",
            )
        if isinstance(exc, MastodonNotFoundError):
            return gone("Mastodon", "HTTP 404")
        if isinstance(exc, MastodonAPIError) and status is None:  # a garbled answer
            return ReplyError(
                "Mastodon: the answer is not valid JSON"
                + ("; it may have been posted" if posting else "; nothing was posted"),
                hint=CHECK_THREAD if posting else None,
                maybe_posted=posting,
            )
        if isinstance(exc, MastodonAPIError):
            return ReplyError(
                f"Mastodon refused the reply (HTTP {status}: {_api_message(exc, response)}); "
                "nothing was posted",
                hint="HTTP 403: the token needs scope write:statuses" if status == 403 else None,
            )
        if isinstance(exc, MastodonError):
            return ReplyError(f"Mastodon: {type(exc).__name__}: {str(exc)[:300]}")
        return None

    @staticmethod
    def _rate_limited(response: requests.Response | None, posting: bool) -> ReplyError:
        if response is not None and response.status_code != 429:
            # Mastodon.py could not read a 2xx answer's X-RateLimit-Reset: the status exists.
            return ReplyError(
                "Mastodon: unreadable rate-limit headers in the answer; it may have been posted",
                hint=CHECK_THREAD,
                maybe_posted=posting,
            )
        headers = response.headers if response is not None else {}
        reset = headers.get("X-RateLimit-Reset") or headers.get("Retry-After")
        return rate_limited("Mastodon", parse_reset(reset, datetime.now(UTC)), "HTTP 429")


def _keep(seen: list[requests.Response], response: requests.Response) -> None:
    seen[:] = [response]  # the last response: Mastodon.py's 429 error carries none


def answered_status(target: ReplyTarget) -> Mapping[str, Any]:
    """The status to answer: a boost's original (Mastodon's reply button does the same)."""
    reblog = target.raw.get("reblog")
    return reblog if isinstance(reblog, Mapping) else target.raw


def _local_status(client: Any, target: ReplyTarget, instance: str) -> Mapping[str, Any]:
    """The status as the posting instance knows it (its id is local to that instance)."""
    from mastodon.errors import MastodonNotFoundError

    wanted = answered_status(target)
    uri = str(wanted.get("uri") or target.external_id)
    local_id = wanted.get("id")
    if isinstance(local_id, str | int) and not isinstance(local_id, bool) and str(local_id):
        try:
            found = client.status(quote(str(local_id), safe=""))
        except MastodonNotFoundError:
            found = None
        if found is not None and found.get("uri") == uri:
            return found  # type: ignore[no-any-return]
    # Read on another instance: have this one fetch it by its URI (needs a signed-in token).
    results = client.search_v2(uri, resolve=True, result_type="statuses", exclude_unreviewed=False)
    for status in results.get("statuses") or []:
        if status.get("uri") == uri:
            return status  # type: ignore[no-any-return]
    raise gone("Mastodon", f"{urlsplit(instance).netloc} cannot find {uri}")


def with_mention(text: str, acct: str) -> str:
    """The text, starting with the author's @mention unless it mentions them already."""
    acct = acct.strip().lstrip("@")
    if not acct or re.search(rf"(?i)(?<![\w@])@{re.escape(acct)}(?![\w@])", text):
        return text
    return f"@{acct} {text}"


def _visibility(status: Mapping[str, Any]) -> str | None:
    value = status.get("visibility")
    return value if value in ("public", "unlisted", "private", "direct") else None


def _idempotency_key(instance: str, status: Mapping[str, Any], text: str) -> str:
    # The same reply to the same status within an hour posts once (Mastodon keeps keys 1 h).
    seed = f"{instance}\n{status.get('uri')}\n{text}".encode()
    return "harken-" + hashlib.sha256(seed).hexdigest()[:32]


def _status_code(exc: Exception) -> int | None:
    # Mastodon.py raises ('Mastodon API returned error', status, reason, message).
    status = exc.args[1] if len(exc.args) > 1 else None
    return status if isinstance(status, int) else None


def _api_message(exc: Exception, response: requests.Response | None) -> str:
    message = None
    if response is not None:
        try:
            body = response.json()
        except ValueError:
            body = None
        message = body.get("error") if isinstance(body, dict) else None
    if not isinstance(message, str) or not message:
        message = exc.args[3] if len(exc.args) > 3 else None
    return str(message or "error")[:300]


PLATFORMS: dict[str, Platform] = {p.name: p for p in (X(), Reddit(), Bluesky(), MastodonPlatform())}
