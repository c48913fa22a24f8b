"""``harken route --explain`` and ``harken rules test``: why a mention went where it went, and
what a changed rule set would move. The work is in harken.routing.explain.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.table import Table
from rich.text import Text

from harken.cli.common import (
    MAX_ID,
    Format,
    HarkenGroup,
    StageProgress,
    open_store,
    out,
    parse_since,
    posts_count,
    print_json,
    progress_bars,
    root_state,
)
from harken.text import one_line

if TYPE_CHECKING:
    from harken.config import Config

rules_app = typer.Typer(cls=HarkenGroup, no_args_is_help=True, help="Routing rules.")


# -- route --explain, rules test ------------------------------------------------------------


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
        print_json(asdict(found))
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
    if m.get("author_role"):
        out.print(Text(one_line(m["author_role"], 150)))
    out.print(
        Text(
            f"scores: {s['sentiment']} ({_pairs(s['sentiment_scores'])}) · complaint "
            f"{s['complaint']:.2f} · abuse {s['abuse']:.2f} · risk {s['risk']:.2f} "
            f"({'; '.join(s['risk_factors']) or 'no strong factor'}) · {s['model']}"
        )
    )
    shown = [f"{t['topic']} {t['score']:.2f}{' ✓' if t['assigned'] else ''}" for t in found.topics]
    out.print(
        Text(
            f"topics (threshold {found.topic_threshold:.2f}, within {found.topic_margin:.2f} of "
            f"the best): {', '.join(shown) or 'none'}"
        )
    )
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
        where = f"{d['department']} ({d['priority']})" if d["department"] else "nowhere"
        out.print(Text(f"  {where}: {one_line(d['reason'], 150)}"))
    stored = sorted(d["department"] or "nowhere" for d in found.stored)
    if stored and stored != sorted(d["department"] or "nowhere" for d in found.decided):
        out.print(Text(f"  (when it was routed it went to: {', '.join(stored)})", style="yellow"))
    if found.incident:
        i = found.incident
        out.print(
            Text(
                f"incident #{i['id']} ({posts_count(i['size'])}): "
                f"{one_line(i['reason'] or '', 150)} · "
                f"{i['first_seen'][:16]} → {i['last_seen'][:16]}"
            )
        )
    for item in found.items:
        own = "" if item["mention_id"] == m["id"] else f" (opened by mention {item['mention_id']})"
        out.print(
            Text(
                f"  queue item #{item['id']} {item['department']} {item['status']} "
                f"{item['priority']}, {posts_count(item['mentions'])}{own}"
            )
        )


def _pairs(scores: dict[str, float]) -> str:
    return ", ".join(f"{k} {v:.2f}" for k, v in scores.items())


class GoldSplit(StrEnum):
    tune = "tune"
    holdout = "holdout"
    all = "all"


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
        int,
        typer.Option(
            "--limit", "-n", min=0, max=MAX_ID, help="Moves (with --gold: misrouted posts) to list."
        ),
    ] = 30,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    gold: Annotated[
        Path | None,
        typer.Option(
            "--gold",
            help="A labelled gold set (JSONL): score routing against its labels, in a "
            "throwaway store.",
        ),
    ] = None,
    split: Annotated[
        GoldSplit, typer.Option("--split", help="With --gold: which part of the set.")
    ] = GoldSplit.all,
) -> None:
    """Replay stored mentions through this config's rules and topics; show what would move
    where. Nothing is changed. With --gold: per-department precision and recall on a
    labelled gold set instead."""
    from harken.routing.explain import classifier_topic_scorer, replay_rules

    config = root_state(ctx).config()
    if gold is not None:
        _gold_test(config, gold, split.value, format, limit)
        return
    if split is not GoldSplit.all:
        raise typer.BadParameter("--split is for --gold FILE", param_hint="--split")
    start = parse_since(since)
    end = parse_since(until) if until else datetime.now(UTC)
    scorer = None
    if not stored_topics and config.topics:
        from harken.pipeline.classify import build_classifier

        scorer = classifier_topic_scorer(build_classifier(config))
    replay = replay_rules(open_store(config), config, start, end, scorer)
    if format is Format.json:
        print_json(
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
                f"mention {move.mention_id} ({move.platform}): "
                f"{', '.join(move.before) or 'nowhere'} → {', '.join(move.after) or 'nowhere'}"
                f" · “{one_line(move.text, 70)}”"
            )
        )
        for department, reason in move.reasons.items():
            out.print(Text(f"    {department}: {one_line(reason, 120)}", style="dim"))
    if len(replay.moves) > limit:
        out.print(f"... and {len(replay.moves) - limit} more (--limit, or --format json)")


def _gold_test(config: Config, path: Path, split: str, format: Format, limit: int) -> None:
    from dataclasses import asdict

    from harken.pipeline.gold import evaluate_gold

    with progress_bars() as progress:
        found = evaluate_gold(config, path, split, on_progress=StageProgress(progress, {}))
    if format is Format.json:
        print_json(asdict(found))
        return
    out.print(
        Text(
            f"gold set {path.name} ({split}): {found.posts} posts, {found.stored} stored "
            f"(the rest off brand or by the brand's own handles), {found.exact} routed exactly "
            f"as labelled, {found.queued_unwanted} queued although labelled for no department"
        )
    )
    table = Table("department", "labelled", "routed", "correct", "precision", "recall", "F1")
    for row in found.departments:
        table.add_row(
            Text(row.department),
            str(row.labelled),
            str(row.predicted),
            str(row.true_positives),
            *(f"{v:.2f}" for v in (row.precision, row.recall, row.f1)),
        )
    for name, values in (("micro", found.micro), ("macro", found.macro)):
        table.add_row(
            name, "", "", "", *(f"{values[k]:.2f}" for k in ("precision", "recall", "f1"))
        )
    out.print(table)
    storms = Table("storm", "posts", "stored", "queue items", "by department", "incidents")
    for storm in found.storms:
        by = ", ".join(f"{d} {n}" for d, n in storm.items_by_department.items())
        storms.add_row(
            Text(storm.storm),
            str(storm.posts),
            str(storm.stored),
            str(storm.items),
            Text(by or "-"),
            str(storm.incidents),
        )
    if found.storms:
        out.print(storms)
    for name, counted in found.errors.items():
        out.print(Text(f"{name.replace('_', ' ')}: {counted['count']} of {counted['of']}"))
    kinds = ", ".join(f"{k} {v['exact']}/{v['posts']}" for k, v in found.kinds.items())
    out.print(Text(f"routed exactly as labelled, by kind: {kinds}", style="dim"))
    for post in found.wrong[:limit]:
        labelled, routed = ", ".join(post["labelled"]) or "-", ", ".join(post["routed"]) or "-"
        out.print(
            Text(
                f"{one_line(post['id'], 40)} ({one_line(post['kind'], 30)}): labelled "
                f"{labelled}, routed {routed} · “{one_line(post['text'], 70)}”"
            )
        )
    if len(found.wrong) > limit:
        out.print(
            f"... and {len(found.wrong) - limit} more routed otherwise (--limit, or --format json)"
        )


def register(app: typer.Typer) -> None:
    """Adds the route command and the rules group to ``app``."""
    app.command()(route)
    app.add_typer(rules_app, name="rules")
