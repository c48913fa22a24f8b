"""``/harken`` and the App Home tab end to end: the real slack_bolt app (harken/slackapp/)
answers signed slash-command requests and ``app_home_opened`` events (and one command over
Socket Mode), over the items the real pipeline made, against the fake Slack
(tests/fakes/slack.py), on SQLite and PostgreSQL.

Proved here: each subcommand's answer goes only to the caller (ephemeral, through the
command's response URL); `queue` lists the caller's departments' open items overdue first;
`show` has the item and its history; `claim` claims as the Slack user with the app's
permission rules and updates the alert in place; unknown subcommands, departments and items
get a clear error naming what is valid; the Home tab has the same list with the alert's
controls, capped under Slack's 100 blocks; hostile post text stays escaped.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from rich.console import Console
from slack_bolt import BoltRequest
from slack_bolt.adapter.socket_mode import SocketModeHandler
from sqlalchemy import select

from harken.config import load_config
from harken.notify.registry import build_sinks
from harken.pipeline.ingest import ingest
from harken.pipeline.process import run_pass
from harken.slackapp.app import build_app
from harken.slackapp.home import MAX_ITEMS
from harken.store import Store
from harken.store.tables import QueueItem, utcnow
from tests.conftest import SLACK_CHANNELS
from tests.fakes.slack import APP_ID, APP_TOKEN, TEAM_ID, FakeSlack
from tests.test_slack_app import (
    AIKO,
    BEN,
    ENV,
    HOSTILE,
    NOBODY,
    SAM,
    VALUES,
    TrackedPool,
    World,
    records,
    signed,
    tree,
)

CALM = "acme, my lawyer wants the invoice copy"
LATER = "acme, a lawyer asks about the terms"


def make(
    tmp_path: Path,
    slack: FakeSlack,
    db_url: str,
    classifier: Any,
    *texts: str,
    http: bool = True,
    apart: bool = False,
) -> World:
    """The pipeline's items of ``texts``; ``apart``: each its own incident (and item)."""
    settings = tree(slack, db_url, VALUES) | ({"incidents": {"similarity": 1}} if apart else {})
    config = load_config(overrides=settings, environ=ENV)
    store = Store(db_url)
    ingest(store, config, records(tmp_path, *texts), source="t")
    run_pass(store, config, build_sinks(config, Console(file=io.StringIO())), classifier)
    pool = TrackedPool()
    return World(
        config, store, slack, build_app(config, store, http=http, listener_executor=pool), pool
    )


@pytest.fixture
def world(tmp_path: Path, slack: FakeSlack, db_url: str, classifier: Any) -> Iterator[World]:
    """Three legal items; the one due last made overdue (so it must come first)."""
    made = make(tmp_path, slack, db_url, classifier, HOSTILE, CALM, LATER)
    try:
        yield made
    finally:
        made.pool.shutdown(wait=True)
        made.store.close()


def legal_items(world: World) -> list[QueueItem]:
    with world.store.session() as session:
        found = list(
            session.execute(
                select(QueueItem).where(QueueItem.department == "legal").order_by(QueueItem.id)
            ).scalars()
        )
        for item in found:
            session.expunge(item)
        return found


def make_overdue(world: World, item_id: int) -> None:
    with world.store.session() as session:
        item = session.get(QueueItem, item_id)
        assert item is not None
        item.due_at = utcnow() - timedelta(minutes=5)


def command_body(world: World, user: str, text: str) -> tuple[str, str]:
    url = world.slack.response_url()
    name = {AIKO: "aiko", BEN: "ben", SAM: "sam"}.get(user, "stranger")
    fields = {
        "token": "legacy-verification-token",
        "team_id": TEAM_ID,
        "team_domain": "harken-test",
        "channel_id": world.slack.channel(SLACK_CHANNELS["legal"]).id,
        "channel_name": "legal-social",
        "user_id": user,
        "user_name": name,
        "command": "/harken",
        "text": text,
        "api_app_id": APP_ID,
        "response_url": url,
        "trigger_id": "1.2.3",
    }
    return urlencode(fields), url


def command(world: World, user: str, text: str) -> dict[str, Any]:
    """``user`` types ``/harken <text>``: the signed request, then the answer they got."""
    body, url = command_body(world, user, text)
    posted = len(world.slack.all_messages)
    response = world.app.dispatch(BoltRequest(body=body, headers=signed(body)))
    assert response.status == 200 and response.body == ""  # acked at once, empty
    world.settle()
    (answer,) = [r for r in world.slack.responses if r["url"] == url]
    assert answer["response_type"] == "ephemeral"
    assert world.slack.ephemerals == [] and len(world.slack.all_messages) == posted
    return answer


def shown(answer: dict[str, Any]) -> str:
    return answer["text"] + json.dumps(answer.get("blocks") or [], ensure_ascii=False)


def home_opened(world: World, user: str, tab: str = "home") -> int:
    event = {"type": "app_home_opened", "user": user, "channel": "D0HKHOME1", "tab": tab,
             "event_ts": f"{time.time():.6f}"}  # fmt: skip
    body = json.dumps(
        {"token": "x", "team_id": TEAM_ID, "api_app_id": APP_ID, "event": event,
         "type": "event_callback", "event_id": f"Ev{time.time_ns()}", "event_time": 1}
    )  # fmt: skip
    headers = signed(body) | {"content-type": ["application/json"]}
    status = world.app.dispatch(BoltRequest(body=body, headers=headers)).status
    world.settle()
    return status


# -- /harken -----------------------------------------------------------------------------------


def test_help_and_unknown_subcommands(world: World) -> None:
    for text in ("help", "", "  HELP "):
        answer = command(world, AIKO, text)
        for usage in ("/harken queue [department]", "/harken show ID", "/harken claim ID"):
            assert usage in answer["text"]
    wrong = command(world, AIKO, "frobnicate <!channel>")
    assert wrong["text"].startswith("Error: no subcommand `frobnicate`")
    assert "/harken queue [department]" in wrong["text"]
    assert "<!channel>" not in shown(command(world, AIKO, "<!channel> now"))


def test_queue_lists_the_callers_departments_overdue_first(world: World) -> None:
    first, second, third = legal_items(world)
    make_overdue(world, third.id)
    answer = command(world, AIKO, "queue")
    assert "*3 open item(s)* in legal: overdue first" in answer["text"]
    lines = [b["text"]["text"] for b in answer["blocks"][1:]]
    assert [line.split("*")[1] for line in lines] == [f"#{i.id}" for i in (third, first, second)]
    assert "*OVERDUE*" in lines[0] and "OVERDUE" not in "".join(lines[1:])
    assert "due <!date^" in lines[0]
    # Hostile post text is text: no ping, no mention, no disguised link.
    hostile = next(line for line in lines if "lawyer &lt;@U123&gt;" in line)
    assert "&lt;!channel&gt;" in hostile and "<!channel>" not in shown(answer)
    assert "<http://evil" not in shown(answer)

    named = command(world, SAM, "queue legal")  # the social team, any department
    assert "*3 open item(s)* in legal" in named["text"]
    assert "*0 open item(s)* in support" in command(world, BEN, "queue")["text"]


def test_queue_refusals_name_what_is_valid(world: World) -> None:
    wrong = command(world, AIKO, "queue billing")
    assert wrong["text"] == (
        "Error: no department `billing` (one of: support, engineering, legal, pr)."
    )
    lost = command(world, NOBODY, "queue")
    assert lost["text"].startswith("Error: you are in no department yet")
    assert "support, engineering, legal, pr" in lost["text"]
    assert "takes one department" in command(world, AIKO, "queue legal pr")["text"]


def test_show_has_the_item_and_its_history(world: World) -> None:
    item = legal_items(world)[0]
    command(world, AIKO, f"claim {item.id}")
    answer = command(world, BEN, f"show {item.id}")
    text = shown(answer)
    assert answer["text"] == f"Item #{item.id}"
    assert f"*#{item.id}* · legal · urgent · claimed (aiko)" in text
    assert "&lt;!channel&gt; acme, my lawyer" in text and "<!channel>" not in text
    assert "*history*" in text and "aiko (slack U0HKAIKO1) claimed new → claimed" in text
    assert "post: https://" in text

    assert command(world, AIKO, "show 999999")["text"] == (
        "Error: no queue item #999999 (`harken queue list` shows the open ones)"
    )
    for bad in ("show", "show abc", "show 1 2", "show " + "9" * 40):
        assert command(world, AIKO, bad)["text"].startswith(
            "Error: `/harken show` takes one item id"
        )


def test_claim_as_the_slack_user_and_the_alert_follows(world: World) -> None:
    item = legal_items(world)[0]
    refused = command(world, BEN, f"claim {item.id}")
    assert refused["text"] == (
        "Error: not allowed: ben is not a member of legal (its items are for its members, "
        "the social team and admins) (an admin lists your departments or role under users: "
        "in harken's config). Nothing changed."
    )
    assert legal_items(world)[0].status == "new"
    assert all(m.edits == 0 for m in world.slack.messages(SLACK_CHANNELS["legal"]))

    answer = command(world, AIKO, f"claim #{item.id}")
    assert answer["text"] == f"Claimed item #{item.id}: it is yours (aiko)."
    claimed = legal_items(world)[0]
    assert (claimed.status, claimed.assignee) == ("claimed", "aiko")
    (event,) = [e for e in world.events(item.id) if e.action == "claimed"]
    assert (event.actor, event.via, event.actor_ref) == ("aiko", "slack", AIKO)
    edited = [m for m in world.slack.messages(SLACK_CHANNELS["legal"]) if m.edits]
    assert len(edited) == 1 and "*Claimed* by aiko" in json.dumps(edited[0].blocks)

    again = command(world, AIKO, f"claim {item.id}")
    assert again["text"] == f"You already hold item #{item.id}."
    assert [e.action for e in world.events(item.id)].count("claimed") == 1
    assert command(world, AIKO, "claim 999999")["text"].startswith("Error: no queue item #999999")


def test_a_command_over_socket_mode(
    tmp_path: Path, slack: FakeSlack, sqlite_url: str, classifier: Any
) -> None:
    world = make(tmp_path, slack, sqlite_url, classifier, HOSTILE, http=False)
    handler = SocketModeHandler(world.app, APP_TOKEN)
    handler.connect()
    try:
        assert slack.socket.connected.wait(10)
        body, url = command_body(world, AIKO, "queue")
        payload = {k: v[0] for k, v in parse_qs(body).items()}
        envelope = slack.socket.send(payload, type="slash_commands")
        assert slack.socket.wait_ack(envelope, timeout=10)["envelope_id"] == envelope
        deadline = time.monotonic() + 10
        while not [r for r in slack.responses if r["url"] == url] and time.monotonic() < deadline:
            time.sleep(0.02)
        (answer,) = [r for r in slack.responses if r["url"] == url]
        assert answer["response_type"] == "ephemeral"
        assert "*1 open item(s)* in legal" in answer["text"]
    finally:
        handler.close()
        world.pool.shutdown(wait=True)
        world.store.close()


# -- App Home ----------------------------------------------------------------------------------


def test_home_lists_the_members_items_overdue_first_with_the_controls(world: World) -> None:
    first, second, third = legal_items(world)
    make_overdue(world, second.id)
    assert home_opened(world, AIKO) == 200
    view = world.slack.home_views()[AIKO]
    blocks = view["blocks"]
    assert blocks[0]["text"]["text"] == "harken: open items"
    assert blocks[1]["elements"][0]["text"].startswith("3 open in legal · overdue first")
    sections = [b for b in blocks[2:] if b["type"] == "section"]
    controls = [b for b in blocks[2:] if b["type"] == "actions"]
    order = [second.id, first.id, third.id]
    assert [s["text"]["text"].split("*")[1] for s in sections] == [f"#{i}" for i in order]
    assert [c["block_id"] for c in controls] == [f"harken:item:{i}" for i in order]
    buttons = {e["action_id"]: e for e in controls[0]["elements"]}
    assert {"harken:claim", "harken:resolve", "harken:dismiss", "harken:transfer"} <= set(buttons)
    assert buttons["harken:claim"]["value"] == str(second.id)
    text = json.dumps(blocks, ensure_ascii=False)
    assert "&lt;!channel&gt;" in text and "<!channel>" not in text

    assert home_opened(world, NOBODY) == 200
    (_, explained) = world.slack.home_views()[NOBODY]["blocks"]
    assert explained["text"]["text"].startswith("You are in no department yet")

    published = len(world.slack.views)
    assert home_opened(world, AIKO, tab="messages") == 200
    assert len(world.slack.views) == published  # the Messages tab: nothing to publish


def test_a_click_on_the_home_tab_acts_and_shows_the_home_again(world: World) -> None:
    item = legal_items(world)[0]
    home_opened(world, AIKO)
    blocks = world.slack.home_views()[AIKO]["blocks"]
    (controls,) = [b for b in blocks if b.get("block_id") == f"harken:item:{item.id}"]
    (claim,) = [e for e in controls["elements"] if e["action_id"] == "harken:claim"]
    payload = {
        "type": "block_actions",
        "user": {"id": AIKO, "username": "aiko", "name": "aiko", "team_id": TEAM_ID},
        "api_app_id": APP_ID,
        "container": {"type": "view", "view_id": "V0HKHOME1"},
        "view": {"id": "V0HKHOME1", "type": "home", "blocks": blocks},
        "trigger_id": "1.2.3",
        "team": {"id": TEAM_ID, "domain": "harken-test"},
        "actions": [
            {"type": "button", "action_id": "harken:claim", "block_id": controls["block_id"],
             "value": claim["value"], "text": claim["text"], "action_ts": f"{time.time():.6f}"}
        ],
    }  # fmt: skip
    assert world.post(payload) == 200
    world.settle()
    assert (legal_items(world)[0].status, legal_items(world)[0].assignee) == ("claimed", "aiko")
    assert len(world.slack.views) == 2  # opened, then again after the click
    again = json.dumps(world.slack.home_views()[AIKO]["blocks"], ensure_ascii=False)
    assert f"*#{item.id}* · legal · urgent · claimed (aiko)" in again


def test_home_is_capped_under_slacks_block_limit(
    tmp_path: Path, slack: FakeSlack, sqlite_url: str, classifier: Any
) -> None:
    texts = [f"acme, my lawyer writes again ({n})" for n in range(MAX_ITEMS + 5)]
    world = make(tmp_path, slack, sqlite_url, classifier, *texts, apart=True)
    try:
        assert home_opened(world, AIKO) == 200
        blocks = world.slack.home_views()[AIKO]["blocks"]
        assert len(blocks) <= 100
        assert len([b for b in blocks if b["type"] == "actions"]) == MAX_ITEMS
        assert blocks[-1]["text"]["text"].startswith("…and 5 more")
    finally:
        world.pool.shutdown(wait=True)
        world.store.close()
