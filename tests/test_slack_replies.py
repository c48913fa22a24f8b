"""Replies from Slack, end to end: the real slack_bolt app (harken/slackapp/replies.py) over
signed HTTP requests, the fake Slack (tests/fakes/slack.py) and the fake X that takes the
replies (tests/fakes/x.py), on SQLite and PostgreSQL.

Proved here: the Reply button opens a modal with the template `harken queue reply` would use;
a submit sends once (Slack's retry and a second modal too), as the Slack user, with the event
recorded; a reply holding `<!channel>` goes to X as it is and shows escaped in Slack; an empty
or too long text is a field error and nothing happens; with `replies.approval` on, the draft
goes to the approver channel and is sent once someone other than its author approves (or
edits) it; a person not allowed is told so and nothing is sent.
"""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from rich.console import Console
from slack_bolt import BoltRequest, BoltResponse
from sqlalchemy import select

from harken.config import load_config
from harken.notify.registry import build_sinks
from harken.pipeline.ingest import ingest
from harken.pipeline.process import run_pass
from harken.platforms.replay import read_jsonl
from harken.slackapp.app import build_app
from harken.slackapp.catchup import catch_up
from harken.store import Store
from harken.store.tables import QueueEvent
from tests import payloads as p
from tests.conftest import SLACK_CHANNELS
from tests.fakes import x as xfake
from tests.fakes.slack import TEAM_ID, FakeSlack, Message
from tests.fakes.x import FakeX
from tests.test_slack_app import (
    AIKO,
    BEN,
    ENV,
    SAM,
    VALUES,
    TrackedPool,
    World,
    click,
    signed,
    texts,
    tree,
)

POST = "<!channel> acme, my lawyer hears about this"
TEMPLATE = "Hi {author}, sorry about this: {brand} is on it."
FILLED = "Hi kenji_t, sorry about this: Acme is on it."
REPLY = "<!channel> sorry @kenji_t, a person from Acme writes to you today"
APPROVERS = "#social-team"


@dataclass
class ReplyWorld(World):
    x: FakeX

    def send(self, payload: dict[str, Any], **headers: str) -> BoltResponse:
        """A signed interactivity request; the app's answer (its ack)."""
        body = urlencode({"payload": json.dumps(payload)})
        return self.app.dispatch(BoltRequest(body=body, headers=signed(body, **headers)))

    def modal_view(self, index: int = -1) -> dict[str, Any]:
        return dict(self.slack.modals[index]["view"])

    def told(self, user: str) -> list[str]:
        return [e["text"] for e in self.slack.ephemerals if e["user"] == user]

    def approver_message(self) -> Message:
        (message,) = self.slack.messages(APPROVERS)
        return message


def make(
    tmp_path: Path, slack: FakeSlack, db_url: str, classifier: Any, **replies: Any
) -> Iterator[ReplyWorld]:
    x = FakeX()
    x.add(xfake.tweet("7000", POST))
    with x.api:
        slack.add_channel(APPROVERS)
        settings = tree(slack, db_url, VALUES)
        settings["sources"] = {
            "x": {
                "enabled": False,
                "bearer_token": xfake.ENV["X_BEARER_TOKEN"],
                "api_base_url": x.api.url,
                "consumer_key": xfake.CONSUMER_KEY,
                "consumer_secret": xfake.CONSUMER_SECRET,
                "access_token": xfake.ACCESS_TOKEN,
                "access_token_secret": xfake.ACCESS_TOKEN_SECRET,
            }
        }
        settings["replies"] = {"templates": {"default": TEMPLATE}, **replies}
        config = load_config(overrides=settings, environ=ENV)
        store = Store(db_url)
        page = p.write_jsonl(tmp_path / "in.jsonl", p.x_page(p.tweet("7000", POST)))
        ingest(store, config, list(read_jsonl(page, "x")), source="t")
        run_pass(store, config, build_sinks(config, Console(file=io.StringIO())), classifier)
        pool = TrackedPool()
        app = build_app(config, store, http=True, listener_executor=pool)
        made = ReplyWorld(config, store, slack, app, pool, x)
        try:
            yield made
        finally:
            pool.shutdown(wait=True)
            store.close()


@pytest.fixture
def world(tmp_path: Path, slack: FakeSlack, db_url: str, classifier: Any) -> Iterator[ReplyWorld]:
    yield from make(tmp_path, slack, db_url, classifier)


@pytest.fixture
def approving(
    tmp_path: Path, slack: FakeSlack, db_url: str, classifier: Any
) -> Iterator[ReplyWorld]:
    yield from make(tmp_path, slack, db_url, classifier, approval=True, approver_channel=APPROVERS)


def submission(view: dict[str, Any], user: str, text: str, view_id: str = "V0HKVIEW1") -> dict:
    """The view_submission payload Slack sends when ``user`` submits the modal ``view``."""
    name = {AIKO: "aiko", BEN: "ben", SAM: "sam"}.get(user, "stranger")
    return {
        "type": "view_submission",
        "team": {"id": TEAM_ID, "domain": "harken-test"},
        "user": {"id": user, "username": name, "name": name, "team_id": TEAM_ID},
        "api_app_id": "A0HKAPP01",
        "token": "legacy-verification-token",
        "trigger_id": "4.5.6",
        "view": {
            "id": view_id,
            "team_id": TEAM_ID,
            "type": "modal",
            "callback_id": view["callback_id"],
            "private_metadata": view["private_metadata"],
            "hash": f"{time.time():.6f}",
            "state": {"values": {"reply": {"text": {"type": "plain_text_input", "value": text}}}},
        },
        "response_urls": [],
        "is_enterprise_install": False,
    }


def open_modal(world: ReplyWorld, user: str = AIKO) -> dict[str, Any]:
    world.send(click(world.alert_message("legal"), "harken:reply", user))
    world.settle()
    return world.modal_view()


def input_of(view: dict[str, Any]) -> dict[str, Any]:
    (field,) = [b for b in view["blocks"] if b["type"] == "input"]
    return dict(field["element"])


def replied(world: ReplyWorld, item_id: int) -> list[Any]:
    return [e for e in world.events(item_id) if e.action in ("replied", "approved", "drafted")]


# -- the button and the modal ----------------------------------------------------------------


def test_answerable_platforms_match_the_registry() -> None:
    from harken.notify.slack.controls import ANSWERABLE
    from harken.platforms.registry import max_reply_lengths

    assert set(ANSWERABLE) == set(max_reply_lengths())


def test_reply_opens_a_modal_with_the_template(world: ReplyWorld) -> None:
    item, message = world.item("legal"), world.alert_message("legal")
    buttons = [e for b in message.blocks or [] if b["type"] == "actions" for e in b["elements"]]
    (reply,) = [e for e in buttons if e["action_id"] == "harken:reply"]
    assert reply["value"] == str(item.id)

    assert world.send(click(message, "harken:reply", AIKO)).status == 200
    world.settle()
    (opened,) = world.slack.modals
    assert opened["trigger_id"] == "1.2.3"  # the click's
    view = opened["view"]
    assert view["title"]["text"] == "Reply on x" and view["submit"]["text"] == "Send"
    assert input_of(view)["initial_value"] == FILLED
    shown = json.dumps(view["blocks"])
    assert f"*Item #{item.id}* \\u00b7 reply on *x* \\u00b7 up to 280 characters" in shown
    assert "&lt;!channel&gt; acme, my lawyer" in shown and "<!channel>" not in shown
    assert world.x.posted == [] and len(replied(world, item.id)) == 0


def test_with_no_template_the_form_starts_empty(
    tmp_path: Path, slack: FakeSlack, db_url: str, classifier: Any
) -> None:
    for world in make(tmp_path, slack, db_url, classifier, templates={}):
        view = open_modal(world)
        assert "initial_value" not in input_of(view)
        assert "cannot send" not in json.dumps(view["blocks"])  # nothing written yet


# -- sending ---------------------------------------------------------------------------------


def test_a_submit_sends_once_as_the_slack_user(world: ReplyWorld) -> None:
    item = world.item("legal")
    view = open_modal(world)
    payload = submission(view, AIKO, REPLY)
    answer = world.send(payload)
    assert (answer.status, answer.body) == (200, "")  # closes the modal
    assert world.send(payload, **{"x-slack-retry-num": "1"}).status == 200  # Slack's retry
    world.settle()
    assert [post["text"] for post in world.x.posted] == [REPLY]  # as written, to X
    assert world.x.posted[0]["reply"] == {"in_reply_to_tweet_id": "7000"}
    (event,) = replied(world, item.id)
    assert (event.action, event.actor, event.via, event.actor_ref) == (
        "replied",
        "aiko",
        "slack",
        AIKO,
    )
    assert world.item("legal").status == "responded"
    url = f"https://x.com/i/status/{world.x.next_id}"
    assert world.told(AIKO) == [f"Reply to item #{item.id} sent: {url}"]
    updated = world.slack.message(SLACK_CHANNELS["legal"], world.alert_message("legal").ts)
    assert updated.edits == 1 and "Responded" in texts(updated)

    again = submission(open_modal(world), AIKO, REPLY, view_id="V0HKVIEW2")  # a second modal
    world.send(again)
    world.settle()
    assert len(world.x.posted) == 1
    assert world.told(AIKO)[-1].startswith("Not sent: this exact reply was already sent")
    for shown in [*world.told(AIKO), *(texts(m) for m in world.slack.all_messages)]:
        assert "<!channel>" not in shown


@pytest.mark.parametrize(
    ("text", "error"),
    [("   ", "the reply is empty"), ("x" * 281, "281 characters")],
)
def test_an_empty_or_too_long_reply_is_a_field_error(
    world: ReplyWorld, text: str, error: str
) -> None:
    item = world.item("legal")
    answer = world.send(submission(open_modal(world), AIKO, text))
    world.settle()
    body = json.loads(answer.body)
    assert body["response_action"] == "errors" and error in body["errors"]["reply"]
    assert world.x.posted == [] and replied(world, item.id) == []
    assert world.slack.ephemerals == []


def test_a_person_not_allowed_is_told_and_nothing_is_sent(world: ReplyWorld) -> None:
    item = world.item("legal")
    world.send(click(world.alert_message("legal"), "harken:reply", BEN))  # support, not legal
    world.settle()
    assert world.slack.modals == []
    assert world.told(BEN)[0].startswith("Not allowed: ben is not a member of legal")

    forged = submission(open_modal(world), BEN, REPLY)  # aiko's modal, submitted as ben
    assert world.send(forged).status == 200
    world.settle()
    assert world.told(BEN)[-1].startswith("Not allowed: ben is not a member of legal")
    assert world.x.posted == [] and replied(world, item.id) == []


# -- approval --------------------------------------------------------------------------------


def test_with_approval_a_draft_is_sent_once_another_person_approves(
    approving: ReplyWorld,
) -> None:
    world = approving
    item = world.item("legal")
    view = open_modal(world)
    assert view["submit"]["text"] == "Send for approval"
    assert world.send(submission(view, AIKO, REPLY)).status == 200
    world.settle()
    assert world.x.posted == []
    (drafted,) = replied(world, item.id)
    assert (drafted.action, drafted.actor, drafted.actor_ref, drafted.note) == (
        "drafted",
        "aiko",
        AIKO,
        REPLY,
    )
    assert world.told(AIKO) == [
        f"Your reply to item #{item.id} is waiting for approval in {APPROVERS}."
    ]
    draft = world.approver_message()
    assert "&lt;!channel&gt; sorry @kenji_t" in texts(draft) and "<!channel>" not in texts(draft)

    world.send(click(draft, "harken:reply_approve", AIKO))  # the author: not theirs to approve
    world.settle()
    assert world.told(AIKO)[-1] == "You wrote this reply: someone else approves it."
    assert world.x.posted == []

    first, double = (click(draft, "harken:reply_approve", SAM, stamp=s) for s in ("1.0", "1.2"))
    world.send(first)
    world.send(double)
    world.settle()
    assert [post["text"] for post in world.x.posted] == [REPLY]
    events = replied(world, item.id)
    assert [(e.action, e.actor, e.actor_ref) for e in events] == [
        ("drafted", "aiko", AIKO),
        ("approved", "sam", SAM),
        ("replied", "aiko", AIKO),
    ]
    assert events[-1].note is not None and events[-1].note.endswith("(approved by sam)")
    settled = world.slack.message(draft.channel, draft.ts)
    assert "approved by sam" in texts(settled)
    assert not any(b["type"] == "actions" for b in settled.blocks or [])
    assert "<!channel>" not in texts(settled)
    # The two clicks run side by side: one sends, the other is told it was sent, in either
    # order (which one Slack hears back from first depends on the machine's load).
    told = world.told(SAM)
    sent = [t for t in told if t.startswith(f"Reply to item #{item.id} sent https://x.com/")]
    assert len(sent) == 1, told
    assert all(t in sent or "already sent" in t for t in told), told


def test_an_approver_edits_the_draft_and_sends_it(approving: ReplyWorld) -> None:
    world = approving
    item = world.item("legal")
    world.send(submission(open_modal(world), AIKO, REPLY))
    world.settle()
    draft = world.approver_message()

    world.send(click(draft, "harken:reply_edit", BEN))  # ben may not act on legal's items
    world.settle()
    assert world.told(BEN)[-1].startswith("Not allowed:") and len(world.slack.modals) == 1

    world.send(click(draft, "harken:reply_edit", SAM))
    world.settle()
    edit = world.modal_view()
    assert input_of(edit)["initial_value"] == REPLY and edit["submit"]["text"] == "Send"
    better = "Hi kenji_t, we are sorry: a person from Acme writes to you today."
    world.send(submission(edit, SAM, better, view_id="V0HKVIEW9"))
    world.settle()
    assert [post["text"] for post in world.x.posted] == [better]
    assert [(e.action, e.actor, e.note) for e in replied(world, item.id)][:2] == [
        ("drafted", "aiko", REPLY),
        ("approved", "sam", better),
    ]
    assert replied(world, item.id)[-1].actor == "aiko"  # the reply stays its author's


def test_approval_without_an_approver_channel_is_a_field_error(
    tmp_path: Path, slack: FakeSlack, db_url: str, classifier: Any
) -> None:
    for world in make(tmp_path, slack, db_url, classifier, approval=True):
        answer = world.send(submission(open_modal(world), AIKO, REPLY))
        world.settle()
        assert "replies.approver_channel" in json.loads(answer.body)["errors"]["reply"]
        assert world.x.posted == [] and replied(world, world.item("legal").id) == []


def test_a_draft_lost_in_a_crash_is_posted_once_at_the_next_start(
    approving: ReplyWorld,
) -> None:
    world = approving
    item = world.item("legal")
    held = world.slack.hold("chat.postMessage")  # the draft's post to the approvers
    world.send(submission(open_modal(world), AIKO, REPLY))
    assert held.arrived.wait(10)
    retried = world.slack.hold("chat.postMessage")  # slack_sdk retries a reset once
    held.release(drop=True)  # the process died mid-call: the draft is kept, nothing posted
    assert retried.arrived.wait(10)
    retried.release(drop=True)
    world.settle()
    assert world.slack.messages(APPROVERS) == []
    (drafted,) = replied(world, item.id)
    assert world.told(AIKO) == [  # kept: not to be written again
        f"Your reply to item #{item.id} is kept, but could not be posted to {APPROVERS} for "
        "approval yet: the harken app posts it when it next starts."
    ]

    for _ in range(2):  # the app starts again, twice: posted by the first start only
        restarted = build_app(world.config, world.store, http=True)
        catch_up(restarted.client, world.store, world.config)
        draft = world.approver_message()
    assert f"harken:draft:{drafted.id}" in texts(draft) and "<!channel>" not in texts(draft)
    assert "&lt;!channel&gt; sorry @kenji_t" in texts(draft)
    world.send(click(draft, "harken:reply_approve", SAM))  # approvers act on it as usual
    world.settle()
    assert [post["text"] for post in world.x.posted] == [REPLY]


def test_a_draft_posted_but_not_recorded_is_found_not_posted_again(
    approving: ReplyWorld,
) -> None:
    world = approving
    item = world.item("legal")
    world.send(submission(open_modal(world), AIKO, REPLY))
    world.settle()
    posted = world.approver_message()
    with world.store.session() as session:  # stopped after the post, before recording it
        (mark,) = session.execute(
            select(QueueEvent).where(
                QueueEvent.queue_item_id == item.id, QueueEvent.action == "draft_posted"
            )
        ).scalars()
        session.delete(mark)
    catch_up(build_app(world.config, world.store, http=True).client, world.store, world.config)
    assert world.approver_message() == posted  # found by its metadata: still the one message
    assert [e.action for e in world.events(item.id)].count("draft_posted") == 1


def test_a_draft_answered_since_is_not_posted_again_at_start(approving: ReplyWorld) -> None:
    """A draft from before drafts' posts were recorded (no ``draft_posted``, its message
    without metadata), approved and sent since: nothing awaits, nothing is posted again."""
    world = approving
    item = world.item("legal")
    world.send(submission(open_modal(world), AIKO, REPLY))
    world.settle()
    posted = world.approver_message()
    world.send(click(posted, "harken:reply_approve", SAM))
    world.settle()
    assert [post["text"] for post in world.x.posted] == [REPLY]
    with world.store.session() as session:
        (mark,) = session.execute(
            select(QueueEvent).where(
                QueueEvent.queue_item_id == item.id, QueueEvent.action == "draft_posted"
            )
        ).scalars()
        session.delete(mark)
    posted.metadata = None
    catch_up(build_app(world.config, world.store, http=True).client, world.store, world.config)
    assert world.approver_message() == posted  # still the one message
