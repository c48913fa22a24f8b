"""Tickets end to end: `harken queue ticket` and rules' ``ticket:`` create Jira issues and
Zendesk tickets through the outbox, against local fakes of their REST APIs
(tests/fakes/hooks.py); an interrupted create is found, not made twice; `harken queue
sync-tickets` resolves the items whose ticket is done."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harken.cli import app
from harken.config import Config, load_config
from harken.errors import ConfigError
from tests.fakes.hooks import FakeJira, FakeZendesk
from tests.fakes.http import Reply, Request
from tests.test_handoffs import HOSTILE, QUESTION, alerts, deliver, item_in, route, tree

ENV = {"JIRA_TOKEN": "jira-token-123", "ZENDESK_TOKEN": "zd-token-456"}


def jira_settings(jira: FakeJira) -> dict[str, Any]:
    return {"url": jira.url, "email": "bot@acme.example", "api_token": "${JIRA_TOKEN}",
            "project": "OPS"}  # fmt: skip


def zendesk_settings(zendesk: FakeZendesk) -> dict[str, Any]:
    return {"url": zendesk.url, "email": "bot@acme.example", "api_token": "${ZENDESK_TOKEN}"}


def with_tickets(tmp_path: Path, tickets: dict[str, Any], **rules: Any) -> tuple[Config, Path]:
    data = tree(tmp_path)
    data["tickets"] = tickets
    for rule in data["routing"]["rules"]:
        rule.update(rules.get(rule["name"], {}))
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(data), encoding="utf-8")
    return load_config(path, environ=ENV), path


def cli(path: Path, *args: str, code: int = 0) -> str:
    result = CliRunner().invoke(app, ["--config", str(path), *args], env=ENV)
    assert result.exit_code == code, result.output
    return result.output


def show(path: Path, item_id: int) -> dict[str, Any]:
    return json.loads(cli(path, "queue", "show", str(item_id), "--format", "json"))


@pytest.fixture
def jira() -> Any:
    with FakeJira("bot@acme.example:jira-token-123") as fake:
        yield fake


@pytest.fixture
def zendesk() -> Any:
    with FakeZendesk("bot@acme.example/token:zd-token-456") as fake:
        yield fake


def test_a_person_hands_an_item_to_jira_and_it_is_resolved_when_the_issue_is_done(
    tmp_path: Path, jira: FakeJira, classifier: Any
) -> None:
    config, path = with_tickets(tmp_path, {"jira": jira_settings(jira)})
    store = route(tmp_path, config, classifier, HOSTILE)
    item = item_in(store, "legal")
    said = cli(path, "queue", "ticket", str(item["id"]), "--to", "jira", "--as", "aiko")
    assert f"jira OPS-1: {jira.url}/browse/OPS-1" in said
    fields = jira.issues["OPS-1"]["fields"]
    harken_label, mark = fields["labels"]
    assert harken_label == "harken" and re.fullmatch(
        rf"harken-item-{item['id']}-[0-9a-f]{{8}}", mark
    )
    # the post is one plain text node of the description: never wiki markup or a link
    paragraphs = [p["content"][0] for p in fields["description"]["content"]]
    assert {"type": "text", "text": HOSTILE} in paragraphs
    assert HOSTILE in fields["summary"] and "legal" in paragraphs[3]["text"]
    shown = show(path, item["id"])
    url = f"{jira.url}/browse/OPS-1"
    assert shown["tickets"] == [
        {"system": "jira", "key": "OPS-1", "url": url, "status": "open", "remote_status": None}
    ]
    assert ["aiko", "ticket", "jira"] in [
        [e["actor"], e["action"], e["note"]] for e in shown["events"]
    ]
    # one ticket per item and system
    again = cli(path, "queue", "ticket", str(item["id"]), "--to", "jira", code=1)
    assert "already: OPS-1" in again
    # not done yet: nothing changes
    assert "1 checked, 0 done" in cli(path, "queue", "sync-tickets")
    jira.done("OPS-1")
    assert "1 checked, 1 done, 1 item(s) resolved" in cli(path, "queue", "sync-tickets")
    shown = show(path, item["id"])
    assert shown["status"] == "resolved" and shown["closed_by"] == "jira"
    (ticket,) = shown["tickets"]
    assert ticket["status"] == "done" and ticket["remote_status"] == "Done"
    assert "0 checked" in cli(path, "queue", "sync-tickets")  # done tickets are not read again


def test_a_rules_zendesk_ticket_interrupted_mid_create_is_found_not_made_twice(
    tmp_path: Path, zendesk: FakeZendesk, classifier: Any
) -> None:
    config, path = with_tickets(
        tmp_path, {"zendesk": zendesk_settings(zendesk)}, legal={"ticket": "zendesk"}
    )
    store = route(tmp_path, config, classifier, HOSTILE, QUESTION)

    def create_then_fail(request: Request) -> Reply:
        zendesk._create(request)  # Zendesk made it; the answer is lost
        return Reply(502, body="<html>Bad Gateway</html>")

    zendesk.fail_next(create_then_fail)
    first = deliver(store, config)
    assert first.retry_later == 1 and len(zendesk.tickets) == 1
    second = deliver(store, config, force=True)
    assert second.recovered == 1 and len(zendesk.tickets) == 1  # found by external_id
    (ticket_id,) = zendesk.tickets
    legal = item_in(store, "legal")
    made = zendesk.tickets[ticket_id]
    assert made["external_id"].startswith(f"harken-item-{legal['id']}-")
    assert made["priority"] == "urgent"
    assert HOSTILE in made["comment"]["body"]
    assert show(path, legal["id"])["tickets"][0]["key"] == str(ticket_id)
    assert [a.status for a in alerts(store, "zendesk")] == ["sent"]  # the support item: none
    zendesk.solve(ticket_id)
    assert "1 item(s) resolved" in cli(path, "queue", "sync-tickets")
    assert item_in(store, "legal")["status"] == "resolved"


def test_ticket_failures_say_what_to_fix_and_lose_nothing(
    tmp_path: Path, jira: FakeJira, classifier: Any
) -> None:
    settings = {**jira_settings(jira), "api_token": "wrong"}
    config, path = with_tickets(tmp_path, {"jira": settings})
    store = route(tmp_path, config, classifier, HOSTILE)
    item = item_in(store, "legal")
    said = cli(path, "queue", "ticket", str(item["id"]), "--to", "zendesk", code=1)
    assert "no ticket system 'zendesk' is set up" in said and "set up: jira" in said
    said = cli(path, "queue", "ticket", str(item["id"]), "--to", "jira", code=1)
    assert "HTTP 401" in said and "not authenticated" in said
    (failed,) = alerts(store, "jira")
    assert failed.status == "failed" and "wrong" not in (failed.last_error or "")
    # fixed in the config, retried: created once
    config, path = with_tickets(tmp_path, {"jira": jira_settings(jira)})
    assert "1 sent" in cli(path, "alerts", "retry", "--status", "failed")
    assert list(jira.issues) == ["OPS-1"]
    # an issue deleted in Jira: reported, the item stays as it is
    jira.delete("OPS-1")
    assert "1 not found" in cli(path, "queue", "sync-tickets")
    assert show(path, item["id"])["status"] == "new"
    # Jira down: the sync says so and asks again next time
    jira.stop()
    said = cli(path, "queue", "sync-tickets", code=1)
    assert "cannot connect" in said


def test_a_rule_naming_a_ticket_system_that_is_not_set_up_is_refused(tmp_path: Path) -> None:
    data = tree(tmp_path)
    data["routing"]["rules"][0]["ticket"] = "jira"
    with pytest.raises(ConfigError, match=r"routing.rules\[0\].ticket: jira is not set up"):
        load_config(overrides=data, environ={})


def test_the_web_api_asks_for_a_ticket_through_the_same_action(
    tmp_path: Path, jira: FakeJira, classifier: Any
) -> None:
    from fastapi.testclient import TestClient

    from harken.queue import accounts
    from harken.web.app import create_app

    config, path = with_tickets(tmp_path, {"jira": jira_settings(jira)})
    store = route(tmp_path, config, classifier, HOSTILE)
    item = item_in(store, "legal")
    added = CliRunner().invoke(
        app,
        ["--config", str(path), "users", "add", "mina", "--role", "social", "--password-stdin"],
        input="correct horse battery\n",
        env=ENV,
    )
    assert added.exit_code == 0, added.output
    with TestClient(create_app(config, store), base_url="http://testserver") as client:
        headers = {"authorization": "Bearer " + accounts.issue_token(store, "mina")}
        url = f"/api/v1/items/{item['id']}/ticket"
        unknown = client.post(url, json={"system": "trello"}, headers=headers)
        assert unknown.status_code == 409 and "no ticket system 'trello'" in unknown.text
        asked = client.post(url, json={"system": "jira"}, headers=headers)
        assert asked.status_code == 200 and asked.json()["ok"], asked.text
    assert deliver(store, config).sent == 1 and list(jira.issues) == ["OPS-1"]
    (ticket,) = show(path, item["id"])["tickets"]
    assert ticket["key"] == "OPS-1"


def test_a_jira_answer_it_cannot_read_is_looked_up_not_made_twice(
    tmp_path: Path, jira: FakeJira, classifier: Any
) -> None:
    config, path = with_tickets(tmp_path, {"jira": jira_settings(jira)})
    store = route(tmp_path, config, classifier, HOSTILE, QUESTION)
    legal, support = item_in(store, "legal"), item_in(store, "support")

    def create_then_garble(request: Request) -> Reply:
        jira._create(request)  # Jira made it; its answer is a proxy's page
        return Reply(201, body="<html>gateway</html>")

    jira.fail_next(create_then_garble)
    said = cli(path, "queue", "ticket", str(legal["id"]), "--to", "jira", code=1)
    assert "not created" in said and "not JSON" in said
    assert deliver(store, config, force=True).recovered == 1  # found by its mark
    assert list(jira.issues) == ["OPS-1"]
    assert show(path, legal["id"])["tickets"][0]["key"] == "OPS-1"
    # an item closed before its ticket could be made gets none, even put back in the outbox
    jira.fail_next(Reply(400, json={"errorMessages": ["project is archived"]}))
    cli(path, "queue", "ticket", str(support["id"]), "--to", "jira", code=1)
    cli(path, "queue", "resolve", str(support["id"]))
    assert "1 alert(s) back" in cli(path, "alerts", "retry", "--status", "failed", "--no-send")
    result = deliver(store, config, force=True)
    assert result.skipped == 1 and list(jira.issues) == ["OPS-1"]
