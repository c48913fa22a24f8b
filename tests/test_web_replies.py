"""Replying from the web: the reply page's plan (template, problems), checking an edit, and
sending through tweepy to a local X server that speaks the API; with replies.approval, only
text someone else approved is sent; one form never posts twice."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli import import_tweets, ok
from tests.fakes import x as xfake
from tests.fakes.x import FakeX
from tests.web import add_users, sign_in, workspace

CONFIG = """\
database: {{url: "sqlite:///{db}"}}
brands:
  - {{name: Acme, keywords: [acme], handles: ["@acmesupport"]}}
sources:
  x:
    enabled: false
    bearer_token: "${{X_BEARER_TOKEN}}"
    api_base_url: "{url}"
    consumer_key: "${{X_CONSUMER_KEY}}"
    consumer_secret: "${{X_CONSUMER_SECRET}}"
    access_token: "${{X_ACCESS_TOKEN}}"
    access_token_secret: "${{X_ACCESS_TOKEN_SECRET}}"
departments:
  - {{name: support, sla: 1h}}
  - {{name: billing, sla: 2h}}
routing:
  default: support
  default_takes: all
  rules:
    - {{name: money, when: {{keywords: [refund]}}, to: [billing]}}
replies:
  approval: {approval}
  templates:
    default: "Hi {{author}}, thanks for reaching out to {{brand}}: we will DM you."
"""


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    fake = FakeX()
    fake.add(xfake.tweet(1001, "acme, where is my refund?"))
    with fake.api:
        yield fake


def project(tmp_path: Path, fake_x: FakeX, monkeypatch: pytest.MonkeyPatch, approval: bool) -> int:
    for name, value in xfake.ENV.items():
        monkeypatch.setenv(name, value)
    config = CONFIG.format(db=tmp_path / "h.db", url=fake_x.api.url, approval=str(approval).lower())
    import_tweets(tmp_path, config, {"1001": "acme, where is my refund?"})
    add_users()
    (item,) = json.loads(ok("queue", "list", "-f", "json", "-d", "billing"))
    return int(item["id"])


def form_of(html: str) -> dict[str, str]:
    return {
        "csrf_token": re.search(r'name="csrf_token" value="([^"]+)"', html)[1],  # type: ignore[index]
        "request_key": re.search(r'name="request_key" value="([^"]+)"', html)[1],  # type: ignore[index]
    }


def test_a_reply_is_checked_then_sent_once_from_the_web(
    tmp_path: Path, fake_x: FakeX, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = project(tmp_path, fake_x, monkeypatch, approval=False)
    with workspace(tmp_path) as (client, _store):
        sign_in(client, "bob")
        page = client.get(f"/items/{item}/reply")
        assert page.status_code == 200
        assert "thanks for reaching out to Acme: we will DM you." in page.text
        form = form_of(page.text)
        too_long = client.post(
            f"/items/{item}/reply", data={**form, "step": "check", "text": "x" * 400}
        )
        assert too_long.status_code == 200 and 'class="error"' in too_long.text  # X's limit
        assert fake_x.posted == []
        text = "Hi @kenji_t, sorry about that: the refund is on its way."
        sent = client.post(
            f"/items/{item}/reply",
            data={**form, "step": "send", "text": text},
            follow_redirects=False,
        )
        assert sent.status_code == 303, sent.text
        again = client.post(f"/items/{item}/reply", data={**form, "step": "send", "text": text})
        assert again.status_code in (200, 409)  # the same form: nothing posted again
    assert [p["text"] for p in fake_x.posted] == [text]
    shown = json.loads(ok("queue", "show", str(item), "-f", "json"))
    assert shown["status"] == "responded" and shown["replies"][0]["actor"] == "bob"
    assert [e["via"] for e in shown["events"] if e["action"] == "replied"] == ["web"]


def test_with_approval_only_text_someone_else_approved_is_sent(
    tmp_path: Path, fake_x: FakeX, monkeypatch: pytest.MonkeyPatch
) -> None:
    item = project(tmp_path, fake_x, monkeypatch, approval=True)
    text = "Hi, we are on it and will DM you."
    with workspace(tmp_path) as (client, _store):
        sign_in(client, "bob")
        form = form_of(client.get(f"/items/{item}/reply").text)
        own = client.post(f"/items/{item}/reply", data={**form, "step": "approve", "text": text})
        assert own.status_code == 200 and "reply approved by bob" in own.text
        refused = client.post(f"/items/{item}/reply", data={**form, "step": "send", "text": text})
        assert (
            refused.status_code == 409 and "not approved by anyone but its sender" in refused.text
        )
    with workspace(tmp_path) as (lead, _store):
        sign_in(lead, "admin")
        form = form_of(lead.get(f"/items/{item}/reply").text)
        assert (
            lead.post(
                f"/items/{item}/reply", data={**form, "step": "approve", "text": text}
            ).status_code
            == 200
        )
    with workspace(tmp_path) as (client, _store):
        sign_in(client, "bob")
        form = form_of(client.get(f"/items/{item}/reply").text)
        sent = client.post(
            f"/items/{item}/reply",
            data={**form, "step": "send", "text": text},
            follow_redirects=False,
        )
        assert sent.status_code == 303, sent.text
        viewer_page = None
    assert [p["text"] for p in fake_x.posted] == [text]
    with workspace(tmp_path) as (viewer, _store):
        sign_in(viewer, "vera")
        viewer_page = viewer.get(f"/items/{item}/reply")
    assert viewer_page.status_code == 403
