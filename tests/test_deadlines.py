"""Total deadlines on network calls: a server that answers one byte at a time never trips a
per-read timeout, so without them a poll, an alert or a shutdown waits on it for hours.

Each client harken uses is tried against a local server that sends its headers (or nothing but
a trickle) and then a byte every 0.2 s, far inside its per-read timeout; the call must end at its
deadline with harken's error, for sources (tweepy, through `harken listen --once` and `harken
sources`), Slack (slack_sdk, through the outbox), SMTP and a daemon asked to stop mid-call.
"""

from __future__ import annotations

import io
import json
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import requests
import slack_sdk
from rich.console import Console
from sqlalchemy import select
from typer.testing import CliRunner

from harken.cli import app
from harken.config import EmailConfig
from harken.net.deadline import Aborted, DeadlineExceeded, abort_all, deadline
from harken.notify.contract import DeliveryError
from harken.notify.email.smtp import send_email
from harken.notify.outbox import deliver_pending
from harken.notify.registry import build_sinks
from harken.store import Store
from harken.store.tables import Alert
from tests.fakes.http import FakeAPI, Reply
from tests.fakes.slack import FakeSlack
from tests.fakes.x import FakeX, tweet
from tests.test_alerts import make_config, outage_posts, route
from tests.test_daemon import config_text, start_run, wait_for

DRIP = 0.2  # seconds between bytes: far below every per-read timeout used here


@pytest.fixture
def trickle() -> Iterator[FakeAPI]:
    """GET /body: headers at once, then the body a byte at a time; GET /headers: even the
    status line trickles; GET /fast: a normal answer."""
    api = FakeAPI()
    replies = {
        "/body": lambda _: Reply(json={"ok": True}, drip=DRIP),
        "/headers": lambda _: Reply(json={"ok": True}, drip=DRIP, drip_headers=True),
        "/fast": lambda _: Reply(json={"ok": True}),
    }
    for path, reply in replies.items():
        api.route("GET", path)(reply)
        api.route("POST", "/api" + path)(reply)  # slack_sdk POSTs every method
    with api:
        yield api


def clients(url: str) -> dict[str, Callable[[str], Any]]:
    """One call per HTTP stack harken's clients use, each with a 5 s per-read timeout."""
    return {
        # tweepy, praw, Mastodon.py and the RSS reader sit on requests
        "requests": lambda path: requests.get(url + path, timeout=5).content,
        # atproto sits on httpx (with keep-alive off, as harken builds it)
        "httpx": lambda path: (
            httpx.Client(timeout=5, limits=httpx.Limits(max_keepalive_connections=0))
            .get(url + path)
            .content
        ),
        # slack_sdk sits on urllib
        "slack_sdk": lambda path: slack_sdk.WebClient(
            token="x", base_url=url + "/api/", timeout=5, retry_handlers=[]
        ).api_call(path.strip("/")),
    }


@pytest.mark.parametrize("stack", ["requests", "httpx", "slack_sdk"])
@pytest.mark.parametrize("path", ["/body", "/headers"])
def test_a_trickling_answer_ends_at_the_deadline_whatever_the_client(
    trickle: FakeAPI, stack: str, path: str
) -> None:
    call = clients(trickle.url)[stack]
    cut = r"^test call: no complete answer within 1s$"
    with pytest.raises(DeadlineExceeded, match=cut), deadline(1, "test call"):
        call(path)
    with deadline(5, "a normal call"):  # a complete answer inside the deadline is untouched
        assert call("/fast") is not None


def test_a_connection_reused_from_the_pool_is_watched_too(trickle: FakeAPI) -> None:
    session = requests.Session()
    assert session.get(trickle.url + "/fast", timeout=5).json() == {"ok": True}
    with pytest.raises(DeadlineExceeded), deadline(1, "reused"):
        session.get(trickle.url + "/body", timeout=5).content  # noqa: B018


def test_abort_all_cuts_every_call_in_flight_at_once(trickle: FakeAPI) -> None:
    errors: list[BaseException] = []

    def slow_call() -> None:
        try:
            with deadline(120, "slow call"):
                requests.get(trickle.url + "/body", timeout=5).content  # noqa: B018
        except BaseException as error:
            errors.append(error)

    worker = threading.Thread(target=slow_call)
    worker.start()
    wait_for(lambda: bool(trickle.requests), "the request")
    assert abort_all() >= 1
    worker.join(timeout=30)
    assert not worker.is_alive()
    assert [type(e) for e in errors] == [Aborted]
    assert str(errors[0]) == "slow call: stopped, harken is shutting down"


def test_an_smtp_server_that_trickles_its_greeting_fails_the_delivery_in_time() -> None:
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def greet_slowly() -> None:
        connection, _ = server.accept()
        with connection:
            for byte in b"220 mail.example ESMTP " + b"." * 500:
                if stop.is_set():
                    return
                try:
                    connection.sendall(bytes([byte]))
                except OSError:
                    return
                time.sleep(DRIP)

    threading.Thread(target=greet_slowly, daemon=True).start()
    email = EmailConfig.model_validate(
        {
            "host": "127.0.0.1",
            "port": server.getsockname()[1],
            "security": "none",
            "from": "harken@example.com",
            "to": ["pr@example.com"],
            "timeout": "0.5s",
        }
    )
    from email.message import EmailMessage

    try:
        with pytest.raises(DeliveryError) as raised:
            send_email(EmailMessage(), email)
    finally:
        stop.set()
        server.close()
    assert str(raised.value).startswith(
        f"SMTP 127.0.0.1:{email.port}: no complete answer within 1.5s while greeting"
    )
    assert raised.value.transient


# -- through harken's own commands -------------------------------------------------------------


def test_listen_once_against_a_trickling_x_fails_in_time_and_sources_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("X_BEARER_TOKEN", "test-bearer-token")
    fake = FakeX()
    with fake.api:
        fake.add(tweet(1, "acme is down"))
        fake.api.fail_next(*[Reply(json={"data": []}, drip=DRIP)] * 4)  # every try trickles
        # 0.5 s per read: the trickle (a byte every 0.2 s) never trips it, a busy machine
        # neither; each try ends at its 1.5 s deadline.
        (tmp_path / "config.yaml").write_text(
            config_text(fake.api.url, timeout="0.5s"), encoding="utf-8"
        )
        result = CliRunner().invoke(app, ["listen", "--once"])
        assert result.exit_code == 1, result.output
        assert "failed: x: search for Acme: no complete answer within 1.5s" in result.output
        assert len(fake.searches) == 4  # retried as any transient failure, then given up
        (row,) = json.loads(CliRunner().invoke(app, ["sources", "--format", "json"]).output)
        assert row["state"] == "failing"
        assert "no complete answer within 1.5s" in row["last_error"]
        # The next poll, with the server healthy again, goes through.
        again = CliRunner().invoke(app, ["listen", "--once"])
        assert again.exit_code == 0 and "x: 1 new" in again.output


def test_a_trickling_slack_leaves_no_alert_sending_and_it_goes_out_once_later(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    config = make_config(tmp_path, slack, db=db_url)
    config.alerts.slack.timeout = timedelta(seconds=1)  # type: ignore[union-attr]
    store = Store(config.database.url)
    route(store, config, outage_posts(tmp_path, 1), classifier)
    slack.fail_method("chat.postMessage", Reply(json={"ok": True}, drip=DRIP))
    sinks = build_sinks(config, Console(file=io.StringIO()))
    first = deliver_pending(store, config, sinks)
    assert first.sent == 0
    with store.session() as session:
        (alert,) = session.execute(select(Alert)).scalars()
    assert alert.status == "pending"  # back in the queue, not stuck "sending"
    assert "Slack chat.postMessage: no complete answer within 3s" in (alert.last_error or "")
    later = datetime.now(UTC) + timedelta(hours=1)
    second = deliver_pending(store, config, sinks, clock=lambda: later)
    assert second.sent == 1 and len(slack.messages("#eng-incidents")) == 1


def test_sigterm_stops_the_daemon_in_bounded_time_even_mid_call(tmp_path: Path) -> None:
    fake = FakeX()
    with fake.api:
        # A 5 s per-read timeout (15 s per call) that the trickle never trips.
        fake.api.fail_next(*[Reply(json={"data": []}, drip=DRIP)] * 10)
        (tmp_path / "config.yaml").write_text(
            config_text(fake.api.url, timeout="5s"), encoding="utf-8"
        )
        daemon, log = start_run(tmp_path, "run.log")
        try:
            wait_for(lambda: len(fake.searches) == 1, "the poll to be mid-call")
            daemon.send_signal(signal.SIGTERM)
            # Without deadlines it would wait on the trickle (200 s for 1000 bytes).
            assert daemon.wait(timeout=60) == 0
        finally:
            daemon.kill()
    output = log.read_text()
    assert "received SIGTERM" in output and output.rstrip().endswith("stopped")
    assert "interrupted by shutdown" in output
