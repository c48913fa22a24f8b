"""Done, for the Slack app (issue 20): on the demo data, routed by the example config to the
fake Slack (tests/fakes/slack.py), a department member claims, transfers, resolves and replies
from the alerts, in Socket Mode (envelopes through the fake WebSocket) and in HTTP mode
(signed POSTs to ``/slack/events`` on a real port); then `harken report routing` shows the
transfer.

The demo's pipeline runs once for the module (it is the slow part); each mode then works on
items of its own, with an app of its own, as `harken slack serve [--http]` builds it.
"""

from __future__ import annotations

import io
import json
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
import yaml
from rich.console import Console
from slack_bolt.adapter.socket_mode import SocketModeHandler
from sqlalchemy import select
from typer.testing import CliRunner

from harken.cli import app as cli
from harken.config import Config, example_config_text, load_config
from harken.notify.registry import build_sinks
from harken.pipeline.demo import demo_file, ingest_demo
from harken.pipeline.process import run_pass
from harken.pipeline.progress import no_progress
from harken.slackapp.app import build_app
from harken.slackapp.serve import serve_http
from harken.store import Store
from harken.store.tables import Mention, QueueEvent, QueueItem
from tests.fakes import x as xfake
from tests.fakes.slack import APP_TOKEN, TOKEN, FakeSlack, Message
from tests.fakes.x import FakeX
from tests.pg import free_port
from tests.test_slack_app import SECRET, TrackedPool, click, signed, texts
from tests.test_slack_replies import submission

KENJI = "U0456DEF"  # the example config's legal member (users: kenji)
ENV = {
    "SLACK_BOT_TOKEN": TOKEN,
    "SLACK_APP_TOKEN": APP_TOKEN,
    "SLACK_SIGNING_SECRET": SECRET,
    **xfake.ENV,
}
MODES = ("socket", "http")
REPLY = "Hi, this is Acme's legal team: could you DM us the details?"


@dataclass
class Demo:
    directory: Path
    config: Config
    store: Store
    slack: FakeSlack
    x: FakeX

    def item(self, item_id: int) -> QueueItem:
        with self.store.session() as session:
            found = session.get(QueueItem, item_id)
            assert found is not None
            session.expunge(found)
            return found

    def legal_items(self) -> tuple[list[int], list[int]]:
        """The ids of legal's items with an alert: on X (answerable), and on the rest."""
        with self.store.session() as session:
            rows = session.execute(
                select(QueueItem.id, Mention.platform)
                .join(Mention, Mention.id == QueueItem.mention_id)  # type: ignore[arg-type]
                .where(QueueItem.department == "legal")
                .order_by(QueueItem.id)
            ).all()
        alerted = [(i, platform) for i, platform in rows if self.alert("legal", i)]
        return [i for i, p in alerted if p == "x"], [i for i, p in alerted if p != "x"]

    def alert(self, department: str, item_id: int) -> Message | None:
        """The message in the department's channel with the item's controls."""
        channel = self.channel(department)
        block = f"harken:item:{item_id}"
        found = [
            m
            for m in self.slack.messages(channel)
            if any(b.get("block_id") == block for b in m.blocks or [])
        ]
        return found[-1] if found else None

    def channel(self, department: str) -> str:
        (found,) = [d.slack_channel for d in self.config.departments if d.name == department]
        assert found is not None
        return found

    def last_event(self, item_id: int) -> QueueEvent:
        with self.store.session() as session:
            found = session.execute(
                select(QueueEvent)
                .where(QueueEvent.queue_item_id == item_id)
                .order_by(QueueEvent.id.desc())  # type: ignore[union-attr]
                .limit(1)
            ).scalar_one()
            session.expunge(found)
            return found

    def routing(self) -> dict[str, Any]:
        """`harken report routing --since 30d`'s row for legal."""
        args = ["--config", str(self.directory / "config.yaml"), "report", "routing"]
        result = CliRunner().invoke(cli, [*args, "--since", "30d", "-f", "json"], env=ENV)
        assert result.exit_code == 0, result.output
        report = json.loads(result.stdout)
        (legal,) = [row for row in report["departments"] if row["department"] == "legal"]
        return dict(legal)


def demo_x() -> FakeX:
    """A fake X that knows the demo's X posts (so replies to them can be sent)."""
    x = FakeX()
    for line in demo_file("x").read_text("utf-8").splitlines():
        x.add(*json.loads(line).get("data", []))
    return x


def fake_settings(slack: FakeSlack, x: FakeX) -> dict[str, Any]:
    """The example config as a dict, its alerts to the fake Slack (a channel per department)
    and X answerable on the fake X; shared with scripts/slack_walkthrough.py."""
    settings = yaml.safe_load(example_config_text())
    for department in settings["departments"]:
        slack.add_channel(department["slack_channel"])
    settings["alerts"]["slack"] = {
        "bot_token": "${SLACK_BOT_TOKEN}",
        "app_token": "${SLACK_APP_TOKEN}",
        "signing_secret": "${SLACK_SIGNING_SECRET}",
        "api_base_url": slack.api_url,
    }
    settings["sources"]["x"] |= {
        "api_base_url": x.api.url,
        "consumer_key": "${X_CONSUMER_KEY}",
        "consumer_secret": "${X_CONSUMER_SECRET}",
        "access_token": "${X_ACCESS_TOKEN}",
        "access_token_secret": "${X_ACCESS_TOKEN_SECRET}",
    }
    return settings


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, classifier: Any) -> Iterator[Demo]:
    """The demo's posts through the pipeline, with the example config's departments, users
    and rules, its alerts to the fake Slack, and X answerable (the fake X)."""
    directory = tmp_path_factory.mktemp("walkthrough")
    x = demo_x()
    with FakeSlack() as slack, x.api:
        settings = fake_settings(slack, x)
        settings["database"]["url"] = f"sqlite:///{directory / 'harken.db'}"
        settings["alerts"]["slack"]["timeout"] = "2s"
        (directory / "config.yaml").write_text(yaml.safe_dump(settings), "utf-8")
        config = load_config(directory / "config.yaml", environ=ENV)
        store = Store(config.database.url)
        ingest_demo(store, config, no_progress)
        run_pass(store, config, build_sinks(config, Console(file=io.StringIO())), classifier)
        try:
            yield Demo(directory, config, store, slack, x)
        finally:
            store.close()


Send = Callable[[dict[str, Any]], None]


@contextmanager
def connected(demo: Demo, mode: str) -> Iterator[Send]:
    """The app as `harken slack serve [--http]` runs it; yields how Slack sends it a click
    (returning once the click's work is done)."""
    pool = TrackedPool()
    app = build_app(demo.config, demo.store, http=mode == "http", listener_executor=pool)
    opened = socket_mode(demo, app) if mode == "socket" else http_mode(app)
    try:
        with opened as deliver:

            def send(payload: dict[str, Any]) -> None:
                deliver(payload)
                pool.settle()  # the work after the ack

            yield send
    finally:
        pool.shutdown(wait=True)


@contextmanager
def socket_mode(demo: Demo, app: Any) -> Iterator[Send]:
    socket = demo.slack.socket
    handler = SocketModeHandler(app, APP_TOKEN)
    handler.connect()

    def deliver(payload: dict[str, Any]) -> None:
        envelope = socket.send(payload)
        assert socket.wait_ack(envelope, timeout=10)["envelope_id"] == envelope

    try:
        assert socket.connected.wait(10)
        yield deliver
    finally:
        handler.close()


@contextmanager
def http_mode(app: Any) -> Iterator[Send]:
    stop, ready, port = threading.Event(), threading.Event(), free_port()
    server = threading.Thread(
        target=serve_http, args=(app, "127.0.0.1", port, stop, ready.set), daemon=True
    )
    server.start()

    def deliver(payload: dict[str, Any]) -> None:
        body = urlencode({"payload": json.dumps(payload)})
        headers = {k: v[0] for k, v in signed(body).items()}
        url = f"http://127.0.0.1:{port}/slack/events"
        request = urllib.request.Request(url, body.encode(), headers, method="POST")
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200

    try:
        assert ready.wait(10)
        yield deliver
    finally:
        stop.set()
        server.join(timeout=5)


@pytest.mark.parametrize("mode", MODES)
def test_a_member_claims_transfers_resolves_and_replies_from_slack(demo: Demo, mode: str) -> None:
    on_x, others = demo.legal_items()
    turn = MODES.index(mode)  # each mode works on items of its own
    claimed, moved, answered = others[2 * turn], others[2 * turn + 1], on_x[turn]
    before = demo.routing()

    with connected(demo, mode) as send:
        alert = demo.alert("legal", claimed)
        assert alert is not None
        send(click(alert, "harken:claim", KENJI))
        assert (demo.item(claimed).status, demo.item(claimed).assignee) == ("claimed", "kenji")
        event = demo.last_event(claimed)
        assert (event.action, event.actor, event.via, event.actor_ref) == (
            "claimed",
            "kenji",
            "slack",
            KENJI,
        )
        alert = demo.slack.message(alert.channel, alert.ts)
        assert "*Claimed* by kenji" in texts(alert)

        send(click(alert, "harken:resolve", KENJI))
        assert demo.item(claimed).status == "resolved"
        alert = demo.slack.message(alert.channel, alert.ts)
        assert "*Resolved* by kenji · done in " in texts(alert)

        other = demo.alert("legal", moved)
        assert other is not None and demo.alert("support", moved) is None
        send(click(other, "harken:transfer", KENJI, choice="support"))
        assert demo.item(moved).department == "support"
        assert demo.last_event(moved).note.startswith("legal → support")  # type: ignore[union-attr]
        assert "*Transferred* to *support*" in texts(demo.slack.message(other.channel, other.ts))
        arrived = demo.alert("support", moved)  # the receiving channel's alert
        assert arrived is not None and f"item #{moved}" in arrived.text

        posted = len(demo.x.posted)
        answerable = demo.alert("legal", answered)
        assert answerable is not None
        send(click(answerable, "harken:reply", KENJI))
        view = demo.slack.modals[-1]["view"]
        send(submission(view, KENJI, REPLY))
        assert [post["text"] for post in demo.x.posted[posted:]] == [REPLY]  # once
        assert demo.item(answered).status == "responded"
        assert "Responded" in texts(demo.slack.message(answerable.channel, answerable.ts))

    assert [
        e for e in demo.slack.ephemerals if e["user"] == KENJI and "sent" not in e["text"]
    ] == []
    after = demo.routing()
    assert after["transferred_away"] - before["transferred_away"] == 1
    assert after["confirmed"] - before["confirmed"] == 2  # resolved, responded
