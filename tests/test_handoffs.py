"""Hand-offs end to end: the real pipeline writes the outbox, the real sinks deliver it over
HTTP to local fakes (tests/fakes/hooks.py) that answer as the real receivers do.

Webhooks: Standard Webhooks signatures checked by the receiver's own code, every item event
and its closure, retries through 5xx and 429, each event once by its id across a sender
killed mid-call, per-receiver health in `harken alerts`. Teams: Adaptive Cards, strangers'
text never where Teams reads Markdown. PagerDuty: critical items trigger, resolving resolves,
an invalid event fails with PagerDuty's words.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select
from typer.testing import CliRunner

from harken.cli import app
from harken.config import Config, load_config
from harken.config.sinks import webhook_key
from harken.errors import ConfigError
from harken.notify.outbox import deliver_pending
from harken.notify.registry import alert_sinks, build_sinks, closure_sinks
from harken.notify.webhook.sink import sign
from harken.pipeline.ingest import ingest
from harken.pipeline.process import run_pass
from harken.platforms.replay import read_jsonl
from harken.queue.escalation import escalate_overdue
from harken.queue.views import list_items
from harken.store import Store
from harken.store.tables import Alert
from tests import payloads as p
from tests.conftest import TEST_TOPICS
from tests.fakes.hooks import HOOK_PATH, FakePagerDuty, FakeReceiver, FakeTeams
from tests.fakes.http import Reply
from tests.test_alerts import wait_until_gone

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
PD_KEY = "R0UT1NGKEY0000000000000000000001"  # 32 characters, as PagerDuty's
OUTAGE = "@acme the app is down, can't log in since this morning"
HOSTILE = (
    '<!channel> [claim here](https://evil.example) **acme** my lawyer will sue =HYPERLINK("x")'
)
QUESTION = "acme where do I change my avatar?"
ANGRY_EMOJI = "acme " + "😡" * 7000 + " my lawyer will hear of this"


def tree(tmp_path: Path, **alerts: Any) -> dict[str, Any]:
    return {
        "database": {"url": f"sqlite:///{tmp_path}/h.db"},
        "brands": [{"name": "Acme", "keywords": ["acme"], "handles": ["@acmesupport"]}],
        "departments": [
            {"name": n, "sla": "1h"} for n in ("support", "engineering", "legal", "pr")
        ],
        "topics": TEST_TOPICS,
        "routing": {
            "default": "support",
            "rules": [
                {"name": "legal", "when": {"keywords": ["lawyer"]}, "to": ["legal"],
                 "priority": "urgent"},
                {"name": "outages", "when": {"topics": ["outage"]}, "to": ["engineering"],
                 "priority": "high"},
            ],
        },
        "incidents": {"storms": {"enabled": False}},
        "alerts": {"min_priority": "high", "min_risk": 0.99, "console": False, **alerts},
    }  # fmt: skip


def webhook(receiver: FakeReceiver, secret: str = SECRET, **extra: Any) -> dict[str, Any]:
    return {"name": "ops", "url": receiver.url + HOOK_PATH, "secret": secret, **extra}


def configured(tmp_path: Path, **alerts: Any) -> tuple[Config, Path]:
    """The config, and the same settings as a file for the CLI (secrets from the env)."""
    path = tmp_path / "config.yaml"
    path.write_text(json.dumps(tree(tmp_path, **alerts)), encoding="utf-8")
    return load_config(path, environ={"HOOK_SECRET": SECRET}), path


def route(tmp_path: Path, config: Config, classifier: Any, *texts: str) -> Store:
    tweets = [p.tweet(str(7000 + i), text) for i, text in enumerate(texts)]
    jsonl = p.write_jsonl(tmp_path / "posts.jsonl", p.x_page(*tweets))
    store = Store(config.database.url)
    ingest(store, config, list(read_jsonl(jsonl, "x")), source="t")
    run_pass(store, config, {}, classifier)
    return store


def deliver(store: Store, config: Config, **kwargs: Any) -> Any:
    sinks = build_sinks(config, Console(file=io.StringIO()))
    return deliver_pending(store, config, sinks, **kwargs)


def alerts(store: Store, sink: str | None = None) -> list[Alert]:
    with store.session() as session:
        found = session.execute(select(Alert).order_by(Alert.id)).scalars()
        return [a for a in found if sink is None or a.sink == sink]


def cli(path: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, ["--config", str(path), *args], env={"HOOK_SECRET": SECRET})
    assert result.exit_code == 0, result.output
    return result


def item_in(store: Store, department: str) -> dict[str, Any]:
    (item,) = list_items(store, department, None, None)
    return item


@pytest.fixture
def receiver() -> Iterator[FakeReceiver]:
    with FakeReceiver(SECRET) as fake:
        yield fake


# -- webhooks -------------------------------------------------------------------------------


def test_the_signature_is_the_standard_webhooks_one() -> None:
    # The test vector of the Standard Webhooks reference libraries.
    key = webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    body = b'{"test": 2432232314}'
    signature = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body)
    assert signature == "g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_a_receiver_gets_every_item_signed_and_hears_when_one_is_resolved(
    tmp_path: Path, receiver: FakeReceiver, classifier: Any
) -> None:
    hook = webhook(receiver, secret="${HOOK_SECRET}")
    config, path = configured(tmp_path, webhooks=[hook])
    store = route(tmp_path, config, classifier, OUTAGE, HOSTILE, QUESTION)
    result = deliver(store, config)
    assert result.sent == 3 and not result.errors
    # every item, not only those worth a ping (the question is a normal support item)
    created = receiver.of_type("item.created")
    assert sorted(e["department"] for e in created) == ["engineering", "legal", "support"]
    legal = next(e for e in created if e["department"] == "legal")
    listed = item_in(store, "legal")
    # the item as `queue list --format json` shows it; the stranger's text exactly as posted
    assert legal["data"]["item"]["id"] == listed["id"]
    assert legal["data"]["item"]["mention"] == listed["mention"]
    assert legal["data"]["item"]["mention"]["text"] == HOSTILE
    assert set(legal["data"]["item"]) == set(listed)
    # claimed, then closed from the CLI: the receiver hears of both, with who did it
    cli(path, "queue", "claim", str(listed["id"]), "--as", "aiko")
    cli(path, "queue", "resolve", str(listed["id"]), "--as", "aiko", "--note", "called back")
    assert deliver(store, config).sent == 2
    (claimed,) = receiver.of_type("item.claimed")
    assert claimed["data"]["item"]["assignee"] == "aiko"
    (resolved,) = receiver.of_type("item.resolved")
    assert resolved["data"]["item"]["status"] == "resolved"
    assert resolved["data"]["item"]["closed_by"] == "aiko"
    assert len(receiver.deliveries) == len(set(receiver.deliveries)) == 5
    # per-receiver health
    health = json.loads(cli(path, "alerts", "--format", "json").output)["sinks"]
    assert health[0]["sink"] == "webhook:ops" and health[0]["counts"] == {"sent": 5}
    assert "webhook:ops: 5 sent · last sent" in cli(path, "alerts").output


def test_a_receiver_that_fails_is_retried_and_gets_each_event_once_by_its_id(
    tmp_path: Path, receiver: FakeReceiver, classifier: Any
) -> None:
    config, path = configured(tmp_path, webhooks=[webhook(receiver)])
    store = route(tmp_path, config, classifier, OUTAGE, QUESTION)
    receiver.fail_next(Reply(503, json={"error": "upstream down"}))
    first = deliver(store, config)
    assert first.sent == 0 and first.retry_later == 1  # the lane waits behind its head
    shown = cli(path, "alerts").output
    assert "webhook:ops: 2 pending · never sent · retrying at" in shown and "HTTP 503" in shown
    assert receiver.url.split("//")[1] in shown  # where, by host: never the path or a secret
    receiver.fail_next(Reply(429, headers={"Retry-After": "1"}))
    second = deliver(store, config, force=True)
    assert second.sent == 2 and "HTTP 429" in second.errors[0]
    # the 503'd event came again with the same id (it may have arrived): one event each
    assert len(receiver.events) == 2 and {a.status for a in alerts(store)} == {"sent"}
    assert [e["data"]["item"]["department"] for e in receiver.events.values()] == [
        "engineering",
        "support",
    ]  # in the order they happened


def test_a_sender_killed_mid_call_sends_again_under_the_same_id(
    tmp_path: Path, receiver: FakeReceiver, classifier: Any
) -> None:
    config, path = configured(tmp_path, webhooks=[webhook(receiver, secret="${HOOK_SECRET}")])
    store = route(tmp_path, config, classifier, OUTAGE, QUESTION)

    def accept_then_hang(request: Any) -> Reply:
        receiver._receive(request)  # the event is in; its answer never comes
        return Reply(204, delay=30)

    receiver.fail_next(accept_then_hang)
    sender = subprocess.Popen(
        [sys.executable, "-m", "harken", "--config", str(path), "alerts", "flush"],
        env={**os.environ, "HOOK_SECRET": SECRET},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not receiver.deliveries and time.monotonic() < deadline:
        time.sleep(0.05)
    os.kill(sender.pid, signal.SIGKILL)
    sender.wait()
    assert alerts(store)[0].status == "sending"
    wait_until_gone(store, alerts(store)[0])  # its lease went with its process
    result = deliver(store, config)
    assert result.resent == 1 and result.sent == 2
    first = receiver.deliveries[0]
    assert receiver.deliveries == [first, first, receiver.deliveries[2]]
    assert len(receiver.events) == 2  # each event once by its id


def test_a_receiver_hears_only_what_it_subscribes_to(
    tmp_path: Path, receiver: FakeReceiver, classifier: Any
) -> None:
    hook = webhook(receiver, events=["item.resolved"], departments=["legal"])
    config, path = configured(tmp_path, webhooks=[hook])
    assert alert_sinks(config, "support") == []
    assert closure_sinks(config, "legal") == {"webhook:ops": "item"}
    store = route(tmp_path, config, classifier, HOSTILE, QUESTION)
    result = deliver(store, config)
    # legal's item.created is written (to know the item later) and skipped, never sent
    assert result.sent == 0 and result.skipped == 1 and receiver.requests == []
    cli(path, "queue", "resolve", str(item_in(store, "legal")["id"]))
    assert deliver(store, config).sent == 1
    assert [e["type"] for e in receiver.events.values()] == ["item.resolved"]


def test_a_receiver_hears_of_transfers_escalations_and_posts_joining_an_incident(
    tmp_path: Path, receiver: FakeReceiver, classifier: Any
) -> None:
    config, path = configured(tmp_path, webhooks=[webhook(receiver)])
    store = route(tmp_path, config, classifier, QUESTION)
    question = item_in(store, "support")
    cli(path, "queue", "transfer", str(question["id"]), "--to", "engineering", "--note", "bug")
    escalate_overdue(store, config, now=datetime.now(UTC) + timedelta(hours=3))
    # a retweet of the question joins its incident and its item
    retweet = p.tweet("7100", "RT @kenji_t: " + QUESTION, author="200")
    retweet["referenced_tweets"] = [{"type": "retweeted", "id": "7000"}]
    jsonl = p.write_jsonl(tmp_path / "rt.jsonl", p.x_page(retweet))
    ingest(store, config, list(read_jsonl(jsonl, "x")), source="t")
    run_pass(store, config, {}, classifier)
    assert deliver(store, config).sent == 4
    kinds = [e["type"] for e in receiver.events.values()]
    assert kinds == ["item.created", "item.transferred", "item.escalated", "incident.grown"]
    moved, escalated, grown = list(receiver.events.values())[1:]
    assert moved["department"] == "engineering" and moved["data"]["from"] == "support"
    assert escalated["data"]["level"] == escalated["data"]["item"]["escalation_level"] == 2
    assert grown["data"]["item"]["id"] == question["id"] and grown["data"]["joined"] == 1
    assert grown["data"]["post"]["external_id"] == "7100"
    # heard of in support and in engineering: resolved once, as of where it is now
    cli(path, "queue", "tag", str(question["id"]), "app")
    cli(path, "queue", "resolve", str(question["id"]))
    assert deliver(store, config).sent == 1
    (resolved,) = receiver.of_type("item.resolved")
    assert resolved["department"] == "engineering" and resolved["data"]["item"]["tags"] == ["app"]


def test_a_token_in_a_webhooks_path_never_shows_even_when_the_receiver_echoes_it(
    tmp_path: Path, receiver: FakeReceiver, classifier: Any
) -> None:
    hook = webhook(receiver) | {"url": receiver.url + HOOK_PATH + "/T0KEN-s3cr3t-42"}
    config, path = configured(tmp_path, webhooks=[hook])
    store = route(tmp_path, config, classifier, QUESTION)
    assert deliver(store, config).failed == 1  # the fake's 404 quotes the path it was sent
    (failed,) = alerts(store)
    shown = cli(path, "alerts").output + cli(path, "alerts", "--format", "json").output
    assert "HTTP 404" in shown and "T0KEN-s3cr3t-42" not in shown + (failed.last_error or "")


def test_posts_that_join_after_a_grown_event_was_tried_make_an_event_of_their_own(
    tmp_path: Path, receiver: FakeReceiver, classifier: Any
) -> None:
    config, _ = configured(tmp_path, webhooks=[webhook(receiver)])
    store = route(tmp_path, config, classifier, QUESTION)
    assert deliver(store, config).sent == 1

    def retweets(*ids: str) -> None:
        tweets = []
        for tweet_id in ids:
            retweet = p.tweet(tweet_id, "RT @kenji_t: " + QUESTION, author="200")
            retweet["referenced_tweets"] = [{"type": "retweeted", "id": "7000"}]
            tweets.append(retweet)
        jsonl = p.write_jsonl(tmp_path / f"rt-{ids[0]}.jsonl", p.x_page(*tweets))
        ingest(store, config, list(read_jsonl(jsonl, "x")), source="t")
        run_pass(store, config, {}, classifier)

    retweets("7100")

    def take_then_fail(request: Any) -> Reply:
        receiver._receive(request)  # the receiver has it; its answer is lost
        return Reply(503)

    receiver.fail_next(take_then_fail)
    assert deliver(store, config).retry_later == 1
    retweets("7101")  # joins after the first grown event was tried: not folded into it
    assert deliver(store, config, force=True).sent == 2
    grown = receiver.of_type("incident.grown")
    assert [g["data"]["post"]["external_id"] for g in grown] == ["7100", "7101"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"secret": "whsec_not base64!!"}, "expected whsec_ and base64 (make one: python -c"),
        ({"secret": "whsec_c2hvcnQ="}, "expected a key of 24 to 64 bytes, got 5"),
        ({"url": "ftp://example.com/hook"}, "http:// or https://"),
        ({"url": "https://hooks.example:80a/h"}, "this one cannot be read"),
        ({"name": "Ops Team"}, "lower-case letters"),
        ({"events": ["item.deleted"]}, "item.created"),
        ({"departments": ["nobody"]}, "alerts.webhooks[0].departments names department 'nobody'"),
    ],
)
def test_a_bad_webhook_fails_at_load_with_its_key(
    tmp_path: Path, change: dict[str, Any], message: str
) -> None:
    hook = {"name": "ops", "url": "https://hooks.example/h", "secret": SECRET, **change}
    with pytest.raises(ConfigError) as caught:
        load_config(overrides=tree(tmp_path, webhooks=[hook]), environ={})
    assert message in str(caught.value) + str(caught.value.hint or "")


def test_two_webhooks_of_one_name_and_unknown_pagerduty_departments_are_refused(
    tmp_path: Path,
) -> None:
    hook = {"name": "ops", "url": "https://hooks.example/h", "secret": SECRET}
    with pytest.raises(ConfigError, match="two webhooks are named 'ops'"):
        load_config(overrides=tree(tmp_path, webhooks=[hook, hook]), environ={})
    with pytest.raises(ConfigError, match="routing_keys names department 'secops'"):
        pd = {"routing_keys": {"secops": PD_KEY}}
        load_config(overrides=tree(tmp_path, pagerduty=pd), environ={})


# -- Teams ----------------------------------------------------------------------------------


def texts_of(element: Any, kind: str) -> list[str]:
    """Every ``text`` of the card's elements of this type."""
    found = []
    if isinstance(element, dict):
        if element.get("type") == kind and "text" in element:
            found.append(element["text"])
        for value in element.values():
            found += texts_of(value, kind)
    elif isinstance(element, list):
        for value in element:
            found += texts_of(value, kind)
    return found


def test_teams_channels_get_cards_where_strangers_text_is_never_markdown(
    tmp_path: Path, classifier: Any
) -> None:
    with FakeTeams("/workflows/legal", "/workflows/all") as teams:
        settings = {
            "webhook_url": teams.url + "/workflows/all?sig=SECRETSIG",
            "departments": {"legal": teams.url + "/workflows/legal?sig=SECRETSIG"},
        }
        config, path = configured(tmp_path, teams=settings)
        config.web.public_url = "https://harken.example.com"  # the cards link to the item
        store = route(tmp_path, config, classifier, OUTAGE, HOSTILE, QUESTION, ANGRY_EMOJI)
        result = deliver(store, config)
        assert result.sent == 3  # legal's two (urgent), engineering (high); not the question
        legal, emoji = teams.cards["/workflows/legal"]  # the fake refuses over 28 KB
        (engineering,) = teams.cards["/workflows/all"]
    # 4 bytes a character: the post is shortened until the message fits
    (shown,) = [t for t in texts_of(emoji, "TextRun") if t.startswith("acme ")]
    assert 200 < len(shown) < len(ANGRY_EMOJI) and shown.endswith("…")
    assert legal["type"] == "AdaptiveCard" and legal["version"] == "1.4"
    assert HOSTILE in texts_of(legal, "TextRun")  # shown as written
    markdown = " ".join(texts_of(legal, "TextBlock"))  # what Teams reads as Markdown
    assert "evil.example" not in markdown and "<!channel>" not in markdown
    assert "URGENT · legal" in markdown
    assert OUTAGE in texts_of(engineering, "TextRun")
    post, item = legal["actions"]
    assert post["type"] == "Action.OpenUrl" and post["url"].startswith("https://")
    assert item["type"] == "Action.OpenUrl" and item["title"] == "Claim in harken"
    legal_items = {i["id"] for i in list_items(store, "legal", None, None)}
    assert int(item["url"].removeprefix("https://harken.example.com/items/")) in legal_items
    # the URL's signature never shows
    assert "SECRETSIG" not in cli(path, "alerts").output


def test_the_digest_summary_reaches_the_digest_departments_teams_channel(
    tmp_path: Path, classifier: Any
) -> None:
    with FakeTeams("/workflows/pr") as teams:
        settings = {"departments": {"pr": teams.url + "/workflows/pr"}}
        config, path = configured(tmp_path, teams=settings)
        route(tmp_path, config, classifier, HOSTILE)
        cli(path, "digest", "--date", "2026-11-22", "--send")
        (card,) = teams.cards["/workflows/pr"]
    assert "Daily escalation digest 2026-11-22" in texts_of(card, "TextBlock")[0]
    (summary,) = texts_of(card, "TextRun")
    assert "incident" in summary.lower()


# -- PagerDuty ------------------------------------------------------------------------------


def test_pagerduty_is_paged_for_critical_items_acknowledged_and_resolved_with_them(
    tmp_path: Path, classifier: Any
) -> None:
    with FakePagerDuty() as pagerduty:
        settings = {
            "api_base_url": pagerduty.url,
            "routing_keys": {"legal": PD_KEY, "engineering": PD_KEY.replace("1", "2")},
        }
        config, path = configured(tmp_path, pagerduty=settings)
        store = route(tmp_path, config, classifier, OUTAGE, HOSTILE)
        assert deliver(store, config).sent == 1  # the urgent legal item; the outage is high
        item = item_in(store, "legal")
        (paged,) = pagerduty.alerts.values()
        (trigger,) = paged.triggers
        assert trigger["dedup_key"] == f"harken:incident-{item['incident_id']}:legal"
        assert trigger["payload"]["severity"] == "critical"
        assert HOSTILE in trigger["payload"]["summary"]
        assert trigger["payload"]["custom_details"]["data"]["item"]["id"] == item["id"]
        # claimed: someone is on it, and on-call's page says so (once: not on a re-claim)
        cli(path, "queue", "claim", str(item["id"]), "--as", "aiko")
        assert deliver(store, config).sent == 1 and paged.status == "acknowledged"
        cli(path, "queue", "claim", str(item["id"]), "--as", "ken", "--force")
        assert deliver(store, config).sent == 0
        cli(path, "queue", "dismiss", str(item["id"]), "--reason", "not ours")
        assert deliver(store, config).sent == 1
        assert paged.status == "resolved"


def test_resolving_an_item_leaves_the_page_open_while_another_item_is_on_it(
    tmp_path: Path, classifier: Any
) -> None:
    with FakePagerDuty() as pagerduty:
        settings = {"api_base_url": pagerduty.url, "routing_keys": {"legal": PD_KEY}}
        config, path = configured(tmp_path, pagerduty=settings)
        store = route(tmp_path, config, classifier, HOSTILE)
        first = item_in(store, "legal")
        cli(path, "queue", "transfer", str(first["id"]), "--to", "support")
        # a retweet joins the incident; legal has no open item of it now: a second one
        retweet = p.tweet("7100", "RT @kenji_t: " + HOSTILE, author="200")
        retweet["referenced_tweets"] = [{"type": "retweeted", "id": "7000"}]
        jsonl = p.write_jsonl(tmp_path / "rt.jsonl", p.x_page(retweet))
        ingest(store, config, list(read_jsonl(jsonl, "x")), source="t")
        run_pass(store, config, {}, classifier)
        second = item_in(store, "legal")
        assert second["incident_id"] == first["incident_id"] != None  # noqa: E711
        deliver(store, config)
        (paged,) = pagerduty.alerts.values()
        assert len(paged.triggers) == 2  # one PagerDuty alert for the incident
        cli(path, "queue", "resolve", str(first["id"]))
        result = deliver(store, config)
        assert result.skipped == 1 and paged.status == "triggered"  # the second is still open
        cli(path, "queue", "resolve", str(second["id"]))
        assert deliver(store, config).sent == 1 and paged.status == "resolved"
        # a trigger retried after its item closed is not sent
        with store.session() as session:
            trigger = session.get(Alert, alerts(store, "pagerduty")[0].id)
            assert trigger is not None
            trigger.status = "pending"
            session.add(trigger)
            session.commit()
        assert deliver(store, config).skipped == 1 and paged.status == "resolved"


def test_pagerduty_refusing_an_event_fails_it_with_pagerdutys_words(
    tmp_path: Path, classifier: Any
) -> None:
    with FakePagerDuty() as pagerduty:
        settings = {"api_base_url": pagerduty.url, "routing_keys": {"legal": "too-short"}}
        config, _ = configured(tmp_path, pagerduty=settings)
        store = route(tmp_path, config, classifier, HOSTILE)
        result = deliver(store, config)
        assert result.failed == 1 and pagerduty.alerts == {}
    (failed,) = alerts(store, "pagerduty")
    assert failed.status == "failed"
    assert "HTTP 400" in (failed.last_error or "") and "routing_key" in (failed.last_error or "")


def test_the_console_stays_on_beside_sinks_that_do_not_reach_people_for_every_alert(
    tmp_path: Path,
) -> None:
    pd = {"routing_keys": {"legal": PD_KEY}}
    hook = {"name": "ops", "url": "https://hooks.example/h", "secret": SECRET}
    machines = load_config(
        overrides={**tree(tmp_path, pagerduty=pd, webhooks=[hook]), "alerts": {
            "pagerduty": pd, "webhooks": [hook]}},
        environ={},
    )  # fmt: skip
    assert alert_sinks(machines, "legal") == ["console", "pagerduty", "webhook:ops"]
    assert alert_sinks(machines, "legal", "high", 0.5) == ["console", "webhook:ops"]
    teams = {"webhook_url": "https://teams.example/w"}
    people = load_config(overrides={**tree(tmp_path), "alerts": {"teams": teams}}, environ={})
    assert alert_sinks(people, "legal") == ["teams"]


def test_the_env_template_names_the_variables_the_example_config_uses() -> None:
    from harken.cli.setup import HANDOFF_ENV
    from harken.config import example_config_text

    for var in HANDOFF_ENV:
        assert "${" + var + "}" in example_config_text(), var
