"""What the web workspace's tests share: a project of imported tweets with users made by
``harken users add``, the app over its store, and signing in the way a browser does."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from typer.testing import CliRunner

from harken.cli import app as cli_app
from harken.config import load_config
from harken.store import Store
from harken.web.app import create_app

PASSWORD = "correct horse battery"
CONFIG = """\
database: {{url: "{db}"}}
brands:
  - {{name: Acme, keywords: [acme], handles: ["@acmesupport"]}}
  - {{name: Globex, keywords: [globex]}}
departments:
  - {{name: support, sla: 1h}}
  - {{name: billing, sla: 2h}}
  - {{name: legal, sla: 4h}}
topics:
  billing: ["charged twice", "where is my refund"]
routing:
  default: support
  default_takes: all
  rules:
    - {{name: money, when: {{keywords: [refund, charged]}}, to: [billing], priority: high}}
    - {{name: legal threats, when: {{keywords: [lawyer]}}, to: [legal], priority: urgent}}
replies:
  templates:
    default: "Hi {{author}}, sorry about this: we will DM you."
web: {{timezone: Asia/Tokyo}}
"""
HOSTILE = "<script>alert('pwned')</script> acme I am calling my lawyer \u202egnp.exe <!channel>"
POSTS = {
    "101": "acme charged twice for one order, where is my refund?",
    "102": HOSTILE,
    "103": "acme app crashes when I log in, any fix?",
    "104": "globex, where is my refund?",
    "105": "acme support never answers my emails",
    "106": "is the acme refund policy 30 days for annual plans?",
}
runner = CliRunner()


def cli(*args: str, stdin: str | None = None) -> Any:
    return runner.invoke(cli_app, list(args), input=stdin)


def add_users() -> None:
    """admin (admin), bob (billing), vera (viewer), each with PASSWORD."""
    for name, *role in (
        ("admin", "--role", "admin"),
        ("bob", "--role", "department", "-d", "billing"),
        ("vera", "--role", "viewer"),
    ):
        result = cli("users", "add", name, *role, "--password-stdin", stdin=PASSWORD + "\n")
        assert result.exit_code == 0, result.output


@contextmanager
def workspace(project: Path) -> Iterator[tuple[TestClient, Store]]:
    config = load_config(project / "config.yaml")
    store = Store(config.database.url)
    try:
        with TestClient(create_app(config, store), base_url="http://testserver") as client:
            yield client, store
    finally:
        store.close()


def field(html: str, name: str) -> str:
    found = re.search(rf'name="{name}" value="([^"]*)"', html)
    assert found, f"no {name} in the page"
    return found.group(1)


def sign_in(client: TestClient, name: str, password: str = PASSWORD) -> str:
    """Signs in through the form; returns the session's CSRF token."""
    form = client.get("/login")
    assert form.status_code == 200
    answer = client.post(
        "/login",
        data={"name": name, "password": password, "login_token": field(form.text, "login_token")},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text
    return field(client.get("/inbox").text, "csrf_token")


def inbox_ids(client: TestClient, query: str = "") -> list[int]:
    page = client.get("/inbox" + query)
    assert page.status_code == 200, page.text
    return [int(i) for i in re.findall(r'name="ids" value="(\d+)"', page.text)]
