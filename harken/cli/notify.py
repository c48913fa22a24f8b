"""Commands for what goes out: the alert outbox (list, flush, retry) and the daily digest.
Parsing and formatting only: the work is in harken.notify and harken.pipeline.process.

Notes and errors quote strangers' text (post excerpts in reasons, API error bodies): they are
printed as rich ``Text`` after ``flat`` strips control and escape sequences.
"""

from __future__ import annotations

import sys
from dataclasses import asdict
from datetime import UTC, date, datetime
from typing import Annotated, Any

import typer
from rich.text import Text

from harken.cli.common import (
    MAX_ID,
    Format,
    HarkenGroup,
    check_department,
    describe_notify,
    err,
    open_store,
    out,
    parse_since,
    root_state,
)
from harken.errors import HarkenError
from harken.text import one_line, to_json

alerts_app = typer.Typer(
    cls=HarkenGroup,
    invoke_without_command=True,
    help="The alert outbox: what is pending, sent, held, failed; flush and retry.",
)

STATUSES = ("pending", "sending", "sent", "failed", "held", "skipped")

StatusOption = Annotated[
    list[str] | None,
    typer.Option("--status", "-s", help=f"Repeatable: {', '.join(STATUSES)}. Default: all."),
]
SinceOption = Annotated[
    str | None, typer.Option(help="Created within a duration (24h, 7d) or since an ISO date.")
]


@alerts_app.callback()
def alerts_root(
    ctx: typer.Context,
    status: StatusOption = None,
    since: SinceOption = None,
    department: Annotated[str | None, typer.Option("--department", "-d")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=MAX_ID)] = 50,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Without a subcommand: the newest alerts and what became of them."""
    if ctx.invoked_subcommand is None:
        _list(ctx, status, since, department, limit, format)


@alerts_app.command("list")
def alerts_list(
    ctx: typer.Context,
    status: StatusOption = None,
    since: SinceOption = None,
    department: Annotated[str | None, typer.Option("--department", "-d")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=MAX_ID)] = 50,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """The newest alerts (same as `harken alerts`): status, attempts, why held or failed."""
    _list(ctx, status, since, department, limit, format)


def _list(
    ctx: typer.Context,
    status: list[str] | None,
    since: str | None,
    department: str | None,
    limit: int,
    format: Format,
) -> None:
    from harken.notify.outbox import sink_holds
    from harken.store.repo import alert_counts, list_alerts, sink_health

    unknown = [s for s in status or [] if s not in STATUSES]
    if unknown:
        raise typer.BadParameter(f"unknown status {unknown[0]!r} (one of {', '.join(STATUSES)})")
    config = root_state(ctx).config()
    store = open_store(config)
    check_department(config, department, store)  # a typo is an error, not an empty list
    start = parse_since(since) if since else None
    with store.session() as session:
        views = list_alerts(session, status, start, department, limit)
        counts = alert_counts(session, start)
        health = sink_health(session, start)
    holds = [h for h in sink_holds(store) if h.until > datetime.now(UTC)]
    rows = [_row(v) for v in views]
    if format is Format.json:
        data = {
            "counts": counts,
            "holds": [{"sink": h.sink, "until": h.until.isoformat()} for h in holds],
            # Added with webhooks, Teams and PagerDuty (issue 24): each sink's health.
            "sinks": [asdict(h) for h in health],
            "alerts": rows,
        }
        sys.stdout.write(to_json(data, indent=2, default=str) + "\n")
        return
    summary = " · ".join(f"{counts.get(s, 0)} {s}" for s in STATUSES if counts.get(s))
    out.print(Text(f"alerts: {summary or 'none yet'}"))
    for h in health:
        out.print(Text(_health_line(h)))
    for hold in holds:
        why = one_line(hold.reason, 80)
        out.print(Text(f"{hold.sink}: asked to wait until {hold.until:%H:%M:%S} UTC ({why})"))
    for row in rows:
        # Two lines per alert: the facts, then why it is held, failed or waiting (which
        # quotes Slack's answers or post-derived reasons: flattened, never markup).
        out.print(
            Text(
                f"#{row['id']} {row['created_at']:%m-%d %H:%M} {row['kind']} "
                f"{row['sink']} → {one_line(row['channel'], 30)} · {row['status']}"
                f" ×{row['attempts']} · {row['about']}"
            )
        )
        if row["note"]:
            out.print(Text(f"    {one_line(row['note'], 150)}", style="dim"))


def _health_line(h: Any) -> str:
    """ "webhook:ops: 12 sent, 1 pending · last sent 12-07 10:42 UTC · retrying at 10:50:
    HTTP 503" (errors quote receivers' answers: flattened)."""
    counts = ", ".join(f"{h.counts[s]} {s}" for s in STATUSES if h.counts.get(s))
    line = f"  {h.sink}: {counts}"
    line += f" · last sent {h.last_sent_at:%m-%d %H:%M} UTC" if h.last_sent_at else " · never sent"
    if h.last_error:
        when = "failed"
        if h.error_status == "pending":
            when = f"retrying at {h.retry_at:%H:%M:%S} UTC" if h.retry_at else "to retry"
        line += f" · {when}: {one_line(h.last_error, 120)}"
    return line


def _row(view: Any) -> dict[str, Any]:
    alert = view.alert
    about = ""
    if view.item is not None:
        about = f"item #{view.item.id}"
    elif view.spike is not None:
        about = f"spike #{view.spike.id}"
    elif alert.kind == "digest":
        about = f"digest {alert.payload.get('date', '')}"
    if alert.kind in ("closed", "claimed"):
        about += f" {alert.payload.get('status', alert.kind)}"
    if alert.kind == "ticket" and alert.remote_channel:
        about += f" → {alert.remote_channel}"  # the ticket's key
    if view.incident is not None:
        about += f" · incident #{view.incident.id}"
    note = alert.last_error if alert.status in ("failed", "pending") else alert.note
    return {
        "id": alert.id,
        "created_at": alert.created_at,
        "kind": alert.kind,
        "sink": alert.sink,
        "channel": alert.channel,
        "status": alert.status,
        "attempts": alert.attempts,
        "about": about,
        "queue_item_id": alert.queue_item_id,
        "spike_id": alert.spike_id,
        "incident_id": alert.incident_id,
        "next_attempt_at": alert.next_attempt_at,
        "sent_at": alert.sent_at,
        "remote_channel": alert.remote_channel,
        "message_ts": alert.message_ts,
        "thread_ts": alert.thread_ts,
        "note": note or alert.note,
        "last_error": alert.last_error,
        "idempotency_key": alert.idempotency_key,
    }


@alerts_app.command("flush")
def alerts_flush(ctx: typer.Context) -> None:
    """Deliver what is pending now, backoff or not (a sink's Retry-After is still honoured)."""
    from harken.notify.outbox import deliver_pending
    from harken.notify.registry import build_sinks

    config = root_state(ctx).config()
    store = open_store(config)
    result = deliver_pending(store, config, build_sinks(config, out), force=True)
    out.print(Text(describe_notify(result)))
    for problem in result.errors:
        err.print(Text(f"not delivered: {one_line(problem, 300)}"))
    if result.failed or result.retry_later or result.waiting_until:
        raise HarkenError(
            f"{result.failed + result.retry_later} alert(s) not delivered",
            hint="`harken alerts --status failed` shows why; fix it, then `harken alerts retry`",
        )


@alerts_app.command("retry")
def alerts_retry(
    ctx: typer.Context,
    ids: Annotated[
        list[int] | None, typer.Argument(min=1, max=MAX_ID, help="Alert ids (default: all chosen).")
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", "-s", help="failed, held or skipped (repeatable)."),
    ] = None,
    send: Annotated[bool, typer.Option("--send/--no-send", help="Deliver them now.")] = True,
) -> None:
    """Put failed, held or skipped alerts back in the outbox (and deliver them)."""
    from harken.notify.outbox import deliver_pending, requeue
    from harken.notify.registry import build_sinks

    wrong = [s for s in status or [] if s not in ("failed", "held", "skipped")]
    if wrong:
        raise typer.BadParameter(f"can retry failed, held or skipped alerts, not {wrong[0]!r}")
    if not ids and not status:
        raise typer.BadParameter("give alert ids or --status (e.g. --status failed)")
    config = root_state(ctx).config()
    store = open_store(config)
    again = requeue(store, list(ids or []), list(status or []))
    out.print(f"{len(again)} alert(s) back in the outbox")
    if send and again:
        result = deliver_pending(store, config, build_sinks(config, out), force=True)
        out.print(Text(describe_notify(result)))
    left = _not_retried(store, [i for i in ids or [] if i not in again])
    if left:  # an id that is not there, or not failed, held or skipped, is not a silent 0
        raise HarkenError(
            "; ".join(left), hint="`harken alerts --status failed` lists the alerts to retry"
        )


def _not_retried(store: Any, ids: list[int]) -> list[str]:
    """Why each of these alert ids was not put back: missing, or in another status."""
    from sqlalchemy import select

    from harken.store.tables import Alert

    if not ids:
        return []
    with store.session() as session:
        found = dict(
            session.execute(select(Alert.id, Alert.status).where(Alert.id.in_(ids))).all()  # type: ignore[union-attr]
        )
    return [
        f"alert #{i} is {found[i]}: only failed, held or skipped alerts are retried"
        if i in found
        else f"no alert #{i}"
        for i in ids
    ]


# -- digest ---------------------------------------------------------------------------------


def digest(
    ctx: typer.Context,
    day: Annotated[
        str | None,
        typer.Option("--date", help="Local date YYYY-MM-DD (the 24 h up to digest.time that day)."),
    ] = None,
    out_file: Annotated[
        str | None,
        typer.Option(
            "--out",
            metavar="FILE.html",
            help="Write the HTML page here ('-': stdout, the text summary to stderr).",
        ),
    ] = None,
    send: Annotated[
        bool, typer.Option("--send", help="Post it to Slack / e-mail it (once per date).")
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="With --send: send again.")] = False,
) -> None:
    """The daily escalation digest: incidents by risk, SLA breaches, spikes, trends, share of
    voice, changes since yesterday. Default: the most recent digest time."""
    from harken.digest.job import make_digest, queue_digest
    from harken.digest.render import digest_text, render_html
    from harken.notify.outbox import deliver_pending
    from harken.notify.registry import build_sinks
    from harken.reports.output import output_target, write_output

    # Checked before the digest is made (a minute on a big store); the rule of every output.
    target = output_target(out_file) if out_file is not None else None
    chosen: date | None = None
    if day:
        try:
            chosen = date.fromisoformat(day)
        except ValueError:
            raise typer.BadParameter("--date must be YYYY-MM-DD") from None
    config = root_state(ctx).config()
    store = open_store(config)
    made = make_digest(store, config, chosen)
    shown = err if target is not None and target.stdout else out  # stdout is the page's
    shown.print(digest_text(made))
    if target is not None:
        html = render_html(made)
        write_output(target, html)
        shown.print(Text(f"wrote {target} ({len(html.encode()) // 1024} KB)"))
    if not send:
        if force:
            raise typer.BadParameter("--force only makes sense with --send")
        return
    queued = queue_digest(store, config, made, force=force)
    if not queued.added and queued.already:
        raise HarkenError(
            f"the digest of {queued.date} was already sent ({', '.join(queued.already)})",
            hint="add --force to send it again",
        )
    if not queued.added:
        raise HarkenError(
            "nowhere to send the digest",
            hint="configure alerts.slack (with a channel for digest.department) or digest.email",
        )
    result = deliver_pending(store, config, build_sinks(config, out), force=True)
    out.print(Text(describe_notify(result)))
    if result.failed or result.retry_later:
        for problem in result.errors:
            err.print(Text(f"not delivered: {one_line(problem, 300)}"))
        raise HarkenError(
            "the digest is in the outbox but not delivered yet",
            hint="`harken run` keeps retrying; `harken alerts` shows why",
        )


def register(app: typer.Typer) -> None:
    """Adds the digest command and the alerts group to ``app``."""
    app.command()(digest)
    app.add_typer(alerts_app, name="alerts")
