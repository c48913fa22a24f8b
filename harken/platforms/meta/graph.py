"""The Meta Graph API over httpx: one GET or POST, its usage headers, and its errors.

There is no well-kept Python client for the Graph API (facebook-sdk stopped in 2018; the
Business SDK is for ads), and the API is plain JSON over HTTPS, so harken calls it directly.

**Tokens.** The access token travels in the ``Authorization: Bearer`` header, never in a URL
(URLs end up in logs and error messages). With ``app_secret`` set, every call carries
``appsecret_proof`` (HMAC-SHA256 of the token with the app secret), which apps can make
mandatory. Paging follows ``paging.cursors.after``, never ``paging.next``: that URL carries the
token and could point anywhere.

**Usage.** Every answer may say how much of the app's, the page's or the business's hourly
allowance is used, in percent: ``X-App-Usage``, ``X-Page-Usage`` (``call_count``,
``total_cputime``, ``total_time``) and ``X-Business-Use-Case-Usage`` (per business id, a list of
those per use-case ``type``, with ``estimated_time_to_regain_access`` in minutes). ``Usage``
keeps the worst of them; a source stops calling at its ``usage_ceiling`` until access is
regained, rather than be throttled mid-poll (Meta throttles harder those that keep calling).

**Errors.** Meta answers ``{"error": {"message", "type", "code", "error_subcode",
"is_transient", "fbtrace_id"}}``: throttling is codes 4, 17, 32, 613 and 80001-80014; an
expired or revoked token 190; a missing permission 10 or 200-299; a deleted object 100 with
subcode 33 (or 803); a passing fault 1, 2 or ``is_transient``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import httpx
from pydantic import Field, SecretStr, field_validator, model_validator

from harken.config import Duration
from harken.errors import RateLimited, SourceError, TransientSourceError
from harken.net.limits import capped_httpx_hooks
from harken.platforms.source import SourceSettings

GRAPH = "https://graph.facebook.com"
API_VERSION = "v24.0"
USAGE_HEADERS = ("x-app-usage", "x-page-usage", "x-business-use-case-usage")
# Application, user, Page and custom limits, "application limit reached", "temporarily
# blocked", and the business use case limits.
THROTTLED = frozenset({4, 17, 32, 341, 368, 613, *range(80001, 80015)})
EXPIRED_TOKEN = 190
TOKEN_ERRORS = frozenset({EXPIRED_TOKEN, 102})  # 102: the API session
GONE_SUBCODES = frozenset({33, 803})  # "does not exist, cannot be loaded", "alias unknown"
TRANSIENT = frozenset({1, 2})
MAX_MESSAGE = 200  # characters of Meta's message quoted in an error
ID_PART = re.compile(r"[A-Za-z0-9_]{1,128}")  # "1001_2", "17841400000000000", "comments"
# When Meta says an allowance is used up but not when it comes back: its windows are an hour.
DEFAULT_REGAIN = timedelta(minutes=15)


class GraphSettings(SourceSettings):
    """What both Meta sources take."""

    token_help: ClassVar[str] = "a Meta access token"

    api_base_url: str | None = GRAPH
    api_version: str = API_VERSION
    interval: Duration = timedelta(minutes=10)
    access_token: SecretStr | None = Field(default=None, validate_default=True)
    app_secret: SecretStr | None = None  # adds appsecret_proof to every call
    watch_window: Duration = timedelta(days=7)  # own posts whose comments are read
    max_posts: int = Field(default=25, ge=1, le=100)  # own posts watched, newest first
    max_pages: int = Field(default=5, ge=1)  # per edge and poll; the rest waits
    first_poll_pages: int = Field(default=1, ge=1)
    # A post whose comment count has not moved is read again this often anyway: a comment
    # deleted and another added leave the count as it was.
    recheck_every: Duration = timedelta(hours=1)
    usage_ceiling: int = Field(default=90, ge=1, le=100)  # percent of an allowance
    # Meta's subscription check (hub.verify_token): with it, `harken web` takes this source's
    # webhook deliveries at /hooks/meta (harken.platforms.meta.hooks), signed with app_secret.
    webhook_verify_token: SecretStr | None = None

    @model_validator(mode="after")
    def _webhooks_signed(self) -> GraphSettings:
        if self.webhook_verify_token is not None and self.app_secret is None:
            raise ValueError(
                "webhook_verify_token needs app_secret: Meta signs each delivery with the "
                "app's secret (X-Hub-Signature-256), and an unsigned one is refused"
            )
        return self

    @field_validator("api_version")
    @classmethod
    def _version_shape(cls, value: str) -> str:
        if not re.fullmatch(r"v\d{1,3}\.\d{1,2}", value):
            raise ValueError(f"expected a Graph API version such as {API_VERSION}")
        return value

    @field_validator("access_token")
    @classmethod
    def _token_needed(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            raise ValueError(f"the Graph API needs {cls.token_help}")
        return value


@dataclass(frozen=True)
class Usage:
    """The worst share of an allowance an answer reported, and when access comes back."""

    percent: int  # 0-100 (or over, when Meta says so)
    regain_minutes: int | None  # estimated_time_to_regain_access, when given
    header: str  # which header said it ("x-app-usage", "x-business-use-case-usage pages")
    seen: datetime  # when the answer came

    def regained_at(self) -> datetime | None:
        return self.seen + timedelta(minutes=self.regain_minutes) if self.regain_minutes else None


def read_usage(headers: Mapping[str, str], now: datetime) -> Usage | None:
    """The worst usage the answer's headers report; None when they report none (or garbage):
    Meta leaves them out when next to nothing is used."""
    worst: Usage | None = None
    for name in USAGE_HEADERS:
        value = headers.get(name)
        if not value:
            continue
        try:
            body = json.loads(value)
        except (ValueError, RecursionError):
            continue
        if name == "x-business-use-case-usage" and isinstance(body, dict):
            entries = [
                (f"{name} {e.get('type', '?')}", e)
                for per_business in body.values()
                if isinstance(per_business, list)
                for e in per_business
                if isinstance(e, dict)
            ]
        else:
            entries = [(name, body)] if isinstance(body, dict) else []
        for label, entry in entries:
            found = _usage_of(entry, label, now)
            if found is not None and (worst is None or _worse(found, worst)):
                worst = found
    return worst


def _usage_of(entry: dict[str, Any], label: str, now: datetime) -> Usage | None:
    shares = [
        v
        for k in ("call_count", "total_cputime", "total_time", "acc_id_util_pct")
        if type(v := entry.get(k)) in (int, float) and 0 <= v < 10_000
    ]
    regain = entry.get("estimated_time_to_regain_access")
    regain = int(regain) if type(regain) in (int, float) and 0 < regain < 10_000 else None
    if not shares and regain is None:
        return None
    return Usage(int(max(shares, default=100 if regain else 0)), regain, label[:60], now)


def _worse(a: Usage, b: Usage) -> bool:
    return (a.percent, a.regain_minutes or 0) > (b.percent, b.regain_minutes or 0)


class UnknownAccount(Exception):
    """A webhook delivery's entry for a Page or account that no brand lists."""


# Whether a post is stored already: (platform, external id) -> bool. A webhook's retry does
# not fetch again what its first try stored (harken.platforms.meta.hooks).
Stored = Callable[[str, str], bool]


def nothing_stored(platform: str, external_id: str) -> bool:
    return False


@dataclass(frozen=True)
class RetryLater:
    """What a webhook delivery named could not be read now, for a reason that may pass: the
    delivery is answered 503 and Meta sends it again (what was read of it is stored)."""

    reason: str


class GraphError(Exception):
    """An error answer of the Graph API (or an answer that is not its JSON)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: int | None = None,
        subcode: int | None = None,
        transient: bool = False,
    ) -> None:
        self.status, self.code, self.subcode = status, code, subcode
        self.transient = transient
        self.detail = message
        shown = f"HTTP {status}" + (f", code {code}" if code is not None else "")
        shown += f"/{subcode}" if subcode is not None else ""
        super().__init__(f"{shown}: {message}" if message else shown)

    @property
    def throttled(self) -> bool:
        return self.status == 429 or self.code in THROTTLED

    @property
    def gone(self) -> bool:
        """The object (a post, a comment) was deleted or cannot be seen: Meta's own answer,
        not a proxy's 404 page."""
        if self.code is None:
            return False
        return self.status == 404 or (self.code == 100 and self.subcode in GONE_SUBCODES)

    @property
    def permission(self) -> bool:
        """The token lacks a permission (10, 200-299): for the config's owner to fix."""
        return self.code == 10 or (self.code is not None and 200 <= self.code <= 299)

    @property
    def passing(self) -> bool:
        return self.transient or self.status >= 500 or self.code in TRANSIENT


def error_of(status: int, content: bytes, secrets: tuple[str, ...] = ()) -> GraphError:
    """The GraphError an answer's body describes; its message never quotes a secret."""
    try:
        body = json.loads(content)
    except (ValueError, RecursionError):
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        return GraphError(status, "not a Graph API answer" if status < 500 else "")
    message = error.get("message") if isinstance(error.get("message"), str) else ""
    for secret in secrets:
        if secret:
            message = message.replace(secret, "***")
    message = " ".join(message.split())[:MAX_MESSAGE]
    return GraphError(
        status,
        message,
        code=_int(error.get("code")),
        subcode=_int(error.get("error_subcode")),
        transient=error.get("is_transient") is True,
    )


def _int(value: Any) -> int | None:
    return value if type(value) is int else None


class GraphClient:
    """Calls on one token: ``get`` and ``post`` return the answer's JSON object or raise
    GraphError; ``usage`` is what the latest answer said."""

    def __init__(
        self, settings: GraphSettings, timeout: float, clock: Callable[[], datetime] | None = None
    ) -> None:
        assert settings.access_token is not None
        self.clock = clock or (lambda: datetime.now(UTC))
        self.token = settings.access_token.get_secret_value().strip()
        secret = settings.app_secret.get_secret_value() if settings.app_secret else ""
        self.proof = (
            hmac.new(secret.encode(), self.token.encode(), hashlib.sha256).hexdigest()
            if secret
            else None
        )
        self.base = f"{(settings.api_base_url or GRAPH).rstrip('/')}/{settings.api_version}"
        self.secrets = tuple(s for s in (self.token, secret) if s)
        self.usage: Usage | None = None
        # No keep-alive: a pooled connection raises no audit event, so a total deadline
        # (harken.net.deadline) would not see it; one handshake per call is cheap.
        self.http = httpx.Client(
            timeout=timeout,
            follow_redirects=False,
            limits=httpx.Limits(max_keepalive_connections=0),
            event_hooks=capped_httpx_hooks(),
        )

    def close(self) -> None:
        self.http.close()

    def get(self, path: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        return self._answer(
            self.http.get(self.url(path), params=self._params(params), headers=self._auth())
        )

    def post(self, path: str, data: Mapping[str, Any]) -> httpx.Response:
        """The raw answer: a reply's caller decides what each status means (nothing retried)."""
        response = self.http.post(
            self.url(path), params=self._params(None), data=dict(data), headers=self._auth()
        )
        self.usage = read_usage(response.headers, self.clock())
        return response

    def url(self, path: str) -> str:
        """The call's URL. Ids come from payloads and configs: each part of the path must be
        an id or an edge's name, so none can reach another object ("..", "/", "?")."""
        parts = path.strip("/").split("/")
        if not all(ID_PART.fullmatch(part) for part in parts):
            raise GraphError(400, f"not a Graph API id or edge: {path[:80]!r}")
        return f"{self.base}/{'/'.join(parts)}"

    def _params(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        given = dict(params or {})
        if self.proof:
            given["appsecret_proof"] = self.proof
        return given

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def _answer(self, response: httpx.Response) -> dict[str, Any]:
        self.usage = read_usage(response.headers, self.clock())
        if response.status_code >= 300:
            raise error_of(response.status_code, response.content, self.secrets)
        try:
            body = response.json()
        except (ValueError, RecursionError):
            raise GraphError(response.status_code, "an unreadable answer", transient=True) from None
        if not isinstance(body, dict):
            raise GraphError(
                response.status_code, "the answer is not a JSON object", transient=True
            )
        if isinstance(body.get("error"), dict):  # an error with a 200 (batch-style answers)
            raise error_of(response.status_code, response.content, self.secrets)
        return body


def source_error(
    err: Exception, what: str, now: datetime, usage: Usage | None, token_hint: str
) -> SourceError | None:
    """harken's error for a Graph API failure (None: not one of its failures)."""
    if isinstance(err, GraphError):
        said = f"{what}: the Graph API answered {err}"
        if err.throttled:
            reset = usage.regained_at() if usage is not None else None
            return RateLimited(
                said,
                reset_at=reset or now + DEFAULT_REGAIN,
                hint="Meta throttles by the hour: poll less often (interval)",
            )
        if err.passing:
            return TransientSourceError(said)
        if err.code in TOKEN_ERRORS:
            return SourceError(
                f"{what}: the access token was refused (expired, revoked or wrong): {err}",
                hint=token_hint,
            )
        if err.permission:
            return SourceError(
                f"{what}: the token lacks a permission: {err}",
                hint="grant the app the permissions docs/listeners.md lists, then make a new token",
            )
        return SourceError(said)
    if isinstance(err, httpx.RequestError):  # timeouts, dropped connections, bad encodings
        return TransientSourceError(f"{what}: {type(err).__name__}")
    return None
