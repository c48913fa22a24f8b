"""The incident's thread roots: one post routed to two departments (legal and PR) is one
incident with an item in each, alerted to two channels, each message the root of the
incident's thread there. After an action on either item, from Slack or (at the app's start)
from the CLI, every root shows every department's item and where it stands; the real
slack_bolt app against the fake Slack (tests/fakes/slack.py), on SQLite and PostgreSQL.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from slack_sdk import WebClient
from sqlalchemy import select

from harken.config import load_config
from harken.notify.registry import build_sinks
from harken.notify.slack.rendered import KEY
from harken.pipeline.ingest import ingest
from harken.pipeline.process import run_pass
from harken.platforms.replay import read_jsonl
from harken.queue import actions
from harken.queue.actors import Actor
from harken.slackapp.catchup import catch_up
from harken.store import Store
from harken.store.tables import Alert, QueueItem
from tests import payloads as p
from tests.cli import ok
from tests.conftest import SLACK_CHANNELS
from tests.fakes.http import Reply
from tests.fakes.slack import FakeSlack, Message
from tests.test_slack_app import (
    AIKO,
    ENV,
    HOSTILE,
    SAM,
    VALUES,
    World,
    click,
    make_world,
    texts,
    tree,
)

LEGAL, PR, SUPPORT = (SLACK_CHANNELS[d] for d in ("legal", "pr", "support"))
TEXT = "acme, my lawyer will hear about this"


@pytest.fixture
def world(tmp_path: Path, slack: FakeSlack, db_url: str, classifier: Any) -> Iterator[World]:
    """An urgent post about a lawyer, routed to legal and PR: one incident, two items, two
    channels; the app (HTTP mode) to click with."""
    settings = tree(slack, db_url, VALUES)
    settings["routing"]["rules"][0]["to"] = ["legal", "pr"]
    yield from make_world(tmp_path, slack, db_url, classifier, text=TEXT, settings=settings)


def root(world: World, channel: str) -> Message:
    """The channel's one alert message (the incident's thread root there), as it is now."""
    (message,) = [m for m in world.slack.messages(channel) if m.blocks and not m.is_reply]
    return message


def section(message: Message) -> str:
    """The text of the message's incident section."""
    (found,) = [b for b in message.blocks or [] if b.get("block_id", "").startswith("incident-")]
    return str(found["text"]["text"])


def line(message: Message, department: str) -> str:
    """The section's line about ``department``'s item."""
    (found,) = [x for x in section(message).split("\n") if x.startswith(f"• *{department}*")]
    return found


def test_a_claim_in_one_department_updates_both_roots(world: World) -> None:
    legal, pr = world.item("legal"), world.item("pr")
    assert legal.incident_id is not None and legal.incident_id == pr.incident_id
    assert root(world, PR).edits == 0
    assert world.post(click(root(world, LEGAL), "harken:claim", AIKO)) == 200
    world.settle()
    for channel in (LEGAL, PR):
        message = root(world, channel)
        assert message.edits == 1, channel
        assert section(message).startswith(f"*Incident #{legal.incident_id}*")
        assert line(message, "legal").startswith(
            f"• *legal* · item #{legal.id} · *Claimed* by aiko · respond by "
            f"<!date^{int(legal.due_at.timestamp())}^"
        )
        assert line(message, "pr").startswith(f"• *pr* · item #{pr.id} · *New* · respond by ")
    # each root keeps its own item's controls (the contract: value = that item's id)
    pr_root = root(world, PR)
    controls = [b for b in pr_root.blocks or [] if b.get("block_id") == f"harken:item:{pr.id}"]
    (claim,) = [e for e in controls[0]["elements"] if e["action_id"] == "harken:claim"]
    assert claim["value"] == str(pr.id)
    # the section sits before the controls, after the item's own state
    kinds = [b.get("block_id", b["type"]) for b in pr_root.blocks or []]
    assert kinds.index(f"incident-{legal.incident_id}") < kinds.index(f"harken:item:{pr.id}")


def test_a_transfer_shows_the_move_on_every_root(world: World) -> None:
    legal = world.item("legal")
    world.post(click(root(world, LEGAL), "harken:transfer", SAM, choice="support"))
    world.settle()
    assert world.item("support").id == legal.id
    for channel in (LEGAL, PR, SUPPORT):  # the receiving channel's alert starts a thread there
        message = root(world, channel)
        assert line(message, "support").startswith(
            f"• *support* (from legal) · item #{legal.id} · *New* · respond by "
        ), channel
    assert "*Transferred* to *support*" in texts(root(world, LEGAL))


def test_resolved_shows_how_long_it_took(world: World) -> None:
    pr = world.item("pr")
    with world.store.session() as session:  # queued 95 minutes ago
        item = session.get(QueueItem, pr.id)
        assert item is not None
        item.created_at -= timedelta(minutes=95)
        session.add(item)
    pr_root = root(world, PR)
    world.post(click(pr_root, "harken:resolve", SAM))
    world.settle()
    for channel in (LEGAL, PR):
        assert line(root(world, channel), "pr") == (
            f"• *pr* · item #{pr.id} · *Resolved* by sam · done in 1 h 35 min"
        )


def test_an_action_from_the_cli_reaches_every_root_at_the_apps_start(world: World) -> None:
    pr = world.item("pr")
    assert catch_up(world.app.client, world.store, world.config) == 0  # nothing acted on yet
    actions.dismiss(world.store, pr.id, Actor("sam"), note=HOSTILE, reason="not ours")
    assert catch_up(world.app.client, world.store, world.config) == 2  # both roots
    for channel in (LEGAL, PR):
        message = root(world, channel)
        assert message.edits == 1
        said = line(message, "pr")
        assert said.startswith(f"• *pr* · item #{pr.id} · *Dismissed* by sam (not ours: ")
        assert "<!channel>" not in said and "&lt;!channel&gt;" in said
        assert "<@U123>" not in json.dumps(message.blocks)
    assert catch_up(world.app.client, world.store, world.config) == 0  # once


def test_a_post_joining_the_thread_keeps_the_section(
    world: World, tmp_path: Path, classifier: Any
) -> None:
    legal = world.item("legal")
    world.post(click(root(world, LEGAL), "harken:claim", AIKO))
    world.settle()
    shown = section(root(world, PR))
    # a retweet joins the incident: a quiet reply in each thread, and the root's size redone
    joined = p.tweet(
        "7100", f"RT @kenji_t: {TEXT}", referenced_tweets=[{"type": "retweeted", "id": "7000"}]
    )
    path = p.write_jsonl(tmp_path / "more.jsonl", p.x_page(joined))
    ingest(world.store, world.config, list(read_jsonl(path, "x")), source="t")
    sinks = build_sinks(world.config, Console(file=io.StringIO()))
    run_pass(world.store, world.config, sinks, classifier)
    assert world.item("legal").mentions == 2
    for channel in (LEGAL, PR):
        message = root(world, channel)
        assert message.edits == 2, channel  # the claim, then the post that joined
        assert "*2 posts so far*" in texts(message)
        assert section(message) == shown  # as the claim left it: still every department
        assert "*Claimed* by aiko" in line(message, "legal")
    assert f"item #{legal.id}" in line(root(world, PR), "legal")


def test_the_transfer_label_is_the_queues() -> None:
    from harken.notify.slack.incident import MOVED
    from harken.queue.feedback import MOVED as QUEUE_MOVED

    assert MOVED == QUEUE_MOVED


# -- the roots as the outbox posts them (no Slack app running) ------------------------------


Process = Callable[..., None]


@pytest.fixture
def cli(tmp_path: Path, slack: FakeSlack, db_url: str, monkeypatch: pytest.MonkeyPatch) -> Process:
    """Plain bot-token alerts (no Slack app configured: no buttons) through `harken process`:
    a post about a lawyer goes to legal and PR, one about a refund to support."""
    settings = tree(slack, db_url)
    settings["alerts"]["slack"] = {
        "bot_token": "${SLACK_BOT_TOKEN}",
        "api_base_url": slack.api_url,
        "timeout": "2s",
    }
    settings["routing"]["rules"][0]["to"] = ["legal", "pr"]
    settings["routing"]["rules"].append(
        {"name": "refunds", "when": {"keywords": ["refund"]}, "to": ["support"],
         "priority": "high"}
    )  # fmt: skip
    config = tmp_path / "config.yaml"
    config.write_text(json.dumps(settings), encoding="utf-8")
    monkeypatch.setenv("SLACK_BOT_TOKEN", ENV["SLACK_BOT_TOKEN"])
    monkeypatch.setenv("HARKEN_CONFIG", str(config))

    def process(*tweets: dict[str, Any]) -> None:
        path = p.write_jsonl(tmp_path / "in.jsonl", p.x_page(*tweets))
        ok("import", str(path), "--platform", "x", "--no-process")
        ok("process")

    return process


# A quote of the first post: the same incident, routed to a third department.
REFUND = p.tweet(
    "7001", "acme, I want a refund", referenced_tweets=[{"type": "quoted", "id": "7000"}]
)


def test_roots_carry_the_section_from_delivery_and_a_new_department_updates_them(
    cli: Process, slack: FakeSlack
) -> None:
    """Both roots are posted with the section; a quote routed to support joins the incident:
    support's root carries all three, and the first two are updated once."""
    cli(p.tweet("7000", TEXT))
    legal, pr = (root_of(slack, channel) for channel in (LEGAL, PR))
    assert (legal.edits, pr.edits) == (0, 0)  # posted with it: nothing to redo
    ids = {d: cli_item(d) for d in ("legal", "pr")}
    for message in (legal, pr):
        assert [x.split(" · ")[:2] for x in section(message).split("\n")[1:]] == [
            ["• *legal*", f"item #{ids['legal']}"],
            ["• *pr*", f"item #{ids['pr']}"],
        ]
        assert "*New* · respond by " in line(message, "pr")
        assert "harken:claim" not in texts(message)  # no app configured: no buttons

    cli(REFUND)
    ids["support"] = cli_item("support")
    support = root_of(slack, SUPPORT)
    assert support.edits == 0 and "refund" in texts(support)
    for channel in (LEGAL, PR):
        message = root_of(slack, channel)
        assert message.edits == 1, channel  # updated once, with the new department
        assert line(message, "support").startswith(
            f"• *support* · item #{ids['support']} · *New* · respond by "
        )
    for message in (root_of(slack, c) for c in (LEGAL, PR, SUPPORT)):
        assert section(message) == section(support)
    ok("process")  # nothing new: nothing updated again
    assert [root_of(slack, c).edits for c in (LEGAL, PR, SUPPORT)] == [1, 1, 0]


def test_a_root_not_updated_neither_fails_nor_resends_the_alert(
    cli: Process, slack: FakeSlack, db_url: str
) -> None:
    cli(p.tweet("7000", TEXT))
    slack.fail_method("chat.update", Reply(500, json={"ok": False, "error": "internal_error"}))
    cli(REFUND)
    assert len(slack.messages(SUPPORT)) == 1 and "refund" in texts(root_of(slack, SUPPORT))
    store = Store(db_url)
    try:
        with store.session() as session:
            (alert,) = session.execute(select(Alert).where(Alert.channel == "support")).scalars()
        assert alert.status == "sent" and alert.attempts == 1
        assert "other thread roots not updated" in (alert.note or "")
        edits = [root_of(slack, c).edits for c in (LEGAL, PR)]
        assert sorted(edits) == [0, 1]  # the one that failed is left as it was
        # the Slack app's next start brings it up to date, as after any missed update
        client = WebClient(token=ENV["SLACK_BOT_TOKEN"], base_url=slack.api_url)
        assert catch_up(client, store, load_config(environ=ENV)) >= 1
    finally:
        store.close()
    for channel in (LEGAL, PR):
        assert line(root_of(slack, channel), "support").startswith("• *support* · item #")
    assert len(slack.messages(SUPPORT)) == 1


def test_a_root_showing_a_later_event_is_not_set_back(
    cli: Process, slack: FakeSlack, db_url: str
) -> None:
    """The section a new root is posted with is read before the post; if someone acted on the
    incident meanwhile, the Slack app has already brought a root past it: the outbox must not
    put the older section back."""
    cli(p.tweet("7000", TEXT))
    store = Store(db_url)
    try:
        with store.session() as session:
            (alert,) = session.execute(select(Alert).where(Alert.channel == "legal")).scalars()
            alert.payload = {**alert.payload, KEY: 10**9}  # as an update after an action says
            session.add(alert)
            session.commit()
    finally:
        store.close()
    cli(REFUND)
    assert root_of(slack, LEGAL).edits == 0  # shows a later event: left as it is
    assert root_of(slack, PR).edits == 1  # behind: updated with the new department
    assert line(root_of(slack, PR), "support").startswith("• *support* · item #")


def root_of(slack: FakeSlack, channel: str) -> Message:
    (message,) = [m for m in slack.messages(channel) if m.blocks and not m.is_reply]
    return message


def cli_item(department: str) -> int:
    (found,) = [i["id"] for i in json.loads(ok("queue", "list", "-f", "json"))
                if i["department"] == department]  # fmt: skip
    return int(found)
