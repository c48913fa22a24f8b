"""`harken listen --once`, `harken sources` and the `harken run` daemon, end to end.

X stands in for every source here (each source has its own test file); the daemon tests run
`harken run` as a real process against a local fake X and kill it.
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
from collections.abc import Callable, Iterator
from contextlib import closing
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harken.cli import app
from tests.fakes.http import Reply, Request
from tests.fakes.x import FakeX, tweet

runner = CliRunner()
ENV = {
    **os.environ,
    "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
    "PYTHONUNBUFFERED": "1",
    "X_BEARER_TOKEN": "test-bearer-token",
}


def config_text(url: str, **x_settings: object) -> str:
    settings = {
        "enabled": True,
        "bearer_token": "${X_BEARER_TOKEN}",
        "api_base_url": url,
        "interval": "1h",
        "max_results": 10,
        **x_settings,
    }
    return (
        'database: {url: "sqlite:///harken.db"}\n'
        "brands: [{name: Acme, keywords: [acme]}]\n"
        "departments: [{name: support}]\n"
        f"sources: {{x: {json.dumps(settings)}}}\n"
        "refresh: {enabled: false}\n"
    )


@pytest.fixture
def fake() -> Iterator[FakeX]:
    x = FakeX()
    with x.api:
        yield x


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", "test-bearer-token")


def scalar(db: Path, sql: str) -> object:
    """One value, or None while the daemon has not created the schema yet."""
    with closing(sqlite3.connect(db)) as connection:
        try:
            row = connection.execute(sql).fetchone()
        except sqlite3.OperationalError:
            return None
        return row[0] if row else None


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


# -- listen --once / sources ----------------------------------------------------------------


def test_listen_once_stores_processes_and_reports(fake: FakeX, env: None, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(config_text(fake.api.url), encoding="utf-8")
    fake.add(tweet(1, "acme is down, I can't log in"), tweet(2, "unrelated chatter"))
    first = runner.invoke(app, ["listen", "--once"])
    assert first.exit_code == 0, first.output
    assert "x: 1 new (1 page, 1 off-brand or own)" in first.output
    assert "classified 1 · routed 1 into 1 queue items" in first.output

    again = runner.invoke(app, ["listen", "--once", "--source", "x"])
    assert again.exit_code == 0 and "x: 0 new (1 page)" in again.output

    table = runner.invoke(app, ["sources"])
    assert table.exit_code == 0
    assert "ok" in table.output and "449" not in table.output  # remaining after 2 calls: 448
    (row,) = json.loads(runner.invoke(app, ["sources", "--format", "json"]).output)
    assert row["name"] == "x" and row["state"] == "ok"
    assert row["collected_last_hour"] == 1 and row["quota"]["remaining"] == 448
    assert row["lag_seconds"] is not None


def test_sources_shows_what_the_last_poll_could_not_read(
    fake: FakeX, env: None, tmp_path: Path
) -> None:
    (tmp_path / "config.yaml").write_text(config_text(fake.api.url), encoding="utf-8")
    broken = tweet(2, "acme [bold]hostile[/] text")
    del broken["author_id"]
    fake.add(tweet(1, "acme is down, I can't log in"), broken)
    first = runner.invoke(app, ["listen", "--once"])
    assert first.exit_code == 0, first.output
    assert "x: 1 new (1 page, 1 unreadable)" in first.output
    (row,) = json.loads(runner.invoke(app, ["sources", "--format", "json"]).output)
    assert row["state"] == "ok" and (row["last_rejected"], row["rejected_total"]) == (1, 1)
    assert row["last_rejection"].startswith("unreadable") and "author_id" in row["last_rejection"]
    table = runner.invoke(app, ["sources"])
    assert table.exit_code == 0 and "1 rejected" in table.output and "missing" in table.output
    fake.add(tweet(3, "acme works again"))
    assert runner.invoke(app, ["listen", "--once"]).exit_code == 0
    (row,) = json.loads(runner.invoke(app, ["sources", "--format", "json"]).output)
    assert (row["last_rejected"], row["rejected_total"]) == (0, 1)  # the total stays


def test_listen_once_exits_1_naming_the_failed_source(
    fake: FakeX, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", "revoked-token-value")
    (tmp_path / "config.yaml").write_text(config_text(fake.api.url), encoding="utf-8")
    result = runner.invoke(app, ["listen", "--once"])
    assert result.exit_code == 1
    assert "x: 0 new (0 pages); failed: X: HTTP 401" in result.output
    assert "Error: 1 of 1 sources failed: x" in result.output
    status = runner.invoke(app, ["sources", "--format", "json"])
    (row,) = json.loads(status.output)
    assert row["state"] == "failing" and "401" in row["last_error"]
    assert runner.invoke(app, ["sources", "--check"]).exit_code == 0  # failing, not unhealthy


def test_listen_without_once_points_to_run(tmp_path: Path) -> None:
    result = runner.invoke(app, ["listen"])
    assert result.exit_code == 1 and "harken run" in result.output


def test_a_missing_credential_is_a_config_error_naming_the_variable(
    fake: FakeX, tmp_path: Path
) -> None:
    (tmp_path / "config.yaml").write_text(config_text(fake.api.url), encoding="utf-8")
    result = runner.invoke(app, ["listen", "--once"], env={"X_BEARER_TOKEN": ""})
    assert result.exit_code == 1
    assert "sources.x.bearer_token" in result.output and "X_BEARER_TOKEN" in result.output


# -- the daemon -----------------------------------------------------------------------------


def start_run(directory: Path, log_name: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = directory / log_name
    with log.open("wb") as sink:  # the child keeps its own descriptor
        process = subprocess.Popen(
            [sys.executable, "-m", "harken", "run"],
            cwd=directory,
            env=ENV,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    return process, log


def test_run_refuses_a_second_scheduler_and_stops_cleanly_on_sigterm(
    fake: FakeX, tmp_path: Path
) -> None:
    (tmp_path / "config.yaml").write_text(config_text(fake.api.url), encoding="utf-8")
    first, log = start_run(tmp_path, "first.log")
    try:
        wait_for(lambda: "scheduled poll:x every 1h" in log.read_text(), "the first daemon")
        wait_for(lambda: len(fake.searches) == 1, "the poll that was due at start")
        second = subprocess.run(
            [sys.executable, "-m", "harken", "run"],
            cwd=tmp_path,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert second.returncode == 1
        assert "another `harken run` or `listen` (pid" in second.stderr
        listen = subprocess.run(
            [sys.executable, "-m", "harken", "listen", "--once"],
            cwd=tmp_path,
            env=ENV,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert listen.returncode == 1 and "already polling" in listen.stderr
        first.send_signal(signal.SIGTERM)
        assert first.wait(timeout=30) == 0
    finally:
        first.kill()
    output = log.read_text()
    assert "received SIGTERM" in output and output.rstrip().endswith("stopped")
    assert "x: 0 new (1 page)" in output


def test_kill_9_mid_poll_then_restart_loses_nothing_and_rereads_nothing(
    fake: FakeX, tmp_path: Path
) -> None:
    (tmp_path / "config.yaml").write_text(
        config_text(fake.api.url, first_poll_pages=100, max_pages=100), encoding="utf-8"
    )
    fake.add(*[tweet(1000 + i, f"acme status page {i}") for i in range(300)])
    search = fake._search

    def slow_search(req: Request) -> Reply:
        reply = search(req)
        reply.delay = 0.1
        return reply

    fake.api.routes[("GET", "/2/tweets/search/recent")] = slow_search
    db = tmp_path / "harken.db"
    victim, _ = start_run(tmp_path, "victim.log")
    try:
        wait_for(
            lambda: db.exists() and (scalar(db, "SELECT count(*) FROM mentions") or 0) >= 40,
            "some pages to be stored",
        )
        os.kill(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
    finally:
        victim.kill()
    stored = int(scalar(db, "SELECT count(*) FROM mentions"))  # type: ignore[arg-type]
    assert 40 <= stored < 300 and stored % 10 == 0  # whole pages only
    state = json.loads(str(scalar(db, "SELECT value FROM cursors WHERE source = 'x'")))["Acme"]
    assert state["next_token"] == f"before:{1300 - stored}" and state["pending_newest"] == "1299"
    requests_before = len(fake.searches)

    again, log = start_run(tmp_path, "again.log")
    try:
        wait_for(lambda: "x: " in log.read_text(), "the resumed poll", timeout=90)
        os.kill(again.pid, signal.SIGKILL)
        again.wait(timeout=10)
    finally:
        again.kill()
    with closing(sqlite3.connect(db)) as connection:
        ids = [row for (row,) in connection.execute("SELECT external_id FROM mentions")]
    assert sorted(ids) == sorted(str(1000 + i) for i in range(300))
    final = json.loads(str(scalar(db, "SELECT value FROM cursors WHERE source = 'x'")))
    assert final["Acme"] == {"since_id": "1299"}
    # The resumed poll asked only for the pages not yet stored (plus the one cut off by kill).
    assert len(fake.searches) - requests_before <= (300 - stored) // 10 + 1


def test_verbose_output_never_shows_the_token(fake: FakeX, env: None, tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(config_text(fake.api.url), encoding="utf-8")
    result = runner.invoke(app, ["-vv", "listen", "--once"])
    assert result.exit_code == 0
    assert "Making API request" in result.output  # tweepy's debug log, headers and all
    assert "test-bearer-token" not in result.output
    assert "'Authorization': '***'" in result.output


def test_polls_are_due_an_interval_after_the_last_one_and_overdue_ones_run_at_start(
    fake: FakeX, tmp_path: Path
) -> None:
    import threading
    from datetime import UTC, datetime, timedelta

    from harken.config import load_config
    from harken.pipeline.scheduler import Daemon
    from harken.platforms.registry import build_sources
    from harken.store import Store
    from harken.store import sources as source_repo

    (tmp_path / "config.yaml").write_text(config_text(fake.api.url), encoding="utf-8")
    config = load_config(tmp_path / "config.yaml", environ={"X_BEARER_TOKEN": "t" * 20})
    store = Store(config.database.url)
    daemon = Daemon(store, config, build_sources(config), {}, threading.Event())
    now = datetime.now(UTC)
    never, queues, spikes, digest = daemon.jobs()
    assert never.id == "poll:x" and abs((never.first_run - now).total_seconds()) < 5
    assert queues.id == "queues" and queues.interval == timedelta(minutes=1)
    # The spike check runs five minutes past each hour, on the hour's completed counts.
    assert spikes.id == "spikes" and spikes.interval == timedelta(hours=1)
    assert spikes.first_run.minute == 5 and 0 < (spikes.first_run - now).total_seconds() <= 3900
    # The digest job looks every five minutes whether the day's digest time has passed.
    assert digest.id == "digest" and digest.interval == timedelta(minutes=5)

    for ago, expected_wait in ((timedelta(minutes=20), 40 * 60), (timedelta(hours=3), 0)):
        with store.session() as session:
            health = source_repo.health_for_update(session, "x")
            health.last_poll_at = now - ago
            session.add(health)
        job = daemon.jobs()[0]
        assert abs((job.first_run - now).total_seconds() - expected_wait) < 5


def test_server_written_errors_cannot_drive_the_terminal(
    fake: FakeX, env: None, tmp_path: Path
) -> None:
    (tmp_path / "config.yaml").write_text(config_text(fake.api.url), encoding="utf-8")
    hostile = "\x1b]0;PWNED\x07\x1b[2J\x1b[31mbad query [bold]x[/bold]"
    fake.api.fail_next(Reply(400, json={"errors": [{"message": hostile}], "title": "x"}))
    result = runner.invoke(app, ["listen", "--once"])
    assert result.exit_code == 1
    assert "\x1b" not in result.output and "\x07" not in result.output
    assert "bad query [bold]x[/bold]" in result.output  # shown as text, not as markup
    (row,) = json.loads(runner.invoke(app, ["sources", "--format", "json"]).output)
    assert "\x1b" not in row["last_error"] and "bad query" in row["last_error"]


def test_a_poll_running_over_its_interval_is_not_a_warning_every_interval(
    fake: FakeX, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """max_instances=1 skips the runs that would overlap a slow poll: by design, so
    APScheduler's warning about each skipped run is shown with -vv only."""
    import logging
    import threading

    from harken.config import load_config
    from harken.pipeline.scheduler import Daemon
    from harken.platforms.registry import build_sources
    from harken.store import Store

    (tmp_path / "config.yaml").write_text(config_text(fake.api.url), encoding="utf-8")
    config = load_config(tmp_path / "config.yaml", environ={"X_BEARER_TOKEN": "t" * 20})
    store = Store(config.database.url)
    daemon = Daemon(store, config, build_sources(config), {}, threading.Event())
    skipped = "maximum number of running instances reached"

    def skips_logged_within(seconds: float, level: int) -> list[str]:
        caplog.clear()
        caplog.set_level(level)
        time.sleep(seconds)
        return [r.getMessage() for r in caplog.records if skipped in r.getMessage()]

    daemon.scheduler.add_job(time.sleep, "interval", args=[0.5], seconds=0.1, id="slow")
    daemon.scheduler.start()
    try:
        assert skips_logged_within(1.0, logging.WARNING) == []
        assert skips_logged_within(1.0, logging.DEBUG), "the runs were skipped: -vv shows it"
    finally:
        daemon.scheduler.shutdown(wait=True)
    store.close()


@pytest.mark.parametrize("command", ["listen", "slack serve"])
def test_a_stop_signal_landing_inside_stop_wait_still_stops(
    command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """CI once saw `harken slack serve` ignore SIGTERM for a minute: the signal landed while
    the main thread was inside ``stop.wait()``, holding the event's lock, and the handler's
    ``stop.set()`` waited for that lock forever. Here the handler runs while the lock is held
    (by another thread: the lock has no owner, so the effect is the same)."""
    from harken.cli.listening import _stop_on_signals
    from harken.cli.slack import _stop_on_sigterm

    # listen's handler cuts the network calls still running 5 s later: in this process they
    # would be other tests' calls.
    monkeypatch.setattr("harken.net.deadline.abort_all", lambda: 0)
    stop = threading.Event()
    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        if command == "listen":
            _stop_on_signals(stop, lambda line: None)
        else:
            _stop_on_sigterm(stop)
        handler = signal.getsignal(signal.SIGTERM)
        assert callable(handler)

        def signal_inside_wait() -> None:
            with stop._cond:  # type: ignore[attr-defined]  # what Event.wait holds
                handler(signal.SIGTERM, None)

        landing = threading.Thread(target=signal_inside_wait, daemon=True)
        landing.start()
        landing.join(10)
        assert not landing.is_alive(), "the handler waited for the lock stop.wait() holds"
        assert stop.wait(10)
    finally:
        for number, previous in saved.items():
            signal.signal(number, previous)
