"""The pages everyone may read: the dashboard, the incidents, one incident, their charts.

Every number is a ``harken report`` (harken.reports.boards): the dashboard's trend,
departments, share of voice, authors and topics, the incidents page's largest and
fastest-growing, each with the chart ``--chart`` draws, served as a PNG the page shows. The
window is the query string's ``since`` / ``until`` / ``brand`` / ``platform``, as the
CLI's options.
"""

from __future__ import annotations

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
from harken.web.session import Caller, Session, status_of

router = APIRouter()
DASHBOARD = ("trend", "departments", "share-of-voice", "authors", "topics")
DEFAULT_SINCE = {"dashboard": "7d", "incidents": "24h"}
ARCHIVE_DAYS = 30


def _scope(config: Config, params: QueryParams, default_since: str) -> Scope:
    try:
        return scope_for(
            config,
            params.get("since") or default_since,
            params.get("until") or None,
            params.get("brand") or None,
            params.getlist("platform"),
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
    store, now = request.app.state.store, datetime.now(UTC)
    reports = [
        _shown(board_report(name, store, config, scope, zone, now), zone) for name in DASHBOARD
    ]
    spikes = [s for s in recent_spikes(store, scope.since) if s.hour_start < scope.until]
    return page(
        request,
        "dashboard.html",
        reports=reports,
        spikes=spikes,
        scope=scope,
        query=query,
        brands=[b.name for b in config.brands],
        since=request.query_params.get("since") or DEFAULT_SINCE["dashboard"],
    )


@router.get("/incidents")
def incidents_page(request: Request, session: Session) -> Response:
    try:
        config, scope, zone, query = _window(request, "incidents")
    except HarkenError as err:
        return page(request, "error.html", status_of(err), error=str(err))
    report = board_report(
        "incidents", request.app.state.store, config, scope, zone, datetime.now(UTC)
    )
    return page(
        request,
        "incidents.html",
        report=_shown(report, zone),
        scope=scope,
        query=query,
        since=request.query_params.get("since") or DEFAULT_SINCE["incidents"],
    )


@router.get("/incidents/{incident_id}")
def incident_page(request: Request, incident_id: int, session: Session) -> Response:
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
        config, scope, zone, _query = _window(
            request, "incidents" if name == "incidents" else "dashboard"
        )
    except HarkenError as err:
        return page(request, "error.html", status_of(err), error=str(err))
    report = board_report(name, request.app.state.store, config, scope, zone, datetime.now(UTC))
    return Response(board_chart(report), media_type="image/png")


@router.get("/api/v1/incidents/{incident_id}")
def incident_api(request: Request, incident_id: int, caller: Caller) -> Response:
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
    if wanted > now.astimezone(ZoneInfo(config.digest.timezone)).date():
        return page(request, "error.html", 404, error=f"the digest of {wanted} is not due yet")
    built = make_digest(request.app.state.store, config, wanted, now)
    html = render_html(replace(built, workspace=""))  # links relative to this workspace
    return HTMLResponse(html, headers={"content-security-policy": DIGEST_CSP})
