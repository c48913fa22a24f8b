#!/usr/bin/env python3
"""Print the Slack app's walkthrough (the transcript in docs/alerts.md), by running it.

A department member (kenji, legal, in the example config's ``users:``) works the demo's
alerts from Slack: claims one, transfers one to support, resolves one and replies to one.
Slack and X are harken's test fakes (tests/fakes/slack.py, tests/fakes/x.py), served on local
ports; everything else is real: the demo's posts (``harken.pipeline.demo.ingest_demo``), then
``harken process``, ``harken slack serve`` (Socket Mode), ``harken queue show`` and
``harken report routing`` run as commands, their output printed as they wrote it. The clicks
are the payloads Slack sends (tests/test_slack_app.py ``click``), over the fake's WebSocket.

Run from the repository root (about a minute; it loads the classifier twice):

    .venv/bin/python scripts/slack_walkthrough.py
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harken.config import load_config
from harken.pipeline.demo import ingest_demo
from harken.pipeline.progress import no_progress
from harken.store import Store
from tests.fakes import x as xfake
from tests.fakes.slack import APP_TOKEN, TOKEN, FakeSlack, Message
from tests.fakes.x import FakeX
from tests.test_slack_app import SECRET, click
from tests.test_slack_replies import submission
from tests.test_slack_walkthrough import demo_x, fake_settings

KENJI = "U0456DEF"
ENV = {
    "SLACK_BOT_TOKEN": TOKEN,
    "SLACK_APP_TOKEN": APP_TOKEN,
    "SLACK_SIGNING_SECRET": SECRET,
    **xfake.ENV,
}
REPLY = "Hi, this is Acme's legal team: could you DM us the details?"


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        x = demo_x()
        with FakeSlack() as slack, x.api:
            write_config(Path(tmp), slack, x)
            walk(slack)


def write_config(directory: Path, slack: FakeSlack, x: FakeX) -> None:
    """The example config, its alerts to the fake Slack, X answerable on the fake X."""
    settings = fake_settings(slack, x)
    (directory / "config.yaml").write_text(yaml.safe_dump(settings, allow_unicode=True), "utf-8")
    config = load_config(directory / "config.yaml", environ=ENV)
    store = Store(config.database.url)
    ingest_demo(store, config, no_progress)
    store.close()


def walk(slack: FakeSlack) -> None:
    command("harken", "process")
    legal = [m for m in slack.messages("#legal-social") if item_of(m)]
    print(f"# Slack: {len(legal)} alerts in #legal-social; kenji (legal) opens three of them\n")
    served = subprocess.Popen(
        [sys.executable, "-m", "harken", "slack", "serve"],
        env={**os.environ, **ENV},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert slack.socket.connected.wait(60), "harken slack serve did not connect"
        print("$ harken slack serve")
        print(served.stderr.readline().rstrip() if served.stderr else "")
        act(slack, legal)
    finally:
        served.send_signal(signal.SIGTERM)
        _, rest = served.communicate(timeout=30)
    print("".join(f"{line}\n" for line in rest.splitlines() if line.strip()), end="")
    first = item_of(legal[0])
    command("harken", "queue", "show", str(first))
    command("harken", "report", "routing", "--since", "30d")


def act(slack: FakeSlack, legal: list[Message]) -> None:
    claimed, moved = legal[0], legal[1]
    answered = next(m for m in legal[2:] if "x.com" in json.dumps(m.blocks))
    print(f"#legal-social, an alert: {claimed.text}")
    print(f"  [{'] ['.join(controls(claimed))}]\n")
    clicked(slack, "Claim", click(claimed, "harken:claim", KENJI), claimed)
    clicked(slack, "Resolve", click(latest(slack, claimed), "harken:resolve", KENJI), claimed)
    transfer = click(moved, "harken:transfer", KENJI, choice="support")
    clicked(slack, "Transfer to… support", transfer, moved)
    arrived = wait_for(lambda: [m for m in slack.messages("#cs-social") if item_of(m)])[-1]
    print(f"#cs-social, the new alert: {arrived.text}")
    print(f"  {status(arrived)}")
    print(f"\nkenji clicks Reply on item #{item_of(answered)}")
    envelope(slack, click(answered, "harken:reply", KENJI))
    view = wait_for(lambda: slack.modals)[-1]["view"]
    prefilled = next(b for b in view["blocks"] if b["type"] == "input")["element"]
    print(f'  a form opens, "{view["title"]["text"]}", pre-filled: {prefilled["initial_value"]}')
    print(f'  kenji writes "{REPLY}" and clicks {view["submit"]["text"]}')
    envelope(slack, submission(view, KENJI, REPLY))
    told = wait_for(lambda: [e for e in slack.ephemerals if e["user"] == KENJI])
    print(f"  only kenji sees: {told[-1]['text']}")
    wait_for(lambda: "Responded" in status(latest(slack, answered)))
    print(f"  {status(latest(slack, answered))}\n")


def clicked(slack: FakeSlack, label: str, payload: dict[str, Any], message: Message) -> None:
    edits = latest(slack, message).edits
    print(f"kenji clicks {label} on item #{item_of(message)}")
    envelope(slack, payload)
    wait_for(lambda: latest(slack, message).edits > edits)
    print(f"  the alert now says: {status(latest(slack, message))}")


def envelope(slack: FakeSlack, payload: dict[str, Any]) -> None:
    sent = slack.socket.send(payload)
    slack.socket.wait_ack(sent, timeout=30)


def latest(slack: FakeSlack, message: Message) -> Message:
    return slack.message(message.channel, message.ts)


def item_of(message: Message) -> int | None:
    for block in message.blocks or []:
        found = re.fullmatch(r"harken:item:(\d+)", str(block.get("block_id", "")))
        if found:
            return int(found.group(1))
    return None


def controls(message: Message) -> list[str]:
    """The labels of the alert's buttons and selects, as Slack shows them."""
    return [
        (element.get("text") or element.get("placeholder") or {}).get("text", "")
        for block in message.blocks or []
        if str(block.get("block_id", "")).startswith("harken:item:")
        for element in block.get("elements", [])
    ]


def status(message: Message) -> str:
    """The alert's status line as mrkdwn (Slack shows <!date^...> in the reader's zone)."""
    text = json.dumps(message.blocks, ensure_ascii=False)
    found = re.search(r"\*(New|Claimed|Resolved|Transferred|Responded|Dismissed)\*[^\"]*", text)
    return found.group(0) if found else "(no status)"


def wait_for(found: Callable[[], Any], timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := found()):
        if time.monotonic() > deadline:
            raise SystemExit("timed out waiting for the app")
        time.sleep(0.05)
    return value


def command(*args: str) -> None:
    """Run one harken command here, printing it and what it wrote."""
    argv = [sys.executable, "-m", "harken", *args[1:]]
    done = subprocess.run(argv, env={**os.environ, **ENV}, capture_output=True, text=True)
    print("$ " + " ".join(args))
    print((done.stdout + done.stderr).rstrip() + "\n")


if __name__ == "__main__":
    main()
