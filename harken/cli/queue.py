"""``harken queue ...``: department queues (list, show, claim, resolve, dismiss, reply).
Parsing and formatting only: the work is in harken.queue.

Post text and author handles come from strangers: they are printed as rich ``Text`` (never
parsed as markup) after ``one_line`` strips control and escape sequences.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.text import Text

from harken.cli.app import queue_app
from harken.cli.common import (
    MAX_ID,
    Format,
    one_line,
    open_store,
    out,
    posts_count,
    print_json,
    root_state,
)
from harken.config import Config
from harken.errors import HarkenError

ActorOption = Annotated[
    str | None, typer.Option("--as", help="Who is acting (else $HARKEN_USER, else your login).")
]


def _known_department(config: Config, department: str | None) -> None:
    if department and department not in {d.name for d in config.departments}:
        known = ", ".join(d.name for d in config.departments)
        raise HarkenError(f"unknown department {department!r}", hint=f"known: {known}")


# -- queue ----------------------------------------------------------------------------------


@queue_app.command("list")
def queue_list(
    ctx: typer.Context,
    department: Annotated[str | None, typer.Option("--department", "-d")] = None,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", "-s", help="Repeatable; default: new, claimed, responded."),
    ] = None,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, max=MAX_ID)] = 50,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Queue items: escalated first, then most urgent, then soonest due."""
    from harken.queue.views import STATUSES, list_items
    from harken.store.repo import OPEN_STATUSES

    config = root_state(ctx).config()
    _known_department(config, department)
    unknown = [s for s in status or [] if s not in STATUSES]
    if unknown:
        raise typer.BadParameter(f"unknown status {unknown[0]!r} (one of {', '.join(STATUSES)})")
    items = list_items(open_store(config), department, status or list(OPEN_STATUSES), limit)
    if format is Format.json:
        print_json(items)
        return
    out.print(f"{len(items)} item(s): escalated first, then most urgent and soonest due")
    for item in items:
        _print_item(item)


def _print_item(item: dict[str, Any]) -> None:
    """Per item: what and when, the post, why it is here, what drives its risk. Any width."""
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
    out.print(Text(f"       “{one_line(mention['text'], 110)}”"))
    out.print(
        Text(f"       why: {one_line(item['reason'], 110)} · mention {mention['id']}", style="dim")
    )
    if item.get("risk_factors"):
        factors = "; ".join(item["risk_factors"])
        out.print(
            Text(f"       risk {item['risk'] or 0:.2f}: {one_line(factors, 110)}", style="dim")
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
    _print_item(data)
    mention = data["mention"]
    out.print(Text(f"       post: {one_line(mention['url'] or mention['external_id'], 110)}"))
    out.print(Text(f"       {_timings(data)}"))
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
        out.print(
            Text(
                f"  {event['at'][:16]} {one_line(event['actor'], 30)} {event['action']}{move}{note}"
            )
        )
    for reply in data["replies"]:
        where = reply["url"] or reply["error"] or ""
        out.print(
            Text(
                f"  reply #{reply['id']} {reply['status']} by {one_line(reply['actor'], 30)}: "
                f"“{one_line(reply['text'], 80)}” {one_line(where, 80)}"
            )
        )
    _print_author_history(data["author_history"])


def _timings(data: dict[str, Any]) -> str:
    parts = [f"created {data['created_at'][:16]} UTC"]
    if data["first_response_seconds"] is not None:
        parts.append(f"first response after {data['first_response_seconds'] / 60:.0f} min")
    else:
        parts.append("no response yet")
    if data["closed_at"]:
        parts.append(f"{data['status']} {data['closed_at'][:16]} by {data['closed_by']}")
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


@queue_app.command("claim")
def queue_claim(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Queue item id.")],
    actor: ActorOption = None,
    force: Annotated[bool, typer.Option("--force", help="Take over from someone else.")] = False,
) -> None:
    """Take an item: new → claimed, with your name on it."""
    from harken.queue.views import actor_name, claim

    change = claim(open_store(root_state(ctx).config()), item_id, actor_name(actor), force)
    out.print(Text(change.message))


@queue_app.command("resolve")
def queue_resolve(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Queue item id.")],
    note: Annotated[str | None, typer.Option("--note", help="What was done.")] = None,
    actor: ActorOption = None,
) -> None:
    """Close an item as handled."""
    from harken.queue.views import actor_name, resolve

    change = resolve(open_store(root_state(ctx).config()), item_id, actor_name(actor), note)
    out.print(Text(change.message))


@queue_app.command("dismiss")
def queue_dismiss(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Queue item id.")],
    note: Annotated[
        str | None, typer.Option("--note", "--reason", help="Why it needs nothing.")
    ] = None,
    actor: ActorOption = None,
) -> None:
    """Close an item that needs nothing (spam, not about us, already handled elsewhere)."""
    from harken.queue.views import actor_name, dismiss

    change = dismiss(open_store(root_state(ctx).config()), item_id, actor_name(actor), note)
    out.print(Text(change.message))


@queue_app.command("reply")
def queue_reply(
    ctx: typer.Context,
    item_id: Annotated[int, typer.Argument(min=1, max=MAX_ID, help="Queue item id.")],
    text: Annotated[str | None, typer.Option("--text", "-t", help="The reply.")] = None,
    template: Annotated[
        str | None,
        typer.Option("--template", help="A replies.templates name (default: by the topic)."),
    ] = None,
    send: Annotated[bool, typer.Option("--send", help="Post it (default: dry run).")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Post even if a reply may already be out.")
    ] = False,
    actor: ActorOption = None,
) -> None:
    """Answer the mention on its own platform. A dry run unless --send."""
    from harken.queue.views import actor_name, plan_reply, send_planned_reply

    config = root_state(ctx).config()
    store = open_store(config)
    plan = plan_reply(store, config, item_id, text, template)
    used = f" (template {plan.template!r})" if plan.template else ""
    out.print(
        Text(
            f"reply to #{item_id} on {plan.platform}{used}, in reply to "
            f"{one_line(plan.in_reply_to, 120)}"
        )
    )
    out.print(Text(f"  “{one_line(plan.text, 300)}”"))
    for problem in plan.problems:
        out.print(Text(f"  cannot send: {problem}", style="bold red"))
    if not send:
        # A dry run reports; only --send fails on what stands in the way.
        fix = " once the above is fixed" if plan.problems else ""
        out.print(f"dry run: nothing was posted. Add --send to post it{fix}.")
        return
    if plan.problems:
        count = len(plan.problems)
        raise HarkenError(
            f"nothing was posted: {count} problem{'s' if count > 1 else ''} above",
            hint="fix them, or see the plan without --send",
        )
    outcome = send_planned_reply(store, config, plan, actor_name(actor), force)
    first = (
        f" · first response {outcome.first_response_seconds / 60:.0f} min after queueing"
        if outcome.first_response_seconds is not None
        else ""
    )
    out.print(Text(f"posted: {one_line(outcome.url or outcome.external_id or '', 120)}{first}"))
