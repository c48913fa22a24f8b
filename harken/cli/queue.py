"""``harken queue ...``: department queues. Reading (list, show) and the queue actions
(claim, assign, transfer, resolve, dismiss, reopen, note, tag, approve, reply). Parsing and
formatting only: each command calls one function of harken.queue (actions as the actor of
``--as``), so the Slack app and the web workspace do exactly what these commands do.

Post text, author handles, notes and tags come from people: they are printed as rich ``Text``
(never parsed as markup) after ``one_line`` strips control and escape sequences.
"""

from __future__ import annotations

import difflib
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.text import Text

from harken.cli.common import (
    MAX_ID,
    Format,
    HarkenGroup,
    err,
    open_store,
    out,
    posts_count,
    print_json,
    root_state,
)
from harken.errors import HarkenError, QueueError, QueueInputError
from harken.text import one_line

if TYPE_CHECKING:
    from harken.queue.actors import Actor
    from harken.queue.items import Change
    from harken.queue.replies import ReplyPlan

queue_app = typer.Typer(cls=HarkenGroup, no_args_is_help=True, help="Department queues.")

ItemId = Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Queue item id.")]
ActorOption = Annotated[
    str | None, typer.Option("--as", help="Who is acting (else $HARKEN_USER, else your login).")
]
TextOption = Annotated[str | None, typer.Option("--text", "-t", help="The reply.")]
TemplateOption = Annotated[
    str | None,
    typer.Option("--template", help="A replies.templates name (default: by the topic)."),
]


def _actor(name: str | None) -> Actor:
    from harken.queue.actors import Actor, actor_name

    return Actor(actor_name(name), via="cli")


def _said(change: Change) -> None:
    """The line an action returns; it quotes what people typed (notes, tags, names)."""
    out.print(Text(one_line(change.message, 1000)))


# -- reading ----------------------------------------------------------------------------------


@queue_app.command("list")
def queue_list(
    ctx: typer.Context,
    department: Annotated[
        list[str] | None, typer.Option("--department", "-d", help="Repeatable.")
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", "-s", help="Repeatable; default: new, claimed, responded; all."),
    ] = None,
    priority: Annotated[
        list[str] | None, typer.Option("--priority", help="Repeatable: urgent, high, ...")
    ] = None,
    overdue: Annotated[
        bool, typer.Option("--overdue", help="Only items past due with no first response.")
    ] = False,
    assignee: Annotated[
        str | None, typer.Option("--assignee", help="Who holds it; '-' for nobody.")
    ] = None,
    platform: Annotated[list[str] | None, typer.Option("--platform", help="Repeatable.")] = None,
    brand: Annotated[list[str] | None, typer.Option("--brand", help="Repeatable.")] = None,
    topic: Annotated[str | None, typer.Option("--topic", help="A topics: name.")] = None,
    language: Annotated[str | None, typer.Option("--language", help="e.g. en, ja.")] = None,
    risk_gte: Annotated[
        float | None, typer.Option("--risk-gte", min=0.0, max=1.0, help="Risk at least this.")
    ] = None,
    tag: Annotated[str | None, typer.Option("--tag")] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=MAX_ID)] = 50,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Queue items: escalated first, then most urgent, then soonest due. The filters are
    those of the web inbox and of GET /api/v1/items."""
    from harken.queue.filters import item_filter
    from harken.queue.views import count_items, list_items

    config = root_state(ctx).config()
    store = open_store(config)
    where = item_filter(
        config,
        store,
        departments=department or (),
        statuses=status or (),
        priorities=priority or (),
        overdue=overdue,
        assignee=assignee,
        platforms=platform or (),
        brands=brand or (),
        topic=topic,
        language=language,
        risk_gte=risk_gte,
        tag=tag,
    )
    items = list_items(store, None, None, limit, where=where)
    if format is Format.json:
        print_json(items)
        return
    shown = f"{len(items)} item(s)"
    if len(items) == limit:  # the list may be cut: say so, with how to see the rest
        total = count_items(store, where)
        if total > limit:
            shown = f"{limit} of {total} items (--limit {total} shows them all)"
    out.print(f"{shown}: escalated first, then most urgent and soonest due")
    for item in items:
        _print_item(item)


# `queue show` prints the post and why in full (wrapped): legal must read the whole post. A
# Reddit post can run to 40,000 characters: past this, `--format json` has the rest.
SHOWN_CHARS = 4000


def _print_item(item: dict[str, Any], limit: int = 110) -> None:
    """Per item: what and when, the post, why it is here, what drives its risk. Any width.
    ``limit``: characters of the post, the reason and the risk factors (one line each in
    lists; `queue show` gives more)."""
    mention, author = item["mention"], item["mention"]["author"]
    due = datetime.fromisoformat(item["due_at"])
    who = f" ({one_line(item['assignee'], 40)})" if item.get("assignee") else ""
    head = Text.assemble(
        (f"#{item['id']:<5}", "bold"),
        f" {item['department']} · {item['priority']} · {item['status']}{who}",
        f" · due {due:%m-%d %H:%M} UTC · risk {item['risk'] or 0:.2f} · ",
        one_line(f"{author['handle']} ({mention['platform']})", 40),
    )
    if item.get("incident_size") and item["incident_size"] > 1:
        head.append(f" · incident #{item['incident_id']} ({item['incident_size']} posts)")
    if item.get("escalation_level"):
        head.append(f" ESCALATED {item['escalation_level']}", style="bold red")
    elif item.get("overdue"):
        head.append(" OVERDUE", style="bold red")
    out.print(head)
    out.print(Text(f"       “{one_line(mention['text'], limit)}”"))
    why = one_line(item["reason"], limit)
    out.print(Text(f"       why: {why} · mention {mention['id']}", style="dim"))
    if item.get("risk_factors"):
        factors = "; ".join(item["risk_factors"])
        out.print(
            Text(f"       risk {item['risk'] or 0:.2f}: {one_line(factors, limit)}", style="dim")
        )


@queue_app.command("show")
def queue_show(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Queue item id.")],
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """One item in full: post, scores, reason, incident, history, replies, and the author's
    earlier posts across platforms."""
    from harken.queue.views import show_item

    data = show_item(open_store(root_state(ctx).config()), item_id)
    if format is Format.json:
        print_json(data)
        return
    _print_item(data, SHOWN_CHARS)
    mention = data["mention"]
    out.print(Text(f"       post: {one_line(mention['url'] or mention['external_id'], 110)}"))
    out.print(Text(f"       {_timings(data)}"))
    if data["tags"]:
        out.print(Text(f"       tags: {one_line(', '.join(data['tags']), 200)}"))
    incident = data.get("incident")
    if incident:
        growth = incident["growth"]
        out.print(
            Text(
                f"incident #{incident['id']}: {posts_count(incident['size'])}, "
                f"{growth['last_hour']} in its last hour ({growth['hour_before']} the hour "
                f"before), {incident['first_seen'][:16]} → {incident['last_seen'][:16]} UTC, "
                f"top post mention {incident['top_mention_id']}, "
                f"departments: {', '.join(incident['departments'])}"
            )
        )
    out.print(Text("history:", style="bold"))
    for event in data["events"]:
        move = f" → {event['to']}" if event["to"] else ""
        if event["from"] and event["to"]:
            move = f" {event['from']} → {event['to']}"
        note = f": {one_line(event['note'], 90)}" if event["note"] else ""
        out.print(Text(f"  {event['at'][:16]} {_who(event)} {event['action']}{move}{note}"))
    for reply in data["replies"]:
        where = reply["url"] or reply["error"] or ""
        out.print(
            Text(
                f"  reply #{reply['id']} {reply['status']} by {one_line(reply['actor'], 30)}: "
                f"“{one_line(reply['text'], 80)}” {one_line(where, 80)}"
            )
        )
    for ticket in data["tickets"]:
        state = ticket["remote_status"] or ticket["status"]
        key = ticket["key"] or "being created"
        out.print(
            Text(f"  {ticket['system']} ticket {key} ({one_line(state, 30)}) {ticket['url'] or ''}")
        )
    _print_author_history(data["author_history"])


def _who(event: dict[str, Any]) -> str:
    """The actor, and the face they acted through (with their id there) unless it is the
    CLI, where the name is the login or --as: "aiko (slack U0123ABC)"."""
    who = one_line(event["actor"], 30)
    face = " ".join(one_line(part, 64) for part in (event["via"], event["actor_ref"]) if part)
    return f"{who} ({face})" if face and event["via"] != "cli" else who


def _timings(data: dict[str, Any]) -> str:
    parts = [f"created {data['created_at'][:16]} UTC"]
    if data["first_response_seconds"] is not None:
        parts.append(f"first response after {data['first_response_seconds'] / 60:.0f} min")
    else:
        parts.append("no response yet")
    if data["closed_at"]:
        parts.append(
            f"{data['status']} {data['closed_at'][:16]} by {one_line(data['closed_by'], 80)}"
        )
    return " · ".join(parts)


def _print_author_history(history: dict[str, Any]) -> None:
    accounts = ", ".join(f"{a['handle']} ({a['platform']})" for a in history["accounts"])
    out.print(
        Text(
            f"author: {one_line(accounts, 200)} · {posts_count(history['mentions'])} stored",
            style="bold",
        )
    )
    if len(history["accounts"]) > 1:
        out.print(
            Text("  (same handle on another platform: probably the same person)", style="dim")
        )
    if not history["earlier"]:
        out.print(Text("  no earlier posts"))
    for earlier in history["earlier"]:
        outcome = "; ".join(earlier["items"]) or "not queued"
        out.print(
            Text(
                f"  {earlier['created_at'][:16]} {earlier['platform']} "
                f"{earlier['sentiment'] or '?'} · “{one_line(earlier['text'], 70)}” · "
                f"{one_line(outcome, 60)}"
            )
        )


# -- who holds it ---------------------------------------------------------------------------


@queue_app.command("claim")
def queue_claim(
    ctx: typer.Context,
    item_id: ItemId,
    actor: ActorOption = None,
    force: Annotated[bool, typer.Option("--force", help="Take over from someone else.")] = False,
) -> None:
    """Take an item: new → claimed, with your name on it."""
    from harken.queue.actions import claim

    config = root_state(ctx).config()
    change = claim(open_store(config), item_id, _actor(actor), force=force, config=config)
    _said(change)


@queue_app.command("assign")
def queue_assign(
    ctx: typer.Context,
    item_id: ItemId,
    to: Annotated[str, typer.Option("--to", help="Who takes the item.")],
    actor: ActorOption = None,
) -> None:
    """Give an open item to someone (new → claimed, with their name on it)."""
    from harken.queue.actions import assign

    config = root_state(ctx).config()
    _said(assign(open_store(config), item_id, _actor(actor), to, config=config))


@queue_app.command("transfer")
def queue_transfer(
    ctx: typer.Context,
    item_id: ItemId,
    to: Annotated[str, typer.Option("--to", help="The department that takes the item.")],
    note: Annotated[str | None, typer.Option("--note", help="Why it moves.")] = None,
    actor: ActorOption = None,
) -> None:
    """Move an open item to another department: it is theirs to claim, due by their SLA."""
    from harken.queue.actions import transfer

    config = root_state(ctx).config()
    _said(transfer(open_store(config), config, item_id, _actor(actor), to, note))


@queue_app.command("ticket")
def queue_ticket(
    ctx: typer.Context,
    item_id: ItemId,
    to: Annotated[str, typer.Option("--to", help="jira or zendesk (as set up in tickets:).")],
    actor: ActorOption = None,
) -> None:
    """Hand an item to Jira or Zendesk: a ticket with the post, author, scores, reason and a
    link back. Its key is kept on the item; when the ticket is done, the item is resolved."""
    from harken.notify.outbox import deliver_pending
    from harken.notify.registry import build_sinks
    from harken.queue.tickets import open_ticket
    from harken.store.tickets import ticket_of

    config = root_state(ctx).config()
    store = open_store(config)
    _said(open_ticket(store, config, item_id, _actor(actor), to))
    result = deliver_pending(store, config, build_sinks(config, out))  # create it now
    with store.session() as session:
        ticket = ticket_of(session, item_id, to)
    if ticket is not None and ticket.key:
        out.print(Text(f"{to} {ticket.key}: {ticket.url or ''}".rstrip(": ")))
        return
    problem = "; ".join(one_line(e, 300) for e in result.errors) or "not created yet"
    raise HarkenError(
        f"the {to} ticket is asked for but not created: {problem}",
        hint="the outbox retries it (`harken alerts` shows it; `harken alerts flush` tries now)",
    )


@queue_app.command("sync-tickets")
def queue_sync_tickets(ctx: typer.Context) -> None:
    """Resolve the items whose Jira or Zendesk ticket is done (`harken run` does this every
    tickets.sync_interval)."""
    from harken.queue.tickets import sync_tickets

    config = root_state(ctx).config()
    result = sync_tickets(open_store(config), config)
    out.print(
        f"tickets: {result.checked} checked, {result.done} done, {result.resolved} item(s) "
        f"resolved, {result.missing} not found"
    )
    for problem in result.errors:
        err.print(Text(f"not synced: {one_line(problem, 300)}"))
    if result.errors:
        raise HarkenError("a ticket system could not be read", hint="it is asked again next time")


# -- closing and reopening ------------------------------------------------------------------


@queue_app.command("resolve")
def queue_resolve(
    ctx: typer.Context,
    item_id: ItemId,
    note: Annotated[str | None, typer.Option("--note", help="What was done.")] = None,
    actor: ActorOption = None,
) -> None:
    """Close an item as handled."""
    from harken.queue.actions import resolve

    config = root_state(ctx).config()
    change = resolve(open_store(config), item_id, _actor(actor), note, config=config)
    _said(change)


@queue_app.command("dismiss")
def queue_dismiss(
    ctx: typer.Context,
    item_id: ItemId,
    note: Annotated[str | None, typer.Option("--note", help="More on why, in your words.")] = None,
    reason: Annotated[
        str | None,
        typer.Option(
            "--reason",
            help="not ours | not actionable (the default) | spam or bot | own or partner "
            "account | already handled. Other text is kept as the note, as it always was "
            "(a reason misspelt is refused).",
        ),
    ] = None,
    actor: ActorOption = None,
) -> None:
    """Close an item that needs nothing (spam, not about us, already handled elsewhere)."""
    from harken.queue.actions import dismiss

    note, reason = _dismiss_words(note, reason)
    config = root_state(ctx).config()
    _said(dismiss(open_store(config), item_id, _actor(actor), note, reason=reason, config=config))


def _dismiss_words(note: str | None, reason: str | None) -> tuple[str | None, str | None]:
    """(note, reason). Before dismiss reasons existed, --reason was another name for --note:
    text that is not a reason is still the note (and the reason recorded is the default),
    unless it is a reason misspelt ("spam or bots"), which is refused with the right one."""
    from harken.queue.actions import DEFAULT_DISMISS_REASON, DISMISS_REASONS, dismiss_reason

    try:
        dismiss_reason(reason)
        return note, reason
    except QueueError as unknown:
        if note is not None:  # both given: --reason must be a reason
            raise
        assert reason is not None
        said = " ".join(reason.split()).lower()
        # A reason with a letter or two wrong, not a note that begins with one ("already
        # handled in DMs" stays the note).
        typo = [
            r for r in difflib.get_close_matches(said, DISMISS_REASONS, 1, 0.8)
            if abs(len(r) - len(said)) <= 2
        ]  # fmt: skip
        if typo:
            raise QueueInputError(
                f"unknown dismiss reason {reason!r}: did you mean {typo[0]!r}?",
                hint="one of: " + ", ".join(DISMISS_REASONS) + "; other words go in --note",
            ) from unknown
    err.print(
        Text(
            "Note: --reason is not one of the dismiss reasons "
            f"({', '.join(DISMISS_REASONS)}): kept as the note; the reason recorded is "
            f"{DEFAULT_DISMISS_REASON}.",
            style="dim",
        )
    )
    return reason, None


@queue_app.command("reopen")
def queue_reopen(
    ctx: typer.Context,
    item_id: ItemId,
    note: Annotated[str | None, typer.Option("--note", help="Why it is open again.")] = None,
    actor: ActorOption = None,
) -> None:
    """Open a resolved or dismissed item again, in the status it had before it was closed."""
    from harken.queue.actions import reopen

    _said(reopen(open_store(root_state(ctx).config()), item_id, _actor(actor), note))


# -- notes and tags -------------------------------------------------------------------------


@queue_app.command("note")
def queue_note(
    ctx: typer.Context,
    item_id: ItemId,
    text: Annotated[str, typer.Argument(help="The note, for the item's history.")],
    actor: ActorOption = None,
) -> None:
    """Add a note to an item's history (open or closed)."""
    from harken.queue.actions import add_note

    _said(add_note(open_store(root_state(ctx).config()), item_id, _actor(actor), text))


@queue_app.command("tag")
def queue_tag(
    ctx: typer.Context,
    item_id: ItemId,
    tags: Annotated[list[str], typer.Argument(help="One or more tags.")],
    remove: Annotated[bool, typer.Option("--remove", help="Take these tags off.")] = False,
    actor: ActorOption = None,
) -> None:
    """Tag an item (open or closed), or take tags off it with --remove."""
    from harken.queue.actions import tag, untag

    act = untag if remove else tag
    _said(act(open_store(root_state(ctx).config()), item_id, _actor(actor), tags))


# -- replies --------------------------------------------------------------------------------


@queue_app.command("reply")
def queue_reply(
    ctx: typer.Context,
    item_id: ItemId,
    text: TextOption = None,
    template: TemplateOption = None,
    send: Annotated[bool, typer.Option("--send", help="Post it (default: dry run).")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Post even if a reply may already be out.")
    ] = False,
    actor: ActorOption = None,
) -> None:
    """Answer the mention on its own platform. A dry run unless --send."""
    from harken.queue.actions import send_planned_reply
    from harken.queue.replies import plan_reply

    config = root_state(ctx).config()
    store = open_store(config)
    plan = plan_reply(store, config, item_id, text, template)
    _print_plan(plan)
    if not send:
        # A dry run reports; only --send fails on what stands in the way.
        fix = " once the above is fixed" if plan.problems else ""
        out.print(f"dry run: nothing was posted. Add --send to post it{fix}.")
        return
    _refuse_problems(plan, "posted", "see the plan without --send")
    outcome = send_planned_reply(store, config, plan, _actor(actor), force=force)
    first = (
        f" · first response {outcome.first_response_seconds / 60:.0f} min after queueing"
        if outcome.first_response_seconds is not None
        else ""
    )
    out.print(Text(f"posted: {one_line(outcome.url or outcome.external_id or '', 120)}{first}"))


@queue_app.command("approve")
def queue_approve(
    ctx: typer.Context,
    item_id: ItemId,
    text: TextOption = None,
    template: TemplateOption = None,
    actor: ActorOption = None,
) -> None:
    """Approve a reply before someone sends it: the same --text (or template) as the
    `queue reply` that will post it. The approval is in the item's history."""
    from harken.queue.actions import approve_reply
    from harken.queue.replies import plan_reply

    config = root_state(ctx).config()
    store = open_store(config)
    plan = plan_reply(store, config, item_id, text, template)
    _print_plan(plan)
    _refuse_problems(plan, "approved", "see the plan with `harken queue reply`")
    _said(approve_reply(store, plan, _actor(actor)))


def _print_plan(plan: ReplyPlan) -> None:
    used = f" (template {plan.template!r})" if plan.template else ""
    out.print(
        Text(
            f"reply to #{plan.item_id} on {plan.platform}{used}, in reply to "
            f"{one_line(plan.in_reply_to, 120)}"
        )
    )
    out.print(Text(f"  “{one_line(plan.text, 300)}”"))
    for problem in plan.problems:
        out.print(Text(f"  cannot send: {problem}", style="bold red"))


def _refuse_problems(plan: ReplyPlan, what: str, hint: str) -> None:
    if plan.problems:
        count = len(plan.problems)
        raise HarkenError(
            f"nothing was {what}: {count} problem{'s' if count > 1 else ''} above",
            hint=f"fix them, or {hint}",
        )


def register(app: typer.Typer) -> None:
    """Adds the queue group to ``app``."""
    app.add_typer(queue_app, name="queue")
