"""A Slack request is acted on once, whichever process gets it and however often: Slack sends
a click, a slash command or a form again when its answer was late (HTTP, with
X-Slack-Retry-Num; Socket Mode, the same envelope again), and the copy may reach a restarted
process or another replica behind the load balancer. The request's key is written with the
action's queue event, in the action's transaction, and is unique (harken/queue/items.py).

Proved here, with separate app instances over one database (SQLite and PostgreSQL): a retry of
each control, of `/harken claim` and of a reply form, delivered to another instance, records
one event and changes the item once, and the person is answered as the first time; the same
delivered to two instances at once, too. And with a real `harken slack serve` killed with
SIGKILL: after the commit and before the message update, the action is there once, the
message is brought up to date at restart and the same envelope again changes nothing; before
the commit, nothing was applied.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from slack_bolt import App, BoltRequest
from slack_bolt.adapter.socket_mode import SocketModeHandler

from harken.config import Config
from harken.slackapp.app import build_app
from harken.store import Store
from tests.conftest import SLACK_CHANNELS
from tests.fakes.slack import APP_TOKEN, TOKEN, FakeSlack
from tests.test_daemon import wait_for
from tests.test_slack_app import (
    AIKO,
    ENV,
    SAM,
    SECRET,
    TrackedPool,
    World,
    click,
    make_world,
    signed,
    texts,
    tree,
)
from tests.test_slack_commands import command_body

RETRY = {"x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}


class Replica:
    """A second `harken slack serve --http` over the same database: its own store (its own
    connections, as another process has) and its own app, hence its own in-memory memory."""

    def __init__(self, config: Config, *, http: bool = True) -> None:
        self.store = Store(config.database.url)
        self.pool = TrackedPool()
        self.app: App = build_app(config, self.store, http=http, listener_executor=self.pool)

    def post(self, payload: dict[str, Any], **headers: str) -> int:
        body = urlencode({"payload": json.dumps(payload)})
        return self.app.dispatch(BoltRequest(body=body, headers=signed(body, **headers))).status

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.store.close()


@pytest.fixture
def world(tmp_path: Path, slack: FakeSlack, db_url: str, classifier: Any) -> Iterator[World]:
    yield from make_world(tmp_path, slack, db_url, classifier)


@pytest.fixture
def replica(world: World) -> Iterator[Replica]:
    other = Replica(world.config)
    try:
        yield other
    finally:
        other.close()


def actions_of(world: World, item_id: int) -> list[str]:
    return [e.action for e in world.events(item_id)]


# -- HTTP: Slack's retry reaches the other replica -------------------------------------------


def test_a_retry_to_another_replica_acts_once_for_every_control(
    world: World, replica: Replica
) -> None:
    item = world.item("legal")
    steps = [
        ("harken:claim", AIKO, None, "claimed"),
        ("harken:resolve", AIKO, None, "resolved"),
        ("harken:reopen", SAM, None, "claimed"),
        ("harken:dismiss", AIKO, "not ours", "dismissed"),
        ("harken:reopen", SAM, None, "claimed"),
        ("harken:transfer", AIKO, "support", "new"),
    ]
    for action_id, user, choice, status in steps:
        message = world.slack.message(SLACK_CHANNELS["legal"], world.alert_message("legal").ts)
        payload = click(message, action_id, user, choice)
        assert world.post(payload) == 200
        world.settle()
        edits = world.slack.message(message.channel, message.ts).edits
        assert replica.post(payload, **RETRY) == 200  # the same request, the other replica
        replica.pool.settle()
        moved = world.item("support" if action_id == "harken:transfer" else "legal")
        assert moved.status == status, action_id
        # up to date already: the retry leaves the message as the first delivery left it
        assert world.slack.message(message.channel, message.ts).edits == edits, action_id
    assert actions_of(world, item.id) == [
        "created",
        "claimed",
        "resolved",
        "reopened",
        "dismissed",
        "reopened",
        "transferred",
    ]
    assert world.slack.ephemerals == []  # every retry answered as its first delivery
    assert len([m for m in world.slack.messages(SLACK_CHANNELS["support"]) if m.blocks]) == 1
    keys = [e.request_key for e in world.events(item.id)]
    assert keys[0] is None and len(set(keys[1:])) == 6 and all(keys[1:])


def test_a_retry_after_the_first_stopped_before_the_update_brings_the_message_up(
    world: World, replica: Replica
) -> None:
    message = world.alert_message("legal")
    payload = click(message, "harken:claim", AIKO)
    # the first replica commits the claim, then Slack refuses its chat.update (or it died)
    world.slack.fail_method("chat.update", _refused())
    world.post(payload)
    world.settle()
    assert world.slack.message(message.channel, message.ts).edits == 0
    replica.post(payload, **RETRY)
    replica.pool.settle()
    updated = world.slack.message(message.channel, message.ts)
    assert updated.edits == 1 and "*Claimed* by aiko" in texts(updated)
    assert actions_of(world, world.item("legal").id).count("claimed") == 1
    assert world.slack.ephemerals == []


def test_the_same_request_to_two_replicas_at_once_acts_once(world: World, replica: Replica) -> None:
    item, message = world.item("legal"), world.alert_message("legal")
    for action_id, user in (("harken:claim", AIKO), ("harken:resolve", AIKO)):
        payload = click(message, action_id, user)
        start = threading.Barrier(2)

        def deliver(post: Any, sent: dict[str, Any], headers: dict[str, str]) -> None:
            start.wait()  # noqa: B023 (joined below, within this turn of the loop)
            post(sent, **headers)

        both = [
            threading.Thread(target=deliver, args=(world.post, payload, {})),
            threading.Thread(target=deliver, args=(replica.post, payload, RETRY)),
        ]
        for thread in both:
            thread.start()
        for thread in both:
            thread.join(timeout=30)
        world.settle()
        replica.pool.settle()
    assert actions_of(world, item.id) == ["created", "claimed", "resolved"]
    assert world.item("legal").status == "resolved"
    assert world.slack.ephemerals == []


def test_double_clicks_on_two_replicas_change_the_item_once(world: World, replica: Replica) -> None:
    """Two clicks are two requests (each its own action_ts): the second finds the item changed
    already, whichever replica gets it, and is refused with nothing changed."""
    item = world.item("legal")
    for action_id, choice in (("harken:transfer", "support"), ("harken:dismiss", "not ours")):
        message = world.alert_message("legal" if action_id == "harken:transfer" else "support")
        first, second = (click(message, action_id, SAM, choice, stamp=s) for s in ("5.1", "5.2"))
        world.post(first)
        world.settle()
        replica.post(second)
        replica.pool.settle()
    assert actions_of(world, item.id) == ["created", "transferred", "dismissed"]
    assert len([m for m in world.slack.messages(SLACK_CHANNELS["support"]) if m.blocks]) == 1
    told = [e["text"] for e in world.slack.ephemerals]
    assert told[0] == f"Nothing changed: item #{item.id} is already in support"
    assert told[1].startswith(f"Nothing changed: item #{item.id} is already dismissed")
    assert len(told) == 2


def test_a_slash_command_retry_to_another_replica_claims_once(
    world: World, replica: Replica
) -> None:
    item = world.item("legal")
    body, url = command_body(world, AIKO, f"claim {item.id}")
    for app, headers in ((world.app, {}), (replica.app, RETRY)):
        response = app.dispatch(BoltRequest(body=body, headers=signed(body, **headers)))
        assert response.status == 200
    world.settle()
    replica.pool.settle()
    assert actions_of(world, item.id) == ["created", "claimed"]
    answers = [r["text"] for r in world.slack.responses if r["url"] == url]
    assert answers == [f"Claimed item #{item.id}: it is yours (aiko)."] * 2


def test_a_reply_form_retried_to_another_replica_is_sent_once(
    tmp_path: Path, slack: FakeSlack, db_url: str, classifier: Any
) -> None:
    from tests.test_slack_replies import REPLY, make, open_modal, submission

    for world in make(tmp_path, slack, db_url, classifier):
        other = Replica(world.config)
        try:
            item = world.item("legal")
            payload = submission(open_modal(world), AIKO, REPLY)
            assert world.send(payload).status == 200
            world.settle()
            assert other.post(payload, **RETRY) == 200
            other.pool.settle()
        finally:
            other.close()
        assert [post["text"] for post in world.x.posted] == [REPLY]
        assert actions_of(world, item.id).count("replied") == 1
        told = world.told(AIKO)
        assert len(told) == 2 and told[0] == told[1] and told[0].startswith("Reply to item #")


# -- Socket Mode: the same envelope again, to another instance --------------------------------


def test_socket_mode_redelivery_to_another_instance_acts_once(world: World) -> None:
    item, message = world.item("legal"), world.alert_message("legal")
    payload = click(message, "harken:resolve", AIKO)
    envelope = None
    for count in (1, 2):
        instance = Replica(world.config, http=False)
        handler = SocketModeHandler(instance.app, APP_TOKEN)
        try:
            handler.connect()
            envelope = world.slack.socket.send(payload, envelope_id=envelope)
            assert world.slack.socket.wait_ack(envelope, count=count) == {"envelope_id": envelope}
            instance.pool.settle()
        finally:
            handler.close()
            instance.close()
    assert [e["retry_attempt"] for e in world.slack.socket.sent] == [0, 1]
    assert actions_of(world, item.id) == ["created", "resolved"]
    assert world.slack.message(message.channel, message.ts).edits == 1
    assert world.slack.ephemerals == []


# -- kill -9 of `harken slack serve` -----------------------------------------------------------


@pytest.fixture
def sqlite_world(
    tmp_path: Path, slack: FakeSlack, sqlite_url: str, classifier: Any
) -> Iterator[World]:
    yield from make_world(tmp_path, slack, sqlite_url, classifier)


def start_serve(config: Path, log: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "harken", "-v", "--config", str(config), "slack", "serve"]
    with log.open("ab") as sink:  # the child keeps its own descriptor
        return subprocess.Popen(command, env={**os.environ, **ENV}, stderr=sink, stdout=sink)


def test_kill_9_mid_action_is_done_once_or_not_at_all(sqlite_world: World, tmp_path: Path) -> None:
    world = sqlite_world
    item, message = world.item("legal"), world.alert_message("legal")
    config, log = tmp_path / "slack.yaml", tmp_path / "serve.log"
    config.write_text(json.dumps(tree(world.slack, world.config.database.url)), "utf-8")
    database = str(world.config.database.url).removeprefix("sqlite:///")
    claim = click(message, "harken:claim", AIKO)

    def listening(times: int) -> None:
        wait_for(lambda: log.read_text().count("listening (Socket Mode)") == times, "ready", 30)

    # 1. killed before the commit: the claim waits for the database (another writer holds
    #    it), and the process dies there. Nothing of it is left.
    served = start_serve(config, log)
    try:
        listening(1)
        writer = sqlite3.connect(database, timeout=0)
        writer.execute("BEGIN IMMEDIATE")  # the write lock: the claim's transaction waits
        first = world.slack.socket.send(claim)
        world.slack.socket.wait_ack(first, timeout=10)
        time.sleep(1.0)  # the work after the ack reaches the claim's write, and waits there
        served.send_signal(signal.SIGKILL)
        served.wait(timeout=10)
        writer.rollback()
        writer.close()
    finally:
        served.kill()
        served.wait()
    assert actions_of(world, item.id) == ["created"] and world.item("legal").status == "new"
    assert world.slack.message(message.channel, message.ts).edits == 0

    # 2. killed after the commit, while Slack holds its chat.update: the claim is done once
    held = world.slack.hold("chat.update")
    served = start_serve(config, log)
    try:
        listening(2)
        world.slack.socket.send(claim, envelope_id=first)  # the click, sent again
        assert held.arrived.wait(20), log.read_text()
        served.send_signal(signal.SIGKILL)
        served.wait(timeout=10)
    finally:
        served.kill()
        served.wait()
        held.release(drop=True)  # the dead process's update never reaches the message
    assert actions_of(world, item.id) == ["created", "claimed"]
    assert world.item("legal").assignee == "aiko"
    assert world.slack.message(message.channel, message.ts).edits == 0

    # 3. restarted: the message is brought up to date; the envelope again changes nothing
    served = start_serve(config, log)
    try:
        listening(3)
        updated = world.slack.message(message.channel, message.ts)
        assert updated.edits == 1 and "*Claimed* by aiko" in texts(updated)
        world.slack.socket.send(claim, envelope_id=first)
        wait_for(lambda: "already done (the same request came again)" in log.read_text(), "it")
    finally:
        served.kill()
        served.wait()
    output = log.read_text()
    assert output.count("brought 1 alert message(s) up to date") == 1
    assert actions_of(world, item.id) == ["created", "claimed"]
    assert world.slack.message(message.channel, message.ts).edits == 1
    assert world.slack.ephemerals == []
    assert TOKEN not in output and APP_TOKEN not in output and SECRET not in output


def _refused() -> Any:
    from tests.fakes.http import Reply

    return Reply(json={"ok": False, "error": "ratelimited"})
