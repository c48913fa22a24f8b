"""Queues through the CLI: statuses with who and when, SLA per priority, escalation of overdue
items, author history, replies posted through tweepy to a local fake X, routing explanations
and rules replays."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from harken.cli import app
from harken.config import load_config
from harken.queue.escalation import escalate_overdue
from harken.store import Store
from harken.store.tables import Alert, QueueEvent, QueueItem, Reply
from tests import payloads as p
from tests.fakes import x as xfake
from tests.fakes.x import FakeX

runner = CliRunner()

CONFIG = """\
database: {{url: "{db}"}}
brands:
  - {{name: Acme, keywords: [acme, アクメ], handles: ["@acmesupport"]}}
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
  - {{name: support, sla: 1h, escalate_to: pr}}
  - {{name: engineering, sla: {{urgent: 10m, high: 30m, default: 2h}}}}
  - {{name: legal, sla: 4h}}
  - {{name: pr, sla: 2h}}
topics:
  outage: ["the app is down", "can't log in", "ログインできない"]
routing:
  default: support
  rules:
    - {{name: legal threats, when: {{keywords: [lawyer, 訴訟]}}, to: [legal], priority: urgent}}
    - name: ticket numbers
      when: {{regex: ['\\bACME-\\d{{4}}\\b']}}
      to: [support]
      priority: high
    - {{name: outages, when: {{topics: [outage]}}, to: [engineering], priority: high}}
replies:
  templates:
    outage: "Hi {{author}}, {{brand}} engineering is on it; updates on our status page."
    default: "Hi {{author}}, thanks for reaching out to {{brand}}: we will DM you."
alerts: {{min_priority: high, min_risk: 0.99}}
"""


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


@pytest.fixture
def fake_x() -> Iterator[FakeX]:
    fake = FakeX()
    fake.add(*(xfake.tweet(i, "the answered post") for i in (1001, 1002, 1003, 1004)))
    with fake.api:
        yield fake


@pytest.fixture
def project(tmp_path: Path, fake_x: FakeX, monkeypatch: pytest.MonkeyPatch, db_url: str) -> Path:
    for name, value in xfake.ENV.items():
        monkeypatch.setenv(name, value)
    (tmp_path / "config.yaml").write_text(
        CONFIG.format(url=fake_x.api.url, db=db_url), encoding="utf-8"
    )
    p.write_jsonl(
        tmp_path / "x.jsonl",
        p.x_page(
            p.tweet("1001", "@acmesupport the app is down, can't log in"),
            p.tweet("1002", "I am calling my lawyer about acme"),
            p.tweet("1003", "acme ticket acme-1234 still open after a week", author="200"),
            p.tweet("1004", "just bought acme cloud, is there a family plan?"),
        ),
    )
    result = invoke("import", "x.jsonl", "--platform", "x")
    assert result.exit_code == 0, result.output
    return tmp_path


def items() -> dict[str, dict[str, Any]]:
    listed = json.loads(
        invoke(
            "queue",
            "list",
            "--format",
            "json",
            "-s",
            "new",
            "-s",
            "claimed",
            "-s",
            "responded",
            "-s",
            "resolved",
            "-s",
            "dismissed",
        ).stdout
    )
    return {i["mention"]["external_id"]: i for i in listed}


def test_sla_follows_department_and_priority(project: Path) -> None:
    by_post = items()
    for external_id, department, minutes in (
        ("1001", "engineering", 30),
        ("1002", "legal", 240),
        ("1003", "support", 60),
        ("1004", "support", 60),
    ):
        item = by_post[external_id]
        assert item["department"] == department
        created, due = (datetime.fromisoformat(item[k]) for k in ("created_at", "due_at"))
        assert abs((due - created).total_seconds() - minutes * 60) < 5, external_id
    assert by_post["1003"]["reason"] == (
        "rule 'ticket numbers': pattern '\\bACME-\\d{4}\\b' matched 'acme-1234'"
    )


def test_claim_resolve_dismiss_record_who_and_when(project: Path) -> None:
    by_post = items()
    outage, legal, other = by_post["1001"]["id"], by_post["1002"]["id"], by_post["1004"]["id"]
    claimed = invoke("queue", "claim", str(outage), "--as", "aiko")
    assert claimed.exit_code == 0 and claimed.stdout == f"#{outage} claimed by aiko\n"
    taken = invoke("queue", "claim", str(outage), "--as", "ben")
    assert taken.exit_code == 1
    assert (
        taken.stderr == f"Error: item #{outage} is claimed by aiko (pass --force to take it over)\n"
    )
    assert invoke("queue", "claim", str(outage), "--as", "ben", "--force").exit_code == 0
    resolved = invoke(
        "queue", "resolve", str(outage), "--as", "ben", "--note", "status page posted"
    )
    assert resolved.stdout == f"#{outage} resolved by ben: status page posted\n"
    again = invoke("queue", "resolve", str(outage))
    assert again.exit_code == 1 and "already resolved" in again.stderr
    assert invoke("queue", "dismiss", str(other), "--reason", "not a complaint").exit_code == 0
    assert invoke("queue", "claim", "999").stderr.startswith("Error: no queue item #999")
    # A name longer than the column is refused on either backend (PostgreSQL would raise).
    long = invoke("queue", "claim", str(legal), "--as", "x" * 256)
    assert long.exit_code == 1
    assert long.stderr == "Error: --as is longer than 255 characters\n"

    shown = json.loads(invoke("queue", "show", str(outage), "--format", "json").stdout)
    assert shown["status"] == "resolved" and shown["closed_by"] == "ben"
    assert shown["note"] == "status page posted"
    assert [(e["actor"], e["action"], e["to"]) for e in shown["events"]] == [
        ("harken", "created", "new"),
        ("aiko", "claimed", "claimed"),
        ("ben", "claimed", "claimed"),
        ("ben", "resolved", "resolved"),
    ]
    open_ids = {i["id"] for i in json.loads(invoke("queue", "list", "-f", "json").stdout)}
    assert outage not in open_ids and other not in open_ids and legal in open_ids


def test_overdue_items_escalate_once_per_level_and_list_first(project: Path) -> None:
    config = load_config(project / "config.yaml")
    store = Store(config.database.url)
    by_post = items()
    support = by_post["1004"]["id"]  # normal priority, support: 1h SLA, escalate_to pr
    legal = by_post["1002"]["id"]
    invoke("queue", "dismiss", str(by_post["1003"]["id"]))
    invoke("queue", "resolve", str(by_post["1001"]["id"]))  # engineering, 30m: long overdue
    with store.session() as session:
        item = session.get(QueueItem, support)
        created = item.created_at
    now = created + timedelta(minutes=61)
    first = escalate_overdue(store, config, now)
    assert (first.escalated, first.sent_up, first.alerts) == (1, 0, 1)
    assert escalate_overdue(store, config, now).alerts == 0  # once per level
    later = escalate_overdue(store, config, created + timedelta(minutes=125))
    assert (later.escalated, later.sent_up, later.alerts) == (0, 1, 1)
    with store.session() as session:
        alerts = session.execute(
            select(Alert.kind, Alert.channel).where(Alert.queue_item_id == support)
        ).all()
        notes = (
            session.execute(select(QueueEvent.note).where(QueueEvent.action == "escalated"))
            .scalars()
            .all()
        )
    assert sorted(alerts) == [("escalation", "pr"), ("escalation", "support")]
    assert notes[0] == "level 1: no first response 1 min after due; alerted support"
    listed = json.loads(invoke("queue", "list", "-f", "json").stdout)
    assert listed[0]["id"] == support and listed[0]["escalation_level"] == 2
    assert listed[0]["escalated_at"] is not None
    assert legal in {i["id"] for i in listed[1:]}
    text = invoke("queue", "list").stdout
    assert "ESCALATED 2" in text.splitlines()[1]
    assert text.startswith(f"{len(listed)} item(s): ")
    # a list cut by --limit says so, and how to see it all
    cut = invoke("queue", "list", "--limit", "1").stdout
    assert cut.startswith(f"1 of {len(listed)} items (--limit {len(listed)} shows them all): ")


def test_reply_is_a_dry_run_until_send_then_posts_once(project: Path, fake_x: FakeX) -> None:
    outage = items()["1001"]["id"]
    dry = invoke("queue", "reply", str(outage))  # template chosen by the mention's topic
    assert dry.exit_code == 0, dry.output
    assert "template 'outage'" in dry.stdout
    assert "Hi kenji_t, Acme engineering is on it; updates on our status page." in dry.stdout
    assert "dry run: nothing was posted" in dry.stdout
    assert fake_x.posted == []

    sent = invoke("queue", "reply", str(outage), "--send", "--as", "aiko")
    assert sent.exit_code == 0, sent.output
    assert fake_x.posted == [
        {
            "text": "Hi kenji_t, Acme engineering is on it; updates on our status page.",
            "reply": {"in_reply_to_tweet_id": "1001"},
        }
    ]
    assert f"posted: https://x.com/i/status/{fake_x.next_id}" in sent.stdout
    twice = invoke("queue", "reply", str(outage), "--send")
    assert twice.exit_code == 1 and "already sent" in twice.stderr
    assert len(fake_x.posted) == 1

    shown = json.loads(invoke("queue", "show", str(outage), "-f", "json").stdout)
    assert shown["status"] == "responded" and shown["assignee"] == "aiko"
    assert shown["first_response_seconds"] is not None and shown["first_response_seconds"] >= 0
    assert [r["status"] for r in shown["replies"]] == ["sent"]
    # A responded item no longer counts against its SLA.
    config = load_config(project / "config.yaml")
    later = datetime.now(UTC) + timedelta(days=1)
    escalate_overdue(Store(config.database.url), config, later)
    assert (
        json.loads(invoke("queue", "show", str(outage), "-f", "json").stdout)["escalation_level"]
        == 0
    )


def test_a_reply_whose_outcome_is_unknown_is_not_sent_again(project: Path, fake_x: FakeX) -> None:
    from tests.fakes.http import Reply as FakeReply

    item = items()["1004"]["id"]
    fake_x.api.fail_next(FakeReply(503, json={"title": "Service Unavailable"}))
    failed = invoke("queue", "reply", str(item), "--text", "Thanks for choosing us!", "--send")
    assert failed.exit_code == 1 and "HTTP 503" in failed.stderr
    config = load_config(project / "config.yaml")
    with Store(config.database.url).session() as session:
        assert session.execute(select(Reply.status)).scalars().all() == ["unknown"]
    retry = invoke("queue", "reply", str(item), "--text", "Thanks for choosing us!", "--send")
    assert retry.exit_code == 1 and "outcome is unknown" in retry.stderr
    assert len(fake_x.posts) == 1  # the fake saw one POST, never a second
    forced = invoke(
        "queue", "reply", str(item), "--text", "Thanks for choosing us!", "--send", "--force"
    )
    assert forced.exit_code == 0, forced.output
    assert len(fake_x.posted) == 1


def test_reply_problems_stop_the_send(project: Path) -> None:
    item = items()["1004"]["id"]
    long = invoke("queue", "reply", str(item), "--text", "x" * 300, "--send")
    assert long.exit_code == 1 and "cannot send" in long.stdout
    bad = invoke("queue", "reply", str(item), "--template", "nope")
    assert bad.exit_code == 1 and "no reply template 'nope'" in bad.stderr


def test_show_has_the_authors_history_across_platforms(project: Path) -> None:
    p.write_jsonl(
        project / "bsky.jsonl",
        {
            "posts": [
                {
                    **p.bluesky_post("3k1", "acme support never answered my ticket"),
                    "author": {"did": "did:plc:k", "handle": "kenji_t.bsky.social"},
                }
            ]
        },
    )
    assert invoke("import", "bsky.jsonl", "--platform", "bluesky").exit_code == 0
    outage = items()["1001"]["id"]
    shown = json.loads(invoke("queue", "show", str(outage), "-f", "json").stdout)
    history = shown["author_history"]
    assert [a["platform"] for a in history["accounts"]] == ["x", "bluesky"]
    links = [(e["platform"], e["link"]) for e in history["earlier"]]
    assert ("bluesky", "same handle on bluesky") in links
    assert links.count(("x", "same account")) == 2  # the lawyer post and the purchase
    text = invoke("queue", "show", str(outage)).stdout
    assert "probably the same person" in text and "acme support never answered" in text


def test_route_explain_shows_every_rule_and_condition(project: Path) -> None:
    mention = items()["1002"]["mention"]["id"]
    result = invoke("route", "--explain", str(mention))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert "  ✓ legal threats → legal (urgent)" in lines
    assert "      ✓ keyword 'lawyer'" in lines
    assert "  ✗ outages → engineering (high)" in lines
    assert any(
        line.startswith("      ✗ no topic among outage (similarity outage 0.") for line in lines
    )
    assert "  legal (urgent): rule 'legal threats': keyword 'lawyer'" in lines
    data = json.loads(invoke("route", "--explain", str(mention), "-f", "json").stdout)
    assert [r["matched"] for r in data["rules"]] == [True, False, False]
    missing = invoke("route", "--explain", "999")
    assert missing.exit_code == 1 and missing.stderr.startswith("Error: no mention 999")


def test_rules_test_shows_what_a_changed_config_would_move(project: Path) -> None:
    changed = (
        (project / "config.yaml")
        .read_text(encoding="utf-8")
        .replace(
            "    - {name: outages,",
            "    - {name: purchases, when: {keywords: [bought]}, to: [pr], priority: low}\n"
            "    - {name: outages,",
        )
        .replace('"the app is down", ', '"the app is down", "nothing loads", ')
    )
    (project / "new.yaml").write_text(changed, encoding="utf-8")
    before = items()
    result = invoke("--config", "new.yaml", "rules", "test", "--since", "30d", "-f", "json")
    assert result.exit_code == 0, result.output
    replay = json.loads(result.stdout)
    assert replay["replayed"] == 4 and replay["topics_recomputed"] is True
    assert [(m["before"], m["after"]) for m in replay["moves"]] == [(["support"], ["pr"])]
    assert replay["moves"][0]["reasons"] == {"pr": "rule 'purchases': keyword 'bought'"}
    assert replay["departments"]["pr"] == {"before": 0, "after": 1}
    assert items() == before  # nothing was applied
    table = invoke("--config", "new.yaml", "rules", "test", "--since", "30d", "--stored-topics")
    assert "replayed 4 mentions (stored topics): 1 would move, 3 unchanged" in table.stdout


def test_hostile_posts_cannot_drive_the_terminal_in_queue_views(project: Path) -> None:
    hostile = (
        "acme \x1b]0;PWNED\x07\x1b[2J[bold red]ACME-6666[/bold red] https://evil.example/\x1b[31mx"
    )
    p.write_jsonl(project / "h.jsonl", p.x_page(p.tweet("1666", hostile)))
    assert invoke("import", "h.jsonl", "--platform", "x").exit_code == 0
    item = items()["1666"]
    outputs = [
        invoke("queue", "list").stdout,
        invoke("queue", "show", str(item["id"])).stdout,
        invoke("route", "--explain", str(item["mention"]["id"])).stdout,
        invoke("queue", "reply", str(item["id"]), "--text", hostile).stdout,
    ]
    for output in outputs:
        assert "\x1b" not in output and "\x07" not in output
    assert "[bold red]ACME-6666[/bold red]" in outputs[2]  # shown as text, not as markup


def test_one_reply_in_flight_per_item_and_orphans_escalate_to_the_default(project: Path) -> None:
    from sqlalchemy.exc import IntegrityError

    config = load_config(project / "config.yaml")
    store = Store(config.database.url)
    item_id = items()["1004"]["id"]
    with pytest.raises(IntegrityError), store.session() as session:
        for _ in range(2):  # what two simultaneous --send would write
            session.add(
                Reply(queue_item_id=item_id, platform="x", in_reply_to="1004", text="a", actor="a")
            )
            session.flush()
    with store.session() as session:
        item = session.get(QueueItem, item_id)
        item.department = "retired-team"  # no longer in the config
        created = item.created_at
    escalate_overdue(store, config, created + timedelta(minutes=61))
    with store.session() as session:
        channels = session.execute(
            select(Alert.channel).where(Alert.queue_item_id == item_id)
        ).scalars()
        assert list(channels) == ["support"]  # routing.default, on the default's SLA


def test_show_prints_the_whole_post_where_the_list_cuts_it(project: Path) -> None:
    """Legal must read the whole post: `queue show` wraps it, `queue list` keeps one line."""
    long = (
        "acme took my money and I am calling my lawyer. "
        + "word " * 60
        + "Is small claims an option?"
    )
    p.write_jsonl(project / "long.jsonl", p.x_page(p.tweet("1777", long)))
    assert invoke("import", "long.jsonl", "--platform", "x").exit_code == 0
    item = items()["1777"]["id"]
    shown = " ".join(invoke("queue", "show", str(item)).stdout.split())
    assert "Is small claims an option?" in shown
    listed = " ".join(invoke("queue", "list", "-d", "legal").stdout.split())
    assert "Is small claims an option?" not in listed and "acme took my money" in listed
