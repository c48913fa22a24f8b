"""``harken classify``, ``eval``, ``label`` and ``retrain``: score texts, measure the
classifier on labelled data, correct it on one mention, and fold the corrections into its
heads. The work is in harken.classify and harken.pipeline.feedback.
"""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

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

# -- classify / eval ------------------------------------------------------------------------


def classify(
    ctx: typer.Context,
    texts: Annotated[list[str] | None, typer.Argument(help="Texts to classify.")] = None,
    input_file: Annotated[
        Path | None, typer.Option("--input", "-i", help="File with one text per line ('-': stdin).")
    ] = None,
    format: Annotated[Format, typer.Option("--format", "-f")] = Format.table,
) -> None:
    """Score texts: sentiment, complaint, abuse, escalation risk, topics, language."""
    from harken.pipeline.classify import build_classifier

    items = list(texts or [])
    if input_file is not None:
        items += _read_lines(input_file)
    if not items:
        raise HarkenError("nothing to classify", hint="give TEXT arguments or --input FILE")
    config = root_state(ctx).config()
    results = build_classifier(config).classify(items)
    if format is Format.json:
        for result in results:  # one JSON object per line
            data = result.to_json()
            data.pop("topic_scores")
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
    """Correct the classifier on one mention; `harken retrain` learns from corrections."""
    from harken.pipeline.feedback import label_mention

    config = root_state(ctx).config()
    stored = label_mention(
        open_store(config),
        mention_id,
        sentiment=sentiment.value if sentiment else None,
        complaint=None if complaint is None else complaint is YesNo.yes,
        abuse=None if abuse is None else abuse is YesNo.yes,
    )
    parts = [f"sentiment {stored.sentiment}"] if stored.sentiment else []
    for name in ("complaint", "abuse"):
        value = getattr(stored, name)
        if value is not None:
            parts.append(f"{name} {'yes' if value else 'no'}")
    out.print(f"mention {mention_id} labelled: {', '.join(parts)}")


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
) -> None:
    """Fold the corrections (`harken label`) into the classifier's heads."""
    from harken.pipeline.feedback import retrain as run_retrain

    config = root_state(ctx).config()
    base = config.path.parent if config.path else Path.cwd()
    target = out_dir or (
        Path(config.classifier.heads)
        if config.classifier.heads
        else base / "models" / f"{config.classifier.model}-tuned"
    )
    report = run_retrain(open_store(config), config, target, strength)
    table = Table("head", "corrections", "fit before", "fit after", "held-out before", "after")
    for name, r in report.heads.items():
        held = (
            (f"{r.held_out_before:.2f}", f"{r.held_out_after:.2f}")
            if r.held_out_before is not None and r.held_out_after is not None
            else ("-", "-")
        )
        table.add_row(name, str(r.corrections), f"{r.fit_before:.2f}", f"{r.fit_after:.2f}", *held)
    out.print(table)
    out.print(f"Tuned heads for {report.model} written to {target}")
    if not config.classifier.heads or Path(config.classifier.heads) != target:
        out.print(f"Use them: set classifier.heads: {target} in the config.")


def register(app: typer.Typer) -> None:
    """Adds classify, eval, label and retrain to ``app``, in that order."""
    app.command()(classify)
    app.command("eval")(eval_)
    app.command()(label)
    app.command()(retrain)
