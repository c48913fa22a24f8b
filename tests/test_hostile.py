"""Hostile posts through every output harken has, in one table.

A handful of posts written to attack whatever shows them — Slack specials (``<!channel>``,
``<@U123>``, ``<http://evil|click>``, mrkdwn), HTML (``<script>``, event handlers), rich
markup (``[red]``, ``[link=...]``), terminal escapes (ANSI, OSC 8 links, ``\\r``, bidi
overrides), spreadsheet formulas (``=``, ``+``, ``-``, ``@``, tab and CR starts) — by an author
whose name and handle attack too, go through the real pipeline (import, classify, route,
incidents, spikes, digest) and out of each sink and command. Every output is read back as its
consumer would read it (what the fake Slack received, the HTML parsed, the e-mail, the terminal
text of the CLI, the CSV parsed, the XLSX opened with openpyxl), and each must show the post (a
marker of it is there) without obeying it.

The per-output tests (test_slack_format, test_digest, test_reports, test_export) check one
renderer each with its own sample; this is the one place that checks them all, on one set of
posts, through the commands people run.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from rich.console import Console
from sqlalchemy import select
from typer.testing import CliRunner

from harken.cli import app
from harken.config import Config, load_config
from harken.notify.outbox import deliver_pending
from harken.notify.registry import build_sinks
from harken.pipeline.collect import poll_source
from harken.pipeline.ingest import ingest
from harken.pipeline.process import run_pass
from harken.platforms.registry import build_sources
from harken.platforms.replay import read_jsonl
from harken.spikes.job import check_spikes
from harken.store import Store
from harken.store.tables import Alert, QueueItem
from tests import payloads as p
from tests.fakes.http import Reply
from tests.fakes.slack import TOKEN, FakeSlack
from tests.fakes.smtp import FakeSMTP
from tests.fakes.x import FakeX

IMPORT = ("-p", "x", "--no-process")  # no classifying: that is the shared fixture's job
CHANNELS = {"support": "#cs-social", "engineering": "#eng-incidents", "legal": "#legal-social",
            "pr": "#pr-escalations"}  # fmt: skip
ATTACK = (
    " <!channel> <!here> <!everyone> <@U123> <#C0HK00001> <http://evil.example|click> "
    "*bold* _it_ ~gone~ `tick` ```fence``` > quote "
    "[red]HKRED[/red] [link=http://evil.example]HKLINK[/link] [/] "
    "<script>alert('HKJS')</script> <img src=x onerror=alert(1)> <a href='javascript:x()'>a</a> "
    "\x1b[2J\x1b[31mHKANSI\x1b[0m \x1b]8;;http://evil.example\x1b\\HKOSC\x1b]8;;\x1b\\ "
    "\x07\x08\x9b31m \rHKCR \u202eHKBIDI\u202c \u2066iso\u2069 \u200bHKZW\u200d "
)
# Each starts a spreadsheet cell its own way; each names the brand and routes somewhere.
TEXTS = {
    "9001": '=HYPERLINK("http://evil.example","HK1")[red]HKRED[/red] acme I call my lawyer'
    + ATTACK,
    "9002": "+HK2[red]HKRED[/red] acme the app is down, can't log in since this morning" + ATTACK,
    "9003": "-HK3[red]HKRED[/red] acme charged me twice, I want a refund" + ATTACK,
    "9004": "@HK4[red]HKRED[/red] acme support never answers" + ATTACK,
    "9005": "\tHK5[red]HKRED[/red] acme is slow again" + ATTACK,
    "9006": "\rHK6[red]HKRED[/red] acme lost my files" + ATTACK,
}
HOSTILE_USER = {
    "id": "666",
    "username": "=1+[red]HKUSER[/red]|' /C calc'!A0",
    "name": "@SUM(1)[bold]HKNAME[/bold] <!channel> \x1b[2J",
    "verified": False,
    "public_metrics": {"followers_count": 90_000},
}
# What servers answer can attack as well: API error messages are shown to people.
SERVER_SAYS = "[red]HKSRV[/red] <!channel> \x1b[2J\x1b]8;;http://evil\x1b\\x\x1b]8;;\x1b\\ \u202e"
# Words of the posts (case aside: spike terms are folded) that show an output carries them.
MARKERS = ("hk1", "hk2", "hk3", "hk4", "hk5", "hk6", "hkred", "hkuser", "hkname", "hkbidi",
           "/c calc", "hksrv", "hkimp")  # fmt: skip
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Terminal control: C0 (but newline and tab), DEL, C1, and the bidi embeddings and overrides.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
SLACK_SPECIALS = ("<!channel", "<!here", "<!everyone", "<@", "<#", "<http", "|click>")


@dataclass
class World:
    """Everything the posts went through, and what came out."""

    tmp: Path
    config_path: Path
    config: Config
    store: Store
    slack: FakeSlack
    smtp: FakeSMTP
    env: dict[str, str]
    day: str  # the digest's date
    cli: dict[str, str] = field(default_factory=dict)  # command -> its terminal output

    def run(self, *args: str) -> str:
        key = " ".join(args)
        if key not in self.cli:
            result = CliRunner().invoke(
                app, ["--config", str(self.config_path), *args], env=self.env
            )
            assert result.exit_code == 0, (args, result.output, result.exception)
            self.cli[key] = result.output
        return self.cli[key]

    def file(self, *args: str, suffix: str) -> bytes:
        target = self.tmp / f"out-{len(self.cli)}{suffix}"
        self.run(*args, "--out", str(target))
        return target.read_bytes()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, classifier: Any) -> Iterator[World]:
    tmp = tmp_path_factory.mktemp("hostile")
    now = datetime.now(UTC)
    posted = now.replace(minute=0, second=0, microsecond=0) - timedelta(minutes=30)
    x = FakeX()
    # X answers the source's poll with an error whose message attacks the terminal too.
    body = {"errors": [{"message": SERVER_SAYS}], "title": "Invalid Request"}
    x.api.fail_next(Reply(400, json=body))
    with FakeSlack() as slack, FakeSMTP() as smtp, x.api:
        for channel in CHANNELS.values():
            slack.add_channel(channel)
        tree = {
            "database": {"url": f"sqlite:///{tmp / 'h.db'}"},
            "brands": [{"name": "Acme", "keywords": ["acme"]}],
            "departments": [
                {"name": name, "slack_channel": channel, "sla": "1h"}
                for name, channel in CHANNELS.items()
            ],
            "topics": {"outage": ["the app is down", "can't log in"], "billing": ["refund"]},
            "routing": {"default": "support", "rules": [
                {"name": "legal", "when": {"keywords": ["lawyer"]}, "to": ["legal"],
                 "priority": "urgent"},
                {"name": "outages", "when": {"topics": ["outage"]}, "to": ["engineering"],
                 "priority": "high"},
            ]},
            "alerts": {"min_priority": "high", "slack": {
                "bot_token": "${SLACK_BOT_TOKEN}", "api_base_url": slack.api_url,
                "timeout": "2s"}},
            "spikes": {"min_count": 3, "department": "pr"},
            "digest": {"time": "00:00", "timezone": "UTC", "department": "pr", "email": {
                "host": "127.0.0.1", "port": smtp.port, "security": "none",
                "from": "harken@example.com", "to": ["pr@example.com"]}},
            "sources": {"x": {"enabled": True, "bearer_token": "${X_BEARER_TOKEN}",
                              "api_base_url": x.api.url}},
            "refresh": {"enabled": False},
        }  # fmt: skip
        config_path = tmp / "config.yaml"
        config_path.write_text(json.dumps(tree), encoding="utf-8")
        env = {
            "SLACK_BOT_TOKEN": TOKEN,
            "X_BEARER_TOKEN": "test-bearer-token",
            "COLUMNS": "400",  # wide tables: text is cut, not wrapped across lines
            "NO_COLOR": "1",
        }
        with pytest.MonkeyPatch.context() as env_patch:
            for name, value in env.items():
                env_patch.setenv(name, value)
            config = load_config(config_path)
            store = Store(config.database.url)
            sinks = build_sinks(config, Console(file=io.StringIO()))

            def post(tweet_id: str, text: str, **extra: Any) -> dict[str, Any]:
                at = f"{posted:%Y-%m-%dT%H:%M:%S.000Z}"
                return p.tweet(tweet_id, text, author="666", created_at=at, **extra)

            def ingest_page(name: str, *tweets: dict[str, Any]) -> None:
                page = p.x_page(*tweets, users=[HOSTILE_USER])
                records = list(read_jsonl(p.write_jsonl(tmp / name, page), "x"))
                assert not [r for r in records if not hasattr(r, "external_id")], records
                ingest(store, config, records, source="import:hostile")
                run_pass(store, config, sinks, classifier)

            # An old post: harken has listened for weeks, so the last hour can be a spike.
            old = {**post("8000", "acme is fine"), "created_at": "2026-01-05T10:00:00.000Z"}
            ingest_page("old.jsonl", old)
            ingest_page("hostile.jsonl", *(post(i, t) for i, t in TEXTS.items()))
            # Retweets join the outage's incident: a quiet reply in its thread, the root edited.
            retweets = [
                post(str(9100 + i), f"RT @x: {TEXTS['9002']}",
                     referenced_tweets=[{"type": "retweeted", "id": "9002"}])
                for i in range(3)
            ]  # fmt: skip
            ingest_page("retweets.jsonl", *retweets)
            assert check_spikes(store, config, now=now), "the hostile hour is a spike"
            day = f"{posted.date() + timedelta(days=1)}"
            world = World(tmp, config_path, config, store, slack, smtp, env, day)
            # Slack's own answer attacks too (an error code nobody knows): it is shown by
            # `harken alerts` while the alert waits for its retry.
            slack.fail_method("chat.postMessage", Reply(json={"ok": False, "error": SERVER_SAYS}))
            deliver_pending(store, config, sinks)
            world.run("alerts")
            deliver_pending(store, config, sinks, force=True)
            (source,) = build_sources(config, only="x")
            assert not poll_source(store, config, source).ok  # its error is in source health
            source.close()
            world.run("digest", "--date", day, "--send")
            # A line import cannot read: its reason quotes the hostile id it found.
            broken = p.x_page(p.tweet("[red]HKIMP[/red]\x1b[2J\u202e", "acme", author="404"))
            world.run("import", str(p.write_jsonl(tmp / "broken.jsonl", broken)), *IMPORT)
            yield world
        store.close()


# -- what each consumer would make of an output ---------------------------------------------


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings(item)


def urls(value: Any) -> Iterator[str]:
    if isinstance(value, dict):
        for key, item in value.items():
            if key in ("url", "image_url") and isinstance(item, str):
                yield item
            else:
                yield from urls(item)
    elif isinstance(value, list):
        for item in value:
            yield from urls(item)


def shows_the_post(text: str) -> None:
    folded = text.casefold()
    assert any(marker in folded for marker in MARKERS), "the hostile text is not in this output"


def check_slack(payloads: list[dict[str, Any]]) -> None:
    """What Slack received: no ping, mention, channel link or disguised link; no escapes."""
    assert payloads
    every = "\n".join(s for body in payloads for s in strings(body))
    shows_the_post(every)
    for special in SLACK_SPECIALS:
        assert special not in every, special
    assert not CONTROL.search(every), repr(CONTROL.search(every))
    for url in (u for body in payloads for u in urls(body)):
        assert url.startswith(("https://", "http://")) and "<" not in url, url  # buttons
    for body in payloads:
        assert body.get("link_names") in (None, False), "link_names would turn @here into a ping"


# rich markup right before these words: obeyed, it would vanish and leave the word bare.
TAGGED = {"HKRED": "[red]", "HKUSER": "[red]", "HKNAME": "[bold]", "HKSRV": "[red]",
          "HKIMP": "[red]", "HKLINK": "[link=http://evil.example]"}  # fmt: skip


def check_terminal(text: str, markup: bool = False) -> None:
    """Terminal text: no control or escape sequence, and post markup shown as written
    (``markup``: the output shows the start of a post, handle or server message, so some
    tagged word must be there)."""
    shows_the_post(text)
    assert not CONTROL.search(text), repr(CONTROL.search(text))
    shown = [word for word in TAGGED if word in text]
    for word in shown:
        assert TAGGED[word] + word in text, f"markup before {word} was obeyed"
    assert shown or not markup, "no post markup in this output to check"


def check_table(text: str) -> None:
    check_terminal(text, markup=True)


def check_json(text: str) -> None:
    """No raw control character or bidi override, yet the post's text intact once decoded."""
    assert not CONTROL.search(text), repr(CONTROL.search(text))
    decoded = json.dumps(json.loads(text), ensure_ascii=False)
    assert "HK" in decoded


SAFE_LINKS = ("http://", "https://", "#", "data:image/", "cid:", "mailto:")


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, attrs))


def check_html(page: str) -> None:
    shows_the_post(page)
    parser = _Tags()
    parser.feed(page)
    for tag, attrs in parser.tags:
        assert tag not in ("script", "iframe", "object", "embed"), tag
        assert not (tag == "img" and ("src", "x") in attrs), "the post's <img> became a tag"
        for name, value in attrs:
            assert not name.startswith("on"), (tag, name)
            if name in ("href", "src", "action"):
                assert (value or "").strip().lower().startswith(SAFE_LINKS), (tag, value)
    if "HKJS" in page:
        assert "&lt;script&gt;" in page
    assert not CONTROL.search(page)


def check_cells(cells: list[str]) -> None:
    shows_the_post("\n".join(cells))
    for cell in cells:
        if any(marker in cell.casefold() for marker in MARKERS):
            assert not cell.startswith(FORMULA_START), cell[:40]
            assert not CONTROL.search(cell), cell[:40]


def check_csv(data: bytes) -> None:
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig"), newline="")))
    check_cells([cell for row in rows for cell in row])


def check_xlsx(data: bytes) -> None:
    book = openpyxl.load_workbook(io.BytesIO(data))
    cells: list[str] = []
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"{sheet.title}!{cell.coordinate} is a formula"
                if isinstance(cell.value, str):
                    cells.append(cell.value)
    check_cells(cells)


# -- every output ------------------------------------------------------------------------


def slack_sent(
    world: World, kinds: set[str], method: str = "chat.postMessage"
) -> list[dict[str, Any]]:
    """The bodies Slack received for the alerts of these kinds."""
    with world.store.session() as session:
        keys = {
            a.idempotency_key
            for a in session.execute(select(Alert).where(Alert.sink == "slack")).scalars()
            if a.kind in kinds and a.status == "sent"
        }
    assert keys, f"no {kinds} alert was delivered"
    bodies = [r.json() for r in world.slack.api_calls(method)]
    if method == "chat.update":
        return bodies
    return [
        b for b in bodies if (b.get("metadata") or {}).get("event_payload", {}).get("key") in keys
    ]


def first_item(world: World) -> int:
    with world.store.session() as session:
        return min(session.execute(select(QueueItem.id)).scalars())


def email_parts(world: World, subtype: str) -> str:
    (received,) = world.smtp.messages
    part = received.message.get_body(preferencelist=(subtype,))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")  # SMTP's line ends, not the post's


Output = tuple[Callable[[World], Any], Callable[[Any], None]]
EVER = ("--since", "3650d")


def cli(*args: str) -> Callable[[World], str]:
    return lambda w: w.run(*(w.day if a == "DAY" else a for a in args))


def cli_file(*args: str, suffix: str) -> Callable[[World], bytes]:
    return lambda w: w.file(*(w.day if a == "DAY" else a for a in args), suffix=suffix)


OUTPUTS: dict[str, Output] = {
    # Slack, as the fake workspace received it
    "slack alert": (lambda w: slack_sent(w, {"item", "escalation"}), check_slack),
    "slack thread reply": (lambda w: slack_sent(w, {"update"}), check_slack),
    "slack thread root refresh": (lambda w: slack_sent(w, {"update"}, "chat.update"), check_slack),
    "slack spike": (lambda w: slack_sent(w, {"spike"}), check_slack),
    "slack digest": (lambda w: slack_sent(w, {"digest"}), check_slack),
    # the digest page and e-mail
    "digest html": (
        lambda w: cli_file("digest", "--date", "DAY", suffix=".html")(w).decode(),
        check_html,
    ),
    "digest e-mail html": (lambda w: email_parts(w, "html"), check_html),
    "digest e-mail text": (lambda w: email_parts(w, "plain"), check_terminal),
    # the terminal
    "harken digest": (cli("digest", "--date", "DAY"), check_table),
    "harken queue list": (cli("queue", "list", "--status", "new"), check_table),
    "harken queue show": (lambda w: cli("queue", "show", str(first_item(w)))(w), check_table),
    "harken alerts": (cli("alerts"), check_table),
    "harken report summary": (cli("report", "summary", *EVER), check_table),
    "harken report authors": (cli("report", "authors", *EVER), check_table),
    "harken report incidents": (cli("report", "incidents", *EVER), check_table),
    "harken report topics": (cli("report", "topics", *EVER), check_terminal),
    "harken spikes": (cli("spikes", *EVER), check_terminal),
    "harken import": (
        lambda w: cli("import", str(w.tmp / "broken.jsonl"), *IMPORT)(w),
        check_table,
    ),
    "harken sources": (cli("sources"), check_table),
    # JSON printed to a terminal: the same characters, escaped as \uXXXX
    "harken queue list json": (cli("queue", "list", "--format", "json"), check_json),
    "harken report summary json": (cli("report", "summary", *EVER, "-f", "json"), check_json),
    "harken alerts json": (cli("alerts", "--format", "json"), check_json),
    # spreadsheets
    "export mentions csv": (cli_file("export", "mentions", *EVER, suffix=".csv"), check_csv),
    "export queue csv": (cli_file("export", "queue", *EVER, suffix=".csv"), check_csv),
    "export incidents csv": (cli_file("export", "incidents", *EVER, suffix=".csv"), check_csv),
    "export mentions xlsx": (cli_file("export", "mentions", *EVER, suffix=".xlsx"), check_xlsx),
    "export queue xlsx": (cli_file("export", "queue", *EVER, suffix=".xlsx"), check_xlsx),
    "export incidents xlsx": (cli_file("export", "incidents", *EVER, suffix=".xlsx"), check_xlsx),
    "report summary csv": (
        lambda w: cli("report", "summary", *EVER, "-f", "csv")(w).encode(),
        check_csv,
    ),
}


@pytest.mark.parametrize("name", list(OUTPUTS))
def test_no_output_obeys_a_hostile_post(world: World, name: str) -> None:
    produce, check = OUTPUTS[name]
    check(produce(world))
