"""The default department takes only the posts that need an answer (``routing.default_takes``),
end to end through ``harken import`` with the real classifier: praise and chatter are stored and
reported but not queued, ``route --explain`` says why, a question or a complaint is queued, a
praise that shares its incident with an open item still joins that item, and ``default_takes:
all`` queues everything as before."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli import import_tweets, ok

CONFIG = """\
database: {{url: "sqlite:///{db}"}}
brands:
  - {{name: Acme, keywords: [acme]}}
departments:
  - {{name: support, sla: 1h}}
  - {{name: engineering, sla: 30m}}
routing:
  default: support{takes}
  rules:
    - {{name: outages, when: {{keywords: ["nothing loads"]}}, to: [engineering]}}
"""

POSTS = {
    "1": "Acme's new dark mode looks great, love it",  # praise: stored, not queued
    "2": "Does Acme work offline on a plane?",  # a question: support
    "3": "Acme lost all my files after the update, I am furious",  # a complaint: support
    # An outage report and a thank-you sharing its status link: one incident, so the
    # thank-you joins the engineering item instead of opening nothing or a support item.
    "4": "Acme status page says all good but nothing loads https://status.acme.test/i/42",
    "5": "Thanks Acme for the clear updates https://status.acme.test/i/42",
}


def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, takes: str = "") -> None:
    monkeypatch.chdir(tmp_path)
    import_tweets(tmp_path, CONFIG.format(db=tmp_path / "h.db", takes=takes), POSTS)


def queued() -> dict[str, list[str]]:
    items = json.loads(ok("queue", "list", "-f", "json"))
    by_post: dict[str, list[str]] = {}
    for item in items:
        by_post.setdefault(item["mention"]["external_id"], []).append(item["department"])
    return by_post


def explain(external_id: str) -> dict:
    mentions = json.loads(ok("export", "mentions", "-f", "json"))
    (mention,) = [m for m in mentions if m["external_id"] == external_id]
    return json.loads(ok("route", "--explain", str(mention["id"]), "-f", "json"))


@pytest.mark.slow
def test_praise_is_stored_but_not_queued_and_explain_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(tmp_path, monkeypatch)
    assert queued() == {"2": ["support"], "3": ["support"], "4": ["engineering"]}
    (praise,) = explain("1")["decided"]
    assert praise["department"] is None
    assert praise["reason"].startswith("not queued: no rule matched and it needs no answer")
    assert "routing.default_takes: all would queue it for support" in praise["reason"]
    (question,) = explain("2")["decided"]
    assert question["reason"] == "no rule matched: default department (a question)"
    # The thank-you shares the outage's incident: it joined the engineering item.
    (joined,) = json.loads(ok("queue", "list", "-f", "json", "-d", "engineering"))
    assert joined["mentions"] == 2
    # ... and route --explain says so, as routing would decide again (not "nowhere").
    (again,) = explain("5")["decided"]
    assert again["department"] == "engineering" and again["joined"]
    # Stored and counted all the same.
    assert len(json.loads(ok("export", "mentions", "-f", "json"))) == 5


@pytest.mark.slow
def test_default_takes_all_queues_every_post(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    project(tmp_path, monkeypatch, takes="\n  default_takes: all")
    assert queued() == {
        "1": ["support"], "2": ["support"], "3": ["support"], "4": ["engineering"],
    }  # fmt: skip
