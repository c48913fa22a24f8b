"""A real crash: kill -9 a `harken process` mid-classification or mid-delivery, run it
again, count."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harken.cli import app
from harken.pipeline.demo import demo_file
from harken.store import Store
from tests.fakes.slack import FakeSlack
from tests.test_alert_claims import ENV as SLACK_ENV
from tests.test_alert_claims import (
    keys_in_slack,
    patient_config,
    start_sender,
    wait_until_in_call,
)
from tests.test_alerts import alerts, make_config, outage_posts, route, wait_until_gone

CONFIG = """\
database: {url: "sqlite:///harken.db"}
brands: [{name: Acme, keywords: [acme, アクメ], handles: ["@acme", "@acmesupport"],
          hashtags: ["#acme"], exclude: ["acme anvil"]}]
departments: [{name: support}, {name: pr}]
routing:
  rules: [{name: risky, when: {risk_gte: 0.5}, to: [pr], priority: high}]
classifier: {batch_size: 4}
"""


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "harken", *args]


ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}


def scalar(db: Path, sql: str) -> int:
    with sqlite3.connect(db) as connection:
        return int(connection.execute(sql).fetchone()[0])


@pytest.mark.slow
def test_kill_9_mid_pass_then_resume_loses_nothing_and_repeats_nothing(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    for platform in ("x", "bluesky"):
        args = command("import", str(demo_file(platform)), "-p", platform, "--no-process")
        imported = subprocess.run(args, cwd=tmp_path, env=ENV, capture_output=True, timeout=120)
        assert imported.returncode == 0, imported.stderr.decode()
    db = tmp_path / "harken.db"
    stored = scalar(db, "SELECT count(*) FROM mentions")
    assert stored > 100

    victim = subprocess.Popen(
        command("process"),
        cwd=tmp_path,
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while scalar(db, "SELECT count(*) FROM classifications") == 0:
        assert time.monotonic() < deadline and victim.poll() is None, "never started classifying"
        time.sleep(0.02)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    partial = scalar(db, "SELECT count(*) FROM classifications")
    assert 0 < partial < stored, "the kill should land mid-classification"

    survivor = subprocess.run(
        command("process"), cwd=tmp_path, env=ENV, capture_output=True, timeout=180
    )
    assert survivor.returncode == 0, survivor.stderr.decode()
    assert f"classified {stored - partial} ·" in survivor.stdout.decode()
    assert scalar(db, "SELECT count(*) FROM classifications") == stored
    assert scalar(db, "SELECT count(DISTINCT mention_id) FROM classifications") == stored
    assert scalar(db, "SELECT count(*) FROM mentions WHERE routed_at IS NULL") == 0
    assert scalar(db, "SELECT count(*) FROM queue_items") == scalar(
        db, "SELECT count(*) FROM (SELECT DISTINCT mention_id, department FROM queue_items)"
    )
    assert scalar(db, "SELECT count(*) FROM alerts WHERE status != 'sent'") == 0


def test_kill_9_mid_delivery_then_process_sends_the_rest_at_once(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    """`harken process` killed while Slack holds its first post's answer: the next `process`
    takes the dead process's claim back at once (no two-minute lease), finds the message
    by its idempotency key, and sends the rest: each alert once, in order."""
    config = make_config(tmp_path, slack, db=db_url)
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 3), classifier)  # classified and routed
    path = patient_config(tmp_path, slack, db_url)
    slack.accept_then_fail(delay=60)
    victim = start_sender(path, "process")
    wait_until_in_call(slack, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait(10)
    assert [a.status for a in alerts(store)] == ["sending", "pending", "pending"]
    wait_until_gone(store, alerts(store)[0])

    survivor = CliRunner().invoke(app, ["--config", str(path), "process"], env=SLACK_ENV)
    assert survivor.exit_code == 0, survivor.output
    assert survivor.stdout.endswith("· alerts: 2 sent, 1 found delivered after an interruption\n")
    assert keys_in_slack(slack) == [a.idempotency_key for a in alerts(store)]
    assert {a.status for a in alerts(store)} == {"sent"} and slack.post_count == 3
    store.close()
