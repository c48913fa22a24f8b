"""The daily digest's settings (``digest:``) and its e-mail delivery (``digest.email``)."""

from __future__ import annotations

from datetime import timedelta
from typing import Literal

from pydantic import ConfigDict, Field, field_validator

from harken.config.values import ClockTime, Strict, StrList, Timeout, TimeZone


class EmailConfig(Strict):
    """SMTP delivery of the digest. Credentials from the environment (${SMTP_PASSWORD})."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    host: str
    port: int = Field(default=587, ge=1, le=65535)
    security: Literal["starttls", "ssl", "none"] = "starttls"
    username: str | None = None
    password: str | None = None
    sender: str = Field(alias="from")
    to: StrList
    timeout: Timeout = timedelta(seconds=30)  # per read; a delivery gets three times this

    @field_validator("to")
    @classmethod
    def _needs_recipient(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("the digest e-mail needs at least one address in 'to'")
        return value


class DigestConfig(Strict):
    """The daily escalation digest: the 24 hours up to ``time`` (local to ``timezone``)."""

    enabled: bool = True  # scheduled by `harken run`; `harken digest` works either way
    time: ClockTime = "08:00"
    timezone: TimeZone = "UTC"
    department: str = "pr"  # whose Slack channel gets it
    top: int = Field(default=15, ge=1, le=200)  # incidents listed
    out_dir: str | None = None  # where `harken run` writes digest-DATE.html (default: none)
    link: str | None = None  # the page's published address, "{date}" filled in
    upload: bool = False  # attach the HTML file to the Slack post (bot token, files:write)
    email: EmailConfig | None = None
