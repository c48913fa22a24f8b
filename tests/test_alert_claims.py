"""Claims on alerts after a crash: a sender killed with SIGKILL mid-delivery leaves its alert
claimed (pending -> sending); the next sender takes that claim back at once, because the
process that held it is gone (its lock died with it), and checks Slack before sending again.
A live sender's claim is never taken, and `harken alerts flush` says what it is waiting on.

Real processes, the real slack_sdk against the local fake Slack, both backends.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import update
from typer.testing import CliRunner

from harken.cli import app
from harken.notify.outbox import LEASE
from harken.store import Store
from harken.store.lock import SenderLease
from harken.store.tables import Alert
from tests import payloads as p
from tests.fakes.http import Reply
from tests.fakes.slack import TOKEN, FakeSlack
from tests.test_alerts import (
    alerts,
    make_config,
    make_tree,
    outage_posts,
    posts,
    route,
    wait_until_gone,
)

ENV = {**os.environ, "SLACK_BOT_TOKEN": TOKEN}


def patient_config(tmp_path: Path, slack: FakeSlack, db: str) -> Path:
    """A config file whose Slack calls wait a minute for an answer (the fake's late answer
    keeps a sender in its call until the test kills it)."""
    tree = make_tree(tmp_path, slack, token="${SLACK_BOT_TOKEN}", db=db)
    tree["alerts"]["slack"]["timeout"] = "60s"
    path = tmp_path / "patient.json.yaml"
    path.write_text(json.dumps(tree), encoding="utf-8")
    return path


def start_sender(path: Path, *command: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "harken", "--config", str(path), *command],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_until_in_call(slack: FakeSlack, sender: subprocess.Popen[bytes]) -> None:
    """The sender's first post is stored in Slack; its answer is on its way (late)."""
    deadline = time.monotonic() + 60
    while not slack.messages("#eng-incidents"):
        assert sender.poll() is None, "the sender exited before its first post"
        assert time.monotonic() < deadline, "the sender never posted"
        time.sleep(0.05)


def flush(path: Path) -> Any:
    return CliRunner().invoke(app, ["--config", str(path), "alerts", "flush"], env=ENV)


def keys_in_slack(slack: FakeSlack) -> list[str]:
    messages = slack.messages("#eng-incidents")
    return [m.metadata["event_payload"]["key"] for m in messages]  # type: ignore[index]


def test_flush_after_a_sender_is_killed_mid_call_sends_everything_at_once(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    """The finding: after kill -9 mid-delivery the next flush said "alerts: 0 sent" and left
    the channel's alerts waiting two minutes for the dead sender's claim to expire."""
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 4), classifier)
    path = patient_config(tmp_path, slack, db_url)
    slack.accept_then_fail(delay=60)  # the first post is stored; its answer never comes
    sender = start_sender(path, "alerts", "flush")
    wait_until_in_call(slack, sender)
    os.kill(sender.pid, signal.SIGKILL)  # mid-call: Slack has the message, the store does not
    sender.wait()
    assert [a.status for a in alerts(store)] == ["sending", "pending", "pending", "pending"]
    wait_until_gone(store, alerts(store)[0])

    started = time.monotonic()
    flushed = flush(path)
    assert flushed.exit_code == 0, flushed.output
    assert flushed.stdout == "alerts: 3 sent, 1 found delivered after an interruption\n"
    assert time.monotonic() - started < 30  # no lease to wait out
    # exactly once, in the order they were written; the interrupted one was looked up by its
    # idempotency key (the in-doubt path), not posted again
    assert keys_in_slack(slack) == [a.idempotency_key for a in alerts(store)]
    assert {a.status for a in alerts(store)} == {"sent"}
    assert slack.post_count == 4 and slack.api_calls("conversations.history")
    store.close()


def test_a_live_senders_claim_is_not_taken_and_flush_says_who_holds_it(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 3), classifier)
    path = patient_config(tmp_path, slack, db_url)
    slack.accept_then_fail(delay=60)  # the sender stays in its first call
    sender = start_sender(path, "alerts", "flush")
    try:
        wait_until_in_call(slack, sender)
        flushed = flush(path)
        assert sender.poll() is None  # it was alive all along
    finally:
        os.kill(sender.pid, signal.SIGKILL)
        sender.wait()
    assert flushed.exit_code == 0, flushed.output
    claimed_at = alerts(store)[0].sending_at
    assert claimed_at is not None
    who = f"{sender.pid}@{socket.gethostname()}"
    assert flushed.stdout == (
        f"alerts: 0 sent · 3 waiting: claimed by {who} (alive, since {claimed_at:%H:%M:%S} UTC)\n"
    )
    assert slack.post_count == 1  # not sent twice
    # once it is gone, the next flush finds its message and sends the rest, in order
    wait_until_gone(store, alerts(store)[0])
    again = flush(path)
    assert again.stdout == "alerts: 2 sent, 1 found delivered after an interruption\n"
    assert keys_in_slack(slack) == [a.idempotency_key for a in alerts(store)]
    store.close()


def test_claims_of_a_run_that_ended_come_back_those_of_a_live_one_stay(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    """In one process: a lease is held by a delivery run (the file lock or the database
    session lives exactly as long as it); the lease is what tells live from dead."""
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 2), classifier)
    first = alerts(store)[0]
    other = Store(config.database.url)  # another sender: its own connections and lock
    lease = SenderLease(other)
    claim(store, first.id, lease.take())  # type: ignore[arg-type]
    path = patient_config(tmp_path, slack, db_url)
    flushed = flush(path)
    assert flushed.exit_code == 0 and slack.post_count == 0
    assert "2 waiting: claimed by" in flushed.output and "(alive, since" in flushed.output
    lease.release()  # the run that claimed it is over, its claim unfinished
    assert flush(path).stdout == "alerts: 2 sent\n"
    assert keys_in_slack(slack) == [a.idempotency_key for a in alerts(store)]
    other.close()
    store.close()


def test_a_claim_without_a_holder_waits_for_the_old_lease(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    """A claim written by a harken older than claim holders (an upgrade mid-delivery) has
    no lease to check: it is taken back after the two-minute lease, as before."""
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 1), classifier)
    claim(store, alerts(store)[0].id, None)  # type: ignore[arg-type]
    path = patient_config(tmp_path, slack, db_url)
    flushed = flush(path)
    expires = alerts(store)[0].sending_at + LEASE  # type: ignore[operator]
    assert flushed.stdout == (
        f"alerts: 0 sent · 1 waiting: claimed by an older harken until {expires:%H:%M:%S} UTC\n"
    )
    assert slack.post_count == 0


def test_flush_says_when_alerts_wait_for_a_retry(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 3), classifier)
    busy = Reply(503, json={"ok": False, "error": "service_unavailable"})
    slack.fail_method("chat.postMessage", busy)
    path = patient_config(tmp_path, slack, db_url)
    flushed = flush(path)
    assert flushed.exit_code == 1
    head = alerts(store)[0]
    assert head.next_attempt_at is not None
    assert flushed.stdout == (
        f"alerts: 0 sent, 1 to retry · 3 waiting: retrying after "
        f"{head.next_attempt_at:%H:%M:%S} UTC (Slack chat.postMessage: service_unavailable)\n"
    )


def test_flush_counts_each_thing_it_waits_on(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 2), classifier)
    lawyer = p.tweet("1004", "acme I am calling my lawyer")
    route(store, config, posts(tmp_path, "l.jsonl", lawyer), classifier)
    engineering, _, legal = alerts(store)
    assert (engineering.channel, legal.channel) == ("engineering", "legal")
    other = Store(config.database.url)
    lease = SenderLease(other)
    claim(store, engineering.id, lease.take())  # type: ignore[arg-type]
    slack.fail_method("chat.postMessage", Reply(503, json={"ok": False, "error": "fatal_error"}))
    flushed = flush(patient_config(tmp_path, slack, db_url))
    assert flushed.exit_code == 1  # the legal alert was not delivered
    claimed_at, retry_at = alerts(store)[0].sending_at, alerts(store)[2].next_attempt_at
    assert claimed_at is not None and retry_at is not None
    assert flushed.stdout == (
        f"alerts: 0 sent, 1 to retry · 3 waiting: 2 claimed by {os.getpid()}@"
        f"{socket.gethostname()} (alive, since {claimed_at:%H:%M:%S} UTC), 1 retrying after "
        f"{retry_at:%H:%M:%S} UTC (Slack chat.postMessage: fatal_error)\n"
    )
    lease.release()
    other.close()
    store.close()


def claim(store: Store, alert_id: int, holder: str | None) -> None:
    """What a sender's claim writes (outbox.py _claim), done by hand."""
    with store.session() as session:
        session.execute(
            update(Alert)
            .where(Alert.id == alert_id)  # type: ignore[arg-type]
            .values(
                status="sending",
                sending_at=datetime.now(UTC) - timedelta(seconds=1),
                claimed_by=holder,
                attempts=1,
            )
        )
