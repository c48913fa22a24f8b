"""The daily PR digest: its window, its numbers on a small known store, the HTML page (escaped,
self-contained, printable), the e-mail through a local SMTP server, the Slack summary and the
JSON round trip."""

from __future__ import annotations

import base64
import dataclasses
import json
import re
import socket
import struct
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import event
from sqlmodel import Session

from harken.config import Config, EmailConfig
from harken.digest.build import build_digest, digest_window
from harken.digest.charts import daily_chart, digest_charts, hourly_chart
from harken.digest.model import Digest
from harken.digest.render import (
    digest_message,
    digest_plain,
    digest_text,
    render_email,
    render_html,
    subject_line,
)
from harken.errors import HarkenError
from harken.notify.contract import DeliveryError
from harken.notify.email.smtp import send_email
from harken.store import Store
from harken.store.tables import (
    Alert,
    Author,
    Classification,
    Incident,
    Mention,
    QueueItem,
    Spike,
)
from tests.fakes.smtp import FakeSMTP

H = timedelta(hours=1)
M = timedelta(minutes=1)
DAY = date(2026, 12, 2)
W0 = datetime(2026, 11, 30, 23, 0, tzinfo=UTC)  # 2026-12-01 08:00 Asia/Tokyo
NOW = W0 + 24 * H + 5 * M  # just after the digest time of DAY

SCRIPT = "<script>alert(1)</script>"
HOSTILE_TEXT = (
    f'{SCRIPT} Acme charged me twice <!channel> =HYPERLINK("http://evil.example","x") '
    "[red]boom[/red] \x1b[31mred\x1b[0m"
)
HOSTILE_HANDLE = "<img src=x onerror=alert(1)>"
JA_TEXT = "アクメのサービスが落ちている。ログインできない！<img src=x onerror=alert(2)>"

CONFIG: dict[str, Any] = {
    "brands": [
        {"name": "Acme", "keywords": ["acme"], "competitors": ["Globex", "Initech"]},
        {"name": "Globex", "keywords": ["globex"]},
    ],
    "departments": [
        {"name": "support", "sla": "1h"},
        {"name": "pr", "sla": {"urgent": "30m", "default": "2h"}},
        {"name": "engineering", "sla": "30m"},
    ],
    "digest": {
        "time": "08:00",
        "timezone": "Asia/Tokyo",
        "department": "pr",
        "top": 3,
        "link": "https://digest.example/{date}.html",
    },
}


def config(**digest: Any) -> Config:
    return Config.model_validate({**CONFIG, "digest": {**CONFIG["digest"], **digest}})


# --- a small store with known numbers -------------------------------------------------------


class Builder:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.n = 0
        self.authors: dict[str, Author] = {}

    def author(self, handle: str, followers: int | None) -> Author:
        if handle not in self.authors:
            author = Author(platform="x", external_id=handle, handle=handle, followers=followers)
            self.session.add(author)
            self.session.flush()
            self.authors[handle] = author
        return self.authors[handle]

    def post(
        self,
        at: datetime,
        text: str,
        *,
        brand: str = "Acme",
        author: tuple[str, int | None] = ("@someone", 10),
        sentiment: str | None = "neutral",
        complaint: float = 0.1,
        risk: float = 0.1,
        incident: Incident | None = None,
        url: str | None = None,
        language: str = "en",
    ) -> Mention:
        self.n += 1
        mention = Mention(
            platform="x",
            external_id=str(self.n),
            brand=brand,
            text=text,
            url=url,
            language=language,
            created_at=at,
            author_id=self.author(*author).id,  # type: ignore[arg-type]
            incident_id=incident.id if incident else None,
        )
        self.session.add(mention)
        self.session.flush()
        if sentiment is not None:
            self.session.add(
                Classification(
                    mention_id=mention.id,  # type: ignore[arg-type]
                    model="test",
                    sentiment=sentiment,
                    complaint=complaint,
                    abuse=0.0,
                    risk=risk,
                    risk_factors=["complaint", "reach"] if risk > 0.5 else [],
                    topics=["billing"] if "charged" in text else [],
                    language=language,
                )
            )
        return mention

    def incident(self, first: datetime, size: int, brand: str = "Acme") -> Incident:
        self.n += 1
        incident = Incident(
            brand=brand, key=f"k{self.n}", first_seen=first, last_seen=first, size=size
        )
        self.session.add(incident)
        self.session.flush()
        return incident

    def top(self, incident: Incident, mention: Mention, risk: float) -> None:
        incident.top_mention_id, incident.top_risk = mention.id, risk
        incident.last_seen = max(incident.last_seen, mention.created_at)
        self.session.add(incident)

    def item(
        self,
        mention: Mention,
        department: str,
        priority: str,
        sla: timedelta,
        responded: timedelta | None = None,
        status: str | None = None,
    ) -> QueueItem:
        created = mention.created_at
        mention.routed_at = created  # the pipeline sets both to the same time
        item = QueueItem(
            mention_id=mention.id,  # type: ignore[arg-type]
            incident_id=mention.incident_id,
            department=department,
            priority=priority,
            reason="test",
            created_at=created,
            updated_at=created,
            due_at=created + sla,
            responded_at=created + responded if responded is not None else None,
            status=status or ("responded" if responded is not None else "new"),
        )
        self.session.add_all([mention, item])
        self.session.flush()
        return item


@pytest.fixture(scope="module")
def filled(module_db_url: str) -> Iterator[Store]:
    """Built once for the module on each backend: the tests only read it."""
    store = Store(module_db_url)
    with store.session() as s:
        b = Builder(s)
        # A: English, hostile, three posts in the window; PR answered in time, support late.
        a = b.incident(W0 + 2 * H, size=3)
        a1 = b.post(
            W0 + 2 * H,
            HOSTILE_TEXT,
            author=(HOSTILE_HANDLE, 50_000),
            sentiment="negative",
            complaint=0.9,
            risk=0.95,
            incident=a,
            url="javascript:alert(1)",
        )
        b.post(
            W0 + 3 * H,
            "acme charged me too",
            author=("@y", 10),
            sentiment="negative",
            complaint=0.7,
            risk=0.6,
            incident=a,
        )
        b.post(W0 + 4 * H, "RT acme", author=("@y", 10), incident=a)
        b.top(a, a1, 0.95)
        b.item(a1, "pr", "urgent", 30 * M, responded=20 * M)
        b.item(a1, "support", "normal", H, responded=3 * H)
        # B: Japanese; engineering still waiting.
        inc_b = b.incident(W0 + 5 * H, size=1)
        b1 = b.post(
            W0 + 5 * H,
            JA_TEXT,
            author=("@tanaka", 1200),
            sentiment="negative",
            complaint=0.6,
            risk=0.8,
            incident=inc_b,
            url="https://example.jp/post/1",
            language="ja",
        )
        b.top(inc_b, b1, 0.8)
        eng = b.item(b1, "engineering", "high", 30 * M)
        # C: began the day before, continues in the window.
        c = b.incident(W0 - 10 * H, size=2)
        c1 = b.post(
            W0 - 10 * H,
            "acme is slow",
            author=("@w", None),
            sentiment="negative",
            risk=0.5,
            incident=c,
        )
        b.post(W0 + 8 * H, "acme still slow", author=("@w", None), incident=c)
        b.top(c, c1, 0.5)
        b.item(c1, "support", "normal", H, responded=30 * M)
        # D: only the day before: risky, still waiting (yesterday's breach).
        d = b.incident(W0 - 5 * H, size=1)
        d1 = b.post(
            W0 - 5 * H,
            "acme lost my data",
            sentiment="negative",
            complaint=0.8,
            risk=0.99,
            incident=d,
        )
        b.top(d, d1, 0.99)
        b.item(d1, "support", "normal", H)
        # E: praise, answered exactly at its due time (no breach); below the top 3.
        e = b.incident(W0 + 10 * H, size=1)
        e1 = b.post(
            W0 + 10 * H,
            "love acme",
            author=(HOSTILE_HANDLE, 50_000),
            sentiment="positive",
            risk=0.1,
            incident=e,
        )
        b.top(e, e1, 0.1)
        b.item(e1, "support", "normal", H, responded=H)
        # The competitor: two posts; and one Acme post not classified yet.
        for i, (sentiment, who) in enumerate(
            [("negative", ("@g1", 100)), ("neutral", ("@g2", 300))]
        ):
            g = b.incident(W0 + (12 + i) * H, size=1, brand="Globex")
            b.top(
                g,
                b.post(
                    W0 + (12 + i) * H,
                    "globex",
                    brand="Globex",
                    author=who,
                    sentiment=sentiment,
                    risk=0.3 - i / 10,
                    incident=g,
                ),
                0.3,
            )
        b.post(W0 + 20 * H, "acme?", author=("@v", 5), sentiment=None)
        # Spikes, one each day; held alerts (console and Slack copies), one sent, one old.
        spike = Spike(
            brand="Acme",
            series="volume",
            hour_start=W0 + 2 * H,
            count=25,
            baseline=3.0,
            ratio=8.3,
            p_value=1e-9,
            top_incidents=[a.id],
            terms=["charged", "<b>twice</b>"],
        )
        s.add(spike)
        s.add(
            Spike(
                brand="Acme",
                series="negative",
                hour_start=W0 - 6 * H,
                count=12,
                baseline=2.0,
                ratio=6.0,
                p_value=1e-5,
            )
        )
        s.flush()
        quiet = "quiet hours 22:00-07:00 Asia/Tokyo: held for the digest"
        for sink in ("console", "slack"):
            s.add(
                Alert(
                    kind="item",
                    queue_item_id=eng.id,
                    mention_id=b1.id,
                    incident_id=inc_b.id,
                    sink=sink,
                    channel="engineering",
                    idempotency_key=f"{sink}:eng",
                    status="held",
                    note=quiet,
                    created_at=W0 + 5 * H,
                )
            )
        s.add(
            Alert(
                kind="spike",
                spike_id=spike.id,
                sink="slack",
                channel="pr",
                idempotency_key="slack:spike",
                status="held",
                note="cooldown: pr was alerted",
                created_at=W0 + 3 * H,
            )
        )
        s.add(
            Alert(
                kind="item",
                queue_item_id=eng.id,
                sink="slack",
                channel="engineering",
                idempotency_key="slack:sent",
                status="sent",
                created_at=W0 + 6 * H,
            )
        )
        s.add(
            Alert(
                kind="item",
                sink="slack",
                channel="support",
                idempotency_key="slack:old",
                status="held",
                note="old",
                created_at=W0 - 3 * H,
            )
        )
    yield store
    store.close()


@pytest.fixture(scope="module")
def digest(filled: Store) -> Digest:
    with filled.session() as s:
        return build_digest(s, config(), DAY, NOW)


# --- the window -----------------------------------------------------------------------------


def test_the_window_is_the_24_hours_up_to_the_local_digest_time() -> None:
    day, start, end = digest_window(config(), DAY, NOW)
    assert (day, start, end) == (DAY, W0, W0 + 24 * H)
    assert start.tzinfo is UTC
    # At 07:00 in Tokyo today's digest time has not come: it is yesterday's digest.
    seven_am = datetime(2026, 12, 1, 22, 0, tzinfo=UTC)
    assert digest_window(config(), None, seven_am)[0] == date(2026, 12, 1)
    assert digest_window(config(), None, W0 + 24 * H)[0] == DAY  # at 08:00 sharp: today's
    with pytest.raises(ValueError, match="aware"):
        digest_window(config(), None, datetime(2026, 12, 1))


def test_the_window_follows_daylight_saving_time() -> None:
    ny = config(timezone="America/New_York")
    _, start, end = digest_window(ny, date(2026, 3, 8), NOW)  # clocks go forward that night
    assert (start, end) == (
        datetime(2026, 3, 7, 13, tzinfo=UTC),
        datetime(2026, 3, 8, 12, tzinfo=UTC),
    )
    _, start, end = digest_window(ny, date(2026, 11, 1), NOW)  # and back
    assert end - start == 25 * H


def test_a_dst_day_has_23_hourly_buckets(store: Store) -> None:
    with store.session() as s:
        short = build_digest(s, config(timezone="America/New_York"), date(2026, 3, 8), NOW)
    assert len(short.hourly) == 23
    assert len(short.daily) == 14 and short.daily[-1].end == short.end


# --- the numbers ----------------------------------------------------------------------------


def test_incidents_are_ranked_by_risk_with_their_queues(digest: Digest) -> None:
    assert [(e.rank, e.risk) for e in digest.incidents] == [(1, 0.95), (2, 0.8), (3, 0.5)]
    first, second, third = digest.incidents
    assert (first.size, first.posts_in_window, first.new, first.author) == (
        3,
        3,
        True,
        HOSTILE_HANDLE,
    )
    assert {i.department: i.first_response_s for i in first.items} == {"pr": 1200, "support": 10800}
    assert second.language == "ja" and second.text == JA_TEXT
    assert [(i.department, i.waiting, i.first_response_s) for i in second.items] == [
        ("engineering", True, None)
    ]
    assert (third.new, third.posts_in_window, third.size) == (False, 1, 2)


def test_breaches_are_items_due_in_the_window_answered_late_or_waiting(digest: Digest) -> None:
    found = [(b.department, b.waiting, b.late_by_s) for b in digest.breaches]
    # support answered 3 h after creation, due after 1 h: late by 2 h; engineering waits
    # since its due time (W0 + 5.5 h) until the digest was made.
    waiting = (NOW - (W0 + 5 * H + 30 * M)).total_seconds()
    assert found == [("support", False, 7200.0), ("engineering", True, waiting)]


def test_headline_numbers_and_what_changed_since_yesterday(digest: Digest) -> None:
    h, p = digest.headline, digest.previous
    assert (h.mentions, h.negative, h.classified, h.complaints) == (9, 4, 8, 3)
    assert (h.incidents, h.new_incidents, h.queue_items, h.sla_breaches, h.spikes) == (
        6,
        5,
        4,
        2,
        1,
    )
    assert (p.mentions, p.negative, p.incidents, p.queue_items, p.sla_breaches, p.spikes) == (
        2,
        2,
        2,
        2,
        1,
        1,
    )
    deltas = {c.key: round(c.delta, 3) for c in digest.changes()}
    assert deltas == {
        "mentions": 7,
        "negative_share": -0.5,
        "complaints": 2,
        "incidents": 4,
        "queue_items": 2,
        "sla_breaches": 1,
        "spikes": 0,
    }


def test_series_cover_the_window_by_hour_and_14_days(digest: Digest) -> None:
    assert len(digest.hourly) == 24 and digest.hourly[0].start == W0
    assert sum(h.total for h in digest.hourly) == digest.headline.mentions
    assert (digest.hourly[2].negative, digest.hourly[20].unclassified) == (1, 1)
    assert [d.total for d in digest.daily[-2:]] == [2, 9]
    assert digest.daily[-1].negative_share == pytest.approx(0.5)


def test_share_of_voice_against_collected_competitors(digest: Digest) -> None:
    (group,) = digest.voice
    acme, globex = group.rows
    assert (acme.brand, acme.mentions, acme.reach) == ("Acme", 7, 50_000 + 10 + 1200 + 0 + 5)
    assert acme.share == pytest.approx(7 / 9) and acme.negative_share == pytest.approx(3 / 6)
    assert (globex.mentions, globex.reach, globex.negative_share) == (2, 400, 0.5)
    assert group.not_listened == ("Initech",)


def test_held_alerts_once_per_thing_held(digest: Digest) -> None:
    held = [(h.kind, h.department, h.sinks) for h in digest.held]
    assert held == [("item", "engineering", ("console", "slack")), ("spike", "pr", ("slack",))]
    assert digest.held[0].text == JA_TEXT and "quiet hours" in digest.held[0].note
    assert digest.held[1].spike_series == "Acme volume"


BIG_TABLES = ("mentions", "queue_items", "alerts", "spikes", "incidents")


def test_queries_use_indexes_not_table_scans(filled: Store) -> None:
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            statements.append((statement, parameters))

    event.listen(filled.engine, "before_cursor_execute", record)
    try:
        with filled.session() as s:
            build_digest(s, config(), DAY, NOW)
    finally:
        event.remove(filled.engine, "before_cursor_execute", record)
    assert len(statements) >= 10
    with filled.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        if filled.dialect == "postgresql":
            # On tables this small a sequential scan is cheapest whatever the indexes; with
            # it priced out, the planner still picks one only where no index can serve.
            raw.execute("SET enable_seqscan = off")
        for statement, parameters in statements:
            scans = table_scans(raw, filled.dialect, statement, parameters)
            assert not scans, statement


def table_scans(raw: Any, dialect: str, statement: str, parameters: Any) -> list[str]:
    """What the plan reads whole of the big tables: SQLite's ``SCAN t`` (with or without an
    index); PostgreSQL's ``Seq Scan`` and index scans with no index condition."""
    if dialect == "sqlite":
        plan = raw.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
        pattern = rf"SCAN ({'|'.join(BIG_TABLES)})\b"
        return [row[3] for row in plan if re.match(pattern, row[3])]
    [[plan]] = raw.execute("EXPLAIN (FORMAT JSON) " + statement, parameters).fetchall()
    scans, nodes = [], [plan[0]["Plan"]]
    while nodes:
        node = nodes.pop()
        nodes.extend(node.get("Plans", ()))
        if node.get("Relation Name") not in BIG_TABLES:
            continue
        kind = node["Node Type"]
        if kind == "Seq Scan" or (
            kind in ("Index Scan", "Index Only Scan") and "Index Cond" not in node
        ):
            scans.append(f"{kind} on {node['Relation Name']}")
    return scans


def test_the_scan_check_catches_a_query_no_index_serves(filled: Store) -> None:
    """The check above is only as good as its reading of the plans: on either backend a
    filter on a column without an index is caught, one on an indexed column is not."""
    with filled.engine.connect() as connection:
        raw = connection.connection.dbapi_connection
        assert raw is not None
        if filled.dialect == "postgresql":
            raw.execute("SET enable_seqscan = off")
        unindexed = "SELECT id FROM mentions WHERE text = 'x'"
        indexed = "SELECT id FROM mentions WHERE created_at >= '2026-12-01'"
        assert table_scans(raw, filled.dialect, unindexed, ()) != []
        assert table_scans(raw, filled.dialect, indexed, ()) == []


# --- HTML -----------------------------------------------------------------------------------


class Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def parsed(html: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(html)
    return parser.tags


def is_png(data: bytes) -> bool:
    return data.startswith(b"\x89PNG\r\n\x1a\n")


def test_the_page_shows_the_digest_and_escapes_every_post(digest: Digest) -> None:
    html = render_html(digest)
    tags = parsed(html)
    assert "script" not in {t for t, _ in tags}
    assert SCRIPT not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert not re.search(r"[\x00-\x08\x0b-\x1f\x7f]", html)  # the post's ANSI codes dropped
    assert not [a for _, attrs in tags for a in attrs if a.startswith("on")]
    hrefs = [attrs["href"] for t, attrs in tags if t == "a"]
    assert hrefs == ["https://example.jp/post/1"]  # javascript: is never a link
    images = [attrs["src"] or "" for t, attrs in tags if t == "img"]
    assert len(images) == 2 and all(s.startswith("data:image/png;base64,") for s in images)
    assert all(is_png(base64.b64decode(s.split(",", 1)[1])) for s in images)
    assert JA_TEXT.split("<")[0] in html
    assert any(t == "blockquote" and attrs.get("lang") == "ja" for t, attrs in tags)
    for shown in (
        "Initech",
        "not listened for (add it under brands:)",
        "still waiting",
        "3 h 00 min",
        "20 min",
        "quiet hours 22:00-07:00",
        "&lt;b&gt;twice&lt;/b&gt;",
    ):
        assert shown in html, shown


def test_the_page_is_self_contained_and_prints(digest: Digest) -> None:
    html = render_html(digest)
    assert '<meta charset="utf-8">' in html
    assert '"Noto Sans CJK JP", "Hiragino Sans", "Yu Gothic", Meiryo, sans-serif' in html
    assert re.search(r"@page\s*{\s*size:\s*A4", html) and "@media print" in html
    assert "break-inside: avoid" in html and "attr(href)" in html
    assert not re.search(r"""(src|href)=["']?(https?:)?//(?!example\.jp)""", html)
    assert "<link" not in html and "@import" not in html


def test_charts_are_pngs_about_700_px_wide_with_any_brand_name(digest: Digest) -> None:
    for png in digest_charts(digest).values():
        width, height = struct.unpack(">II", png[16:24])
        assert is_png(png) and 700 <= width <= 1400 and height < width
    # Glyphs no installed font has must not raise (warnings are errors in this suite).
    odd = dataclasses.replace(digest, brands=("アクメ 🚀",))
    assert is_png(hourly_chart(odd)) and is_png(daily_chart(odd))


def test_an_empty_day_renders(store: Store) -> None:
    with store.session() as s:
        empty = build_digest(s, config(), DAY, NOW)
    assert (empty.incidents, empty.breaches, empty.headline.mentions) == ((), (), 0)
    assert "No incidents in this window." in render_html(empty)
    assert digest_message(empty, None).blocks


# --- JSON -----------------------------------------------------------------------------------


def test_the_digest_survives_a_json_round_trip(digest: Digest) -> None:
    again = Digest.from_json(json.loads(json.dumps(digest.to_json(), ensure_ascii=False)))
    assert again == digest
    assert render_html(again) == render_html(digest)
    assert digest_message(again, "x") == digest_message(digest, "x")
    assert digest_plain(again) == digest_plain(digest)


# --- e-mail ---------------------------------------------------------------------------------


def email_config(port: int, **changes: Any) -> EmailConfig:
    settings = {
        "host": "127.0.0.1",
        "port": port,
        "security": "none",
        "from": "harken@acme.example",
        "to": ["pr@acme.example", "ceo@acme.example"],
        "timeout": 5,
    }
    return EmailConfig.model_validate({**settings, **changes})


@pytest.fixture
def smtp() -> Iterator[FakeSMTP]:
    with FakeSMTP(user="digest", password="hunter2-secret") as fake:
        yield fake


def authed(port: int, **changes: Any) -> EmailConfig:
    return email_config(port, username="digest", password="hunter2-secret", **changes)


def test_the_email_has_text_html_and_inline_chart_images(digest: Digest, smtp: FakeSMTP) -> None:
    settings = authed(smtp.port)
    send_email(render_email(digest, settings), settings)
    (received,) = smtp.messages
    message = received.message
    assert received.user == "digest" and received.rcpt_to == settings.to
    assert message["Subject"] == "harken digest 2026-12-02 · Acme: 2 SLA breaches, 1 spike"
    assert message["From"] == "harken@acme.example"
    assert message["To"] == "pr@acme.example, ceo@acme.example"
    assert message["Date"] and re.fullmatch(
        r"<harken-digest-2026-12-02-\w+@acme\.example>", message["Message-ID"]
    )
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",))
    html_part = message.get_body(("html",))
    assert text is not None and html_part is not None
    assert "2 SLA breaches" in text.get_content() and "\x1b" not in text.get_content()
    html = html_part.get_content()
    cids = re.findall(r'src="cid:([^"]+)"', html)
    images = {
        p["Content-ID"].strip("<>"): p.get_content()
        for p in message.walk()
        if p.get_content_type() == "image/png"
    }
    assert len(cids) == 2 and set(cids) == set(images)
    assert all(is_png(png) for png in images.values())
    assert "data:image" not in html and SCRIPT not in html and JA_TEXT.split("<")[0] in html


def test_the_stored_email_sends_as_it_was_rendered(digest: Digest, smtp: FakeSMTP) -> None:
    import email as email_lib
    import email.policy

    settings = email_config(smtp.port)
    smtp.user = None  # this relay takes mail without a login
    stored = render_email(digest, settings).as_string()
    again = email_lib.message_from_string(stored, _class=EmailMessage, policy=email.policy.SMTP)
    send_email(again, settings)
    assert smtp.messages[0].message["Message-ID"] == again["Message-ID"]
    assert render_email(digest, settings)["Message-ID"] == again["Message-ID"]


def test_login_with_auth_login_too(digest: Digest) -> None:
    with FakeSMTP(user="digest", password="pw", auth_methods=("LOGIN",)) as fake:
        settings = email_config(fake.port, username="digest", password="pw")
        send_email(render_email(digest, settings), settings)
        assert fake.messages[0].user == "digest"


@pytest.mark.parametrize(
    ("command", "code", "transient", "hint"),
    [
        ("MAIL", 451, True, None),
        ("RCPT", 550, False, "digest.email.to"),
        ("MAIL", 553, False, "digest.email.from"),
        ("END", 554, False, None),
        ("END", 421, True, None),
        ("AUTH", 454, True, None),
    ],
)
def test_smtp_replies_map_to_transient_or_permanent(
    digest: Digest, smtp: FakeSMTP, command: str, code: int, transient: bool, hint: str | None
) -> None:
    settings = authed(smtp.port)
    smtp.fail(command, code, "scripted")
    if command in ("RCPT", "AUTH"):
        smtp.fail(command, code, "scripted")  # both recipients; smtplib tries PLAIN, then LOGIN
    with pytest.raises(DeliveryError) as caught:
        send_email(render_email(digest, settings), settings)
    assert caught.value.transient is transient, str(caught.value)
    assert str(code) in str(caught.value)
    if hint:
        assert hint in (caught.value.hint or "")


def test_a_refused_login_is_permanent_and_never_shows_the_password(
    digest: Digest, smtp: FakeSMTP
) -> None:
    settings = email_config(smtp.port, username="digest", password="wrong-pass-123")
    with pytest.raises(DeliveryError) as caught:
        send_email(render_email(digest, settings), settings)
    error = caught.value
    assert not error.transient and "535" in str(error)
    assert "digest.email.username" in str(error) and "digest.email.password" in str(error)
    assert "wrong-pass-123" not in str(error) + repr(error.args)
    assert base64.b64encode(b"\0digest\0wrong-pass-123").decode() not in str(error)


def test_one_refused_recipient_of_two_is_reported(digest: Digest, smtp: FakeSMTP) -> None:
    settings = authed(smtp.port)
    smtp.fail("RCPT", 550, "5.1.1 no such user")
    with pytest.raises(DeliveryError, match=re.escape("refused for pr@acme.example")) as caught:
        send_email(render_email(digest, settings), settings)
    assert not caught.value.transient and len(smtp.messages) == 1


def test_a_dropped_connection_while_sending_is_transient_and_in_doubt(
    digest: Digest, smtp: FakeSMTP
) -> None:
    settings = authed(smtp.port)
    smtp.fail("END", None)
    with pytest.raises(DeliveryError) as caught:
        send_email(render_email(digest, settings), settings)
    assert caught.value.transient and caught.value.in_doubt


def test_refused_and_silent_servers_are_transient(digest: Digest) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed = probe.getsockname()[1]
    settings = email_config(closed)
    with pytest.raises(DeliveryError) as refused:
        send_email(render_email(digest, settings), settings)
    assert refused.value.transient and not refused.value.in_doubt
    with socket.socket() as silent:  # accepts connections, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        settings = email_config(silent.getsockname()[1], timeout=0.3)
        with pytest.raises(DeliveryError, match="timed out") as timed_out:
            send_email(render_email(digest, settings), settings)
    assert timed_out.value.transient


def test_a_username_without_password_is_a_config_error(digest: Digest, smtp: FakeSMTP) -> None:
    settings = email_config(smtp.port, username="digest")
    with pytest.raises(DeliveryError, match="password is empty") as caught:
        send_email(render_email(digest, settings), settings)
    assert not caught.value.transient and isinstance(caught.value, HarkenError)


def test_credentials_for_a_server_without_auth_are_a_config_error(digest: Digest) -> None:
    with FakeSMTP() as fake:  # no AUTH offered, but credentials configured
        settings = email_config(fake.port, username="u", password="p")
        with pytest.raises(DeliveryError) as caught:
            send_email(render_email(digest, settings), settings)
    assert not caught.value.transient and "digest.email.username" in (caught.value.hint or "")


# --- Slack and the terminal -----------------------------------------------------------------


def slack_units(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def assert_within_slack_limits(blocks: list[dict[str, Any]]) -> None:
    assert len(blocks) <= 50
    for block in blocks:
        if block["type"] == "header":
            assert slack_units(block["text"]["text"]) <= 150
        if block["type"] == "section" and "text" in block:
            assert slack_units(block["text"]["text"]) <= 3000
        for field in block.get("fields", []):
            assert slack_units(field["text"]) <= 2000
        assert len(block.get("fields", [])) <= 10
        assert len(block.get("elements", [])) <= 10


def test_the_slack_summary_is_escaped_and_links_the_page(digest: Digest) -> None:
    message = digest_message(digest, "https://digest.example/{date}.html?a=1&b={date}")
    dumped = json.dumps(message.blocks, ensure_ascii=False)
    assert "<!channel>" not in dumped and "&lt;!channel&gt;" in dumped
    assert "<script>" not in dumped and "<img" not in dumped and "<http" not in dumped
    assert "javascript:" not in dumped
    assert "Mentions*\\n9 (+7)" in dumped and "SLA breaches* (2)" in dumped
    assert "held by the noise budget" in dumped
    button = message.blocks[-1]["elements"][0]
    assert button["url"] == "https://digest.example/2026-12-02.html?a=1&b=2026-12-02"
    assert message.text == "harken digest 2026-12-02 · Acme: 2 SLA breaches, 1 spike"
    assert_within_slack_limits(message.blocks)
    assert all(b["type"] != "actions" for b in digest_message(digest, None).blocks)


def test_the_slack_summary_stays_within_limits_on_a_busy_day(digest: Digest) -> None:
    first = digest.incidents[0]
    noisy = dataclasses.replace(first, text="&<>" * 2000, author="<!here>" * 50)
    busy = dataclasses.replace(
        digest,
        brands=tuple(f"Brand{i}" * 5 for i in range(20)),
        incidents=(noisy,) * 200,
        breaches=digest.breaches * 300,
        spikes=digest.spikes * 300,
    )
    message = digest_message(busy, None)
    assert_within_slack_limits(message.blocks)
    assert "and " in json.dumps(message.blocks) and "<!here>" not in json.dumps(message.blocks)


def test_the_terminal_view_escapes_markup_and_control_codes(digest: Digest) -> None:
    first = dataclasses.replace(digest.incidents[0], text="[red]boom[/red] \x1b[31mx\x1b[0m")
    console = Console(record=True, width=160, force_terminal=False)
    console.print(digest_text(dataclasses.replace(digest, incidents=(first,))))
    out = console.export_text()
    assert "[red]boom" in out and "\x1b" not in out
    assert "SLA breaches (2)" in out and "not listened for" in out
    assert subject_line(digest) in out


def test_the_terminal_view_keeps_incident_ids_on_an_80_column_terminal(digest: Digest) -> None:
    console = Console(record=True, width=80, force_terminal=False)
    console.print(digest_text(digest))
    out = console.export_text()
    rows = [line for line in out.splitlines() if line.startswith("│") and "0." in line]
    assert rows, out
    brands = len({incident.brand for incident in digest.incidents}) > 1
    for incident in digest.incidents:
        cells = f"│ {incident.id:>4} │ {incident.risk:.2f} │ " + (incident.brand if brands else "")
        assert any(cells in row for row in rows), (incident, out)
    # Where each incident waits stays readable too (the author and text give way); the brand
    # column is there when the incidents are of several brands.
    header = next(line for line in out.splitlines() if "# ┃ risk" in line)
    assert "┃ queues" in header and ("┃ brand" in header) == brands, out
    assert all(len(line) <= 80 for line in out.splitlines()), out
