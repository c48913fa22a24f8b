"""Settings of the hand-off sinks under ``alerts:``: outgoing webhooks, Microsoft Teams and
PagerDuty. Their secrets (a webhook's signing secret, a Teams Workflows URL, which carries
its own signature, a PagerDuty routing key) belong in the environment: ``${VAR}``."""

from __future__ import annotations

import base64
import re
from datetime import timedelta
from typing import Annotated, Literal, get_args
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, field_validator

from harken.config.values import Duration, Strict, StrList, Timeout

# What a webhook may subscribe to (docs/alerts.md, "Webhooks"): the event types of its JSON.
WebhookEvent = Literal[
    "item.created",
    "item.transferred",
    "item.escalated",
    "item.claimed",
    "item.resolved",
    "item.dismissed",
    "incident.grown",
    "impostor",
    "spike",
    "digest",
]
WEBHOOK_EVENTS: tuple[WebhookEvent, ...] = get_args(WebhookEvent)

# A webhook's sink is "webhook:<name>" (the alerts' sink column holds 32 characters).
_WEBHOOK_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,23}")


_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")
NEW_SECRET = (
    'python -c "import base64, secrets; '
    "print('whsec_' + base64.b64encode(secrets.token_bytes(32)).decode())\""
)


def webhook_key(secret: str) -> bytes:
    """The signing key a webhook secret stands for, decoded as the Standard Webhooks
    libraries decode it (so that a receiver using one verifies what harken signs)."""
    raw = secret.strip().removeprefix("whsec_")
    if not _BASE64.fullmatch(raw):
        raise ValueError(f"expected whsec_ and base64 (make one: {NEW_SECRET})")
    key = base64.b64decode(raw + "==")  # their libraries pad: unpadded base64 is fine
    if not 24 <= len(key) <= 64:
        raise ValueError(
            f"expected a key of 24 to 64 bytes, got {len(key)} (make one: {NEW_SECRET})"
        )
    return key


def http_url(value: str) -> str:
    """An absolute http(s) URL that a client can send to: anything else would fail at every
    delivery."""
    import httpx  # slow to import: only when a config has such a URL

    text = value.strip()
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        httpx.URL(text)
    except (ValueError, httpx.InvalidURL):
        raise ValueError("expected an http:// or https:// URL (this one cannot be read)") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValueError("expected an http:// or https:// URL")
    if any(c.isspace() for c in text):
        raise ValueError("expected an http:// or https:// URL (it has a space in it)")
    return text


HttpUrl = Annotated[str, AfterValidator(http_url)]


class WebhookConfig(Strict):
    """One receiver of harken's events as signed JSON (Standard Webhooks headers)."""

    name: str
    url: HttpUrl
    # The HMAC-SHA256 key as Standard Webhooks writes it: "whsec_" + base64 of 24-64 random
    # bytes (the prefix is optional, as in their libraries).
    secret: str
    events: list[WebhookEvent] = list(WEBHOOK_EVENTS)
    departments: StrList = []  # whose events it gets (none given: every department's)
    enabled: bool = True
    timeout: Timeout = timedelta(seconds=10)  # per read; a delivery gets three times this

    @field_validator("name")
    @classmethod
    def _short_name(cls, value: str) -> str:
        if not _WEBHOOK_NAME.fullmatch(value):
            raise ValueError(
                "expected 1-24 lower-case letters, digits, '-' or '_' (it names the sink "
                "webhook:NAME in `harken alerts`)"
            )
        return value

    @field_validator("secret")
    @classmethod
    def _usable_key(cls, value: str) -> str:
        webhook_key(value)
        return value

    @field_validator("events")
    @classmethod
    def _some_events(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError(f"subscribe to at least one event ({', '.join(WEBHOOK_EVENTS)})")
        return value


class TeamsConfig(Strict):
    """Adaptive Cards through Teams Workflows webhooks ("When a Teams webhook request is
    received"): one URL per department, ``webhook_url`` for the others."""

    webhook_url: HttpUrl | None = None
    departments: dict[str, HttpUrl] = {}
    digest: bool = True  # the digest's summary, to digest.department's URL
    timeout: Timeout = timedelta(seconds=10)


class PagerDutyConfig(Strict):
    """Events API v2: critical items, impostors and spikes trigger an alert on the service
    of the department's routing key; resolving the item resolves it."""

    routing_keys: dict[str, str] = {}  # department -> integration (routing) key
    api_base_url: HttpUrl = "https://events.pagerduty.com"
    timeout: Timeout = timedelta(seconds=10)

    @field_validator("routing_keys")
    @classmethod
    def _keys(cls, value: dict[str, str]) -> dict[str, str]:
        for department, key in value.items():
            if not key.strip():
                raise ValueError(f"the routing key for {department!r} is empty")
        return value


def sink_departments(
    webhooks: list[WebhookConfig], teams: TeamsConfig | None, pagerduty: PagerDutyConfig | None
) -> list[tuple[str, str]]:
    """(key path, department) for each department the sinks name: checked against
    ``departments`` when the config loads."""
    named = [
        (f"alerts.webhooks[{i}].departments", d)
        for i, hook in enumerate(webhooks)
        for d in hook.departments
    ]
    if teams is not None:
        named += [("alerts.teams.departments", d) for d in teams.departments]
    if pagerduty is not None:
        named += [("alerts.pagerduty.routing_keys", d) for d in pagerduty.routing_keys]
    return named


def unique_webhook_names(webhooks: list[WebhookConfig]) -> list[WebhookConfig]:
    seen: set[str] = set()
    for hook in webhooks:
        if hook.name in seen:
            raise ValueError(f"two webhooks are named {hook.name!r}: names must be unique")
        seen.add(hook.name)
    return webhooks


class JiraConfig(Strict):
    """Jira Cloud (REST API v3): issues in ``project``, as the API token's user."""

    url: HttpUrl  # https://example.atlassian.net
    email: str
    api_token: str
    project: str = Field(pattern=r"^[A-Z][A-Z0-9_]{1,9}$")  # the project key: OPS
    issue_type: str = "Task"
    timeout: Timeout = timedelta(seconds=10)


class ZendeskConfig(Strict):
    """Zendesk Support (API v2): tickets as the API token's agent."""

    url: HttpUrl  # https://example.zendesk.com
    email: str
    api_token: str
    timeout: Timeout = timedelta(seconds=10)


TicketSystem = Literal["jira", "zendesk"]


class TicketsConfig(Strict):
    """Where `harken queue ticket ID --to SYSTEM` and rules' ``ticket:`` open tickets; the
    ticket sync resolves an item once its ticket is done."""

    jira: JiraConfig | None = None
    zendesk: ZendeskConfig | None = None
    sync_interval: Duration = timedelta(minutes=5)

    def systems(self) -> list[str]:
        return [name for name in ("jira", "zendesk") if getattr(self, name) is not None]
