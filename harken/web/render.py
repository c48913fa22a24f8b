"""Templates and what they may do with text written by strangers.

Autoescaping is on for every template (``.html``); post text, names and notes are only ever
inserted as text. A link from a post or a profile is shown as a link only when it is http(s)
(never ``javascript:`` or ``data:``). Dates are shown in the reader's zone (theirs, else
``web.timezone``, else the digest's), with the zone's name. Labels go through gettext (the
``i18n`` extension), so that a catalog can translate them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import jinja2
from babel.core import negotiate_locale
from babel.support import Translations
from fastapi import Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import QueryParams

from harken.config import Config
from harken.queue.accounts import SignedIn

HERE = Path(__file__).parent
STATIC = HERE / "static"

LOCALES = HERE / "locale"
LANGUAGES = ("en", "ja")  # English is the templates' own text; ja from locale/ja
LANGUAGE_COOKIE = "harken_lang"


@cache
def _environment(language: str) -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        extensions=["jinja2.ext.i18n"],
        undefined=jinja2.StrictUndefined,
    )
    if language == "en":
        env.install_null_translations(newstyle=True)  # type: ignore[attr-defined]
    else:
        found = Translations.load(str(LOCALES), [language], domain="messages")
        env.install_gettext_translations(found, newstyle=True)  # type: ignore[attr-defined]
    return env


def language_of(request: Request, signed_in: SignedIn | None) -> str:
    """The reader's language: ?lang= (kept in a cookie), else theirs (``users.language``),
    else the browser's Accept-Language, else English."""
    asked = request.query_params.get("lang") or request.cookies.get(LANGUAGE_COOKIE)
    if asked in LANGUAGES:
        return str(asked)
    if signed_in and signed_in.account.language in LANGUAGES:
        return str(signed_in.account.language)
    wanted = [
        part.split(";")[0].strip().replace("-", "_")
        for part in request.headers.get("accept-language", "").split(",")
        if part.strip()
    ]
    return negotiate_locale(wanted, list(LANGUAGES), sep="_") or "en"


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


def _switched(request: Request, language: str) -> str:
    """This page in the other language (its filters kept)."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return request.url.path + "?" + str(QueryParams([*kept, ("lang", language)]))


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
    language = language_of(request, signed_in)
    html = (
        _environment(language)
        .get_template(template)
        .render(
            request=request,
            lang=language,
            switch_language=_switched(request, "en" if language == "ja" else "ja"),
            me=signed_in.account if signed_in else None,
            csrf_token=signed_in.csrf_token if signed_in else "",
            zone=zone,
            local=lambda value: local_time(value, zone),
            safe_url=safe_url,
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code)
    if request.query_params.get("lang") in LANGUAGES:  # the header's switch: remembered
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 86400, samesite="lax")
    return response
