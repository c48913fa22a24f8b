"""Alerts rendered as Slack Block Kit messages.

Trust: what harken writes itself (labels, numbers, the date tokens, the commands in
backticks) is markup; whatever came from a post, its author or a platform (text, handle,
display name, URL, routing reason, spike terms, risk factors) goes through ``for_slack``.

Escaping, as Slack's "Formatting text for app surfaces" (docs.slack.dev, "Escaping text")
states it: ``&``, ``<`` and ``>`` are control characters in text objects and must be sent
as ``&amp;``, ``&lt;`` and ``&gt;`` - those three only, never a full HTML encoding. That is
what makes ``<!channel>``, ``<@U123>`` and ``<http://evil|Bank>`` arrive as text. The page
states the rule for text objects without exempting plain_text, so the header and button
labels are escaped the same way (they are not parsed for mentions; at worst an entity shows).
URLs never go into text: a post's link is a button's ``url`` (not parsed as mrkdwn), http(s)
only, percent-encoded so nothing in it can read as markup.

Limits (Block Kit reference): at most 50 blocks, section text 3000, a field 2000 (10 fields),
header 150, context 10 elements, button label 75 and url 3000. Lengths are measured in UTF-16
code units, which is never less than the characters Slack counts.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from harken.config import Config
from harken.notify.slack.controls import item_controls
from harken.notify.slack.incident import IncidentItem
from harken.notify.slack.message import SlackMessage
from harken.notify.slack.rendered import SECTION_KEY
from harken.store.repo import OPEN_STATUSES, AlertView
from harken.store.tables import Author, Classification, Incident, Mention, QueueItem, Spike
from harken.text import for_slack, human_duration, safe_link, strip_controls

Block = dict[str, Any]
T = TypeVar("T")

MAX_BLOCKS = 50
SECTION_MAX = 3000
FIELD_MAX = 2000
HEADER_MAX = 150
BUTTON_TEXT_MAX = 75
URL_MAX = 3000
CONTEXT_MAX = 10
TEXT_MAX = 300  # the notification fallback: what a phone shows, so short
# A thread root's incident section: its block id (then the incident id) and the most items
# it lists (the alert keeps the one it last showed: rendered.SECTION_KEY).
SECTION_BLOCK = "incident-"
SECTION_ITEMS = 12

# How much of a post each kind quotes: a new item shows it all (up to the section limit),
# an escalation is a reminder and a thread update one more voice.
POST_FULL = SECTION_MAX
POST_SHORT = 600
POST_UPDATE = 1500

_PRIORITY_ICON = {
    "urgent": ":red_circle:",
    "high": ":large_orange_circle:",
    "normal": ":large_blue_circle:",
    "low": ":white_circle:",
}
# RFC 3986 reserved and unreserved punctuation, and "%" so existing escapes survive:
# everything else (space, < > | " ` { } ^ \, controls, non-ASCII) is percent-encoded.


# -- public ---------------------------------------------------------------------------------


def alert_message(
    view: AlertView, config: Config, *, now: datetime | None = None, section: Block | None = None
) -> SlackMessage:
    """The Slack message for an alert of kind item, escalation, update or spike.

    ``now`` (default: the current time) is what an escalation's lateness is measured from;
    ``section`` (``incident_section``): what a new thread root shows of its incident.
    Raises ValueError for any other kind (digests are rendered when they are made).
    """
    render = _RENDERERS.get(view.alert.kind)
    if render is None:
        raise ValueError(f"no Slack rendering for {view.alert.kind!r} alerts")
    return render(view, config, _utc(now or datetime.now(UTC)), [section] if section else [])


def incident_root(view: AlertView, config: Config, *, now: datetime | None = None) -> SlackMessage:
    """The root message of an incident's thread (its first alert, kind item or escalation)
    rendered again with the incident's current size: for chat.update when posts join.
    ``view`` must be freshly loaded, so its incident and item carry today's numbers; the
    incident section the Slack app last showed on it (``SECTION_KEY``) stays."""
    render = _RENDERERS.get(view.alert.kind)
    if render is None or view.alert.kind not in ("item", "escalation"):
        raise ValueError(f"a {view.alert.kind!r} alert does not start an incident's thread")
    kept = view.alert.payload.get(SECTION_KEY)
    state = [_thread_state(view, config), *([kept] if isinstance(kept, dict) else [])]
    return render(view, config, _utc(now or datetime.now(UTC)), state)


def acted_alert(
    view: AlertView,
    config: Config,
    *,
    now: datetime | None = None,
    section: Block | None = None,
) -> SlackMessage:
    """An item or escalation alert rendered again once someone acted on its item (the Slack
    app's chat.update): the item's status, owner, and due time or how long it took; a thread's
    root keeps its incident line, and shows ``section`` (``incident_section``) below it.
    ``view`` must be freshly loaded."""
    render = _RENDERERS.get(view.alert.kind)
    if render is None or view.alert.kind not in ("item", "escalation"):
        raise ValueError(f"a {view.alert.kind!r} alert shows no item state")
    moment = _utc(now or datetime.now(UTC))
    return render(
        view, config, moment, [_item_state(view, config), *([section] if section else [])]
    )


def incident_section(incident_id: int, items: Sequence[IncidentItem], config: Config) -> Block:
    """Every department's item of the incident and where it stands, one line each, in the
    words of the item's own alert (``item_status``): for the incident's thread roots."""
    lines = [f"*Incident #{incident_id}* · every department"]
    for entry in items[:SECTION_ITEMS]:
        item = entry.item
        moved = f" (from {_plain(entry.moved_from, 64)})" if entry.moved_from else ""
        lines.append(
            f"• *{_plain(item.department, 64)}*{moved} · item #{item.id} · "
            f"{item_status(item, config)}"
        )
    if len(items) > SECTION_ITEMS:
        lines.append(f"_and {len(items) - SECTION_ITEMS} more: `harken queue list`_")
    block = _section("\n".join(lines))
    return {**block, "block_id": f"{SECTION_BLOCK}{incident_id}"}


# -- kinds ----------------------------------------------------------------------------------


def _item(view: AlertView, config: Config, now: datetime, state: list[Block]) -> SlackMessage:
    """A new queue item: everything needed to decide and act without leaving Slack."""
    item, mention = _post_of(view)
    icon = _PRIORITY_ICON.get(item.priority, ":large_blue_circle:")
    title = f"{icon} {_plain(item.priority, 16).upper()} · {_plain(item.department, 64)}"
    title += f" · item #{item.id}"
    facts = [
        _field("Author", _author_line(view.author, mention)),
        _field("Reach", _reach(view.author)),
        _field("Scores", _scores(view.classification)),
        _field("Risk factors", _factors(view.classification)),
        _field("Why here", _plain(item.reason, FIELD_MAX - 20)),
        _field("Incident", _incident_line(view.incident, item)),
        _field("Respond by", _date(item.due_at, config)),
        _field("Posted", _date(mention.created_at, config)),
    ]
    blocks = [
        _header(title),
        _post(mention.text, POST_FULL),
        {"type": "section", "fields": facts},
        *_link(mention),
        *state,
        *item_controls(
            item, view.alert.kind, view.alert.channel, config, platform=mention.platform
        ),
        _commands(item),
    ]
    fallback = (
        f"{_plain(item.priority, 16).upper()} {_plain(item.department)} item #{item.id}: "
        f"{_who(view.author)} on {_plain(mention.platform)}: “{_plain(mention.text, 120)}”"
        f"{_risk_suffix(view.classification)}"
    )
    return _message(fallback, blocks)


def _escalation(view: AlertView, config: Config, now: datetime, state: list[Block]) -> SlackMessage:
    """An overdue item: lateness first, then a shorter version of the post."""
    item, mention = _post_of(view)
    level = max(item.escalation_level, 1)
    late = human_duration(now - _utc(item.due_at))
    who = f", claimed by {_plain(item.assignee)}" if item.assignee else ""
    if level >= 2:
        why = f"Sent up to *{_plain(view.alert.channel)}*: no first response in twice its SLA."
    else:
        why = "No first response yet."
    summary = (
        f"*Item #{item.id} ({_plain(item.priority, 16)}, {_plain(item.department)}) is {late}"
        f" overdue* - "
        f"due {_date(item.due_at, config)}.\nStatus: *{_plain(item.status)}*{who}. {why}"
    )
    blocks = [
        _header(f":alarm_clock: OVERDUE · level {level} · item #{item.id}"),
        _section(summary),
        _post(mention.text, POST_SHORT),
        _context(
            [
                _author_line(view.author, mention),
                _reach(view.author),
                _scores(view.classification),
                _incident_brief(view),
            ]
        ),
        *_link(mention),
        *state,
        *item_controls(
            item, view.alert.kind, view.alert.channel, config, platform=mention.platform
        ),
        _commands(item),
    ]
    fallback = (
        f"OVERDUE (level {level}, {late}) item #{item.id} of {_plain(item.department)}, "
        f"{_plain(item.status)}: {_who(view.author)}: “{_plain(mention.text, 100)}”"
    )
    return _message(fallback, blocks)


def _update(view: AlertView, config: Config, now: datetime, state: list[Block]) -> SlackMessage:
    """A quiet thread reply: how many posts joined, the incident's size now, the latest."""
    item, mention = _post_of(view)
    joined = int(view.alert.payload.get("joined", 1))
    noun = "post" if joined == 1 else "posts"
    size = f" - now {view.incident.size} posts" if view.incident else ""
    where = f"incident #{view.incident.id}" if view.incident else f"item #{item.id}"
    blocks = [
        _section(f"*+{joined} {noun}* joined {where}{size}. Latest:"),
        _post(mention.text, POST_UPDATE),
        _context(
            [
                _author_line(view.author, mention),
                _reach(view.author),
                f"posted {_date(mention.created_at, config)}",
                _scores(view.classification),
            ]
        ),
        *_link(mention),
    ]
    fallback = (
        f"+{joined} {noun} on {where}{size}: {_who(view.author)}: “{_plain(mention.text, 120)}”"
    )
    return _message(fallback, blocks)


def _spike(view: AlertView, config: Config, now: datetime, state: list[Block]) -> SlackMessage:
    spike = _need(view.spike, "spike", view)
    brand = _plain(spike.brand or "all brands", 60)
    series = _plain(spike.series, 60)
    hour = _date(spike.hour_start, config)
    volume = (
        f"*{spike.count} posts* in the hour from {hour}: *{spike.ratio:.1f}x* the usual "
        f"{spike.baseline:.1f} for that hour of the week (p = {spike.p_value:.1g})."
    )
    blocks = [
        _header(f":chart_with_upwards_trend: SPIKE · {brand} · {series}"),
        _section(volume),
        _section(f"*Driving terms:* {_terms(spike)}"),
        _section(f"*Top incidents:* {_incident_ids(spike)}"),
    ]
    hour_utc = f"{_utc(spike.hour_start):%m-%d %H:00} UTC"
    fallback = (
        f"SPIKE {brand} {series}: {spike.count} posts in the hour from {hour_utc}, "
        f"{spike.ratio:.1f}x the usual {spike.baseline:.1f}"
    )
    return _message(fallback, blocks)


Renderer = Callable[[AlertView, Config, datetime, list[Block]], SlackMessage]
_RENDERERS: dict[str, Renderer] = {
    "item": _item,
    "escalation": _escalation,
    "update": _update,
    "spike": _spike,
}


# -- the facts, as mrkdwn -------------------------------------------------------------------


def _author_line(author: Author | None, mention: Mention) -> str:
    platform = _plain(mention.platform, 32)
    if author is None:
        return f"unknown author on {platform}"
    handle = f"*{_plain(author.handle, 120)}*"
    name = f" ({_plain(author.name, 120)})" if author.name and author.name != author.handle else ""
    return f"{handle}{name} on {platform}"


def _reach(author: Author | None) -> str:
    followers = "followers unknown"
    if author is not None and author.followers is not None:
        followers = f"{author.followers:,} followers"
    verified = " · verified" if author is not None and author.verified else ""
    return followers + verified


def _scores(c: Classification | None) -> str:
    if c is None:
        return "not classified"
    return (
        f"{_plain(c.sentiment, 16)} · complaint {c.complaint:.2f} · abuse {c.abuse:.2f}"
        f" · *risk {c.risk:.2f}*"
    )


def _factors(c: Classification | None) -> str:
    # Derived from the post (topic names, words): escaped like post text, to be safe.
    factors = [_plain(f, 240) for f in (c.risk_factors if c else [])]
    return "; ".join(factors[:6]) or "no strong factor"


def _incident_line(incident: Incident | None, item: QueueItem) -> str:
    in_item = f"{item.mentions} in this item"
    if incident is None:
        return f"no incident · {in_item}"
    return f"#{incident.id} · {incident.size} posts ({in_item})"


def _incident_brief(view: AlertView) -> str:
    if view.incident is None:
        return "no incident"
    return f"incident #{view.incident.id}: {view.incident.size} posts"


def _terms(spike: Spike) -> str:
    terms = [_plain(t, 150) for t in spike.terms[:10]]
    return " · ".join(t for t in terms if t) or "no single term"


def _incident_ids(spike: Spike) -> str:
    return ", ".join(f"#{int(i)}" for i in spike.top_incidents[:10]) or "none"


def _thread_state(view: AlertView, config: Config) -> Block:
    """The root's line that chat.update keeps current."""
    incident, item = view.incident, view.item
    parts = []
    if incident is not None:
        last = _date(incident.last_seen, config, "{time}", "%H:%M")
        parts.append(f"*{incident.size} posts so far*, last at {last}")
    if item is not None:
        owner = f" by {_plain(item.assignee, 60)}" if item.assignee else ""
        parts.append(f"item {_plain(item.status, 16)}{owner}")
    return _context([" · ".join(parts) or "no incident"])


def _item_state(view: AlertView, config: Config) -> Block:
    """Where the item stands: status and owner, then its due time while it waits, or how
    long it took once closed; on a thread's root, the incident's size first."""
    item, alert = _need(view.item, "queue item", view), view.alert
    parts = []
    if view.incident is not None and alert.message_ts and alert.thread_ts == alert.message_ts:
        last = _date(view.incident.last_seen, config, "{time}", "%H:%M")
        parts.append(f"*{view.incident.size} posts so far*, last at {last}")
    if item.department != alert.channel and alert.kind == "item":
        where = _plain(item.department, 64)
        parts.append(f"*Transferred* to *{where}*, {_plain(item.status, 16)} there")
        return _context([" · ".join(parts)])
    parts.append(item_status(item, config))
    return _context([" · ".join(parts)])


def item_status(item: QueueItem, config: Config) -> str:
    """The item's status and owner, then its due time while it waits, or how long it took
    once closed: "*Claimed* by ana · respond by …", "*Resolved* by ana · done in 35 min"."""
    status = f"*{_plain(item.status, 16).capitalize()}*"
    if item.status in OPEN_STATUSES:
        owner = f" by {_plain(item.assignee, 60)}" if item.assignee else ""
        return f"{status}{owner} · respond by {_date(item.due_at, config)}"
    closer = f" by {_plain(item.closed_by, 60)}" if item.closed_by else ""
    why = f" ({_plain(item.note, 200)})" if item.note else ""
    took = ""
    if item.closed_at is not None:
        took = f" · done in {elapsed(_utc(item.closed_at) - _utc(item.created_at))}"
    return f"{status}{closer}{why}{took}"


def elapsed(delta: timedelta) -> str:
    """How long something took, as the alert says it: "35 min", "1 h 35 min", "2 d 3 h"."""
    minutes = max(int(delta.total_seconds() // 60), 0)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return f"{days} d {hours} h"
    return f"{hours} h {minutes} min" if hours else f"{minutes} min"


def _commands(item: QueueItem) -> Block:
    ident = item.id
    return _context(
        [
            f"`harken queue claim {ident}` · `harken queue reply {ident}` · "
            f"`harken queue show {ident}`"
        ]
    )


def _date(
    moment: datetime, config: Config, tokens: str = "{date_short_pretty} {time}", shown: str = ""
) -> str:
    """Slack's date token: each reader sees their own time zone; clients that cannot render
    it show the fallback, in the digest's time zone (e.g. "2026-12-02 08:00 UTC")."""
    moment = _utc(moment)
    local = moment.astimezone(ZoneInfo(config.digest.timezone))
    fallback = f"{local:{shown or '%Y-%m-%d %H:%M'}} {local.tzname()}"
    return f"<!date^{int(moment.timestamp())}^{tokens}|{for_slack(fallback)}>"


def _risk_suffix(c: Classification | None) -> str:
    return f" (risk {c.risk:.2f})" if c is not None else ""


def _who(author: Author | None) -> str:
    return _plain(author.handle, 60) if author is not None else "unknown author"


# -- blocks ---------------------------------------------------------------------------------


def _header(text: str) -> Block:
    # Emoji codes in the header are harken's own; the text passed here is already escaped.
    return {"type": "header", "text": {"type": "plain_text", "text": _cut(text, HEADER_MAX)}}


def _section(mrkdwn: str) -> Block:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(mrkdwn, SECTION_MAX)}}


def _field(label: str, value: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": _cut(f"*{label}*\n{value or '-'}", FIELD_MAX)}


def _context(parts: list[str]) -> Block:
    elements = [{"type": "mrkdwn", "text": _cut(p, SECTION_MAX)} for p in parts if p]
    return {"type": "context", "elements": elements[:CONTEXT_MAX] or [_text_object("-")]}


def _text_object(text: str) -> dict[str, str]:
    return {"type": "mrkdwn", "text": text}


def _post(text: str, budget: int) -> Block:
    """The post as a quote, in its own section: its own mrkdwn (*bold*, ```) stays inside
    the quote. ``verbatim`` stops Slack linking bare URLs and channel names in it."""
    body = _fit(text, budget, _quote) if strip_controls(text).strip() else "> _(no text)_"
    return {"type": "section", "text": {"type": "mrkdwn", "text": body, "verbatim": True}}


def _quote(escaped: str) -> str:
    # Escaping turned any ">" of the post into "&gt;": these are the only quote markers.
    return "\n".join(f"> {line}" for line in escaped.split("\n"))


def _link(mention: Mention) -> list[Block]:
    """A button to the post, when it has a web address (http or https only)."""
    url = safe_link(mention.url)
    if url is None:
        return []
    host = urlsplit(url).hostname or "the web"
    label = _cut(f"Open on {_plain(host, 60)}", BUTTON_TEXT_MAX)
    button = {
        "type": "button",
        "action_id": "open_post",
        "text": {"type": "plain_text", "text": label},
        "url": url,
    }
    return [{"type": "actions", "elements": [button]}]


def _message(fallback: str, blocks: list[Block]) -> SlackMessage:
    return SlackMessage(text=_cut(fallback, TEXT_MAX), blocks=blocks[:MAX_BLOCKS])


# -- text and lengths -----------------------------------------------------------------------


def _plain(text: str | None, budget: int = 200) -> str:
    """Untrusted text on one line, escaped, at most ``budget`` long once escaped."""
    return _fit(text or "", budget, one_line=True)


def _units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _fit(
    text: str, budget: int, wrap: Callable[[str], str] = str, *, one_line: bool = False
) -> str:
    """``wrap(for_slack(text))`` cut so that it stays within ``budget``: escaping can make
    one character five (``&amp;``), so the cut is found on the escaped, wrapped result."""

    def render(limit: int | None) -> str:
        return wrap(for_slack(text, limit=limit, one_line=one_line))

    whole = render(None)
    if _units(whole) <= budget:
        return whole
    low, high = 1, len(strip_controls(text))  # limit 1 is "…" alone: always fits
    while low < high:
        middle = (low + high + 1) // 2
        if _units(render(middle)) <= budget:
            low = middle
        else:
            high = middle - 1
    return render(low)


def _cut(markup: str, budget: int) -> str:
    """A safety net for text built from parts already escaped and bounded: never cut inside
    an entity (``&amp;``) or a token (``<!date^...>``), which would then show raw."""
    if _units(markup) <= budget:
        return markup
    cut = markup[: budget - 1]
    while _units(cut) > budget - 1:
        cut = cut[:-1]
    if cut.rfind("<") > cut.rfind(">"):
        cut = cut[: cut.rfind("<")]
    if cut.rfind("&") > cut.rfind(";"):
        cut = cut[: cut.rfind("&")]
    return cut + "…"


def _utc(moment: datetime) -> datetime:
    # The store hands back aware UTC; objects built in memory may be naive (taken as UTC).
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _post_of(view: AlertView) -> tuple[QueueItem, Mention]:
    return _need(view.item, "queue item", view), _need(view.mention, "post", view)


def _need(value: T | None, what: str, view: AlertView) -> T:
    if value is None:
        raise ValueError(f"alert #{view.alert.id} ({view.alert.kind}) has no {what} to show")
    return value
