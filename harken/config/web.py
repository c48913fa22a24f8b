"""The web workspace's settings (``web:``; harken.web): where it listens, its address, the
zone it shows dates in, and single sign-on."""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field, field_validator

from harken.config.values import Strict, StrList, TimeZone


class SsoConfig(Strict):
    """Single sign-on with OpenID Connect (harken.web.sso): the provider's issuer, this app's
    client at the provider, who may come in, and which of their groups make which role."""

    issuer: str  # https://accounts.google.com, https://login.microsoftonline.com/<tenant>/v2.0
    client_id: str
    client_secret: str  # "${OIDC_CLIENT_SECRET}": from the environment
    label: str = "single sign-on"  # the sign-in button says "Sign in with <label>"
    allowed_domains: StrList = []  # e-mail domains let in (empty: every domain)
    groups_claim: str = "groups"  # the ID token's claim that lists the person's groups
    admins: StrList = []  # groups whose members are admins
    social: StrList = []  # ... the social team
    viewers: StrList = []  # ... viewers (PR, executives)
    departments: dict[str, StrList] = {}  # department -> groups whose members work its items
    default_role: Literal["none", "viewer"] = "none"  # for someone in none of those groups

    @field_validator("issuer")
    @classmethod
    def _an_issuer(cls, value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("expected the provider's issuer URL, like https://accounts.google.com")
        return value.strip().rstrip("/")


class WebConfig(Strict):
    """The web workspace (``harken web``; ``harken run`` serves it too when ``enabled``)."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    # Where people open it (https://harken.example.com): the digest links its incidents there.
    public_url: str | None = None
    # The zone dates are shown in for people who have not chosen one (default: the digest's).
    timezone: TimeZone | None = None
    sso: SsoConfig | None = None

    @field_validator("public_url")
    @classmethod
    def _an_address(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("expected the workspace's address, like https://harken.example.com")
        return value.strip().rstrip("/")
