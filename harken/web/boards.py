"""The pages everyone may read: the dashboard, the incidents, one incident, their charts.

Every number is a ``harken report`` (harken.reports.boards): the dashboard's trend,
departments, share of voice, authors and topics, the incidents page's largest and
fastest-growing, each with the chart ``--chart`` draws, served as a PNG the page shows. The
window is the query string's ``since`` / ``until`` / ``brand`` / ``platform``, as the
CLI's options.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from starlette.datastructures import QueryParams

from harken.config import Config
from harken.digest.job import make_digest
from harken.digest.render import render_html
from harken.errors import HarkenError, QueueInputError
from harken.queue.incident_view import incident_detail
from harken.reports.boards import BOARD, board_chart, board_report
from harken.reports.scope import Scope, scope_for
from harken.reports.tabular import Report, shown_rows, total_text
from harken.spikes.detection import recent_spikes
from harken.web.api import error
from harken.web.query import query_without
from harken.web.render import page, zone_of
from harken.web.security import DIGEST_CSP
from harken.web.session import Caller, Id, Session, status_of

router = APIRouter()
DASHBOARD = ("trend", "departments", "share-of-voice", "authors", "topics")
DEFAULT_SINCE = {"dashboard": "7d", "incidents": "24h"}
ARCHIVE_DAYS = 30
FIRST_DIGEST_YEAR = 1971  # the store has nothing older (harken.platforms.base.EARLIEST)


class ReportCache:
    """Reports kept for ``ttl`` seconds by what they cover: a dashboard's page and the five
    chart requests its <img> tags make right after share one computation (each is seconds on
    a big store). Two requests for the same report at once compute it once."""

    def __init__(self, ttl: float = 60.0, size: int = 64) -> None:
        self.ttl, self.size = ttl, size
        self._done: dict[tuple[Any, ...], tuple[float, Report]] = {}
        self._making: dict[tuple[Any, ...], threading.Lock] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...], make: Callable[[], Report]) -> Report:
        if (found := self._fresh(key)) is not None:
            return found
        with self._lock:
            making = self._making.setdefault(key, threading.Lock())
        with making:
            if (found := self._fresh(key)) is not None:
                return found
            report = make()
            with self._lock:
                self._done[key] = (time.monotonic() + self.ttl, report)
                self._making.pop(key, None)
                while len(self._done) > self.size:
                    del self._done[min(self._done, key=lambda k: self._done[k][0])]
            return report

    def _fresh(self, key: tuple[Any, ...]) -> Report | None:
        with self._lock:
            found = self._done.get(key)
        return found[1] if found and found[0] > time.monotonic() else None


def _report(request: Request, name: str, scope: Scope, zone: str) -> Report:
    config, store = request.app.state.config, request.app.state.store
    cache: ReportCache = request.app.state.report_cache
    key = (name, scope.since, scope.until, scope.brand, scope.platforms, zone)
    return cache.get(key, lambda: board_report(name, store, config, scope, zone, scope.until))


def _scope(config: Config, params: QueryParams, default_since: str) -> Scope:
    # "7d" ends at this minute, not this microsecond: the page and its charts, asked for a
    # moment apart, cover the same window (and share the cached reports).
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    try:
        return scope_for(
            config,
            params.get("since") or default_since,
            params.get("until") or None,
            params.get("brand") or None,
            params.getlist("platform"),
            now=now,
        )
    except ValueError as err:
        raise QueueInputError(str(err).replace("--until", "until")) from None


def _shown(report: Report, timezone: str) -> dict[str, Any]:
    """A report as the templates show it: its sections' headers and cells, as in the CLI."""
    return {
        "name": report.name,
        "totals": [total_text(k, v, timezone) for k, v in report.totals.items()],
        "notes": list(report.notes),
        "sections": [
            {
                "name": s.name,
                "title": s.title,
                "empty": s.empty,
                "headers": [c.label for c in s.columns],
                "numeric": [c.kind not in ("text", "time", "date", "stamp") for c in s.columns],
                "rows": shown_rows(s, timezone),
                "ids": [int(v) for v in s.frame["incident_id"]]
                if "incident_id" in s.frame.columns
                else [],
            }
            for s in report.sections
        ],
    }


def _window(request: Request, kind: str) -> tuple[Config, Scope, str, str]:
    config: Config = request.app.state.config
    zone = zone_of(config, getattr(request.state, "signed_in", None)).key
    scope = _scope(config, request.query_params, DEFAULT_SINCE[kind])
    return config, scope, zone, query_without(request.query_params)


@router.get("/dashboard")
def dashboard(request: Request, session: Session) -> Response:
    try:
        config, scope, zone, query = _window(request, "dashboard")
    except HarkenError as err:
        return page(request, "error.html", status_of(err), error=str(err))
    store = request.app.state.store
    # Each report is a second or more on a big store: the page comes at once with the spikes,
    # and the script fills each panel from /dashboard/panels/NAME ("all=1", or no script:
    # every panel now, in this page).
    everything = request.query_params.get("all") == "1"
    reports = (
        [_shown(_report(request, name, scope, zone), zone) for name in DASHBOARD]
        if everything
        else []
    )
    spikes = [s for s in recent_spikes(store, scope.since) if s.hour_start < scope.until]
    return page(
        request,
        "dashboard.html",
        reports=reports,
        panels=DASHBOARD,
        spikes=spikes,
        scope=scope,
        query=query,
        brands=[b.name for b in config.brands],
        since=request.query_params.get("since") or DEFAULT_SINCE["dashboard"],
    )


@router.get("/dashboard/panels/{name}")
def dashboard_panel(request: Request, name: str, session: Session) -> Response:
    """One panel of the dashboard (its report's tables and chart), as an HTML fragment."""
    if name not in DASHBOARD:
        return page(request, "error.html", 404, error=f"no panel {name[:40]!r}")
    try:
        _config, scope, zone, query = _window(request, "dashboard")
    except HarkenError as err:
        return page(request, "error.html", status_of(err), error=str(err))
    report = _shown(_report(request, name, scope, zone), zone)
    return page(request, "panel.html", report=report, query=query)


@router.get("/incidents")
def incidents_page(request: Request, session: Session) -> Response:
    try:
        _config, scope, zone, query = _window(request, "incidents")
    except HarkenError as err:
        return page(request, "error.html", status_of(err), error=str(err))
    report = _report(request, "incidents", scope, zone)
    return page(
        request,
        "incidents.html",
        report=_shown(report, zone),
        scope=scope,
        query=query,
        since=request.query_params.get("since") or DEFAULT_SINCE["incidents"],
    )


@router.get("/incidents/{incident_id}")
def incident_page(request: Request, incident_id: Id, session: Session) -> Response:
    try:
        found = incident_detail(request.app.state.store, incident_id)
    except HarkenError as err:
        return page(request, "error.html", status_of(err), error=str(err))
    most = max([h["posts"] for h in found["hours"]] or [0])
    return page(request, "incident.html", incident=found, most=max(most, 1))


@router.get("/charts/{name}.png")
def chart(request: Request, name: str, session: Session) -> Response:
    if name not in BOARD:
        return page(request, "error.html", 404, error=f"no chart {name[:40]!r}")
    try:
        _config, scope, zone, _query = _window(
            request, "incidents" if name == "incidents" else "dashboard"
        )
    except HarkenError as err:
        return page(request, "error.html", status_of(err), error=str(err))
    return Response(board_chart(_report(request, name, scope, zone)), media_type="image/png")


@router.get("/api/v1/incidents/{incident_id}")
def incident_api(request: Request, incident_id: Id, caller: Caller) -> Response:
    """The incident page's data (``harken.queue.incident_view``) for programs."""
    try:
        return JSONResponse(incident_detail(request.app.state.store, incident_id))
    except HarkenError as err:
        return error(err)


# -- the digest archive -------------------------------------------------------------------------


@router.get("/digests")
def digests(request: Request, session: Session) -> Response:
    """The last 30 digest days; each opens the digest as PR got it (or gets it, today)."""
    config: Config = request.app.state.config
    today = datetime.now(UTC).astimezone(ZoneInfo(config.digest.timezone)).date()
    days = [today - timedelta(days=n) for n in range(ARCHIVE_DAYS)]
    return page(request, "digests.html", days=days, digest=config.digest)


@router.get("/digests/{day}")
def digest_page(request: Request, day: str, session: Session) -> Response:
    """One day's digest, built from the store as ``harken digest --date DAY`` builds it, with
    its incidents and items linked to their pages here."""
    config: Config = request.app.state.config
    now = datetime.now(UTC)
    try:
        wanted = date.fromisoformat(day)
    except ValueError:
        return page(request, "error.html", 422, error=f"{day[:20]!r} is not a date (YYYY-MM-DD)")
    if wanted.year < FIRST_DIGEST_YEAR:
        return page(request, "error.html", 404, error=f"no digest for {wanted}")
    if wanted > now.astimezone(ZoneInfo(config.digest.timezone)).date():
        return page(request, "error.html", 404, error=f"the digest of {wanted} is not due yet")
    built = make_digest(request.app.state.store, config, wanted, now)
    html = render_html(replace(built, workspace=""))  # links relative to this workspace
    return HTMLResponse(html, headers={"content-security-policy": DIGEST_CSP})
