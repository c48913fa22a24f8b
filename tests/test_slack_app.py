"""The Slack app end to end: the real slack_bolt app (harken/slackapp/) answers clicks on the
alerts the real pipeline posted to the fake Slack (tests/fakes/slack.py), over signed HTTP
requests and over Socket Mode (tests/fakes/slack_socket.py), on SQLite and PostgreSQL.

Proved here: each control does its queue action as the Slack user (the database, the queue
event with the actor and their Slack id, the alert updated in place); a transfer moves the
item and the receiving channel gets its alert; dismiss keeps its reason; refusals (a forged or
stale signature, an unknown or closed item, a person not allowed) change nothing and are told
only to the one who clicked; retries and double clicks act once; hostile post text stays
escaped in the updated message; `harken slack serve` answers over Socket Mode and stops on
SIGTERM.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from rich.console import Console
from slack_bolt import App, BoltRequest
from sqlalchemy import select

from harken.config import Config, load_config
from harken.notify.registry import build_sinks
from harken.pipeline.ingest import ingest
from harken.pipeline.process import run_pass
from harken.platforms.replay import read_jsonl
from harken.slackapp.app import build_app
from harken.slackapp.serve import serve_http
from harken.store import Store
from harken.store.tables import Alert, QueueEvent, QueueItem
from tests import payloads as p
from tests.conftest import SLACK_CHANNELS, TEST_TOPICS
from tests.fakes.slack import APP_TOKEN, TEAM_ID, TOKEN, FakeSlack, Message
from tests.pg import free_port

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
AIKO, BEN, SAM, NOBODY = "U0HKAIKO1", "U0HKBEN01", "U0HKSAM01", "U0HKNOBO1"
HOSTILE = "<!channel> acme, my lawyer <@U123> <http://evil.example|Bank> & you"


def tree(slack: FakeSlack, db: str, secrets: dict[str, str] | None = None) -> dict[str, Any]:
    """The settings; ``secrets``: what the Slack keys hold (default: ``${VAR}`` references,
    for a config file; values for ``load_config(overrides=...)``, which reads no ${VAR})."""
    bot, app, secret = (
        (secrets or {}).get("bot", "${SLACK_BOT_TOKEN}"),
        (secrets or {}).get("app", "${SLACK_APP_TOKEN}"),
        (secrets or {}).get("secret", "${SLACK_SIGNING_SECRET}"),
    )
    return {
        "database": {"url": db},
        "brands": [{"name": "Acme", "keywords": ["acme"], "handles": ["@acmesupport"]}],
        "departments": [
            {"name": name, "slack_channel": channel, "sla": "1h"}
            for name, channel in SLACK_CHANNELS.items()
        ],
        "users": [
            {"name": "aiko", "slack_id": AIKO, "departments": ["legal"]},
            {"name": "ben", "slack_id": BEN, "departments": ["support"]},
            {"name": "sam", "slack_id": SAM, "role": "social"},
        ],
        "topics": TEST_TOPICS,
        "routing": {
            "default": "support",
            "rules": [{"name": "legal", "when": {"keywords": ["lawyer"]}, "to": ["legal"],
                       "priority": "urgent"}],
        },
        "alerts": {
            "min_priority": "high",
            "min_risk": 0.99,
            "slack": {"bot_token": bot, "app_token": app, "signing_secret": secret,
                      "api_base_url": slack.api_url,
                      "timeout": "2s"},
        },
    }  # fmt: skip


ENV = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_SIGNING_SECRET": SECRET}
VALUES = {"bot": TOKEN, "app": APP_TOKEN, "secret": SECRET}


@dataclass
class World:
    config: Config
    store: Store
    slack: FakeSlack
    app: App
    pool: TrackedPool

    def item(self, department: str) -> QueueItem:
        with self.store.session() as session:
            found = session.execute(
                select(QueueItem).where(QueueItem.department == department)
            ).scalar_one()
            session.expunge(found)
            return found

    def alert_message(self, department: str) -> Message:
        """The item alert posted to the department's channel."""
        (message,) = [m for m in self.slack.messages(SLACK_CHANNELS[department]) if m.blocks]
        return message

    def events(self, item_id: int) -> list[QueueEvent]:
        with self.store.session() as session:
            found = list(
                session.execute(
                    select(QueueEvent)
                    .where(QueueEvent.queue_item_id == item_id)
                    .order_by(QueueEvent.id)
                ).scalars()
            )
            for event in found:
                session.expunge(event)
            return found

    def post(self, payload: dict[str, Any], **signing: Any) -> int:
        """A signed interactivity request to the app; its HTTP status."""
        body = urlencode({"payload": json.dumps(payload)})
        response = self.app.dispatch(BoltRequest(body=body, headers=signed(body, **signing)))
        return response.status

    def settle(self) -> None:
        """Wait until every click's work after its ack is done."""
        self.pool.settle()


class TrackedPool(ThreadPoolExecutor):
    """bolt's listener executor, keeping what it ran so that a test can wait for it."""

    def __init__(self) -> None:
        super().__init__(max_workers=4)
        self.futures: list[Future[Any]] = []

    def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
        future = super().submit(fn, *args, **kwargs)
        self.futures.append(future)
        return future

    def settle(self) -> None:
        for future in list(self.futures):
            future.result(timeout=30)


def signed(body: str, secret: str = SECRET, at: float | None = None, **extra: str) -> dict:
    stamp = str(int(time.time() if at is None else at))
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256)
    return {
        "content-type": ["application/x-www-form-urlencoded"],
        "x-slack-request-timestamp": [stamp],
        "x-slack-signature": [f"v0={digest.hexdigest()}"],
        **{k: [v] for k, v in extra.items()},
    }


def click(
    message: Message, action_id: str, user: str, choice: str | None = None, stamp: str = ""
) -> dict[str, Any]:
    """The block_actions payload Slack sends when ``user`` uses a control of ``message``."""
    blocks = message.blocks or []
    (block, element) = next(
        (b, e)
        for b in blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if e.get("action_id") == action_id
    )
    action: dict[str, Any] = {
        "type": element["type"],
        "action_id": action_id,
        "block_id": block.get("block_id", "x"),
        "action_ts": stamp or f"{time.time():.6f}",
    }
    if element["type"] == "button":
        action |= {"text": element["text"]}
        action |= {"value": element["value"]} if "value" in element else {}
    else:
        (option,) = [o for o in element["options"] if o["value"] == choice]
        action |= {"selected_option": option}
    name = {AIKO: "aiko", BEN: "ben", SAM: "sam"}.get(user, "stranger")
    return {
        "type": "block_actions",
        "user": {"id": user, "username": name, "name": name, "team_id": TEAM_ID},
        "api_app_id": "A0HKAPP01",
        "token": "legacy-verification-token",
        "container": {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": False,
        },
        "trigger_id": "1.2.3",
        "team": {"id": TEAM_ID, "domain": "harken-test"},
        "channel": {"id": message.channel, "name": "x"},
        "message": {"type": "message", "ts": message.ts, "text": message.text, "blocks": blocks},
        "response_url": "https://hooks.slack.invalid/actions/T/1/x",
        "actions": [action],
    }


def records(tmp_path: Path, *texts: str) -> list[Any]:
    tweets = [p.tweet(str(7000 + i), text) for i, text in enumerate(texts)]
    return list(read_jsonl(p.write_jsonl(tmp_path / "in.jsonl", p.x_page(*tweets)), "x"))


@pytest.fixture
def world(tmp_path: Path, slack: FakeSlack, db_url: str, classifier: Any) -> Iterator[World]:
    """Each test on SQLite and PostgreSQL."""
    yield from make_world(tmp_path, slack, db_url, classifier)


@pytest.fixture
def sqlite_world(
    tmp_path: Path, slack: FakeSlack, sqlite_url: str, classifier: Any
) -> Iterator[World]:
    """For what is about the process, not the database (it starts `harken` itself)."""
    yield from make_world(tmp_path, slack, sqlite_url, classifier)


def make_world(
    tmp_path: Path,
    slack: FakeSlack,
    db_url: str,
    classifier: Any,
    text: str = HOSTILE,
    settings: dict[str, Any] | None = None,
) -> Iterator[World]:
    """An urgent legal item alerted to #legal-social (``text``, under ``settings``: default
    ``tree(...)``), and the app (HTTP mode) to click with."""
    config = load_config(overrides=settings or tree(slack, db_url, VALUES), environ=ENV)
    store = Store(db_url)
    ingest(store, config, records(tmp_path, text), source="t")
    run_pass(store, config, build_sinks(config, Console(file=io.StringIO())), classifier)
    pool = TrackedPool()
    app = build_app(config, store, http=True, listener_executor=pool)
    made = World(config, store, slack, app, pool)
    try:
        yield made
    finally:
        made.pool.shutdown(wait=True)
        store.close()


def texts(message: Message) -> str:
    return json.dumps(message.blocks, ensure_ascii=False) + message.text


# -- the alert and its controls --------------------------------------------------------------


def test_alerts_carry_the_controls_only_when_the_app_is_configured(
    world: World, tmp_path: Path
) -> None:
    message = world.alert_message("legal")
    item = world.item("legal")
    (controls,) = [b for b in message.blocks or [] if b.get("block_id", "").startswith("harken:")]
    assert controls["block_id"] == f"harken:item:{item.id}"
    kinds = {e["action_id"]: e for e in controls["elements"]}
    assert set(kinds) == {"harken:claim", "harken:resolve", "harken:dismiss", "harken:transfer"}
    assert kinds["harken:claim"]["value"] == kinds["harken:resolve"]["value"] == str(item.id)
    assert [o["value"] for o in kinds["harken:transfer"]["options"]] == [
        "support",
        "engineering",
        "pr",
    ]
    assert [o["value"] for o in kinds["harken:dismiss"]["options"]][:2] == [
        "not ours",
        "not actionable",
    ]

    from harken.notify.slack.format import alert_message
    from harken.store.repo import alert_view

    bare = tree(world.slack, "sqlite:///unused.db", VALUES)
    del bare["alerts"]["slack"]["app_token"], bare["alerts"]["slack"]["signing_secret"]
    plain = load_config(overrides=bare, environ=ENV)
    with world.store.session() as session:
        alert_id = session.execute(select(Alert.id).where(Alert.channel == "legal")).scalar_one()
        view = alert_view(session, alert_id)
        assert view is not None
        assert not any(
            b["type"] == "actions" and b.get("block_id", "").startswith("harken:")
            for b in alert_message(view, plain).blocks
        )


def test_dismiss_reasons_match_the_queue() -> None:
    from harken.notify.slack.controls import DISMISS_REASONS
    from harken.queue.actions import DISMISS_REASONS as QUEUE_REASONS

    assert DISMISS_REASONS == QUEUE_REASONS


# -- each action -----------------------------------------------------------------------------


def test_claim_then_resolve_from_the_alert(world: World) -> None:
    item, message = world.item("legal"), world.alert_message("legal")
    assert world.post(click(message, "harken:claim", AIKO)) == 200
    world.settle()
    assert (world.item("legal").status, world.item("legal").assignee) == ("claimed", "aiko")
    claimed = world.events(item.id)[-1]
    assert (claimed.action, claimed.actor, claimed.via, claimed.actor_ref) == (
        "claimed",
        "aiko",
        "slack",
        AIKO,
    )
    updated = world.slack.message(SLACK_CHANNELS["legal"], message.ts)
    assert updated.edits == 1
    assert "*Claimed* by aiko · respond by <!date^" in texts(updated)

    world.post(click(updated, "harken:resolve", AIKO))
    world.settle()
    done = world.item("legal")
    assert done.status == "resolved" and done.closed_by == "aiko"
    updated = world.slack.message(SLACK_CHANNELS["legal"], message.ts)
    assert "*Resolved* by aiko · done in " in texts(updated)
    controls = [b for b in updated.blocks or [] if b.get("block_id", "").startswith("harken:")]
    assert [e["action_id"] for e in controls[0]["elements"]] == ["harken:reopen"]
    assert world.slack.ephemerals == []

    world.post(click(updated, "harken:reopen", SAM))  # the social team may act anywhere
    world.settle()
    assert world.item("legal").status == "claimed"  # as it was before it was closed
    assert world.events(item.id)[-1].actor == "sam"


def test_transfer_moves_the_item_and_alerts_the_receiving_channel(world: World) -> None:
    item, message = world.item("legal"), world.alert_message("legal")
    world.post(click(message, "harken:transfer", AIKO, choice="support"))
    world.settle()
    moved = world.item("support")
    assert moved.id == item.id and moved.status == "new"
    event = world.events(item.id)[-1]
    assert (event.action, event.actor, event.actor_ref) == ("transferred", "aiko", AIKO)
    assert event.note is not None and event.note.startswith("legal → support")
    old = world.slack.message(SLACK_CHANNELS["legal"], message.ts)
    assert "*Transferred* to *support*, new there" in texts(old)
    assert not any(b.get("block_id", "").startswith("harken:") for b in old.blocks or [])
    arrived = world.alert_message("support")
    assert f"item #{item.id}" in arrived.text
    assert any(b.get("block_id") == f"harken:item:{item.id}" for b in arrived.blocks or [])
    assert world.slack.ephemerals == []


def test_the_link_button_is_acknowledged_and_changes_nothing(world: World) -> None:
    item, message = world.item("legal"), world.alert_message("legal")
    assert world.post(click(message, "open_post", AIKO)) == 200
    world.settle()
    assert world.item("legal").status == "new" and len(world.events(item.id)) == 1
    assert world.slack.ephemerals == [] and world.alert_message("legal").edits == 0


def test_dismiss_keeps_the_reason(world: World) -> None:
    item, message = world.item("legal"), world.alert_message("legal")
    world.post(click(message, "harken:dismiss", AIKO, choice="spam or bot"))
    world.settle()
    assert world.item("legal").status == "dismissed"
    event = world.events(item.id)[-1]
    assert (event.action, event.actor) == ("dismissed", "aiko")
    shown = texts(world.slack.message(SLACK_CHANNELS["legal"], message.ts))
    assert "*Dismissed* by aiko" in shown and "spam or bot" in shown


# -- refusals: nothing changes, only the clicker is told --------------------------------------


def test_refusals_change_nothing_and_tell_only_the_clicker(world: World) -> None:
    item, message = world.item("legal"), world.alert_message("legal")
    before = len(world.events(item.id))

    world.post(click(message, "harken:claim", BEN))  # support's member, not legal's
    world.post(click(message, "harken:claim", NOBODY))  # not listed at all
    unknown = click(message, "harken:resolve", AIKO)
    unknown["actions"][0]["value"] = "999999"
    world.post(unknown)
    forged = click(message, "harken:resolve", AIKO)
    forged["actions"][0]["value"] = "1; DROP TABLE queue_items"
    world.post(forged)
    world.settle()

    assert world.item("legal").status == "new" and len(world.events(item.id)) == before
    assert world.slack.message(SLACK_CHANNELS["legal"], message.ts).edits == 0
    told = {(e["user"], e["text"].split(":")[0]) for e in world.slack.ephemerals}
    assert told == {
        (BEN, "Not allowed"),
        (NOBODY, "Not allowed"),
        (AIKO, "Nothing changed"),
        (AIKO, "harken"),
    }
    assert any("no queue item #999999" in e["text"] for e in world.slack.ephemerals)
    assert all(e["channel"] == message.channel for e in world.slack.ephemerals)

    first, late = (click(message, "harken:resolve", AIKO, stamp=s) for s in ("1.0", "2.0"))
    world.post(first)
    world.settle()
    world.post(late)  # clicked on an alert not yet updated: the item is closed now
    world.settle()
    assert [e.action for e in world.events(item.id)][-1] == "resolved"
    assert len([e for e in world.events(item.id) if e.action == "resolved"]) == 1
    assert "already resolved" in world.slack.ephemerals[-1]["text"]


def test_forged_and_stale_signatures_are_refused_over_http(world: World) -> None:
    message = world.alert_message("legal")
    stop = threading.Event()
    port = free_port()
    server = threading.Thread(
        target=serve_http, args=(world.app, "127.0.0.1", port, stop), daemon=True
    )
    server.start()
    url = f"http://127.0.0.1:{port}/slack/events"

    def send(payload: dict[str, Any], **signing: Any) -> int:
        body = urlencode({"payload": json.dumps(payload)})
        headers = {k: v[0] for k, v in signed(body, **signing).items()}
        request = urllib.request.Request(url, body.encode(), headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                return int(answer.status)
        except urllib.error.HTTPError as error:
            return error.code

    try:
        _wait(lambda: _listening(port))
        assert send(click(message, "harken:claim", AIKO), secret="not-the-secret") == 401
        assert send(click(message, "harken:claim", AIKO), at=time.time() - 6 * 60) == 401
        world.settle()
        assert world.item("legal").status == "new" and world.slack.ephemerals == []
        for malformed in ("payload=notjson", "payload=%5B1%2C2%5D"):  # signed, but not a payload
            headers = {k: v[0] for k, v in signed(malformed).items()}
            request = urllib.request.Request(url, malformed.encode(), headers, method="POST")
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(request, timeout=5)
            assert refused.value.code == 400
        assert send(click(message, "harken:claim", AIKO)) == 200
        world.settle()
        assert world.item("legal").assignee == "aiko"
    finally:
        stop.set()
        server.join(timeout=5)


# -- once ------------------------------------------------------------------------------------


def test_retries_and_double_clicks_act_once(world: World) -> None:
    item, message = world.item("legal"), world.alert_message("legal")
    payload = click(message, "harken:claim", AIKO)
    assert world.post(payload) == 200
    assert world.post(payload, **{"x-slack-retry-num": "1"}) == 200  # Slack's retry
    world.post(click(message, "harken:claim", AIKO))  # a second click, its own action_ts
    world.settle()
    assert [e.action for e in world.events(item.id)].count("claimed") == 1
    assert [e["text"] for e in world.slack.ephemerals] == [f"You already hold item #{item.id}."]

    double = [click(message, "harken:resolve", AIKO, stamp=s) for s in ("1.0", "1.3")]
    for payload in double:
        world.post(payload)
    world.settle()
    assert [e.action for e in world.events(item.id)].count("resolved") == 1


def test_hostile_text_stays_escaped_in_the_updated_message(world: World) -> None:
    message = world.alert_message("legal")
    world.post(click(message, "harken:claim", AIKO))
    world.settle()
    shown = texts(world.slack.message(SLACK_CHANNELS["legal"], message.ts))
    assert "&lt;!channel&gt;" in shown and "<!channel>" not in shown
    assert "<@U123>" not in shown and "<http://evil.example|Bank>" not in shown


# -- harken slack serve ----------------------------------------------------------------------


def test_slack_serve_answers_over_socket_mode_and_stops_on_sigterm(
    sqlite_world: World, tmp_path: Path
) -> None:
    world = sqlite_world
    item, message = world.item("legal"), world.alert_message("legal")
    config = tmp_path / "slack.yaml"
    config.write_text(json.dumps(tree(world.slack, world.config.database.url)), "utf-8")
    env = {**os.environ, **ENV}
    command = [sys.executable, "-m", "harken", "--config", str(config), "slack", "serve"]
    served = subprocess.Popen(command, env=env, stderr=subprocess.PIPE, text=True)
    try:
        assert world.slack.socket.connected.wait(20), served.stderr
        payload = click(message, "harken:claim", AIKO)
        envelope = world.slack.socket.send(payload)
        assert world.slack.socket.wait_ack(envelope, timeout=10) == {"envelope_id": envelope}
        world.slack.socket.send(payload, envelope_id=envelope)
        world.slack.socket.wait_ack(envelope, timeout=10, count=2)  # sent again: acked again
        _wait(lambda: world.slack.message(SLACK_CHANNELS["legal"], message.ts).edits >= 1)
        assert world.item("legal").assignee == "aiko"
        assert [e.action for e in world.events(item.id)].count("claimed") == 1
    finally:
        served.send_signal(signal.SIGTERM)
        _, stderr = served.communicate(timeout=20)
    assert served.returncode == 0, stderr
    assert "listening (Socket Mode)" in stderr and "stopped" in stderr
    assert TOKEN not in stderr and APP_TOKEN not in stderr and SECRET not in stderr


def test_slack_serve_says_which_token_is_missing(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from harken.cli import app

    settings = tree(slack, f"sqlite:///{tmp_path / 'h.db'}")
    del settings["alerts"]["slack"]["app_token"], settings["alerts"]["slack"]["signing_secret"]
    (tmp_path / "config.yaml").write_text(json.dumps(settings), "utf-8")
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    socket = CliRunner().invoke(app, ["slack", "serve"])
    assert socket.exit_code == 1
    assert socket.stderr.startswith("Error: alerts.slack.app_token is not set (Socket Mode")
    http = CliRunner().invoke(app, ["slack", "serve", "--http", "--port", "1"])
    assert http.exit_code == 1
    assert http.stderr.startswith("Error: alerts.slack.signing_secret is not set (HTTP mode")
    monkeypatch.setenv("SLACK_BOT_TOKEN", "xoxb-wrong")
    monkeypatch.setenv("SLACK_APP_TOKEN", APP_TOKEN)
    settings["alerts"]["slack"]["app_token"] = "${SLACK_APP_TOKEN}"
    (tmp_path / "config.yaml").write_text(json.dumps(settings), "utf-8")
    refused = CliRunner().invoke(app, ["slack", "serve"])
    assert refused.exit_code == 1
    assert refused.stderr.startswith("Error: Slack refused alerts.slack.bot_token (invalid_auth)")
    assert "xoxb-wrong" not in refused.output
    monkeypatch.setenv("SLACK_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("SLACK_APP_TOKEN", "xapp-1-A0HKAPP01-revoked")
    closed = CliRunner().invoke(app, ["slack", "serve"])
    assert closed.exit_code == 1
    # (slack_sdk logs its own line about it first)
    last = closed.stderr.strip().splitlines()[-1]
    assert last.startswith("Error: Socket Mode could not connect: invalid_auth (check")
    assert "revoked" not in closed.output and "Traceback" not in closed.output


def _listening(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.02)
