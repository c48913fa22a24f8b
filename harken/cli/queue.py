"""Commands for the work itself: department queues (list, show, claim, reply, resolve,
dismiss), routing explanations and replays, and volume spikes. Parsing and formatting only:
the work is in harken.queue.views, harken.routing.explain and harken.spikes.detection.

Post text and author handles come from strangers: they are printed as rich ``Text`` (never
parsed as markup) after ``flat`` strips control and escape sequences.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from harken.cli.app import app, queue_app
from harken.cli.common import (
    MAX_ID,
    Format,
    HarkenGroup,
    one_line,
    open_store,
    out,
    parse_since,
    root_state,
)
from harken.config import Config
from harken.errors import HarkenError
from harken.text import to_json

rules_app = typer.Typer(cls=HarkenGroup, no_args_is_help=True, help="Routing rules.")
app.add_typer(rules_app, name="rules")

ActorOption = Annotated[
    str | None, typer.Option("--as", help="Who is acting (else $HARKEN_USER, else your login).")
]


def _json(data: Any) -> None:
    sys.stdout.write(to_json(data, indent=2) + "\n")


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
        _json(items)
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
        _json(data)
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
                f"incident #{incident['id']}: {_posts(incident['size'])}, "
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


def _posts(n: int) -> str:
    return f"{n} post" if n == 1 else f"{n} posts"


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
            f"author: {one_line(accounts, 200)} · {_posts(history['mentions'])} stored",
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


# -- route --explain, rules test ------------------------------------------------------------


@app.command()
def route(
    ctx: typer.Context,
    explain: Annotated[
        int, typer.Option("--explain", min=1, max=MAX_ID, help="Mention id to explain.")
    ],
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Why a mention went where it went: topics, every rule and condition, its incident."""
    from dataclasses import asdict

    from harken.routing.explain import explain_mention

    config = root_state(ctx).config()
    found = explain_mention(open_store(config), config, explain)
    if format is Format.json:
        _json(asdict(found))
        return
    m, s = found.mention, found.scores
    followers = f", {m['followers']:,} followers" if m["followers"] is not None else ""
    out.print(
        Text(
            f"mention {m['id']} · {m['platform']} · {m['brand'] or 'no brand'} · "
            f"{one_line(m['author'], 40)}{followers} · {m['language']} · {m['created_at'][:16]}",
            style="bold",
        )
    )
    out.print(Text(f"  “{one_line(m['text'], 200)}”"))
    out.print(
        Text(
            f"scores: {s['sentiment']} ({_pairs(s['sentiment_scores'])}) · complaint "
            f"{s['complaint']:.2f} · abuse {s['abuse']:.2f} · risk {s['risk']:.2f} "
            f"({'; '.join(s['risk_factors']) or 'no strong factor'}) · {s['model']}"
        )
    )
    shown = [f"{t['topic']} {t['score']:.2f}{' ✓' if t['assigned'] else ''}" for t in found.topics]
    out.print(Text(f"topics (threshold {found.topic_threshold:.2f}): {', '.join(shown) or 'none'}"))
    out.print(Text("rules, in order:", style="bold"))
    for rule in found.rules:
        mark = "✓" if rule["matched"] else "✗"
        to = ", ".join(rule["to"])
        stop = " · stop" if rule["stop"] else ""
        out.print(Text(f"  {mark} {rule['rule']} → {to} ({rule['priority']}{stop})"))
        for condition in rule["conditions"] or [{"holds": True, "text": "no conditions"}]:
            out.print(
                Text(
                    f"      {'✓' if condition['holds'] else '✗'} "
                    f"{one_line(condition['text'], 200)}",
                    style="dim",
                )
            )
    out.print(Text("decision with this config:", style="bold"))
    for d in found.decided:
        out.print(Text(f"  {d['department']} ({d['priority']}): {one_line(d['reason'], 150)}"))
    stored = sorted(d["department"] for d in found.stored)
    if stored and stored != sorted(d["department"] for d in found.decided):
        out.print(Text(f"  (when it was routed it went to: {', '.join(stored)})", style="yellow"))
    if found.incident:
        i = found.incident
        out.print(
            Text(
                f"incident #{i['id']} ({_posts(i['size'])}): {one_line(i['reason'] or '', 150)} · "
                f"{i['first_seen'][:16]} → {i['last_seen'][:16]}"
            )
        )
    for item in found.items:
        own = "" if item["mention_id"] == m["id"] else f" (opened by mention {item['mention_id']})"
        out.print(
            Text(
                f"  queue item #{item['id']} {item['department']} {item['status']} "
                f"{item['priority']}, {_posts(item['mentions'])}{own}"
            )
        )


def _pairs(scores: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in scores.items())


@rules_app.command("test")
def rules_test(
    ctx: typer.Context,
    since: Annotated[str, typer.Option(help="Duration back from now (7d) or ISO date.")] = "7d",
    until: Annotated[str | None, typer.Option(help="ISO date or duration back from now.")] = None,
    stored_topics: Annotated[
        bool,
        typer.Option(
            "--stored-topics", help="Keep stored topics (faster; ignores changed topic examples)."
        ),
    ] = False,
    limit: Annotated[
        int, typer.Option("--limit", "-n", min=0, max=MAX_ID, help="Moves to list.")
    ] = 30,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Replay stored mentions through this config's rules and topics; show what would move
    where. Nothing is changed."""
    from harken.routing.explain import classifier_topic_scorer, replay_rules

    config = root_state(ctx).config()
    start = parse_since(since)
    end = parse_since(until) if until else datetime.now(UTC)
    scorer = None
    if not stored_topics and config.topics:
        from harken.pipeline.process import build_classifier

        scorer = classifier_topic_scorer(build_classifier(config))
    replay = replay_rules(open_store(config), config, start, end, scorer)
    if format is Format.json:
        _json(
            {
                "replayed": replay.replayed,
                "not_comparable": replay.unknown,
                "unchanged": replay.unchanged,
                "moved": len(replay.moves),
                "topics_recomputed": replay.topics_recomputed,
                "departments": {
                    d: {"before": replay.before[d], "after": replay.after[d]}
                    for d in sorted(set(replay.before) | set(replay.after))
                },
                "moves": [vars(m) for m in replay.moves],
            }
        )
        return
    topics = "topics recomputed from stored vectors" if scorer else "stored topics"
    out.print(
        f"replayed {replay.replayed} mentions ({topics}): {len(replay.moves)} would move, "
        f"{replay.unchanged} unchanged"
        + (
            f" ({replay.unknown} more were routed before harken kept its decisions: not compared)"
            if replay.unknown
            else ""
        )
    )
    table = Table("department", "now", "with this config", "change")
    for d in sorted(set(replay.before) | set(replay.after)):
        change = replay.after[d] - replay.before[d]
        table.add_row(d, str(replay.before[d]), str(replay.after[d]), f"{change:+d}")
    out.print(table)
    for move in replay.moves[:limit]:
        out.print(
            Text(
                f"mention {move.mention_id} ({move.platform}): {', '.join(move.before) or '-'}"
                f" → {', '.join(move.after)} · “{one_line(move.text, 70)}”"
            )
        )
        for department, reason in move.reasons.items():
            out.print(Text(f"    {department}: {one_line(reason, 120)}", style="dim"))
    if len(replay.moves) > limit:
        out.print(f"... and {len(replay.moves) - limit} more (--limit, or --format json)")


# -- spikes ---------------------------------------------------------------------------------


@app.command()
def spikes(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option(help="Stored spikes of hours since (duration or ISO date).")
    ] = "7d",
    backtest: Annotated[
        str | None,
        typer.Option(
            "--backtest", help="Replay detection over this much stored history (30d); no writes."
        ),
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="End of the --backtest replay (ISO date; default now).")
    ] = None,
    check: Annotated[
        bool, typer.Option("--check", help="Run the hourly check now (stores and alerts).")
    ] = False,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Volume spikes per brand, topic and negative posts against the hour-of-week baseline."""
    from dataclasses import asdict

    from harken.config import parse_duration
    from harken.spikes import detection as spike_store
    from harken.spikes.job import brand_keywords, check_spikes, spike_settings

    config = root_state(ctx).config()
    store = open_store(config)
    now = datetime.now(UTC)
    if backtest is not None and check:
        raise typer.BadParameter("use either --backtest or --check")
    if backtest is not None:
        try:
            window = parse_duration(backtest)
        except ValueError as error:
            raise typer.BadParameter(f"--backtest: {error}") from None
        end = parse_since(until) if until else now
        findings = spike_store.backtest(
            store, spike_settings(config), end - window, end, keywords=brand_keywords(config)
        )
        title = f"backtest over the last {backtest}: {len(findings)} spike hour(s), nothing stored"
    else:
        if check:
            check_spikes(store, config, now)
        findings = [
            spike_store.SpikeFinding.of(s)
            for s in spike_store.recent_spikes(store, parse_since(since))
        ]
        start = parse_since(since)
        title = f"{len(findings)} spike(s) stored for hours since {start:%Y-%m-%d %H:%M} UTC"
    if format is Format.json:
        _json([{**asdict(f), "hour_start": f.hour_start.isoformat()} for f in findings])
        return
    out.print(title)
    for f in findings:  # two lines each: readable at any terminal width
        incidents = " ".join(f"#{i}" for i in f.top_incidents[:5]) or "none"
        out.print(
            Text.assemble(
                (f"{f.hour_start:%Y-%m-%d %H:00} UTC", "bold"),
                f" · {one_line(f.brand or '-', 30)} · {one_line(f.series, 40)} · {f.count} posts,"
                f" usual {f.baseline:.1f} ({f.ratio:.1f}x, p {f.p_value:.0e})"
                f" · incidents {incidents}",
            )
        )
        out.print(Text(f"    terms: {one_line(', '.join(f.terms[:8]) or '-', 110)}", style="dim"))
