"""Queue actions through the CLI, on SQLite and PostgreSQL: assign, transfer, reopen, note, tag
and reply approval; each by an actor, refused by a permission hook when it says so, one event
per action, nothing written by one that fails, and people's text kept as text on the terminal."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from harken.config import load_config
from harken.errors import QueueError
from harken.queue.actions import send_planned_reply
from harken.queue.actors import Actor, QueuePermissionError, set_permission
from harken.queue.escalation import escalate_overdue
from harken.queue.replies import plan_reply
from harken.store import Store
from harken.store.tables import Alert, QueueEvent, QueueItem, QueueTag, Reply
from tests.cli import fails, import_tweets, invoke, item_id, ok, project_store
from tests.fakes import x as xfake
from tests.fakes.x import FakeX

CONFIG = """\
database: {{url: "{db}"}}
brands:
  - {{name: Acme, keywords: [acme], handles: ["@acmesupport"]}}
sources:
  x:
    enabled: false
    bearer_token: "${{X_BEARER_TOKEN}}"
    api_base_url: "{url}"
    consumer_key: "${{X_CONSUMER_KEY}}"
    consumer_secret: "${{X_CONSUMER_SECRET}}"
    access_token: "${{X_ACCESS_TOKEN}}"
    access_token_secret: "${{X_ACCESS_TOKEN_SECRET}}"
departments:
  - {{name: support, sla: 1h}}
  - {{name: legal, sla: 4h}}
  - {{name: pr, sla: 2h}}
routing:
  default: support
  rules:
    - {{name: legal threats, when: {{keywords: [lawyer]}}, to: [legal], priority: urgent}}
    - {{name: refunds, when: {{keywords: [refund]}}, to: [support, pr]}}
replies:
  templates:
    default: "Hi {{author}}, thanks for reaching out to {{brand}}: we will DM you."
"""

HOSTILE = "\x1b]0;PWNED\x07\x1b[2J[bold red]HK-7[/bold red]\x1b[31m done"


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    fake = FakeX()
    fake.add(*(xfake.tweet(i, "the answered post") for i in (1001, 1002, 1003)))
    with fake.api:
        yield fake


@pytest.fixture
def project(tmp_path: Path, fake_x: FakeX, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    for name, value in xfake.ENV.items():
        monkeypatch.setenv(name, value)
    posts = {
        "1001": "acme, where is my refund?",  # support and pr
        "1002": "I am calling my lawyer about acme",  # legal
        "1003": "just bought acme cloud, is there a family plan?",  # support
    }
    return import_tweets(tmp_path, CONFIG.format(url=fake_x.api.url, db=db_url), posts)


@pytest.fixture
def store(project: Path) -> Iterator[Store]:
    with project_store(project) as opened:
        yield opened


def shown(item: int) -> dict[str, Any]:
    return dict(json.loads(ok("queue", "show", str(item), "-f", "json")))


def last_event(item: int) -> tuple[str, str, str | None, str | None, str | None]:
    event = shown(item)["events"][-1]
    return (event["actor"], event["action"], event["from"], event["to"], event["note"])


def counts(store: Store) -> tuple[int, int, int]:
    """Events, tags and replies in the whole store."""
    with store.session() as session:
        return tuple(  # type: ignore[return-value]
            session.execute(select(func.count(table.id))).scalar_one()
            for table in (QueueEvent, QueueTag, Reply)
        )


class Watch:
    """Each successful action adds exactly one event; a failing one writes nothing at all."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.before = counts(store)

    def one_event(self) -> None:
        events, tags, replies = counts(self.store)
        assert events == self.before[0] + 1
        self.before = (events, tags, replies)

    def nothing(self, item: int, state: dict[str, Any]) -> None:
        assert counts(self.store) == self.before
        assert shown(item) == state


@pytest.fixture
def watch(store: Store) -> Watch:
    return Watch(store)


def test_assign_gives_an_open_item_to_someone(project: Path, watch: Watch) -> None:
    item = item_id("1003", "support")
    assert ok("queue", "assign", str(item), "--to", "ben", "--as", "lead") == (
        f"#{item} assigned to ben by lead\n"
    )
    watch.one_event()
    data = shown(item)
    assert (data["status"], data["assignee"]) == ("claimed", "ben")
    assert data["claimed_at"] is not None
    assert last_event(item) == ("lead", "assigned", "new", "claimed", "ben")

    ok("queue", "assign", str(item), "--to", "carol", "--as", "lead")  # no --force needed
    watch.one_event()
    assert last_event(item) == ("lead", "assigned", "claimed", "claimed", "carol (was ben)")

    state = shown(item)
    assert fails("queue", "assign", str(item), "--to", "carol") == (
        f"Error: item #{item} is already assigned to carol\n"
    )
    assert fails("queue", "assign", str(item), "--to", " ") == "Error: the assignee is empty\n"
    watch.nothing(item, state)

    ok("queue", "resolve", str(item))
    watch.one_event()
    state = shown(item)
    assert fails("queue", "assign", str(item), "--to", "dan") == (
        f"Error: item #{item} is resolved; only open items can be assigned "
        f"(`harken queue reopen {item}` first)\n"
    )
    watch.nothing(item, state)


def alerted(store: Store, item: int) -> list[tuple[str, str]]:
    """The item's alerts in the outbox: (department, sink)."""
    with store.session() as session:
        rows = session.execute(select(Alert.channel, Alert.sink).where(Alert.queue_item_id == item))
        return sorted((str(channel), str(sink)) for channel, sink in rows)


def test_transfer_moves_an_item_to_another_department(
    project: Path, store: Store, watch: Watch
) -> None:
    item = item_id("1003", "support")
    assert ("legal", "console") not in alerted(store, item)
    ok("queue", "claim", str(item), "--as", "aiko")
    watch.one_event()
    moved = ok("queue", "transfer", str(item), "--to", "legal", "--note", "contract question")
    assert moved.startswith(f"#{item} transferred from support to legal by ")
    assert moved.endswith(": contract question\n")
    watch.one_event()
    data = shown(item)
    assert (data["department"], data["status"], data["assignee"]) == ("legal", "new", None)
    created, due = (datetime.fromisoformat(data[k]) for k in ("created_at", "due_at"))
    assert due - created == timedelta(hours=4)  # legal's SLA, from when it was queued
    assert last_event(item)[1:] == (
        "transferred",
        "claimed",
        "new",
        "support → legal: contract question",
    )
    listed = json.loads(ok("queue", "list", "-d", "legal", "-f", "json"))
    assert item in {i["id"] for i in listed}
    assert ("legal", "console") in alerted(store, item)  # the new owner is told, once
    ok("queue", "transfer", str(item), "--to", "support")
    ok("queue", "transfer", str(item), "--to", "legal")
    assert alerted(store, item).count(("legal", "console")) == 1


def test_an_alert_names_the_department_it_was_sent_to_after_the_item_moved_on(
    project: Path, store: Store
) -> None:
    item = item_id("1003", "support")
    ok("queue", "transfer", str(item), "--to", "legal")  # legal is told...
    ok("queue", "transfer", str(item), "--to", "support")  # ...of an item moved on already
    assert ("legal", "console") in alerted(store, item)
    shown_lines = [line for line in ok("process").splitlines() if line.startswith("ALERT legal")]
    assert shown_lines and "(item now in support)" in shown_lines[-1], shown_lines


def test_an_item_late_in_one_department_escalates_afresh_in_the_next(
    project: Path, store: Store
) -> None:
    config = load_config(project / "config.yaml")
    item = item_id("1003", "support")
    created = datetime.fromisoformat(shown(item)["created_at"])
    late = created + timedelta(hours=1, minutes=5)  # support's SLA is 1 h
    escalate_overdue(store, config, now=late)
    assert shown(item)["escalation_level"] == 1
    ok("queue", "transfer", str(item), "--to", "legal")
    assert shown(item)["escalation_level"] == 0  # support's lateness is not legal's
    escalate_overdue(store, config, now=late)
    assert shown(item)["escalation_level"] == 0  # legal's SLA is 4 h
    escalate_overdue(store, config, now=created + timedelta(hours=4, minutes=5))
    assert shown(item)["escalation_level"] == 1
    with store.session() as session:
        kinds = session.execute(
            select(Alert.channel).where(Alert.queue_item_id == item, Alert.kind == "escalation")
        ).scalars()
        assert sorted(kinds) == ["legal", "support"]  # each told once, at its own level 1


def test_transfer_refusals_name_what_is_in_the_way(
    project: Path, watch: Watch, monkeypatch: pytest.MonkeyPatch
) -> None:
    support, pr = item_id("1001", "support"), item_id("1001", "pr")
    mention = shown(support)["mention"]["id"]
    state = shown(support)
    assert fails("queue", "transfer", str(support), "--to", "nobody") == (
        "Error: unknown department 'nobody' (known: support, legal, pr)\n"
    )
    assert fails("queue", "transfer", str(support), "--to", "support") == (
        f"Error: item #{support} is already in support\n"
    )
    assert fails("queue", "transfer", str(support), "--to", "pr") == (
        f"Error: mention {mention} already has item #{pr} in pr (new) "
        f"(work on #{pr} there, or resolve or dismiss #{support})\n"
    )
    watch.nothing(support, state)

    # Routed there between the check and the write: the database refuses it at the end of
    # the transaction, and the event already added goes with the rest.
    monkeypatch.setattr("harken.queue.actions.queue_item_for", lambda *args: None)
    assert fails("queue", "transfer", str(support), "--to", "pr").startswith(
        f"Error: mention {mention} was just queued in pr too"
    )
    watch.nothing(support, state)


def test_reopen_returns_a_closed_item_to_where_it_was(project: Path, watch: Watch) -> None:
    held, unheld = item_id("1003", "support"), item_id("1002", "legal")
    state = shown(held)
    assert fails("queue", "reopen", str(held)) == (
        f"Error: item #{held} is new, not closed; only resolved or dismissed items can be "
        "reopened\n"
    )
    watch.nothing(held, state)

    ok("queue", "claim", str(held), "--as", "aiko")
    ok("queue", "resolve", str(held), "--as", "aiko", "--note", "sent a DM")
    watch.before = counts(watch.store)
    assert ok("queue", "reopen", str(held), "--as", "ben", "--note", "they wrote again") == (
        f"#{held} reopened by ben (claimed): they wrote again\n"
    )
    watch.one_event()
    data = shown(held)
    assert (data["status"], data["assignee"]) == ("claimed", "aiko")
    assert (data["closed_at"], data["closed_by"], data["note"]) == (None, None, None)
    assert [e["action"] for e in data["events"]][-3:] == ["claimed", "resolved", "reopened"]
    assert data["events"][-2]["note"] == "sent a DM"  # the closing note stays in the history

    ok("queue", "dismiss", str(unheld), "--reason", "a joke")
    watch.before = counts(watch.store)
    ok("queue", "reopen", str(unheld))
    watch.one_event()
    assert last_event(unheld)[1:4] == ("reopened", "dismissed", "new")


def test_notes_and_tags_are_history_and_show_in_list_and_show(project: Path, watch: Watch) -> None:
    item = item_id("1003", "support")
    assert ok("queue", "note", str(item), "called them back", "--as", "aiko") == (
        f"#{item} note by aiko: called them back\n"
    )
    watch.one_event()
    assert last_event(item) == ("aiko", "noted", None, None, "called them back")

    assert ok("queue", "tag", str(item), "vip", "press", "vip", "--as", "aiko") == (
        f"#{item} tagged vip, press by aiko\n"
    )
    watch.one_event()
    assert shown(item)["tags"] == ["press", "vip"]
    listed = {i["id"]: i for i in json.loads(ok("queue", "list", "-f", "json"))}
    assert listed[item]["tags"] == ["press", "vip"]
    assert all(i["tags"] == [] for key, i in listed.items() if key != item)
    assert "       tags: press, vip" in ok("queue", "show", str(item)).splitlines()

    ok("queue", "tag", str(item), "vip", "billing")  # vip is on already: only billing is new
    watch.one_event()
    assert last_event(item)[1:] == ("tagged", None, None, "billing")
    ok("queue", "tag", str(item), "--remove", "press", "nope")
    watch.one_event()
    assert last_event(item)[1:] == ("untagged", None, None, "press")
    assert shown(item)["tags"] == ["billing", "vip"]

    state = shown(item)
    assert fails("queue", "tag", str(item), "vip") == f"Error: item #{item} already has tag vip\n"
    assert fails("queue", "tag", str(item), "--remove", "a", "b") == (
        f"Error: item #{item} has no tags a, b (its tags: billing, vip)\n"
    )
    assert fails("queue", "tag", str(item), "x" * 65) == (
        "Error: a tag is longer than 64 characters\n"
    )
    assert fails("queue", "note", str(item), "  ") == "Error: the note is empty\n"
    assert fails("queue", "note", str(item), "x", "--as", "x" * 256) == (
        "Error: --as is longer than 255 characters\n"
    )
    assert fails("queue", "note", "999", "x").startswith("Error: no queue item #999")
    watch.nothing(item, state)

    ok("queue", "dismiss", str(item))  # closed items take notes and tags too
    ok("queue", "note", str(item), "spam after all")
    ok("queue", "tag", str(item), "spam")


def test_a_reply_is_approved_by_one_person_and_sent_by_another(
    project: Path, watch: Watch, store: Store, fake_x: FakeX
) -> None:
    item = item_id("1003", "support")
    text = "Hi kenji_t, thanks for reaching out to Acme: we will DM you."
    approved = ok("queue", "approve", str(item), "--as", "lead")
    assert f"  “{text}”" in approved.splitlines()
    assert approved.endswith(f"#{item} reply approved by lead\n")
    watch.one_event()
    assert last_event(item) == ("lead", "approved", None, None, text)
    assert fake_x.posted == []

    state = shown(item)
    assert fails("queue", "approve", str(item), "--as", "lead") == (
        f"Error: lead already approved this reply to #{item}\n"
    )
    long = invoke("queue", "approve", str(item), "--text", "x" * 300, "--as", "lead")
    assert long.exit_code == 1 and "cannot send" in long.stdout
    assert long.stderr.startswith("Error: nothing was approved: 1 problem above")
    watch.nothing(item, state)

    # Only text that someone other than its sender approved, where approval is required.
    config = load_config(project / "config.yaml")
    own = plan_reply(store, config, item, "Hi, we are on it.", None)
    with pytest.raises(QueueError, match="not approved by anyone but its sender"):
        send_planned_reply(store, config, own, Actor("aiko"), require_approval=True)
    watch.nothing(item, state)

    sent = ok("queue", "reply", str(item), "--send", "--as", "aiko")
    assert f"posted: https://x.com/i/status/{fake_x.next_id}" in sent
    assert [post["text"] for post in fake_x.posted] == [text]
    watch.one_event()
    actor, action, before, after, note = last_event(item)
    assert (actor, action, before, after) == ("aiko", "replied", "new", "responded")
    assert note is not None and note.endswith(" (approved by lead)")


@pytest.fixture
def leads_only() -> Iterator[list[tuple[str, str, str, int]]]:
    """A permission hook that lets only 'lead' act; what it was asked, in order."""
    asked: list[tuple[str, str, str, int]] = []

    def hook(actor: Actor, action: str, item: QueueItem) -> None:
        asked.append((actor.name, actor.via, action, item.id or 0))
        if actor.name != "lead":
            raise QueuePermissionError(f"{actor.name} may not {action} #{item.id}", hint="ask")

    previous = set_permission(hook)
    yield asked
    set_permission(previous)


def test_the_permission_hook_can_refuse_every_action(
    project: Path, watch: Watch, fake_x: FakeX, leads_only: list[tuple[str, str, str, int]]
) -> None:
    item, closed = item_id("1003", "support"), item_id("1002", "legal")
    ok("queue", "resolve", str(closed), "--as", "lead")
    leads_only.clear()
    watch.before = counts(watch.store)
    state, closed_state = shown(item), shown(closed)
    attempts = {
        "claim": ["claim", str(item)],
        "assign": ["assign", str(item), "--to", "ben"],
        "transfer": ["transfer", str(item), "--to", "pr"],
        "resolve": ["resolve", str(item)],
        "dismiss": ["dismiss", str(item)],
        "reopen": ["reopen", str(closed)],
        "note": ["note", str(item), "hello"],
        "tag": ["tag", str(item), "vip"],
        "untag": ["tag", str(item), "vip", "--remove"],
        "approve": ["approve", str(item)],
        "reply": ["reply", str(item), "--send"],
    }
    for action, args in attempts.items():
        target = closed if action == "reopen" else item
        assert fails("queue", *args, "--as", "aiko").endswith(
            f"Error: aiko may not {action} #{target} (ask)\n"
        ), action
    assert [a[2] for a in leads_only] == list(attempts)
    assert {(a[0], a[1]) for a in leads_only} == {("aiko", "cli")}
    watch.nothing(item, state)
    watch.nothing(closed, closed_state)
    assert fake_x.posted == []

    ok("queue", "tag", str(item), "vip", "--as", "lead")
    watch.one_event()
    assert leads_only[-1] == ("lead", "cli", "tag", item)


def test_notes_and_tags_stay_text_on_the_terminal(project: Path) -> None:
    item = item_id("1003", "support")
    outputs = [
        ok("queue", "note", str(item), HOSTILE),
        ok("queue", "tag", str(item), HOSTILE),
        ok("queue", "assign", str(item), "--to", "[bold red]HK-7[/bold red]"),
        ok("queue", "transfer", str(item), "--to", "legal", "--note", HOSTILE),
        ok("queue", "show", str(item)),
        ok("queue", "tag", str(item), "--remove", HOSTILE),
    ]
    # A name never carries control characters: refused, not cleaned (it is someone's name).
    assert "the assignee has control characters" in fails(
        "queue", "assign", str(item), "--to", HOSTILE
    )
    for output in outputs:
        assert "\x1b" not in output and "\x07" not in output
        assert "[bold red]HK-7[/bold red]" in output  # shown as text, not as markup
    stored = shown(item)
    assert HOSTILE in [e["note"] for e in stored["events"]]  # kept as typed, shown cleaned
