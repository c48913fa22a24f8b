"""Templates and what they may do with text written by strangers.

Autoescaping is on for every template (``.html``); post text, names and notes are only ever
inserted as text. A link from a post or a profile is shown as a link only when it is http(s)
(never ``javascript:`` or ``data:``). Dates are shown in the reader's zone (theirs, else
``web.timezone``, else the digest's), with the zone's name. Labels go through gettext (the
``i18n`` extension), so that a catalog can translate them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Request
from fastapi.responses import HTMLResponse

from harken.config import Config
from harken.queue.accounts import SignedIn

HERE = Path(__file__).parent
STATIC = HERE / "static"

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(HERE / "templates"),
    autoescape=True,
    extensions=["jinja2.ext.i18n"],
    undefined=jinja2.StrictUndefined,
)
_env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]


def zone_of(config: Config, signed_in: SignedIn | None) -> ZoneInfo:
    name = (signed_in.account.timezone if signed_in else None) or config.web.timezone
    return ZoneInfo(name or config.digest.timezone or "UTC")


def local_time(value: str | datetime | None, zone: ZoneInfo) -> str:
    if not value:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def safe_url(value: str | None) -> str | None:
    """``value`` if it is an http(s) address a browser may follow, else None."""
    if not value or len(value) > 2048:
        return None
    try:
        parts = urlsplit(value.strip())
    except ValueError:
        return None
    return value.strip() if parts.scheme in ("http", "https") and parts.netloc else None


def page(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    config: Config = request.app.state.config
    signed_in: SignedIn | None = getattr(request.state, "signed_in", None)
    zone = zone_of(config, signed_in)
    html = _env.get_template(template).render(
        request=request,
        me=signed_in.account if signed_in else None,
        csrf_token=signed_in.csrf_token if signed_in else "",
        zone=zone,
        local=lambda value: local_time(value, zone),
        safe_url=safe_url,
        **context,
    )
    return HTMLResponse(html, status_code=status_code)
