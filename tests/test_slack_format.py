"""Alerts as Slack Block Kit: the facts are there, hostile posts stay text, limits hold.

No network, no database: the SQLModel rows are built in memory.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from slack_sdk.models.blocks import Block, BlockElement

from harken.config import Config, DepartmentConfig
from harken.notify.slack.format import alert_message, incident_root
from harken.notify.slack.message import SlackMessage
from harken.store.repo import AlertView
from harken.store.tables import (
    Alert,
    Author,
    Classification,
    Incident,
    Mention,
    QueueItem,
    Spike,
)

NOW = datetime(2026, 12, 2, 9, 30, tzinfo=UTC)
DUE = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
DUE_TOKEN = f"<!date^{int(DUE.timestamp())}^{{date_short_pretty}} {{time}}|2026-12-02 08:00 UTC>"
# The only "<!" markup harken writes itself; a test strips these before looking for others.
HARKEN_DATE = re.compile(r"<!date\^\d+\^[{}a-z_ ]+\|[^<>|]*>")
HOSTILE = "<!channel> <!here> <@U123> <http://evil|Bank> & < > *bold* ``` \x1b[31m"
KNOWN_BLOCKS = {"header", "section", "context", "actions", "divider"}


def config() -> Config:
    return Config(
        departments=[
            DepartmentConfig(name="support", sla=timedelta(hours=1), escalate_to="pr"),
            DepartmentConfig(name="pr", sla=timedelta(hours=2)),
        ]
    )


def view(
    kind: str = "item",
    *,
    text: str = "The app has been down for an hour and I was charged twice.",
    handle: str = "@angry_customer",
    name: str | None = "Alex Example",
    url: str | None = "https://x.com/angry_customer/status/1234567890",
    reason: str = "rule 'outage': matched keyword 'down'",
    factors: tuple[str, ...] = ("complaint 0.91", "reach 45,000 followers"),
    payload: dict[str, Any] | None = None,
    channel: str = "support",
    level: int = 0,
    assignee: str | None = None,
) -> AlertView:
    author = Author(
        id=3,
        platform="x",
        external_id="99",
        handle=handle,
        name=name,
        followers=45_000,
        verified=True,
    )
    mention = Mention(
        id=11,
        platform="x",
        external_id="1234567890",
        text=text,
        url=url,
        created_at=datetime(2026, 12, 2, 7, 0, tzinfo=UTC),
        author_id=3,
        incident_id=42,
    )
    c = Classification(
        id=5,
        mention_id=11,
        model="minilm",
        sentiment="negative",
        complaint=0.91,
        abuse=0.12,
        risk=0.87,
        risk_factors=list(factors),
        language="en",
    )
    incident = Incident(
        id=42,
        key="x:1234567890",
        first_seen=datetime(2026, 12, 2, 7, 0, tzinfo=UTC),
        last_seen=datetime(2026, 12, 2, 9, 12, tzinfo=UTC),
        size=17,
    )
    item = QueueItem(
        id=7,
        mention_id=11,
        incident_id=42,
        department="support",
        priority="urgent",
        reason=reason,
        due_at=DUE,
        mentions=3,
        status="claimed" if assignee else "new",
        assignee=assignee,
        escalation_level=level,
    )
    alert = Alert(
        id=100,
        kind=kind,
        queue_item_id=7,
        mention_id=11,
        incident_id=42,
        payload=payload or {},
        sink="slack",
        channel=channel,
        idempotency_key=f"slack:{kind}:item-7",
    )
    return AlertView(alert, item, mention, author, c, incident)


def spike_view(terms: list[str] | None = None) -> AlertView:
    spike = Spike(
        id=9,
        brand="Acme",
        series="negative",
        hour_start=datetime(2026, 12, 2, 8, 0, tzinfo=UTC),
        count=120,
        baseline=20.0,
        ratio=6.0,
        p_value=1e-9,
        top_incidents=[42, 43],
        terms=terms if terms is not None else ["outage", "refund", "ログイン"],
    )
    alert = Alert(
        id=101, kind="spike", spike_id=9, sink="slack", channel="pr", idempotency_key="s:9"
    )
    return AlertView(alert, None, None, None, None, None, spike)


def strings(node: Any) -> Iterator[str]:
    """Every string in a block tree: what Slack will read."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, dict):
        for value in node.values():
            yield from strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from strings(value)


def rendered(message: SlackMessage) -> str:
    return "\n".join([message.text, *strings(message.blocks)])


def urls(message: SlackMessage) -> list[str]:
    return [
        e["url"]
        for b in message.blocks
        if b["type"] == "actions"
        for e in b["elements"]
        if "url" in e
    ]


def check_structure(message: SlackMessage) -> None:
    """What Slack would refuse: unknown blocks, oversize text, too many blocks or fields;
    slack_sdk's own models check the same limits a second time."""
    json.dumps({"text": message.text, "blocks": message.blocks}, ensure_ascii=False)
    assert message.text and len(message.text) <= 300
    assert 0 < len(message.blocks) <= 50
    for block in message.blocks:
        assert block["type"] in KNOWN_BLOCKS
        if block["type"] == "header":
            assert block["text"]["type"] == "plain_text"
            assert 0 < len(block["text"]["text"]) <= 150
        if block["type"] == "section":
            assert "text" in block or "fields" in block
            if "text" in block:
                assert 0 < len(block["text"]["text"]) <= 3000
            assert len(block.get("fields", [])) <= 10
            assert all(0 < len(f["text"]) <= 2000 for f in block.get("fields", []))
        if block["type"] == "context":
            assert 0 < len(block["elements"]) <= 10
            assert all(0 < len(e["text"]) <= 3000 for e in block["elements"])
        if block["type"] == "actions":
            for element in block["elements"]:
                assert element["type"] == "button"
                assert element["text"]["type"] == "plain_text"
                assert 0 < len(element["text"]["text"]) <= 75
                assert len(element["url"]) <= 3000
                assert element["url"].startswith(("https://", "http://"))
                BlockElement.parse(element).validate_json()  # type: ignore[union-attr]
        Block.parse(block).validate_json()  # type: ignore[union-attr]


# -- hostile input --------------------------------------------------------------------------


def hostile_views() -> list[AlertView]:
    common: dict[str, Any] = {
        "text": HOSTILE,
        "handle": "<!channel>",
        "name": "<!channel> <@U42|admin>",
        "reason": "matched 'down' in <@U999> post",
        "factors": ("risky topic: <!here>",),
    }
    return [
        view("item", url="javascript:alert(1)", **common),
        view("item", url="https://x.com/a|b>c", **common),
        view("escalation", url="https://x.com/a|b>c", level=2, channel="pr", **common),
        view("update", url="javascript:alert(1)", payload={"joined": 2}, **common),
        spike_view(terms=["<!here>", "<@U1>", "<http://evil|Bank>"]),
    ]


@pytest.mark.parametrize("hostile", hostile_views(), ids=lambda v: v.alert.kind)
def test_hostile_post_cannot_ping_link_or_escape(hostile: AlertView) -> None:
    message = alert_message(hostile, config(), now=NOW)
    check_structure(message)
    everything = HARKEN_DATE.sub("", rendered(message))
    for forbidden in ("<!", "<@", "<#", "|Bank>", "<http", "\x1b", "[31m"):
        assert forbidden not in everything, forbidden
    assert "javascript:" not in everything
    for url in urls(message):
        assert not set(url) & set("<>| ")
    if hostile.alert.kind == "spike":
        assert "&lt;!here&gt;" in everything
        assert "&lt;http://evil|Bank&gt;" in everything
    else:
        assert "&lt;!channel&gt; &lt;!here&gt; &lt;@U123&gt;" in everything
        assert "&lt;http://evil|Bank&gt; &amp; &lt; &gt;" in everything


def test_javascript_url_is_not_linked() -> None:
    message = alert_message(view(url="javascript:alert(1)"), config(), now=NOW)
    assert urls(message) == []
    assert "javascript" not in json.dumps(message.blocks)


def test_url_with_markup_characters_is_percent_encoded_in_a_button() -> None:
    message = alert_message(view(url="https://x.com/a|b>c"), config(), now=NOW)
    assert urls(message) == ["https://x.com/a%7Cb%3Ec"]


def test_reason_and_factors_are_escaped() -> None:
    hostile = view(reason="said <@U999> & <!everyone>", factors=("topic <#C1>",))
    everything = rendered(alert_message(hostile, config(), now=NOW))
    assert "said &lt;@U999&gt; &amp; &lt;!everyone&gt;" in everything
    assert "topic &lt;#C1&gt;" in everything


# -- the facts of each kind -----------------------------------------------------------------


def test_item_carries_every_fact() -> None:
    message = alert_message(view(), config(), now=NOW)
    check_structure(message)
    everything = rendered(message)
    assert message.blocks[0]["type"] == "header"
    assert "URGENT" in message.blocks[0]["text"]["text"]
    assert "support" in message.blocks[0]["text"]["text"]
    for fact in (
        "The app has been down for an hour and I was charged twice.",
        "@angry_customer",
        "Alex Example",
        "45,000 followers",
        "verified",
        "negative",
        "complaint 0.91",
        "abuse 0.12",
        "risk 0.87",
        "reach 45,000 followers",
        "rule 'outage': matched keyword 'down'",
        "#42 · 17 posts (3 in this item)",
        DUE_TOKEN,
        "`harken queue claim 7`",
        "`harken queue reply 7`",
        "`harken queue show 7`",
    ):
        assert fact in everything, fact
    assert urls(message) == ["https://x.com/angry_customer/status/1234567890"]
    assert "@angry_customer" in message.text and "risk 0.87" in message.text


def test_item_without_url_or_follower_count_still_renders() -> None:
    plain = view(url=None, name=None)
    assert plain.author is not None
    plain.author.followers = None
    message = alert_message(plain, config(), now=NOW)
    check_structure(message)
    assert urls(message) == []
    assert "followers unknown" in rendered(message)


def test_escalation_says_overdue_level_lateness_and_status() -> None:
    message = alert_message(
        view("escalation", level=2, channel="pr", assignee="dana"), config(), now=NOW
    )
    check_structure(message)
    everything = rendered(message)
    assert "OVERDUE" in message.blocks[0]["text"]["text"]
    assert "level 2" in message.blocks[0]["text"]["text"]
    for fact in ("1.5 h overdue", "claimed", "dana", "*pr*", DUE_TOKEN, "@angry_customer"):
        assert fact in everything, fact
    assert "`harken queue claim 7`" in everything
    assert message.text.startswith("OVERDUE (level 2, 1.5 h)")


def test_escalation_level_one_stays_with_its_department() -> None:
    message = alert_message(view("escalation", level=1), config(), now=NOW)
    assert "level 1" in message.text
    assert "No first response yet." in rendered(message)


def test_escalation_quotes_a_shorter_post() -> None:
    long = view("escalation", text="word " * 1000, level=1)
    post = alert_message(long, config(), now=NOW).blocks[2]["text"]["text"]
    assert len(post) <= 600


def test_update_shows_joined_posts_size_and_latest_post() -> None:
    message = alert_message(view("update", payload={"joined": 3}), config(), now=NOW)
    check_structure(message)
    everything = rendered(message)
    for fact in ("+3 posts", "incident #42", "now 17 posts", "@angry_customer", "45,000"):
        assert fact in everything, fact
    assert "charged twice" in everything
    assert message.blocks[0]["type"] != "header"  # a quiet reply
    assert message.text.startswith("+3 posts on incident #42")


def test_update_counts_one_post_by_default() -> None:
    message = alert_message(view("update"), config(), now=NOW)
    assert "+1 post*" in rendered(message)


def test_spike_shows_volume_ratio_hour_terms_and_incidents() -> None:
    message = alert_message(spike_view(), config(), now=NOW)
    check_structure(message)
    everything = rendered(message)
    hour = int(datetime(2026, 12, 2, 8, tzinfo=UTC).timestamp())
    for fact in (
        "Acme",
        "negative",
        "120 posts",
        "6.0x",
        "20.0",
        f"<!date^{hour}^",
        "outage · refund · ログイン",
        "#42, #43",
    ):
        assert fact in everything, fact
    assert "12-02 08:00 UTC" in message.text


def test_other_kinds_are_refused() -> None:
    with pytest.raises(ValueError, match="digest"):
        alert_message(view("digest"), config())


def test_incident_root_shows_current_size_and_state() -> None:
    root = view("item", assignee="dana")
    message = incident_root(root, config(), now=NOW)
    check_structure(message)
    everything = rendered(message)
    last = int(datetime(2026, 12, 2, 9, 12, tzinfo=UTC).timestamp())
    assert f"*17 posts so far*, last at <!date^{last}^{{time}}|09:12 UTC>" in everything
    assert "item claimed by dana" in everything
    # Otherwise the same message as the item's own alert.
    assert alert_message(root, config(), now=NOW).blocks[:3] == message.blocks[:3]


def test_incident_root_refuses_kinds_that_start_no_thread() -> None:
    with pytest.raises(ValueError):
        incident_root(view("update"), config())


def test_fallback_times_use_the_digest_time_zone() -> None:
    tokyo = config().model_copy(update={"digest": config().digest.model_copy()})
    tokyo.digest.timezone = "Asia/Tokyo"
    everything = rendered(alert_message(view(), tokyo, now=NOW))
    assert (
        f"<!date^{int(DUE.timestamp())}^{{date_short_pretty}} {{time}}|2026-12-02 17:00 JST>"
        in (everything)
    )


# -- text that is long, or not English ------------------------------------------------------


def test_japanese_text_survives_intact() -> None:
    text = "ログインできない！サービスが落ちている。二重請求もされた😡"
    message = alert_message(view(text=text, handle="@やまだ", name="山田 太郎"), config(), now=NOW)
    check_structure(message)
    everything = rendered(message)
    assert text in everything
    assert "@やまだ" in everything and "山田 太郎" in everything
    assert "山田" in message.text or "@やまだ" in message.text


@pytest.mark.parametrize("kind", ["item", "escalation", "update"])
@pytest.mark.parametrize("char", ["a", "&", "<", "a\n", "😡", "ロ"])
def test_long_posts_are_cut_within_limits(kind: str, char: str) -> None:
    huge = view(kind, text=char * 10_000, reason=char * 10_000, name=char * 255, level=1)
    message = alert_message(huge, config(), now=NOW)
    check_structure(message)
    post = message.blocks[1 if kind == "item" else 2 if kind == "escalation" else 1]
    assert post["text"]["text"].rstrip().endswith("…")
    assert not re.search(r"&[a-z]*…", rendered(message))  # never cut inside an entity


def test_long_spike_terms_and_brand_stay_within_limits() -> None:
    spike = spike_view(terms=["&" * 500] * 30)
    assert spike.spike is not None
    spike.spike.brand = "<" * 500
    message = alert_message(spike, config(), now=NOW)
    check_structure(message)
