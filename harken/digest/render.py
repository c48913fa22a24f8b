"""The digest rendered for each medium: an HTML page, an e-mail, a Slack summary, the terminal.

Everything here renders from a ``Digest`` alone (no store), so a digest stored as JSON renders
the same later. Post text, handles, URLs and spike terms are untrusted and escaped for each
medium: Jinja2 autoescaping for HTML (nothing from a post is ever marked safe; a link is an
href only when it is http or https), ``for_slack`` for Slack, ``for_terminal`` for rich.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import typing
from collections.abc import Sequence
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr
from functools import cache
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape
from rich.console import Console, ConsoleOptions, Group, RenderableType, RenderResult
from rich.table import Table
from rich.text import Text

from harken.config import EmailConfig
from harken.digest.charts import digest_charts
from harken.digest.model import Change, Digest
from harken.notify.slack.message import SlackMessage
from harken.text import for_slack, for_terminal, strip_controls

TEMPLATE = "digest.html.j2"
SLACK_TOP = 5
SLACK_LIST = 8  # breaches and spikes listed in Slack before "and N more"
SLACK_SECTION = 3000
SLACK_HEADER = 150
SLACK_BLOCKS = 50
# Metrics where more is worse: their rise is shown in red.
WORSE_WHEN_UP = {"negative_share", "complaints", "incidents", "sla_breaches", "spikes"}
_LANGUAGE = re.compile(r"^[a-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")
_KANA = re.compile(r"[\u3040-\u30ff\uff66-\uff9f]")


# --- formatting shared by every medium ------------------------------------------------------


def human_duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return f"{seconds} s"
    minutes = seconds // 60
    if minutes < 90:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def local_time(moment: datetime, zone: str, pattern: str = "%m-%d %H:%M") -> str:
    return moment.astimezone(ZoneInfo(zone)).strftime(pattern)


def percent(share: float | None, digits: int = 0) -> str:
    return "-" if share is None else f"{share * 100:.{digits}f}%"


def shown_value(change: Change) -> str:
    return percent(change.current, 1) if change.percent else f"{int(change.current):,}"


def shown_previous(change: Change) -> str:
    return percent(change.previous, 1) if change.percent else f"{int(change.previous):,}"


def shown_delta(change: Change) -> str:
    """ "+12", "−3", "±0"; a share changes in percentage points."""
    if change.percent:
        points = round(change.delta * 100, 1)
        return "±0 pts" if points == 0 else f"{points:+.1f} pts".replace("-", "−")
    delta = int(change.delta)
    return "±0" if delta == 0 else f"{delta:+,}".replace("-", "−")


def trend(change: Change) -> str:
    """ "worse", "better" or "same": how the page colours the change."""
    if round(change.delta, 3) == 0:
        return "same"
    if change.key not in WORSE_WHEN_UP:
        return "neutral"
    return "worse" if change.delta > 0 else "better"


def response_of(item: Any) -> str:
    """An item's first response time, or where it stands without one."""
    if item.first_response_s is not None:
        return human_duration(item.first_response_s)
    return "waiting" if item.waiting else f"{item.status}, no reply"


def safe_url(url: str | None) -> str | None:
    """The URL when it is http(s) with a host; None otherwise (shown as text, never linked)."""
    if not url:
        return None
    candidate = strip_controls(url).strip()
    try:
        parts = urlsplit(candidate)
    except ValueError:
        return None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    return candidate


def post_language(language: str | None, text: str) -> str | None:
    """A BCP 47 tag for the post's lang attribute: the detected one, else "ja" when it has
    kana (so browsers pick Japanese glyph forms, not Chinese ones)."""
    if language and _LANGUAGE.match(language.strip()):
        return language.strip()
    return "ja" if _KANA.search(text) else None


def subject_line(digest: Digest) -> str:
    breaches, spikes = digest.headline.sla_breaches, len(digest.spikes)
    brands = ", ".join(digest.brands) or "all brands"
    return (
        f"harken digest {digest.day.isoformat()} · {brands}: "
        f"{_count(breaches, 'SLA breach', 'SLA breaches')}, {_count(spikes, 'spike', 'spikes')}"
    )


def _count(n: int, one: str, many: str) -> str:
    return f"no {many}" if n == 0 else f"{n} {one if n == 1 else many}"


def window_line(digest: Digest) -> str:
    zone = digest.timezone
    return (
        f"{local_time(digest.start, zone, '%Y-%m-%d %H:%M')} → "
        f"{local_time(digest.end, zone, '%Y-%m-%d %H:%M')} {zone}"
    )


def fill_link(link: str | None, digest: Digest) -> str | None:
    # str.replace, not format: a published URL may hold other braces.
    return link.replace("{date}", digest.day.isoformat()) if link else None


# --- HTML -----------------------------------------------------------------------------------


@cache
def _environment() -> Environment:
    environment = Environment(
        loader=PackageLoader("harken", "data/templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True, default=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters.update(
        duration=human_duration,
        pct=percent,
        value=shown_value,
        delta=shown_delta,
        previous=shown_previous,
        trend=trend,
        response=response_of,
        safe_url=safe_url,
        flat=lambda text, limit=None: for_plain(text, limit),
        clean=lambda text: strip_controls(text or ""),  # keeps line breaks
    )
    environment.globals.update(local=local_time, post_language=post_language)
    return environment


def render_html(digest: Digest) -> str:
    """A self-contained page: inline CSS, the charts as data: URIs."""
    charts = digest_charts(digest)
    sources = {
        name: "data:image/png;base64," + base64.b64encode(png).decode("ascii")
        for name, png in charts.items()
    }
    return _page(digest, sources)


def _page(digest: Digest, chart_sources: dict[str, str]) -> str:
    template = _environment().get_template(TEMPLATE)
    return template.render(
        digest=digest,
        changes=digest.changes(),
        charts=chart_sources,
        subject=subject_line(digest),
        window=window_line(digest),
    )


# --- e-mail ---------------------------------------------------------------------------------


def render_email(digest: Digest, email: EmailConfig, subject: str | None = None) -> EmailMessage:
    """multipart/alternative: plain text, and HTML with the charts as inline cid: images
    (many mail clients block data: URIs). The Message-ID comes from the digest's content,
    so rendering the same digest again gives the same message."""
    digest_id = hashlib.sha256(
        json.dumps(digest.to_json(), sort_keys=True).encode("utf-8")
    ).hexdigest()[:16]
    domain = parseaddr(email.sender)[1].rpartition("@")[2] or "harken.invalid"
    charts = digest_charts(digest)
    cids = {name: f"{name}-{digest_id}@harken" for name in charts}
    message = EmailMessage()
    message["Subject"] = subject or subject_line(digest)
    message["From"] = email.sender
    message["To"] = ", ".join(email.to)
    message["Date"] = format_datetime(digest.generated_at)
    message["Message-ID"] = f"<harken-digest-{digest.day.isoformat()}-{digest_id}@{domain}>"
    # quoted-printable keeps the message 7-bit clean, whatever the relay supports.
    message.set_content(digest_plain(digest), cte="quoted-printable")
    html = _page(digest, {name: f"cid:{cid}" for name, cid in cids.items()})
    message.add_alternative(html, subtype="html", cte="quoted-printable")
    html_part = typing.cast(EmailMessage, message.get_payload()[1])  # type: ignore[index]
    for name, png in charts.items():
        html_part.add_related(
            png,
            "image",
            "png",
            cid=f"<{cids[name]}>",
            filename=f"{name}.png",
            disposition="inline",
        )
    return message


# --- plain text (the e-mail's text part) ----------------------------------------------------


def for_plain(text: str | None, limit: int | None = None) -> str:
    """Untrusted text on one line, without control characters."""
    flat = " ".join(strip_controls(text or "").split())
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat


def digest_plain(digest: Digest) -> str:
    zone = digest.timezone
    lines = [subject_line(digest), window_line(digest), ""]
    lines += [
        f"{c.label}: {shown_value(c)} ({shown_delta(c)} vs the day before)"
        for c in digest.changes()
    ]
    new = digest.headline.new_incidents
    lines.append(f"Incidents: {new} new, {digest.headline.incidents - new} continuing")
    lines += ["", "Top incidents"]
    for entry in digest.incidents:
        states = ", ".join(f"{i.department} {response_of(i)}" for i in entry.items)
        lines.append(
            f"{entry.rank}. #{entry.id} risk {entry.risk:.2f} · {entry.brand} · "
            f"{_count(entry.size, 'post', 'posts')} · {entry.platform} "
            f"{for_plain(entry.author, 60)}: "
            f"“{for_plain(entry.text, 200)}”"
        )
        lines.append(f"   {states or 'no queue items'}" + _plain_url(entry.url))
    lines += ["", f"SLA breaches ({digest.headline.sla_breaches})"]
    for b in digest.breaches:
        answered = (
            "still waiting" if b.waiting else f"answered {local_time(b.responded_at, zone)}"  # type: ignore[arg-type]
        )
        lines.append(
            f"- item #{b.item_id} {b.department} {b.priority}: due {local_time(b.due_at, zone)}, "
            f"{answered}, late by {human_duration(b.late_by_s)}"
        )
    lines += ["", f"Spikes ({len(digest.spikes)})"]
    for s in digest.spikes:
        lines.append(
            f"- {local_time(s.hour_start, zone)} {s.brand} {s.series}: {s.count} posts, "
            f"{s.ratio:.1f}x the usual {s.baseline:.1f}"
            f" · {for_plain(', '.join(s.terms[:6]), 120)}"
        )
    lines += _plain_voice(digest)
    lines += ["", f"Held by the noise budget ({digest.held_total})"]
    for h in digest.held:
        lines.append(f"- {local_time(h.created_at, zone)} {h.department} {h.kind}: {h.note}")
    return "\n".join(lines) + "\n"


def _plain_url(url: str | None) -> str:
    link = safe_url(url)
    return f" · {for_plain(link)}" if link else ""


def _plain_voice(digest: Digest) -> list[str]:
    lines: list[str] = []
    for group in digest.voice:
        lines += ["", f"Share of voice: {group.brand}"]
        for row in group.rows:
            lines.append(
                f"- {row.brand}: {row.mentions} mentions, {percent(row.share)} share, "
                f"{percent(row.negative_share)} negative, reach {row.reach:,}"
            )
        lines += [
            f"- {name}: not listened for (add it under brands:)" for name in group.not_listened
        ]
    return lines


# --- Slack ----------------------------------------------------------------------------------


def digest_message(digest: Digest, link: str | None) -> SlackMessage:
    """A compact Block Kit summary for the PR channel; ``link`` is digest.link ({date})."""
    zone = digest.timezone
    title = f"harken digest {digest.day.isoformat()} · {', '.join(digest.brands) or 'all brands'}"
    fields = [
        {"type": "mrkdwn", "text": f"*{c.label}*\n{shown_value(c)} ({shown_delta(c)})"}
        for c in digest.changes()
    ]
    new = digest.headline.new_incidents
    blocks: list[dict[str, Any]] = [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": _cut(for_slack(title), SLACK_HEADER)},
        },
        _context(f"{for_slack(window_line(digest))} · changes vs the 24 hours before"),
        {"type": "section", "fields": fields[:10]},
        _context(f"Incidents: {new} new, {digest.headline.incidents - new} continuing"),
        {"type": "divider"},
        _list_section(
            f"*Top incidents* ({len(digest.incidents)} ranked by risk)",
            [_slack_incident(e) for e in digest.incidents[:SLACK_TOP]],
            "none in this window",
        ),
        _list_section(
            f"*SLA breaches* ({digest.headline.sla_breaches}){_slack_breach_summary(digest)}",
            [_slack_breach(b, zone) for b in digest.breaches],
            "none",
            digest.headline.sla_breaches,
        ),
        _list_section(
            f"*Spikes* ({len(digest.spikes)})",
            [
                f"• {local_time(s.hour_start, zone)} {for_slack(s.brand, 60)} "
                f"{for_slack(s.series, 60)}: {s.count} posts, {s.ratio:.1f}x the usual "
                f"{s.baseline:.1f}"
                for s in digest.spikes
            ],
            "none",
        ),
    ]
    if digest.held_total:
        held = digest.held_total
        blocks.append(
            _context(
                f"{held} alert{'s' if held != 1 else ''} held by the noise budget "
                "(`harken alerts --status held`)"
            )
        )
    url = safe_url(fill_link(link, digest))
    if url is not None:
        button = {
            "type": "button",
            "action_id": "open_digest",
            "text": {"type": "plain_text", "text": "Open the full digest"},
            "url": url,
        }
        blocks.append({"type": "actions", "elements": [button]})
    return SlackMessage(
        text=for_slack(subject_line(digest), limit=300), blocks=blocks[:SLACK_BLOCKS]
    )


def _slack_incident(entry: Any) -> str:
    states = ", ".join(f"{for_slack(i.department, 40)} {response_of(i)}" for i in entry.items[:4])
    return (
        f"{entry.rank}. *#{entry.id}* risk {entry.risk:.2f} · {for_slack(entry.brand, 40)} · "
        f"{entry.size} post{'s' if entry.size != 1 else ''} · {entry.platform} "
        f"{for_slack(entry.author, 40, one_line=True)}: "
        f"“{for_slack(entry.text, 160, one_line=True)}”" + (f" · {states}" if states else "")
    )


def _counts(digest: Digest) -> list[tuple[str, int, int]]:
    return [(c.department, c.total, c.waiting) for c in digest.breach_counts]


def _slack_breach_summary(digest: Digest) -> str:
    parts = [
        f"{for_slack(department, 40)} {total}" + (f" ({waiting} waiting)" if waiting else "")
        for department, total, waiting in _counts(digest)[:8]
    ]
    return f": {', '.join(parts)}" if parts else ""


def _slack_breach(b: Any, zone: str) -> str:
    answered = "still waiting" if b.waiting else f"answered {local_time(b.responded_at, zone)}"
    return (
        f"• item #{b.item_id} {for_slack(b.department, 40)} {b.priority}: due "
        f"{local_time(b.due_at, zone)}, {answered}, late by {human_duration(b.late_by_s)}"
    )


def _list_section(
    title: str, lines: Sequence[str], empty: str, total: int | None = None
) -> dict[str, Any]:
    """Lines under a title, as many as fit in one section; the rest (of ``total``) counted."""
    total = len(lines) if total is None else total
    text = f"{title}\n" + (f"_{empty}_" if not lines else "")
    for shown, line in enumerate(lines[:SLACK_LIST]):
        more = total - shown
        tail = f"\n_and {more} more_"
        if _units(text + line + "\n" + tail) > SLACK_SECTION:
            text += tail.lstrip("\n")
            break
        text += line + "\n"
    else:
        if total > min(len(lines), SLACK_LIST):
            text += f"_and {total - min(len(lines), SLACK_LIST)} more_"
    # verbatim: Slack must not turn a post's bare URLs, #channels or @names into links.
    body = {"type": "mrkdwn", "text": text.rstrip("\n"), "verbatim": True}
    return {"type": "section", "text": body}


def _context(mrkdwn: str) -> dict[str, Any]:
    return {
        "type": "context",
        "elements": [{"type": "mrkdwn", "text": _cut(mrkdwn, SLACK_SECTION)}],
    }


def _units(text: str) -> int:
    # Slack counts characters; UTF-16 code units are never fewer.
    return len(text.encode("utf-16-le")) // 2


def _cut(markup: str, budget: int) -> str:
    """Cut escaped text at a space, so no entity (&amp;) is split."""
    if _units(markup) <= budget:
        return markup
    cut = markup[: budget - 1]
    while _units(cut) > budget - 1:
        cut = cut[:-1]
    head, space, _ = cut.rpartition(" ")
    return (head if space else cut) + "…"


# --- terminal -------------------------------------------------------------------------------


def digest_text(digest: Digest) -> RenderableType:
    """The digest for `harken digest` in a terminal (rich): every untrusted string escaped."""
    zone = digest.timezone
    header = Text.from_markup(
        f"[bold]{for_terminal(subject_line(digest))}[/]\n{for_terminal(window_line(digest))}"
    )
    numbers = Table(title="Since the day before", title_justify="left")
    numbers.add_column("metric")
    numbers.add_column("now", justify="right")
    numbers.add_column("change", justify="right")
    for c in digest.changes():
        style = {"worse": "red", "better": "green"}.get(trend(c), "")
        numbers.add_row(
            c.label, shown_value(c), f"[{style}]{shown_delta(c)}[/]" if style else shown_delta(c)
        )
    return Group(
        header,
        numbers,
        _Incidents(digest),
        _table(
            f"SLA breaches ({digest.headline.sla_breaches})",
            ["item", "department", "priority", "due", "answered", "late by"],
            [
                [
                    f"#{b.item_id}",
                    for_terminal(b.department),
                    b.priority,
                    local_time(b.due_at, zone),
                    "still waiting" if b.waiting else local_time(b.responded_at, zone),  # type: ignore[arg-type]
                    human_duration(b.late_by_s),
                ]
                for b in digest.breaches
            ],
        ),
        _table(
            f"Spikes ({len(digest.spikes)})",
            ["hour", "brand", "series", "posts", "usual", "ratio"],
            [
                [
                    local_time(s.hour_start, zone),
                    for_terminal(s.brand),
                    for_terminal(s.series),
                    str(s.count),
                    f"{s.baseline:.1f}",
                    f"{s.ratio:.1f}x",
                ]
                for s in digest.spikes
            ],
        ),
        *_terminal_voice(digest),
        _table(
            f"Held by the noise budget ({digest.held_total})",
            ["when", "department", "kind", "why"],
            [
                [
                    local_time(h.created_at, zone),
                    for_terminal(h.department),
                    h.kind,
                    for_terminal(h.note, 70),
                ]
                for h in digest.held
            ],
        ),
    )


class _Incidents:
    """The top incidents, laid out for the width they are printed at (rich asks at render)."""

    def __init__(self, digest: Digest) -> None:
        self.digest = digest

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield _terminal_incidents(self.digest, options.max_width)


# What the table's borders and padding take (3 per column, 1 more), and the width of the
# columns that keep theirs: #, risk, posts, queues (and brand, shown when there are several).
_BORDERS, _KEPT, _BRAND = 1, 4 + 4 + 5 + 14, 6


def _terminal_incidents(digest: Digest, width: int = 120) -> Table:
    table = Table(title=f"Top incidents ({len(digest.incidents)})", title_justify="left")
    # The incident's id, its numbers and queues keep their width on a narrow terminal (at 80
    # columns the one-line author and text squeezed them to nothing: rows lost their id, and
    # nobody saw where each incident waits); the author and text give way, the author last
    # (who posted it says more than a few words of it).
    brands = len({e.brand for e in digest.incidents}) > 1
    columns = 7 if brands else 6
    spare = width - _BORDERS - 3 * columns - _KEPT - (_BRAND if brands else 0)
    who = min(22, max(15, spare * 2 // 5))
    text = min(40, max(6, spare - who))
    layout: list[tuple[str, dict[str, Any]]] = [
        ("#", {"justify": "right", "no_wrap": True, "min_width": 4}),
        ("risk", {"justify": "right", "no_wrap": True, "min_width": 4}),
        ("brand", {"min_width": _BRAND}),
        ("posts", {"justify": "right", "no_wrap": True, "min_width": 5}),
        ("who", {"max_width": who, "overflow": "ellipsis", "no_wrap": True}),
        ("text", {"max_width": text, "overflow": "ellipsis", "no_wrap": True}),
        ("queues", {"min_width": 14}),
    ]
    for name, options in layout:
        if name != "brand" or brands:
            table.add_column(name, **options)
    for e in digest.incidents:
        queues = "\n".join(f"{for_terminal(i.department)}: {response_of(i)}" for i in e.items)
        cells = [str(e.id), f"{e.risk:.2f}", for_terminal(e.brand), str(e.size)]
        cells += [f"{for_terminal(e.author, 40)} ({e.platform})", for_terminal(e.text, 200)]
        if not brands:
            del cells[2]
        table.add_row(*cells, queues or "-")
    return table


def _terminal_voice(digest: Digest) -> list[Table]:
    tables = []
    for group in digest.voice:
        rows = [
            [
                for_terminal(r.brand),
                str(r.mentions),
                percent(r.share),
                percent(r.negative_share),
                f"{r.reach:,}",
            ]
            for r in group.rows
        ]
        rows += [
            [for_terminal(n), "-", "-", "-", "not listened for (add it under brands:)"]
            for n in group.not_listened
        ]
        tables.append(
            _table(
                f"Share of voice: {for_terminal(group.brand)}",
                ["brand", "mentions", "share", "negative", "reach"],
                rows,
            )
        )
    return tables


def _table(title: str, columns: list[str], rows: list[list[str]]) -> Table:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*row)
    if not rows:
        table.add_row("none", *[""] * (len(columns) - 1))
    return table


__all__: list[str] = [
    "digest_message",
    "digest_plain",
    "digest_text",
    "render_email",
    "render_html",
    "subject_line",
]
