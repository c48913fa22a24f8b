"""Corrections become data, on SQLite and PostgreSQL: dismiss reasons, routing labels written by
transfers and dismissals in the action's own transaction (none by a refused action), and
``harken report routing`` counting them per department and per rule."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from harken.errors import QueueError
from harken.queue.actions import DISMISS_REASONS, dismiss
from harken.queue.actors import Actor, QueuePermissionError, set_permission
from harken.store import Store
from harken.store.tables import QueueEvent, QueueItem, RoutingLabel
from tests.cli import fails, import_tweets, invoke, item_id, ok, project_store

# The legal rule's name is hostile: it must stay text in tables and CSV.
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
  rules:
    - {{name: {legal}, when: {{keywords: [lawyer]}}, to: [legal], priority: urgent}}
    - {{name: refunds, when: {{keywords: [refund]}}, to: [support, pr]}}
# One item per post: storm grouping would join the two refund complaints.
incidents: {{storms: {{enabled: false}}}}
"""

POSTS = {
    "1001": "acme, where is my refund?",  # refunds: support and pr
    "1002": "I am calling my lawyer about acme",  # legal
    "1003": "just bought acme cloud, is there a family plan?",  # support (default route)
    "1004": "acme refund please, it has been weeks",  # refunds: support and pr
    "1005": "my lawyer says acme owes me",  # legal
    "1006": "hello acme, is that a new logo?",  # support (default route)
}


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    return import_tweets(tmp_path, CONFIG.format(db=db_url, legal=json.dumps(LEGAL)), POSTS)


@pytest.fixture
def store(project: Path) -> Iterator[Store]:
    with project_store(project) as opened:
        yield opened


def labels(store: Store) -> list[tuple[Any, ...]]:
    with store.session() as session:
        rows = session.execute(select(RoutingLabel).order_by(RoutingLabel.id)).scalars()  # type: ignore[arg-type]
        return [
            (
                r.queue_item_id,
                r.department,
                r.rule,
                r.verdict,
                r.from_department,
                r.to_department,
                r.actor,
                r.via,
            )
            for r in rows
        ]


def events(store: Store) -> int:
    with store.session() as session:
        return int(session.execute(select(func.count(col(QueueEvent.id)))).scalar_one())


def shown(item: int) -> dict[str, Any]:
    return dict(json.loads(ok("queue", "show", str(item), "-f", "json")))


# -- dismiss reasons --------------------------------------------------------------------------


def test_a_dismissal_keeps_its_reason(project: Path, store: Store) -> None:
    ours, noted, bare = item_id("1001", "pr"), item_id("1005", "legal"), item_id("1003", "support")
    assert ok("queue", "dismiss", str(ours), "--reason", "Not-ours", "--as", "aiko") == (
        f"#{ours} dismissed by aiko as not ours\n"
    )
    out = ok(
        "queue",
        "dismiss",
        str(noted),
        "--reason",
        "spam or bot",
        "--note",
        "a bot farm",
        "--as",
        "ben",
    )
    assert out == f"#{noted} dismissed by ben as spam or bot: a bot farm\n"
    # No reason: output and history as before reasons existed; recorded as not actionable.
    assert ok("queue", "dismiss", str(bare), "--as", "ben") == f"#{bare} dismissed by ben\n"

    assert (shown(ours)["note"], shown(ours)["events"][-1]["note"]) == ("not ours", "not ours")
    assert shown(noted)["events"][-1]["note"] == "spam or bot: a bot farm"
    assert (shown(bare)["note"], shown(bare)["events"][-1]["note"]) == (None, None)
    assert [(r[0], r[1], r[2], r[3], r[6], r[7]) for r in labels(store)] == [
        (ours, "pr", "refunds", "not ours", "aiko", "cli"),
        (noted, "legal", LEGAL, "spam or bot", "ben", "cli"),
        (bare, "support", None, "not actionable", "ben", "cli"),
    ]
    history = ok("queue", "show", str(noted))
    assert "dismissed new → dismissed: spam or bot: a bot farm" in history


def test_free_text_after_reason_is_still_the_note(project: Path, store: Store) -> None:
    """Before reasons existed --reason was another name for --note: such text stays a note."""
    item = item_id("1003", "support")
    result = invoke("queue", "dismiss", str(item), "--reason", "not a complaint", "--as", "aiko")
    assert result.exit_code == 0
    assert result.stdout == f"#{item} dismissed by aiko: not a complaint\n"
    assert "Note: --reason is not one of the dismiss reasons" in result.stderr
    assert shown(item)["note"] == "not a complaint"
    assert [r[3] for r in labels(store)] == ["not actionable"]


def test_an_unknown_reason_is_refused_and_nothing_is_written(project: Path, store: Store) -> None:
    item = item_id("1003", "support")
    before, state = events(store), shown(item)
    assert fails("queue", "dismiss", str(item), "--reason", "nope", "--note", "x") == (
        "Error: unknown dismiss reason 'nope' (one of: not ours, not actionable, spam or bot, "
        "own or partner account, already handled)\n"
    )
    with pytest.raises(QueueError, match="unknown dismiss reason 'spam'") as raised:
        dismiss(store, item, Actor("aiko", via="slack"), reason="spam")
    assert raised.value.hint == "one of: " + ", ".join(DISMISS_REASONS)
    assert (events(store), shown(item), labels(store)) == (before, state, [])


# -- labels and transactions ------------------------------------------------------------------


def test_a_transfer_is_a_label_of_what_harken_decided(project: Path, store: Store) -> None:
    item = item_id("1002", "legal")
    ok("queue", "transfer", str(item), "--to", "pr", "--as", "aiko")
    ok("queue", "transfer", str(item), "--to", "support", "--as", "ben")
    dismiss(store, item, Actor("carol", via="slack"), reason="not ours")
    assert labels(store) == [
        (item, "legal", LEGAL, "moved", "legal", "pr", "aiko", "cli"),
        # Still harken's choice (legal), wherever the person found it.
        (item, "legal", LEGAL, "moved", "pr", "support", "ben", "cli"),
        (item, "legal", LEGAL, "not ours", "support", None, "carol", "slack"),
    ]
    with store.session() as session:
        mention = session.get(QueueItem, item).mention_id  # type: ignore[union-attr]
        assert {r.mention_id for r in session.execute(select(RoutingLabel)).scalars()} == {mention}


def test_a_refused_action_writes_no_label(
    project: Path, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    support, pr = item_id("1001", "support"), item_id("1001", "pr")
    before = events(store)
    # Routed there between the check and the write: the database refuses the move at the end
    # of the transaction, and the label already added goes with the rest.
    with monkeypatch.context() as patched:
        patched.setattr("harken.queue.actions.queue_item_for", lambda *args: None)
        refused = fails("queue", "transfer", str(support), "--to", "pr")
    assert "was just queued in pr too" in refused
    assert fails("queue", "transfer", str(support), "--to", "support").startswith(
        f"Error: item #{support} is already in support"
    )
    ok("queue", "resolve", str(pr))
    assert "already resolved" in fails("queue", "dismiss", str(pr), "--reason", "not ours")
    previous = set_permission(lambda actor, action, item: _refuse(actor, action, item))
    try:
        assert "may not dismiss" in fails("queue", "dismiss", str(support), "--reason", "not ours")
        assert "may not transfer" in fails("queue", "transfer", str(support), "--to", "legal")
    finally:
        set_permission(previous)
    assert events(store) == before + 1  # the resolve
    assert labels(store) == []
    assert shown(support)["department"] == "support"


def _refuse(actor: Actor, action: str, item: QueueItem) -> None:
    raise QueuePermissionError(f"{actor.name} may not {action} #{item.id}")


# -- the report ---------------------------------------------------------------------------------


def corrected(project: Path) -> None:
    """The small routed data set of the report tests (what each action counts as: beside it)."""
    ok("queue", "claim", str(item_id("1001", "support")))  # refunds/support: confirmed
    ok("queue", "dismiss", str(item_id("1001", "pr")), "--reason", "not ours")  # refunds/pr
    moved = item_id("1002", "legal")
    ok("queue", "transfer", str(moved), "--to", "pr")  # legal rule/legal: transferred away
    ok("queue", "dismiss", str(moved), "--reason", "not ours")  # pr did not get it from harken
    ok("queue", "dismiss", str(item_id("1003", "support")))  # default/support: not actionable
    ok("queue", "resolve", str(item_id("1004", "support")))  # refunds/support: confirmed
    # 1004 in pr stays new: refunds/pr pending
    ok("queue", "dismiss", str(item_id("1005", "legal")), "--reason", "spam or bot")  # other
    back = item_id("1006", "support")
    ok("queue", "transfer", str(back), "--to", "legal")
    ok("queue", "transfer", str(back), "--to", "support")  # moved back, then claimed:
    ok("queue", "claim", str(back))  # default/support: confirmed


COUNTS = ("routed", "confirmed", "transferred_away", "not_ours", "not_actionable")
MORE = ("dismissed_other", "pending", "precision")


def test_the_routing_report_counts_the_corrections(project: Path) -> None:
    corrected(project)
    data = json.loads(ok("report", "routing", "--since", "1d", "-f", "json"))
    assert data["report"] == "routing"
    by_department = {
        r["department"]: tuple(r[k] for k in COUNTS + MORE) for r in data["departments"]
    }
    assert by_department == {
        "support": (4, 3, 0, 0, 1, 0, 0, 1.0),
        "legal": (2, 0, 1, 0, 0, 1, 0, 0.0),
        "pr": (2, 0, 0, 1, 0, 0, 1, 0.0),
        "all": (8, 3, 1, 1, 1, 1, 1, 0.6),
    }
    assert [
        (r["rule"], r["department"], *(r[k] for k in COUNTS + MORE)) for r in data["rules"]
    ] == [
        (LEGAL, "legal", 2, 0, 1, 0, 0, 1, 0, 0.0),
        ("refunds", "pr", 2, 0, 0, 1, 0, 0, 1, 0.0),
        ("refunds", "support", 2, 2, 0, 0, 0, 0, 0, 1.0),
        (None, "support", 2, 1, 0, 0, 1, 0, 0, 1.0),
    ]
    assert data["totals"] == {
        "routed": 8,
        "confirmed": 3,
        "transferred_away": 1,
        "not_ours": 1,
        "precision": 0.6,
    }

    table = ok("report", "routing", "--since", "1d")
    lines = [line.replace("│", " ").split() for line in table.splitlines()]
    assert table.splitlines()[1] == (
        "routed 8 · confirmed 3 · transferred away 1 · not ours 1 · precision 0.60"
    )
    assert any(line == ["support", "4", "3", "0", "0", "1", "100.0%"] for line in lines)
    assert any(line == ["pr", "2", "0", "0", "1", "0", "0.0%"] for line in lines)
    assert any(line == ["all", "8", "3", "1", "1", "1", "60.0%"] for line in lines)
    assert any(line[:2] == ["(default", "route)"] for line in lines)
    # The hostile rule name is text: no markup parsed, no escape sequence let through.
    assert "\x1b" not in table and "=[b]legal[/b]" in table

    rows = list(csv.reader(io.StringIO(ok("report", "routing", "--since", "1d", "-f", "csv"))))
    assert rows[0][:4] == ["section", "department", "routed", "confirmed"]
    rules = [r for r in rows if r[0] == "rules"]
    # A formula is kept as text, the escape sequence dropped.
    assert rules[0][rows[0].index("rule")] == "'=[b]legal[/b] threats"


def test_the_routing_report_window_and_an_empty_store(project: Path) -> None:
    corrected(project)
    empty = json.loads(
        ok("report", "routing", "--until", "2000-01-01", "--since", "1999-01-01", "-f", "json")
    )
    assert [r["routed"] for r in empty["departments"]] == [0, 0, 0, 0]
    assert empty["rules"] == [] and empty["totals"]["precision"] is None
    table = ok("report", "routing", "--since", "1999-01-01", "--until", "2000-01-01")
    assert "Per rule: nothing routed in this window" in table


def test_a_misspelt_reason_is_refused_not_kept_as_the_note(project: Path, store: Store) -> None:
    """Free text still becomes the note, but "spam or bots" meant a reason: recording it as
    "not actionable" would lose what the person said."""
    item = item_id("1003", "support")
    before = events(store)
    assert fails("queue", "dismiss", str(item), "--reason", "spam or bots") == (
        "Error: unknown dismiss reason 'spam or bots': did you mean 'spam or bot'? (one of: not "
        "ours, not actionable, spam or bot, own or partner account, already handled; other words "
        "go in --note)\n"
    )
    assert (events(store), labels(store)) == (before, [])
    # A note that begins with a reason is still the note, as before reasons existed.
    assert ok("queue", "dismiss", str(item), "--reason", "already handled in DMs") == (
        f"#{item} dismissed by {shown(item)['events'][-1]['actor']}: already handled in DMs\n"
    )
