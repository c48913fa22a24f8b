"""Slack alerts end to end: the real pipeline writes the outbox, the real slack_sdk delivers it
to a local fake Slack (tests/fakes/slack.py) that answers like Slack, 429s and 500s included.

Proved here: one thread per incident (later posts are quiet replies, the root is refreshed),
Retry-After honoured (no request before the reset), backoff through an hour of Slack being
unreachable with everything arriving once and in order per channel, exactly once across a
lost answer and across a sender killed mid-call, the noise budget (cooldown, hourly cap,
quiet hours, critical bypass), webhooks, permanent errors, hostile post text, and the
`harken alerts` commands.
"""

from __future__ import annotations

import io
import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import event, select, text
from typer.testing import CliRunner

from harken.cli import app
from harken.config import Config, load_config
from harken.notify.contract import Delivered
from harken.notify.outbox import deliver_pending
from harken.notify.registry import build_sinks
from harken.pipeline.ingest import ingest
from harken.pipeline.process import run_pass
from harken.platforms.replay import read_jsonl
from harken.store import Store
from harken.store.lock import SenderLease, live_holders
from harken.store.tables import Alert, SinkHold
from tests import payloads as p
from tests.conftest import SLACK_CHANNELS, TEST_TOPICS
from tests.fakes.http import Reply
from tests.fakes.slack import TOKEN, FakeSlack

CHANNELS = SLACK_CHANNELS
HOSTILE = "<!channel> <!here> <@U123> <http://evil.example|Bank> & < > acme lawyer up"


def make_tree(
    tmp_path: Path, slack: FakeSlack, token: str = TOKEN, db: str | None = None, **alerts: Any
) -> dict[str, Any]:
    """``db``: the database URL (default: SQLite in ``tmp_path``)."""
    return {
        "database": {"url": db or f"sqlite:///{tmp_path}/h.db"},
        "brands": [{"name": "Acme", "keywords": ["acme"], "handles": ["@acmesupport"]}],
        "departments": [
            {"name": name, "slack_channel": channel, "sla": "1h"}
            for name, channel in CHANNELS.items()
        ],
        "topics": TEST_TOPICS,
        "routing": {
            "default": "support",
            "rules": [
                {"name": "legal", "when": {"keywords": ["lawyer"]}, "to": ["legal"],
                 "priority": "urgent"},
                {"name": "outages", "when": {"topics": ["outage"]}, "to": ["engineering"],
                 "priority": "high"},
            ],
        },
        # Delivery is counted per incident here: storm grouping would fold the separate
        # outage reports into one thread (tests/test_storm_grouping.py covers storms).
        "incidents": {"storms": {"enabled": False}},
        "alerts": {
            "min_priority": "high",
            "min_risk": 0.99,
            "slack": {"bot_token": token, "api_base_url": slack.api_url, "timeout": "2s"},
            **alerts,
        },
    }  # fmt: skip


def make_config(tmp_path: Path, slack: FakeSlack, db: str | None = None, **alerts: Any) -> Config:
    tree = make_tree(tmp_path, slack, db=db, **alerts)
    return load_config(overrides=tree, environ={"SLACK_BOT_TOKEN": TOKEN})


def config_file(tmp_path: Path, slack: FakeSlack, db: str | None = None, **alerts: Any) -> Path:
    """The same settings as a file, for the CLI (YAML reads JSON)."""
    path = tmp_path / "config.json.yaml"
    tree = make_tree(tmp_path, slack, token="${SLACK_BOT_TOKEN}", db=db, **alerts)  # from the env
    path.write_text(json.dumps(tree), encoding="utf-8")
    return path


def posts(tmp_path: Path, name: str, *tweets: dict[str, Any]) -> list[Any]:
    return list(read_jsonl(p.write_jsonl(tmp_path / name, p.x_page(*tweets)), "x"))


OUTAGE = "@acme the app is down, can't log in since this morning"


LOGIN_TROUBLE = [
    "can't log in to acme on my iPad, the password reset loops forever",
    "acme: can't log in after the update, the 2FA code never arrives",
    "Our accounting team can't log in to Acme Cloud today. Payroll is due at noon",
    "acme why can't log in with Google SSO anymore??",
    "I can't log in to acme and the support chat is offline too",
    "can't log in to acme from Brazil, through a US VPN it works",
    "week three of acme telling me I can't log in because my email is 'invalid'",
    "acme desktop client: can't log in, error code 0x80042 on Windows 11",
    "Grandma can't log in to acme photos, locked out after three tries",
    "acme enterprise SAML is broken, the whole company can't log in",
    "can't log in to acme on Firefox, Chrome is fine, cookies cleared",
    "new laptop, can't log in to acme, it says the device limit is reached",
]
_next_text = itertools.count()


def outage_posts(tmp_path: Path, count: int, start: int = 5000) -> list[Any]:
    """Posts about different login troubles (no two join one incident), each alerting
    engineering."""
    tweets = [
        p.tweet(str(start + i), LOGIN_TROUBLE[next(_next_text) % len(LOGIN_TROUBLE)])
        for i in range(count)
    ]
    return posts(tmp_path, f"outages-{start}.jsonl", *tweets)


def route(store: Store, config: Config, records: list[Any], classifier: Any) -> None:
    """Ingest, classify and route; deliver nothing yet (no sinks in this pass)."""
    ingest(store, config, records, source="t")
    run_pass(store, config, {}, classifier)


def alerts(store: Store) -> list[Alert]:
    with store.session() as session:
        return list(session.execute(select(Alert).order_by(Alert.id)).scalars())


def deliver(store: Store, config: Config, at: datetime | None = None, **kwargs: Any) -> Any:
    clock: Callable[[], datetime] = (lambda: at) if at else (lambda: datetime.now(UTC))
    sinks = build_sinks(config, Console(file=io.StringIO()))
    return deliver_pending(store, config, sinks, clock=clock, **kwargs)


def wait_until_gone(store: Store, alert: Alert) -> None:
    """The killed sender's lease is let go of: by the kernel before ``wait()`` returns
    (SQLite's flock), or by PostgreSQL once the backend sees the connection drop (a few
    milliseconds later, on a busy machine more)."""
    holder = alert.claimed_by
    assert holder is not None
    deadline = time.monotonic() + 10
    while live_holders(store, [holder]):
        assert time.monotonic() < deadline, "the server never let go of the killed sender's lock"
        time.sleep(0.01)


def every_text(message: Any) -> str:
    return json.dumps({"text": message.text, "blocks": message.blocks}, ensure_ascii=False)


# -- threads --------------------------------------------------------------------------------


def test_one_thread_per_incident_later_posts_reply_quietly(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    route(store, config, posts(tmp_path, "a.jsonl", p.tweet("1001", OUTAGE)), classifier)
    assert deliver(store, config).sent == 1
    [root] = slack.messages("#eng-incidents")
    assert root.metadata == {
        "event_type": "harken_alert",
        "event_payload": {"key": alerts(store)[0].idempotency_key},
    }
    assert "harken queue claim" in every_text(root)
    # three retweets join the incident in one pass: one quiet reply, not three pings
    retweets = [
        p.tweet(str(1100 + i), f"RT @kenji_t: {OUTAGE}",
                referenced_tweets=[{"type": "retweeted", "id": "1001"}])
        for i in range(3)
    ]  # fmt: skip
    route(store, config, posts(tmp_path, "b.jsonl", *retweets), classifier)
    updates = [a for a in alerts(store) if a.kind == "update"]
    assert len(updates) == 1 and updates[0].payload["joined"] == 3
    assert deliver(store, config).sent == 1
    thread = slack.thread("#eng-incidents", root.ts)
    assert thread[0].ts == root.ts and len(thread) == 2
    reply = thread[1]
    assert reply.thread_ts == root.ts and not reply.reply_broadcast  # nobody pinged
    assert "+3" in every_text(reply)
    assert slack.message("#eng-incidents", root.ts).edits == 1  # the root shows the new size
    assert "4 posts" in every_text(slack.message("#eng-incidents", root.ts))
    # nothing else went to the channel's top level
    assert [m.ts for m in slack.messages("#eng-incidents") if not m.is_reply] == [root.ts]


def test_a_reply_waits_while_another_sender_posts_its_thread_root(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    """Two senders (workers): the other one claims the root of a thread after this one
    looked for alerts in flight and before it read the page of pending alerts. The reply
    must wait for the root, not be given up for want of a thread."""
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    retweets = [
        p.tweet(str(1100 + i), f"RT @kenji_t: {OUTAGE}",
                referenced_tweets=[{"type": "retweeted", "id": "1001"}])
        for i in range(2)
    ]  # fmt: skip
    route(store, config, posts(tmp_path, "a.jsonl", p.tweet("1001", OUTAGE), *retweets), classifier)
    root, reply = alerts(store)
    assert (root.kind, reply.kind) == ("item", "update")
    other_sender = Store(config.database.url)
    lease = SenderLease(other_sender)  # what the other sender's run holds while it lives
    holder = lease.take()

    def claim_the_root_first(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "alerts.id >" in statement and not claimed:
            claimed.append(True)
            with other_sender.engine.begin() as connection:
                connection.execute(
                    text(
                        "UPDATE alerts SET status = 'sending', sending_at = :now, "
                        "claimed_by = :holder WHERE id = :id"
                    ),
                    {"now": datetime.now(UTC), "holder": holder, "id": root.id},
                )

    claimed: list[bool] = []
    event.listen(store.engine, "before_cursor_execute", claim_the_root_first)
    try:
        result = deliver(store, config)
    finally:
        event.remove(store.engine, "before_cursor_execute", claim_the_root_first)
    assert claimed and (result.sent, result.skipped) == (0, 0)
    assert [a.status for a in alerts(store)] == ["sending", "pending"]
    assert slack.messages("#eng-incidents") == []
    # The other sender died mid-call (its lease is gone): both go out at once, the reply in
    # the thread.
    lease.release()
    result = deliver(store, config)
    assert result.sent == 2 and [a.status for a in alerts(store)] == ["sent", "sent"]
    [top] = [m for m in slack.messages("#eng-incidents") if not m.is_reply]
    assert [m.thread_ts for m in slack.thread("#eng-incidents", top.ts)][1:] == [top.ts]
    other_sender.close()
    store.close()


# -- rate limits, errors, outages -------------------------------------------------------------


def test_429_retry_after_holds_every_request_until_the_reset(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 3), classifier)
    limited = Reply(429, json={"ok": False, "error": "ratelimited"}, headers={"Retry-After": "30"})
    slack.fail_method("chat.postMessage", limited)
    now = datetime.now(UTC)
    first = deliver(store, config, at=now)
    assert first.sent == 0 and first.waiting_until is not None
    assert first.waiting_until >= now + timedelta(seconds=30)
    assert slack.post_count == 1
    # 15 s later, from any process: not one request before the reset
    assert deliver(store, config, at=now + timedelta(seconds=15), force=True).sent == 0
    assert slack.post_count == 1
    later = deliver(store, config, at=now + timedelta(seconds=31))
    assert later.sent == 3 and slack.post_count == 4
    # a short Retry-After is waited out in place (the sleep is recorded, not endured)
    route(store, config, outage_posts(tmp_path, 1, start=6000), classifier)
    slack.fail_method("chat.postMessage", Reply(429, json={"ok": False, "error": "ratelimited"},
                                                headers={"Retry-After": "2"}))  # fmt: skip
    slept: list[float] = []
    clock = [now + timedelta(minutes=1)]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += timedelta(seconds=seconds)

    sinks = build_sinks(config, Console(file=io.StringIO()))
    result = deliver_pending(store, config, sinks, clock=lambda: clock[0], sleep=sleep)
    assert result.sent == 1 and slept and 1.9 <= slept[0] <= 2.1


def test_channels_are_delivered_side_by_side_each_in_order_and_once(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    """Each Slack call takes its time: while one channel waits on Slack another is sent to,
    and every channel still gets its alerts once, in the order they were written."""
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 3), classifier)
    threats = [
        p.tweet(str(7000 + n), text)
        for n, text in enumerate(
            (
                "acme lost my order, my lawyer hears of it today",
                "my lawyer says the acme contract terms are void",
                "I forwarded the acme invoice to my lawyer. See you in court",
            )
        )
    ]
    route(store, config, posts(tmp_path, "legal.jsonl", *threats), classifier)
    written = alerts(store)
    assert {a.channel for a in written} == {"engineering", "legal"} and len(written) == 6
    slack.latency = 0.2
    result = deliver(store, config)
    assert result.sent == 6 and {a.status for a in alerts(store)} == {"sent"}
    assert slack.most_in_flight >= 2  # two channels' calls were answered at the same time
    for department, channel in (("engineering", "#eng-incidents"), ("legal", "#legal-social")):
        roots = [m for m in slack.messages(channel) if not m.is_reply]
        keys = [m.metadata["event_payload"]["key"] for m in roots]  # type: ignore[index]
        assert keys == [a.idempotency_key for a in written if a.channel == department]


class InterruptedSink:
    """A sink of lanes side by side whose engineering channel is interrupted (Ctrl-C) on its
    first call, while the legal channel's calls take their time."""

    name, verifiable, budgeted, parallel_lanes = "slack", False, False, 2

    def __init__(self) -> None:
        self.delivered: list[int] = []

    def lane(self, alert: Alert) -> str:
        return alert.channel

    def deliver(self, view: Any, thread: Any) -> Delivered:
        if view.alert.channel == "engineering":
            raise KeyboardInterrupt
        time.sleep(0.3)
        self.delivered.append(view.alert.id)
        return Delivered()

    def verify(self, view: Any, thread: Any) -> Delivered | None:
        return None


def test_an_interrupted_channel_stops_the_channels_beside_it(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    """Ctrl-C in one channel's thread: the others finish the call in flight and stop before
    their next alert; the run ends only then, with no claim left in the air."""
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    threats = [
        p.tweet("7100", "acme lost my order, my lawyer hears of it today"),
        p.tweet("7101", "my lawyer says the acme contract terms are void"),
        p.tweet("7102", "I forwarded the acme invoice to my lawyer. See you in court"),
    ]
    # Legal's alerts first: its lane is the first whose result the run waits for.
    route(store, config, posts(tmp_path, "legal.jsonl", *threats), classifier)
    route(store, config, outage_posts(tmp_path, 2), classifier)
    sink = InterruptedSink()
    with pytest.raises(KeyboardInterrupt):
        deliver_pending(store, config, {"slack": sink})
    assert len(sink.delivered) <= 1  # legal's call in flight, none after it
    legal = [a for a in alerts(store) if a.channel == "legal"]
    assert [a.status for a in legal] == ["sent"] * len(sink.delivered) + ["pending"] * (
        len(legal) - len(sink.delivered)
    )


def test_slack_unreachable_for_an_hour_then_everything_arrives_once_in_order(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 4), classifier)
    legal = p.tweet("1004", "acme charged me twice, I am calling my lawyer")
    route(store, config, posts(tmp_path, "l.jsonl", legal), classifier)
    slack.unreachable = True
    start = datetime.now(UTC)
    for minute in range(0, 61):  # the daemon's queues job, every minute for an hour
        result = deliver(store, config, at=start + timedelta(minutes=minute))
        assert result.sent == 0 and result.failed == 0
    assert {a.status for a in alerts(store)} == {"pending"}
    assert "cannot connect" in (alerts(store)[0].last_error or "")
    slack.unreachable = False
    total = 0
    for minute in range(61, 70):
        total += deliver(store, config, at=start + timedelta(minutes=minute)).sent
    assert total == 5 and {a.status for a in alerts(store)} == {"sent"}
    engineering = [m for m in slack.messages("#eng-incidents") if not m.is_reply]
    keys = [m.metadata["event_payload"]["key"] for m in engineering]  # type: ignore[index]
    expected = [a.idempotency_key for a in alerts(store) if a.channel == "engineering"]
    assert keys == expected  # each once, in the order they were written
    assert len(slack.messages("#legal-social")) == 1


def test_500s_back_off_and_a_lost_answer_is_not_posted_twice(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 2), classifier)
    slack.fail_method("chat.postMessage", Reply(500, body="<html>oops</html>"))
    now = datetime.now(UTC)
    assert deliver(store, config, at=now).retry_later >= 1
    assert deliver(store, config, at=now + timedelta(seconds=10)).sent == 0  # backing off
    # Slack stores the next post but the connection drops before the answer
    slack.accept_then_fail()
    result = deliver(store, config, at=now + timedelta(seconds=31))
    assert result.sent == 0 and len(slack.messages("#eng-incidents")) == 1
    result = deliver(store, config, at=now + timedelta(minutes=2))
    # the first alert was found delivered by its key: not posted again; the second went out
    assert result.recovered == 1 and result.sent == 1
    engineering = slack.messages("#eng-incidents")
    keys = [m.metadata["event_payload"]["key"] for m in engineering]  # type: ignore[index]
    assert keys == [a.idempotency_key for a in alerts(store)]
    assert slack.api_calls("conversations.history")


def test_exactly_once_across_a_sender_killed_mid_call(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 3), classifier)
    path = config_file(tmp_path, slack, db=db_url)
    slack.accept_then_fail(delay=30)  # the first post is stored; its answer never comes
    sender = subprocess.Popen(
        [sys.executable, "-m", "harken", "--config", str(path), "alerts", "flush"],
        env={**os.environ, "SLACK_BOT_TOKEN": TOKEN},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not slack.messages("#eng-incidents") and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(sender.pid, signal.SIGKILL)  # mid-call: Slack has the message, the store does not
    sender.wait()
    assert len(slack.messages("#eng-incidents")) == 1
    assert alerts(store)[0].status == "sending"
    wait_until_gone(store, alerts(store)[0])
    # its lease died with it: a fresh sender takes the claim back at once (no lease to wait
    # out), checks Slack for the alert's key, finds it, and sends only the rest
    result = deliver(store, config)
    assert result.recovered == 1 and result.sent == 2 and slack.post_count == 3
    keys = [m.metadata["event_payload"]["key"] for m in slack.messages("#eng-incidents")]  # type: ignore[index]
    assert keys == [a.idempotency_key for a in alerts(store)]
    assert {a.status for a in alerts(store)} == {"sent"}


def test_permanent_errors_fail_at_once_and_the_lane_goes_on(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 2), classifier)
    slack.fail_method("chat.postMessage", Reply(json={"ok": False, "error": "channel_not_found"}))
    result = deliver(store, config)
    assert result.failed == 1 and result.sent == 1
    failed = alerts(store)[0]
    assert failed.status == "failed" and "channel_not_found" in (failed.last_error or "")
    # `harken alerts retry` puts it back once the config is fixed
    config_path = config_file(tmp_path, slack, db=db_url)
    env = {"SLACK_BOT_TOKEN": TOKEN}
    listed = CliRunner().invoke(
        app, ["--config", str(config_path), "alerts", "--status", "failed"], env=env
    )
    assert listed.exit_code == 0, listed.output
    assert "channel_not_found" in listed.output and "1 failed" in listed.output
    # A department that is neither configured nor in the store is a typo, not an empty list.
    typo = CliRunner().invoke(app, ["--config", str(config_path), "alerts", "-d", "enginering"])
    assert typo.exit_code == 1 and "enginering" in typo.stderr, typo.output
    retried = CliRunner().invoke(
        app, ["--config", str(config_path), "alerts", "retry", "--status", "failed"], env=env
    )
    assert retried.exit_code == 0, retried.output
    assert "1 alert(s) back in the outbox" in retried.output and "1 sent" in retried.output
    assert {a.status for a in alerts(store)} == {"sent"}
    # An id that is not there, or not failed, held or skipped, is an error that says why.
    sent = str(alerts(store)[0].id)
    wrong = CliRunner().invoke(
        app, ["--config", str(config_path), "alerts", "retry", sent, "99999"], env=env
    )
    assert wrong.exit_code == 1, wrong.output
    assert f"alert #{sent} is sent: only failed, held or skipped" in wrong.stderr
    assert "no alert #99999" in wrong.stderr


# -- webhooks -------------------------------------------------------------------------------


def test_webhooks_post_to_their_channel_and_their_url_never_shows(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    hook = slack.add_webhook("#eng-incidents")
    config = make_config(tmp_path, slack, db=db_url)
    config = config.model_copy(
        update={"alerts": config.alerts.model_copy(update={"slack": config.alerts.slack.model_copy(  # type: ignore[union-attr]
            update={"bot_token": None, "webhook_url": hook})})}
    )  # fmt: skip
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 2), classifier)
    slack.fail_method("webhook", Reply(429, body="rate limited", headers={"Retry-After": "60"}))
    now = datetime.now(UTC)
    assert deliver(store, config, at=now).sent == 0
    assert deliver(store, config, at=now + timedelta(seconds=61)).sent == 2
    stored = slack.messages("#eng-incidents")
    assert len(stored) == 2 and all(m.via == "webhook" for m in stored)
    slack.revoke_webhook(hook)
    route(store, config, outage_posts(tmp_path, 1, start=7000), classifier)
    result = deliver(store, config, at=now + timedelta(minutes=2))
    assert result.failed == 1
    error = alerts(store)[-1].last_error or ""
    assert "404" in error and "no_service" in error
    assert hook.rsplit("/", 1)[-1] not in " ".join(result.errors) + error


# -- noise budget ---------------------------------------------------------------------------


def test_cooldown_and_hourly_cap_hold_pings_critical_bypasses(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    config = make_config(tmp_path, slack, db=db_url, cooldown="10m", max_per_hour=2)
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 2), classifier)
    now = datetime.now(UTC)
    result = deliver(store, config, at=now)
    assert (result.sent, result.held) == (1, 1)
    held = alerts(store)[1]
    assert held.status == "held" and (held.note or "").startswith("cooldown: engineering")
    route(store, config, outage_posts(tmp_path, 1, start=6000), classifier)
    assert deliver(store, config, at=now + timedelta(minutes=11)).sent == 1  # cooldown over
    route(store, config, outage_posts(tmp_path, 1, start=6100), classifier)
    capped = deliver(store, config, at=now + timedelta(minutes=25))
    assert capped.held == 1
    assert "hourly cap: 2 alerts to engineering" in (alerts(store)[-1].note or "")
    # an urgent legal threat (critical) goes through whatever the budget
    route(
        store,
        config,
        posts(tmp_path, "l.jsonl", p.tweet("1004", "acme I am calling my lawyer")),
        classifier,
    )
    assert deliver(store, config, at=now + timedelta(minutes=26)).sent == 1
    assert len(slack.messages("#legal-social")) == 1


def test_quiet_hours_hold_non_critical_alerts_for_the_digest(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    config = make_config(
        tmp_path,
        slack,
        db=db_url,
        quiet_hours={"start": "22:00", "end": "07:00", "timezone": "Asia/Tokyo"},
    )
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 1), classifier)
    route(
        store,
        config,
        posts(tmp_path, "l.jsonl", p.tweet("1004", "acme I am calling my lawyer")),
        classifier,
    )
    night = datetime(2026, 12, 2, 15, 30, tzinfo=UTC)  # 00:30 in Tokyo
    result = deliver(store, config, at=night)
    assert (result.sent, result.held) == (1, 1)  # the urgent legal threat only
    engineering = next(a for a in alerts(store) if a.channel == "engineering")
    assert engineering.note == "quiet hours 22:00-07:00 Asia/Tokyo: held for the digest"
    assert slack.messages("#eng-incidents") == []


# -- hostile text ---------------------------------------------------------------------------


def test_a_hostile_post_reaches_slack_as_plain_text(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    route(store, config, posts(tmp_path, "h.jsonl", p.tweet("1666", HOSTILE)), classifier)
    assert deliver(store, config).sent == 1
    [message] = slack.messages("#legal-social")
    sent = slack.api_calls("chat.postMessage")[-1].body.decode()
    for raw in ("<!channel>", "<!here>", "<@U123>", "<http://evil.example|Bank>"):
        assert raw not in sent and raw not in every_text(message)
    assert "&lt;!channel&gt;" in every_text(message)
    assert message.params.get("link_names") in (None, False, "false", "0")


def test_stored_holds_are_shared_between_processes(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 1), classifier)
    slack.fail_method("chat.postMessage", Reply(429, json={"ok": False, "error": "ratelimited"},
                                                headers={"Retry-After": "120"}))  # fmt: skip
    deliver(store, config)
    with store.session() as session:
        hold = session.get(SinkHold, "slack")
    assert hold is not None and hold.until > datetime.now(UTC) + timedelta(seconds=100)
    config_path = config_file(tmp_path, slack, db=db_url)
    shown = CliRunner().invoke(
        app, ["--config", str(config_path), "alerts"], env={"SLACK_BOT_TOKEN": TOKEN}
    )
    assert shown.exit_code == 0, shown.output
    assert "slack: asked to wait until" in shown.output
    flushed = CliRunner().invoke(
        app, ["--config", str(config_path), "alerts", "flush"], env={"SLACK_BOT_TOKEN": TOKEN}
    )
    assert flushed.exit_code == 1 and "rate limited until" in flushed.output
    assert slack.post_count == 1  # the CLI, another process's view, honoured the hold
