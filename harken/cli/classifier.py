"""``harken classify``, ``eval``, ``label`` and ``retrain``: score texts, measure the
classifier on labelled data, correct it on one mention, and fold the corrections into its
heads. The work is in harken.classify and harken.pipeline.feedback.
"""

from __future__ import annotations

import sys
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text

from harken.cli.common import (
    MAX_ID,
    Format,
    SentimentChoice,
    StageProgress,
    YesNo,
    open_store,
    out,
    print_json,
    progress_bars,
    root_state,
)
from harken.errors import HarkenError
from harken.text import one_line, to_json

if TYPE_CHECKING:
    from harken.config import Config
    from harken.pipeline.feedback import Correction, MentionFeedback, RetrainReport
    from harken.queue.feedback import ComplaintWord
    from harken.store.tables import Label, RoutingLabel

# -- classify / eval ------------------------------------------------------------------------


def classify(
    ctx: typer.Context,
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", "-i", help="File with one text per line ('-': stdin).")
    ] = None,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
    author: Annotated[
        str | None,
        typer.Option(
            "--author",
            help="Handle of the texts' author, as on X (flags impostors; never the brand's own).",
        ),
    ] = None,
    author_name: Annotated[
        str | None, typer.Option("--author-name", help="Display name of the texts' author.")
    ] = None,
) -> None:
    """Score texts: sentiment, complaint, abuse, escalation risk, topics, language."""
    from harken.authors.impostors import FLAG, impostor_of
    from harken.pipeline.classify import build_classifier

    items = list(texts or [])
    blank = next((n for n, text in enumerate(items, 1) if not text.strip()), None)
    if blank is not None:  # a score of nothing would read as a neutral post
        raise HarkenError(
            f"text {blank} is empty", hint="give each TEXT some words (--input skips blank lines)"
        )
    if input_file is not None:
        items += _read_lines(input_file)
    if not items:
        raise HarkenError("nothing to classify", hint="give TEXT arguments or --input FILE")
    config = root_state(ctx).config()
    who = _author(config, author, author_name)
    results = build_classifier(config).classify(items)
    if format is Format.json:
        for result in results:  # one JSON object per line
            data = result.to_json()
            data.pop("topic_scores")
            # Plain texts have no author: flags need --author/--author-name to mean anything.
            found = who is not None and impostor_of(config, who, result.text)
            data["flags"] = [FLAG] if found else []
            sys.stdout.write(to_json(data) + "\n")
        return
    table = Table("sentiment", "complaint", "abuse", "risk", "topics", "lang", "text")
    for r in results:
        table.add_row(
            f"{r.sentiment} {r.sentiment_scores[r.sentiment]:.2f}",
            f"{r.complaint:.2f}",
            f"{r.abuse:.2f}",
            f"{r.risk:.2f}",
            ", ".join(r.topics),
            r.language,
            Text(one_line(r.text, 80)),
        )
    out.print(table)


class Task(StrEnum):
    sentiment = "sentiment"
    complaint = "complaint"


def eval_(
    ctx: typer.Context,
    task: Annotated[Task, typer.Option("--task", help="What the labels are.")],
    data: Annotated[Path, typer.Option("--data", help="TSV file: text<TAB>label per line.")],
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Measure the classifier on your labelled data: macro recall/F1, accuracy, speed."""
    from harken.classify.evaluate import evaluate, read_tsv
    from harken.pipeline.classify import build_classifier

    examples = read_tsv(data, task.value)
    classifier = build_classifier(root_state(ctx).config())
    with progress_bars() as progress:
        tracker = StageProgress(progress, {"eval": len(examples)})
        scores = evaluate(classifier, examples, task.value, tracker)
    if format is Format.json:
        print_json(scores)
        return
    out.print(
        f"{task.value} on {data}: n={scores['n']} · macro recall {scores['macro_recall']:.3f}"
        f" · macro F1 {scores['macro_f1']:.3f} · accuracy {scores['accuracy']:.3f}"
        f" · ECE {scores['calibration']['ece']:.3f} · Brier {scores['calibration']['brier']:.3f}"
        f" · {scores['posts_per_second']:.0f} posts/s"
    )
    table = Table("class", "precision", "recall", "f1", "support")
    for label, row in scores["per_class"].items():
        table.add_row(
            label,
            f"{row['precision']:.3f}",
            f"{row['recall']:.3f}",
            f"{row['f1']:.3f}",
            str(row["support"]),
        )
    out.print(table)


def _read_lines(path: Path) -> list[str]:
    from harken.classify.inputs import read_text_input

    return [line for line in read_text_input(path).splitlines() if line.strip()]


# -- feedback -------------------------------------------------------------------------------


def label(
    ctx: typer.Context,
    mention_id: Annotated[
        int,
        typer.Argument(min=1, max=MAX_ID, help="The mention ('mention N' in `harken queue list`)."),
    ],
    sentiment: Annotated[SentimentChoice | None, typer.Option("--sentiment")] = None,
    complaint: Annotated[
        YesNo | None, typer.Option("--complaint", help="Does it need a response?")
    ] = None,
    abuse: Annotated[YesNo | None, typer.Option("--abuse", help="Is it abusive?")] = None,
) -> None:
    """Correct the classifier on one mention; `harken retrain` learns from corrections.
    With no option: what is recorded for it (its label, its routing feedback)."""
    from harken.pipeline.feedback import label_mention, mention_feedback

    config = root_state(ctx).config()
    store = open_store(config)
    if sentiment is None and complaint is None and abuse is None:
        _show_feedback(mention_feedback(store, mention_id))
        return
    stored = label_mention(
        store,
        mention_id,
        sentiment=sentiment.value if sentiment else None,
        complaint=None if complaint is None else complaint is YesNo.yes,
        abuse=None if abuse is None else abuse is YesNo.yes,
    )
    out.print(f"mention {mention_id} labelled: {_label_parts(stored)}")
    learns = mention_feedback(store, mention_id).learns
    if learns is not None and learns.overrides and learns.feedback is not None:
        word = learns.feedback
        out.print(
            Text(
                f"It overrides routing feedback: {_word(word)}, which says complaint "
                f"{_yes_no(word.complaint)}."
            )
        )


def _show_feedback(feedback: MentionFeedback) -> None:
    """What harken decided about a mention, what people said, and what retraining takes."""
    out.print(
        Text(
            f"mention {feedback.mention_id} ({one_line(feedback.platform, 20)} "
            f"{one_line(feedback.external_id, 40)}): “{one_line(feedback.text, 100)}”"
        )
    )
    scores = feedback.classification
    if scores is not None:
        out.print(
            f"harken classified it: sentiment {scores.sentiment} · complaint "
            f"{scores.complaint:.2f} · abuse {scores.abuse:.2f}"
        )
    if feedback.label is None and not feedback.routing and feedback.learns is None:
        out.print(
            "no corrections recorded: give --sentiment, --complaint or --abuse to label it; "
            "dismissing, claiming or resolving its queue items teaches `harken retrain` too"
        )
        return
    if feedback.label is not None:
        said = _label_parts(feedback.label) or "nothing"
        out.print(f"harken label: {said} ({_when(feedback.label.labelled_at)})")
    if feedback.routing:
        out.print("routing feedback:")
    for row in feedback.routing:
        out.print(Text(f"  {_routing_line(row)}"))
    if feedback.learns is not None:
        for line in _learns(feedback.learns):
            out.print(Text(f"retrain learns: {line}"))


def _label_parts(stored: Label) -> str:
    parts = [f"sentiment {stored.sentiment}"] if stored.sentiment else []
    parts += [
        f"{name} {_yes_no(getattr(stored, name))}"
        for name in ("complaint", "abuse")
        if getattr(stored, name) is not None
    ]
    return ", ".join(parts)


def _routing_line(row: RoutingLabel) -> str:
    """One routing label: when, what harken decided, who said what."""
    from harken.queue.feedback import MOVED

    rule = f"rule {one_line(row.rule, 40)}" if row.rule else "default route"
    said = (
        f"moved to {one_line(row.to_department or '', 30)}"
        if row.verdict == MOVED
        else f"dismissed as {one_line(row.verdict, 30)}"
    )
    there = (
        "" if row.from_department == row.department else f" in {one_line(row.from_department, 30)}"
    )
    via = f" ({one_line(row.via, 16)})" if row.via else ""
    return (
        f"{_when(row.at)} item #{row.queue_item_id}: harken sent it to "
        f"{one_line(row.department, 30)} ({rule}); {one_line(row.actor, 40)}{via}{there}: {said}"
    )


def _learns(learns: Correction) -> list[str]:
    from harken.pipeline.feedback import LABEL

    lines = [f"sentiment {learns.sentiment}, from {LABEL}"] if learns.sentiment else []
    if learns.complaint is not None:
        source = learns.origin
        if learns.origin != LABEL and learns.feedback is not None:
            source += f" ({_word(learns.feedback)})"
        elif learns.overrides and learns.feedback is not None:
            source += f" (over routing feedback: {_word(learns.feedback)})"
        lines.append(f"complaint {_yes_no(learns.complaint)}, from {source}")
    if learns.abuse is not None:
        lines.append(f"abuse {_yes_no(learns.abuse)}, from {LABEL}")
    return lines


def _word(word: ComplaintWord) -> str:
    who = f" by {one_line(word.actor, 40)}" if word.actor else ""
    return (
        f"item #{word.queue_item_id} ({one_line(word.department, 30)}) {word.said}{who} "
        f"on {_when(word.at)}"
    )


def _when(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def _yes_no(value: bool) -> str:
    return "yes" if value else "no"


def retrain(
    ctx: typer.Context,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out",
            help="Where the tuned heads go (default: models/MODEL-tuned "
            "beside the config, or classifier.heads when set).",
        ),
    ] = None,
    strength: Annotated[
        float, typer.Option(help="How firmly the heads keep their current weights.", min=0.1)
    ] = 10.0,
    routing_feedback: Annotated[
        bool,
        typer.Option(
            "--routing-feedback/--no-routing-feedback",
            help="Also learn whether posts are complaints from queue items dismissed as not "
            "actionable or spam (no) and items claimed, answered or resolved (yes).",
        ),
    ] = True,
) -> None:
    """Fold the corrections (`harken label`, and routing feedback) into the classifier's heads."""
    from harken.pipeline.feedback import retrain as run_retrain

    config = root_state(ctx).config()
    base = config.path.parent if config.path else Path.cwd()
    target = out_dir or (
        Path(config.classifier.heads)
        if config.classifier.heads
        else base / "models" / f"{config.classifier.model}-tuned"
    )
    report = run_retrain(open_store(config), config, target, strength, routing_feedback)
    table = Table("head", "corrections", "fit before", "fit after", "held-out before", "after")
    for name, r in report.heads.items():
        held = (
            (f"{r.held_out_before:.2f}", f"{r.held_out_after:.2f}")
            if r.held_out_before is not None and r.held_out_after is not None
            else ("-", "-")
        )
        table.add_row(name, str(r.corrections), f"{r.fit_before:.2f}", f"{r.fit_after:.2f}", *held)
    out.print(table)
    _print_origins(report)
    out.print(f"Tuned heads for {report.model} written to {target}")
    if not config.classifier.heads or Path(config.classifier.heads) != target:
        out.print(f"Use them: set classifier.heads: {target} in the config.")


def _print_origins(report: RetrainReport) -> None:
    """Where the corrections came from, for heads that had routing feedback."""
    from harken.pipeline.feedback import LABEL, ROUTING

    for name, head in report.heads.items():
        routing, overridden = head.origins.get(ROUTING, 0), head.overridden
        if not routing and not overridden:
            continue
        line = f"{name}: {head.origins.get(LABEL, 0)} from {LABEL}, {routing} from {ROUTING}"
        if overridden:
            line += f" ({overridden} {ROUTING} overridden by {LABEL})"
        out.print(line)
    if not report.routing_feedback:
        out.print(f"Only `{LABEL}` corrections used: {ROUTING} left out (--no-routing-feedback).")


def register(app: typer.Typer) -> None:
    """Adds classify, eval, label and retrain to ``app``, in that order."""
    app.command()(classify)
    app.command("eval")(eval_)
    app.command()(label)
    app.command()(retrain)


def _author(config: Config, handle: str | None, name: str | None) -> Any:
    """The texts' author as ``--author``/``--author-name`` give it, as on X; None without
    them, or for one of the brand's accounts on any platform (brands[].handles, accounts:):
    the platform is not known here, and none of the brand's accounts imitates the brand."""
    from harken.authors.roles import NEWS_SOURCES, role_of
    from harken.brands import HANDLE_PLATFORMS
    from harken.records import AuthorRecord

    if not (handle or name):
        return None
    # Not a news source's platform: everyone there is press by default, no account of ours.
    platforms = HANDLE_PLATFORMS | {a.platform for a in config.accounts if a.platform}
    if handle and any(role_of(config, p, handle) for p in sorted(platforms - NEWS_SOURCES)):
        return None
    return AuthorRecord("x", "", handle or "", name)
