"""The daily digest through the outbox: the daemon's job makes it once per date after
digest.time, Slack gets the summary (and the page as a file) in PR's channel, SMTP gets the
e-mail; a restart, a second run or `harken digest --send` do not send it twice."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from typer.testing import CliRunner

from harken.cli import app
from harken.config import Config, load_config
from harken.digest.job import digest_due, run_digest
from harken.notify.outbox import deliver_pending
from harken.notify.registry import build_sinks
from harken.store import Store
from tests import payloads as p
from tests.fakes.slack import TOKEN, FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.test_alerts import HOSTILE, make_tree, outage_posts, posts, route


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP(user="digest", password="smtp-secret-123") as server:
        yield server


def digest_tree(
    tmp_path: Path, slack: FakeSlack, smtp: FakeSMTP, db: str | None = None, **extra: Any
) -> dict[str, Any]:
    tree = make_tree(tmp_path, slack, db=db)
    tree["digest"] = {
        "time": "08:00",
        "timezone": "Asia/Tokyo",
        "department": "pr",
        "upload": True,
        "link": "https://intranet.example/harken/digest-{date}.html",
        "email": {
            "host": "127.0.0.1",
            "port": smtp.port,
            "security": "none",
            "username": "digest",
            "password": "smtp-secret-123",
            "from": "harken <harken@example.com>",
            "to": ["pr-team@example.com"],
        },
        **extra,
    }
    return tree


def deliver(store: Store, config: Config) -> Any:
    return deliver_pending(store, config, build_sinks(config, Console(file=io.StringIO())))


def test_the_daily_digest_goes_out_once_per_date(
    tmp_path: Path, slack: FakeSlack, smtp: FakeSMTP, classifier: Any, db_url: str
) -> None:
    config = load_config(
        overrides=digest_tree(tmp_path, slack, smtp, db=db_url, out_dir=str(tmp_path / "d")),
        environ={},
    )
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 2), classifier)
    route(store, config, posts(tmp_path, "h.jsonl", p.tweet("1666", HOSTILE)), classifier)
    morning = datetime(2026, 12, 2, 23, 5, tzinfo=UTC)  # 08:05 on the 3rd in Tokyo
    # at 07:55 nothing is due: the day before's digest time is long past (stale)
    assert digest_due(store, config, morning - timedelta(minutes=10)) is None
    assert digest_due(store, config, morning) == date(2026, 12, 3)
    queued = run_digest(store, config, morning)
    assert queued is not None and queued.date == "2026-12-03"
    assert sorted(queued.added) == ["email", "slack"]
    assert (tmp_path / "d" / "digest-2026-12-03.html").is_file()
    result = deliver(store, config)
    assert result.sent == 2 + 4 - 1  # the digest twice; the alerts (one held by nothing)
    [post] = [m for m in slack.messages("#pr-escalations") if "digest" in m.text.lower()]
    text = json.dumps({"text": post.text, "blocks": post.blocks}, ensure_ascii=False)
    assert "https://intranet.example/harken/digest-2026-12-03.html" in text
    assert "<!channel>" not in text
    [upload] = slack.uploads
    assert upload.completed and b"<html" in upload.content
    assert upload.thread_ts == post.ts  # the page sits in the summary's thread
    [mail] = smtp.messages
    assert mail.user == "digest" and mail.rcpt_to == ["pr-team@example.com"]
    assert "2026-12-03" in mail.message["Subject"]
    # the next runs of the job, a restart included, find it sent
    assert run_digest(store, config, morning + timedelta(minutes=5)) is None
    assert digest_due(store, config, morning + timedelta(hours=3)) is None
    # a digest missed by more than 12 hours of downtime is not sent late
    assert digest_due(store, config, morning + timedelta(days=1, hours=13)) is None


def test_digest_send_from_the_cli_once_then_force(
    tmp_path: Path, slack: FakeSlack, smtp: FakeSMTP, classifier: Any, db_url: str
) -> None:
    tree = digest_tree(tmp_path, slack, smtp, db=db_url)
    tree["alerts"]["slack"]["bot_token"] = "${SLACK_BOT_TOKEN}"
    tree["digest"]["email"]["password"] = "${SMTP_PASSWORD}"
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(tree), encoding="utf-8")
    env = {"SLACK_BOT_TOKEN": TOKEN, "SMTP_PASSWORD": "smtp-secret-123"}
    config = load_config(path, environ=env)
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 1), classifier)
    runner = CliRunner()
    page = tmp_path / "page.html"
    first = runner.invoke(
        app, ["digest", "--date", "2026-12-03", "--out", str(page), "--send"], env=env
    )
    assert first.exit_code == 0, first.output
    assert page.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert len(smtp.messages) == 1 and len(slack.uploads) == 1
    again = runner.invoke(app, ["digest", "--date", "2026-12-03", "--send"], env=env)
    assert again.exit_code == 1 and "already sent" in again.output
    forced = runner.invoke(app, ["digest", "--date", "2026-12-03", "--send", "--force"], env=env)
    assert forced.exit_code == 0, forced.output
    assert len(smtp.messages) == 2
    assert "smtp-secret-123" not in first.output + again.output + forced.output
    assert TOKEN not in first.output + again.output + forced.output


def test_a_failing_smtp_server_is_retried_and_slack_is_not_held_up(
    tmp_path: Path, slack: FakeSlack, smtp: FakeSMTP, classifier: Any, db_url: str
) -> None:
    config = load_config(overrides=digest_tree(tmp_path, slack, smtp, db=db_url), environ={})
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 1), classifier)
    smtp.fail("MAIL", 451, "4.3.0 try again later")
    run_digest(store, config, datetime(2026, 12, 2, 23, 5, tzinfo=UTC))
    result = deliver(store, config)
    assert result.retry_later == 1 and any("451" in e for e in result.errors)
    assert "smtp-secret-123" not in " ".join(result.errors)
    assert any("digest" in m.text.lower() for m in slack.messages("#pr-escalations"))
    assert smtp.messages == []
