"""Routing feedback teaches the classifier, on SQLite and PostgreSQL: a dismissal "not
actionable" or "spam or bot" says the post needed no response (complaint no), an item claimed,
answered or resolved says it did (complaint yes); `harken retrain` learns from both unless told
not to, an explicit `harken label` wins, and `harken label N` shows what is recorded."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harken.config import load_config
from harken.pipeline.feedback import collect_corrections
from harken.queue.actions import claim, dismiss, resolve, transfer
from harken.queue.actors import Actor
from harken.store import Store
from harken.text import one_line
from tests.cli import fails, import_tweets, invoke, item_id, ok, project_store

# The legal rule's name is hostile: `harken label N` must print it as text.
LEGAL = "=[b]legal[/b] \x1b[31mthreats"

CONFIG = """\
database: {{url: "{db}"}}
brands:
  - {{name: Acme, keywords: [acme]}}
departments:
  - {{name: support, sla: 1h}}
  - {{name: legal, sla: 4h}}
  - {{name: pr, sla: 2h}}
routing:
  default: support
  default_takes: all  # the spam and the chatter are queued, to be dismissed
  rules:
    - {{name: {legal}, when: {{keywords: [lawyer]}}, to: [legal], priority: urgent}}
"""

POSTS = {
    "2001": "acme, my order never arrived and nobody answers",  # support
    "2002": "I am calling my lawyer about acme",  # legal
    "2003": "acme acme acme win a free phone click here",  # support
    "2004": "hello acme, nice new logo",  # support
}


@pytest.fixture
def project(tmp_path: Path, db_url: str) -> Path:
    return import_tweets(tmp_path, CONFIG.format(db=db_url, legal=json.dumps(LEGAL)), POSTS)


@pytest.fixture
def store(project: Path) -> Iterator[Store]:
    with project_store(project) as opened:
        yield opened


def mention_of(item: int) -> int:
    return int(json.loads(ok("queue", "show", str(item), "-f", "json"))["mention"]["id"])


def tuned_meta(project: Path) -> dict:
    return dict(json.loads((project / "models" / "minilm-tuned" / "heads.json").read_text()))


def complaint_score(text: str) -> float:
    return float(json.loads(ok("classify", text, "--format", "json"))["complaint"])


def test_retrain_learns_complaint_from_dismissals_and_resolutions(
    project: Path, store: Store
) -> None:
    aiko = Actor("aiko", via="slack")
    nothing, spam = item_id("2004", "support"), item_id("2003", "support")
    handled, theirs = item_id("2001", "support"), item_id("2002", "legal")
    dismiss(store, nothing, aiko, reason="not actionable")
    dismiss(store, spam, aiko, reason="spam or bot")
    claim(store, handled, aiko)
    resolve(store, handled, aiko)
    dismiss(store, theirs, aiko, reason="not ours")  # about routing, not the classifier

    with store.session() as session:
        learned = {c.mention_id: (c.complaint, c.origin) for c in collect_corrections(session)}
    assert learned == {
        mention_of(nothing): (False, "routing feedback"),
        mention_of(spam): (False, "routing feedback"),
        mention_of(handled): (True, "routing feedback"),
    }

    before = complaint_score(POSTS["2001"])
    trained = invoke("retrain", "--strength", "0.1")
    assert trained.exit_code == 0, trained.output
    assert "complaint: 0 from harken label, 3 from routing feedback" in trained.stdout
    tuned = tuned_meta(project)["tuned"]
    assert tuned["corrections"] == {"complaint": 3}
    assert tuned["origins"] == {"complaint": {"harken label": 0, "routing feedback": 3}}
    assert tuned["routing_feedback"] is True

    with (project / "config.yaml").open("a", encoding="utf-8") as config:
        config.write("classifier: {heads: models/minilm-tuned}\n")
    assert complaint_score(POSTS["2001"]) > before  # taken on: it needed a response


def test_the_latest_word_on_a_mention_wins(project: Path, store: Store) -> None:
    item = item_id("2004", "support")
    dismiss(store, item, "aiko", reason="not actionable")
    invoke("queue", "reopen", str(item), "--as", "ben")
    claim(store, item, "ben")  # reopened and taken on after all: it needed a response
    with store.session() as session:
        (only,) = collect_corrections(session)
    assert (only.mention_id, only.complaint) == (mention_of(item), True)


def test_an_explicit_label_wins_over_routing_feedback(project: Path, store: Store) -> None:
    nothing = item_id("2004", "support")
    dismiss(store, nothing, "aiko", reason="not actionable")
    mention = mention_of(nothing)
    labelled = ok("label", str(mention), "--complaint", "yes")
    assert f"mention {mention} labelled: complaint yes" in labelled
    assert (
        f"It overrides routing feedback: item #{nothing} (support) dismissed as not actionable "
        "by aiko" in labelled
    )
    with store.session() as session:
        (only,) = collect_corrections(session)
    assert (only.mention_id, only.complaint, only.origin) == (mention, True, "harken label")

    # A label that says nothing about complaints leaves the routing feedback in use.
    spam = item_id("2003", "support")
    dismiss(store, spam, "aiko", reason="spam or bot")
    ok("label", str(mention_of(spam)), "--sentiment", "neutral")
    trained = ok("retrain", "--strength", "1")
    assert "complaint: 1 from harken label, 1 from routing feedback" in trained
    assert "1 routing feedback overridden by harken label" in trained
    assert tuned_meta(project)["tuned"]["corrections"] == {"sentiment": 1, "complaint": 2}


def test_no_routing_feedback_leaves_it_out(project: Path, store: Store) -> None:
    dismiss(store, item_id("2004", "support"), "aiko", reason="not actionable")
    error = fails("retrain", "--no-routing-feedback")
    assert error.startswith("Error: no corrections yet")
    assert "--no-routing-feedback" in error
    ok("label", str(mention_of(item_id("2003", "support"))), "--sentiment", "neutral")
    trained = ok("retrain", "--no-routing-feedback", "--strength", "1")
    assert "routing feedback" in trained and "left out" in trained
    tuned = tuned_meta(project)["tuned"]
    assert tuned["corrections"] == {"sentiment": 1}
    assert tuned["routing_feedback"] is False
    with store.session() as session:
        assert [c.origin for c in collect_corrections(session, routing_feedback=False)] == [
            "harken label"
        ]


def test_label_without_options_shows_what_is_recorded(
    project: Path, store: Store, db_url: str
) -> None:
    legal = item_id("2002", "legal")
    mention = mention_of(legal)
    bare = ok("label", str(mention))
    assert f"mention {mention} (x 2002)" in bare
    assert "no corrections recorded" in bare

    transfer(store, load_config(project / "config.yaml"), legal, Actor("aiko", via="slack"), "pr")
    dismiss(store, legal, "ben", reason="spam or bot", note="a bot")
    ok("label", str(mention), "--sentiment", "negative")
    shown = ok("label", str(mention))
    lines = shown.splitlines()
    assert lines[0].startswith(f"mention {mention} (x 2002): “I am calling my lawyer")
    assert "harken classified it: sentiment " in shown
    assert any(
        line.startswith("harken label: sentiment negative") and " UTC" in line for line in lines
    )
    flat = " ".join(shown.split())
    assert one_line(LEGAL) in flat  # the rule, as text: no markup, no escape sequence
    assert "moved to pr" in flat and "aiko (slack)" in flat
    assert "spam or bot" in flat and "ben" in flat
    assert "retrain learns: complaint no, from routing feedback" in flat
    assert "\x1b" not in shown

    assert "no mention 999" in fails("label", "999")
