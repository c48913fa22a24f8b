"""Running the Slack app: `harken doctor` checks its settings against the fake Slack
(tests/fakes/slack.py) without printing them; `harken run` answers the alerts' buttons over
Socket Mode beside its scheduler, and SIGTERM stops both; at its start, the app brings up to
date the alert messages of items acted on while it was down (once)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harken.cli import app
from harken.queue import actions
from harken.queue.actors import Actor
from harken.slackapp.catchup import catch_up
from tests.conftest import SLACK_CHANNELS
from tests.fakes.http import Reply
from tests.fakes.slack import APP_TOKEN, TOKEN, FakeSlack
from tests.fakes.x import FakeX
from tests.test_daemon import wait_for
from tests.test_slack_app import AIKO, ENV, SECRET, World, click, make_world, tree

runner = CliRunner()


def write_config(tmp_path: Path, slack: FakeSlack, **keys: str | None) -> Path:
    """The Slack app's config, its keys as ``${VAR}`` references; a key given as None is
    left out of the file."""
    settings = tree(slack, f"sqlite:///{tmp_path / 'h.db'}")
    for key, value in keys.items():
        if value is None:
            del settings["alerts"]["slack"][key]
        else:
            settings["alerts"]["slack"][key] = value
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(settings), "utf-8")
    return path


def doctor(monkeypatch: pytest.MonkeyPatch, config: Path, env: dict[str, str]) -> tuple[int, str]:
    for var in ("SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        monkeypatch.delenv(var, raising=False)
    for var, value in env.items():
        monkeypatch.setenv(var, value)
    result = runner.invoke(app, ["--config", str(config), "doctor", "--skip-model"])
    return result.exit_code, result.stdout + result.stderr


def lines(output: str, name: str) -> list[str]:
    return [line for line in output.splitlines() if f" {name}:" in line]


ALL = {"SLACK_BOT_TOKEN": TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "SLACK_SIGNING_SECRET": SECRET}


# -- harken init ----------------------------------------------------------------------------


def test_init_env_names_the_slack_app_variables(tmp_path: Path) -> None:
    from tests.test_platform_registry import ENV_BEFORE

    result = runner.invoke(app, ["init", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = (tmp_path / ".env").read_text("utf-8")
    assert written == ENV_BEFORE
    lines = written.splitlines()
    bot = lines.index("SLACK_BOT_TOKEN=")
    assert lines[bot + 2 : bot + 4] == ["SLACK_APP_TOKEN=", "SLACK_SIGNING_SECRET="]


# -- harken doctor ---------------------------------------------------------------------------


def test_doctor_accepts_good_slack_app_settings_without_showing_them(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = doctor(monkeypatch, write_config(tmp_path, slack), ALL)
    assert code == 0, output
    assert lines(output, "slack bot token") == [
        "ok   slack bot token: accepted by Slack (auth.test: bot harken of Harken Test)"
    ]
    assert lines(output, "slack app token") == [
        "ok   slack app token: accepted by Slack: `harken slack serve` can use Socket Mode"
    ]
    assert lines(output, "slack signing secret") == [
        "ok   slack signing secret: set: `harken slack serve --http` checks requests with it"
    ]
    assert len(slack.api_calls("auth.test")) == 1
    assert len(slack.api_calls("apps.connections.open")) == 1
    assert not slack.socket.connected.is_set()  # the URL was only handed out
    assert TOKEN not in output and APP_TOKEN not in output and SECRET not in output


def test_doctor_names_wrong_shapes_and_refused_tokens(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, slack)
    swapped = {**ALL, "SLACK_BOT_TOKEN": APP_TOKEN, "SLACK_APP_TOKEN": TOKEN}
    code, output = doctor(monkeypatch, config, swapped)
    assert code == 1
    assert lines(output, "slack bot token") == [
        "FAIL slack bot token: alerts.slack.bot_token is not a bot token (those start with xoxb-)"
    ]
    assert lines(output, "slack app token") == [
        "FAIL slack app token: alerts.slack.app_token is not an app-level token (those start "
        "with xapp-)"
    ]
    assert "fix: copy the Bot User OAuth Token (xoxb-...)" in output
    assert "App-Level Tokens (xapp-..., scope connections:write)" in output
    assert slack.api_calls("auth.test") == [] and slack.api_calls("apps.connections.open") == []

    revoked = {**ALL, "SLACK_BOT_TOKEN": "xoxb-revoked-1", "SLACK_APP_TOKEN": "xapp-revoked-2"}
    code, output = doctor(monkeypatch, config, revoked)
    assert code == 1
    assert "FAIL slack bot token: Slack refused alerts.slack.bot_token (invalid_auth)" in output
    assert "FAIL slack app token: Slack refused alerts.slack.app_token (invalid_auth)" in output
    assert "revoked" not in output and "Error: 2 checks failed" in output


def test_doctor_says_what_is_missing(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # HTTP mode meant (a signing secret referenced, no app token), its variable unset
    http_only = write_config(tmp_path, slack, app_token=None)
    code, output = doctor(monkeypatch, http_only, {"SLACK_BOT_TOKEN": TOKEN})
    assert code == 1
    assert "FAIL credential SLACK_SIGNING_SECRET: not set (needed by alerts.slack." in output
    assert "fix: export SLACK_SIGNING_SECRET=... or add it to .env" in output
    assert lines(output, "slack signing secret") == []  # said once
    assert "ok   slack bot token: accepted by Slack" in output
    # Socket Mode only: no secret needed, and it says what --http would need
    socket_only = write_config(tmp_path, slack, signing_secret=None)
    code, output = doctor(monkeypatch, socket_only, {k: ALL[k] for k in list(ALL)[:2]})
    assert code == 0, output
    assert lines(output, "slack signing secret") == [
        "ok   slack signing secret: not set: Socket Mode only (`harken slack serve --http` "
        "would need it)"
    ]
    # the app configured, the bot token left out of the file
    no_bot = write_config(tmp_path, slack, bot_token=None)
    code, output = doctor(monkeypatch, no_bot, ALL)
    assert code == 1
    assert "FAIL slack bot token: alerts.slack.bot_token is not set: the Slack app updates" in (
        output
    )
    assert 'fix: set alerts.slack.bot_token: "${SLACK_BOT_TOKEN}" (xoxb-...)' in output


def test_doctor_says_when_slack_is_out_of_reach(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write_config(tmp_path, slack)
    slack.unreachable = True
    code, output = doctor(monkeypatch, config, ALL)
    assert code == 1
    assert f"FAIL slack bot token: cannot reach Slack at {slack.api_url}" in output
    assert "fix: check alerts.slack.api_base_url and the network" in output
    assert "Traceback" not in output and TOKEN not in output


def test_doctor_leaves_slack_alone_without_the_app(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    plain = write_config(tmp_path, slack, app_token=None, signing_secret=None)
    code, output = doctor(monkeypatch, plain, {"SLACK_BOT_TOKEN": TOKEN})
    assert code == 0, output
    assert "slack bot token" not in output and slack.api_calls("auth.test") == []


# -- harken run ------------------------------------------------------------------------------


@pytest.fixture
def sqlite_world(
    tmp_path: Path, slack: FakeSlack, sqlite_url: str, classifier: Any
) -> Iterator[World]:
    """An urgent legal item alerted to #legal-social (tests/test_slack_app.py's world)."""
    yield from make_world(tmp_path, slack, sqlite_url, classifier)


@pytest.fixture
def x() -> Iterator[FakeX]:
    fake = FakeX()
    with fake.api:
        yield fake


def run_config(tmp_path: Path, world: World, x: FakeX, **slack_keys: Any) -> Path:
    """The world's settings with a source to poll (X) and `harken run`'s own."""
    settings = tree(world.slack, world.config.database.url)
    settings["alerts"]["slack"].update(slack_keys)
    settings["sources"] = {
        "x": {
            "enabled": True,
            "bearer_token": "${X_BEARER_TOKEN}",
            "api_base_url": x.api.url,
            "interval": "1h",
        }
    }
    settings["refresh"] = {"enabled": False}
    path = tmp_path / "run.yaml"
    path.write_text(json.dumps(settings), "utf-8")
    return path


def start_run(config: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, **ENV, "X_BEARER_TOKEN": "test-bearer-token", "PYTHONUNBUFFERED": "1"}
    with log.open("wb") as sink:  # the child keeps its own descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "harken", "--config", str(config), "run"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )


def test_run_answers_the_buttons_beside_the_scheduler_and_sigterm_stops_both(
    sqlite_world: World, x: FakeX, tmp_path: Path
) -> None:
    world = sqlite_world
    item, message = world.item("legal"), world.alert_message("legal")
    actions.add_note(world.store, item.id, Actor("ben"), "called them")  # while it was down
    log = tmp_path / "run.log"
    daemon = start_run(run_config(tmp_path, world, x), log)
    try:
        assert world.slack.socket.connected.wait(60), log.read_text()
        wait_for(lambda: "alert message(s) up to date" in log.read_text(), "the catch-up")
        wait_for(lambda: len(x.searches) == 1, "the poll that was due at start")
        envelope = world.slack.socket.send(click(message, "harken:claim", AIKO))
        assert world.slack.socket.wait_ack(envelope, timeout=10) == {"envelope_id": envelope}
        wait_for(lambda: world.item("legal").assignee == "aiko", "the claim", timeout=20)
        wait_for(
            lambda: world.slack.message(SLACK_CHANNELS["legal"], message.ts).edits == 2,
            "the alert brought up to date at start, then updated after the claim",
        )
        assert [e.action for e in world.events(item.id)].count("claimed") == 1
        assert daemon.poll() is None  # the scheduler runs on
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    finally:
        daemon.kill()
        daemon.wait()
    output = log.read_text()
    assert "; the Slack app in Socket Mode; Ctrl-C stops" in output
    assert "Slack app: connected (Socket Mode)" in output
    assert "Slack app: brought 1 alert message(s) up to date" in output
    assert "scheduled poll:x every 1h" in output
    assert output.index("received SIGTERM") < output.index("Slack app: stopped")
    assert output.rstrip().endswith("Slack app: stopped")
    assert TOKEN not in output and APP_TOKEN not in output and "Traceback" not in output


def test_run_goes_on_when_slack_refuses_the_app_and_checks_its_settings_first(
    sqlite_world: World, x: FakeX, tmp_path: Path
) -> None:
    world = sqlite_world
    world.slack.app_token = "xapp-1-rotated"  # the configured one no longer opens connections
    log = tmp_path / "run.log"
    daemon = start_run(run_config(tmp_path, world, x), log)
    try:
        wait_for(lambda: "Slack app: Socket Mode could not connect" in log.read_text(), "refusal")
        wait_for(lambda: len(x.searches) == 1, "the poll, regardless")
        assert daemon.poll() is None
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    finally:
        daemon.kill()
        daemon.wait()
    output = log.read_text()
    assert "invalid_auth" in output and "trying again in 5s" in output
    assert APP_TOKEN not in output and "Traceback" not in output

    bot_as_app = run_config(tmp_path, world, x, app_token=TOKEN)
    refused = subprocess.run(
        [sys.executable, "-m", "harken", "--config", str(bot_as_app), "run"],
        env={**os.environ, **ENV, "X_BEARER_TOKEN": "t"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 1
    assert refused.stderr.startswith("Error: alerts.slack.app_token is not an app-level token")
    assert TOKEN not in refused.stdout + refused.stderr
    assert x.searches == [x.searches[0]]  # nothing polled by the refused daemon


# -- restart catch-up ------------------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path, slack: FakeSlack, db_url: str, classifier: Any) -> Iterator[World]:
    """tests/test_slack_app.py's world, on SQLite and PostgreSQL."""
    yield from make_world(tmp_path, slack, db_url, classifier)


def test_catch_up_updates_messages_left_behind_once(world: World) -> None:
    legal, message = world.item("legal"), world.alert_message("legal")
    channel = SLACK_CHANNELS["legal"]
    assert catch_up(world.app.client, world.store, world.config) == 0  # nothing acted on yet
    # committed, then the process died before chat.update (or the CLI did it)
    actions.claim(world.store, legal.id, Actor("aiko", via="slack", ref=AIKO))
    assert world.slack.message(channel, message.ts).edits == 0
    assert catch_up(world.app.client, world.store, world.config) == 1
    updated = world.slack.message(channel, message.ts)
    assert updated.edits == 1 and "aiko" in updated.text + json.dumps(updated.blocks)
    assert catch_up(world.app.client, world.store, world.config) == 0  # once
    # an action the app did update its message for is not done again at the next start
    world.post(click(updated, "harken:resolve", AIKO))
    world.settle()
    assert world.slack.message(channel, message.ts).edits == 2
    assert catch_up(world.app.client, world.store, world.config) == 0
    actions.reopen(world.store, legal.id, Actor("aiko"))
    assert catch_up(world.app.client, world.store, world.config) == 1
    assert world.slack.message(channel, message.ts).edits == 3


def test_catch_up_goes_on_past_a_message_slack_refuses(world: World) -> None:
    legal = world.item("legal")
    actions.claim(world.store, legal.id, Actor("aiko"))
    world.slack.fail_method("chat.update", Reply(json={"ok": False, "error": "ratelimited"}))
    assert catch_up(world.app.client, world.store, world.config) == 0
    assert catch_up(world.app.client, world.store, world.config) == 1  # still behind: retried


def test_slack_serve_brings_messages_up_to_date_at_start(
    sqlite_world: World, tmp_path: Path
) -> None:
    world = sqlite_world
    legal, message = world.item("legal"), world.alert_message("legal")
    actions.claim(world.store, legal.id, Actor("aiko", via="slack", ref=AIKO))
    config = tmp_path / "slack.yaml"
    config.write_text(json.dumps(tree(world.slack, world.config.database.url)), "utf-8")
    for start in range(2):
        served = subprocess.Popen(
            [sys.executable, "-m", "harken", "--config", str(config), "slack", "serve"],
            env={**os.environ, **ENV},
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert world.slack.socket.connected.wait(20)
            assert served.stderr is not None
            said = ""  # up to "listening": the catch-up is done by then
            while "listening (Socket Mode)" not in said and served.poll() is None:
                said += served.stderr.readline()
        finally:
            served.send_signal(signal.SIGTERM)
            try:
                _, stderr = served.communicate(timeout=60)
            except subprocess.TimeoutExpired as late:
                served.kill()
                served.communicate()
                raise AssertionError(f"not stopped on SIGTERM: {said}{late.stderr}") from None
        assert served.returncode == 0, said + stderr
        assert world.slack.message(SLACK_CHANNELS["legal"], message.ts).edits == 1
        brought = "harken Slack app: brought 1 alert message(s) up to date" in said
        assert brought == (start == 0), said
        world.slack.socket.connected.clear()
    assert world.slack.message(SLACK_CHANNELS["legal"], message.ts).edits == 1
