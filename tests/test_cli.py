from __future__ import annotations

import csv
import io
import json
import re
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from harken import __version__
from harken.cli import app
from harken.config import load_config
from tests import payloads as p
from tests.conftest import BACKENDS

runner = CliRunner()

CONFIG = """\
database: {url: "DATABASE_URL"}
brands:
  - {name: Acme, keywords: [acme, アクメ], handles: ["@acmesupport"]}
departments:
  - {name: support, sla: 1h}
  - {name: engineering, sla: 30m}
  - {name: legal, sla: 4h}
topics:
  outage: ["the app is down", "can't log in", "ログインできない"]
routing:
  default: support
  rules:
    - {name: legal threats, when: {keywords: [lawyer, 訴訟]}, to: [legal], priority: urgent}
    - {name: outages, when: {topics: [outage]}, to: [engineering], priority: high}
alerts: {min_priority: high, min_risk: 0.99}
"""

HOSTILE = "[bold red]URGENT[/bold red] acme \x1b[31mRED\x1b[0m\x07 <!channel> why is it down?"


def invoke(*args: str, input: str | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), input=input)


@pytest.fixture
def database(request: pytest.FixtureRequest) -> str:
    """SQLite's harken.db in the project, unless a test asks for each backend with
    ``@pytest.mark.parametrize("database", BACKENDS, indirect=True)``."""
    if getattr(request, "param", "sqlite") == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return "sqlite:///harken.db"


@pytest.fixture
def project(tmp_path: Path, database: str) -> Path:
    config = CONFIG.replace("DATABASE_URL", database)
    (tmp_path / "config.yaml").write_text(config, encoding="utf-8")
    p.write_jsonl(
        tmp_path / "x.jsonl",
        p.x_page(
            p.tweet("1001", "@acmesupport the app is down, can't log in"),
            p.tweet("1002", "I am calling my lawyer about acme"),
            p.tweet("1003", HOSTILE),
        ),
        "{broken",
        p.x_page(p.tweet("1004", '=HYPERLINK("http://evil","acme refund")')),
    )
    return tmp_path


def test_version() -> None:
    result = invoke("--version")
    assert result.exit_code == 0 and result.stdout == f"harken {__version__}\n"


@pytest.mark.parametrize("database", BACKENDS, indirect=True)
def test_import_then_queue_and_report(project: Path) -> None:
    result = invoke("import", "x.jsonl", "--platform", "x")
    assert result.exit_code == 0, result.output
    assert "skipped line 2: invalid JSON: Expecting property name enclosed in double quotes" in (
        result.stderr
    )
    assert (
        "x.jsonl: 4 stored, 0 already stored, 0 off-brand, 0 from own accounts, 1 rejected"
        in result.stdout
    )
    assert "classified 4 · routed 4 into 4 queue items" in result.stdout
    # importing again stores nothing new
    again = invoke("import", "x.jsonl", "--platform", "x")
    assert "x.jsonl: 0 stored, 4 already stored" in again.stdout

    listed = invoke("queue", "list", "--format", "json")
    assert listed.exit_code == 0
    items = json.loads(listed.stdout)
    assert [i["department"] for i in items][:2] == ["legal", "engineering"]
    first = items[0]
    assert set(first) >= {
        "id",
        "department",
        "status",
        "priority",
        "reason",
        "due_at",
        "mention",
        "sentiment",
        "risk",
        "incident_id",
    }
    assert set(first["mention"]) >= {"platform", "external_id", "url", "text", "author"}
    assert first["mention"]["external_id"] == "1002"
    assert first["reason"] == "rule 'legal threats': keyword 'lawyer'"
    assert first["status"] == "new" and first["priority"] == "urgent"

    only_eng = json.loads(invoke("queue", "list", "-d", "engineering", "-f", "json").stdout)
    assert [i["mention"]["external_id"] for i in only_eng] == ["1001"]
    # The table shows what drives each item's risk, as the JSON has it.
    table = invoke("queue", "list", "-d", "engineering").stdout
    factors = "; ".join(only_eng[0]["risk_factors"])
    assert only_eng[0]["risk_factors"] and f"risk {only_eng[0]['risk']:.2f}: {factors}" in table

    summary = json.loads(invoke("report", "summary", "--since", "3650d", "-f", "json").stdout)
    assert summary["mentions"] == 4
    assert summary["by_platform"][0]["platform"] == "x"
    assert sum(summary["sentiment"].values()) == 4
    assert {q["department"]: q["new"] for q in summary["queues"]} == {
        "engineering": 1,
        "legal": 1,
        "support": 2,
    }


@pytest.mark.parametrize("database", BACKENDS, indirect=True)
def test_hostile_text_is_escaped_in_terminal_and_csv(project: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import harken.cli.common

    monkeypatch.setattr(harken.cli.common.out, "width", 300)  # room for whole texts in the table
    invoke("import", "x.jsonl", "--platform", "x")
    table = invoke("queue", "list")
    assert table.exit_code == 0
    assert "[bold red]URGENT[/bold red]" in table.stdout  # shown literally, not styled
    assert "\x1b" not in table.stdout and "\x07" not in table.stdout
    report = invoke("report", "summary", "--since", "3650d", "--format", "csv")
    cells = [cell for row in csv.reader(io.StringIO(report.stdout)) for cell in row]
    assert not any(c.startswith(("=", "+", "@")) for c in cells)
    assert '\'=HYPERLINK("http://evil","acme refund")' in cells


def test_classify_json_contract() -> None:
    result = invoke(
        "classify",
        "@acmesupport I was charged twice, refund me",
        "the app is down",
        "--format",
        "json",
    )
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 2
    for data in lines:
        assert set(data) >= {
            "text",
            "sentiment",
            "sentiment_scores",
            "complaint",
            "risk",
            "topics",
            "language",
        }
        assert data["sentiment"] in ("negative", "neutral", "positive")
        assert set(data["sentiment_scores"]) == {"negative", "neutral", "positive"}
        assert abs(sum(data["sentiment_scores"].values()) - 1) < 0.01
        assert 0 <= data["complaint"] <= 1 and 0 <= data["risk"] <= 1
    assert lines[0]["text"] == "@acmesupport I was charged twice, refund me"


def test_classify_reads_input_file(tmp_path: Path) -> None:
    (tmp_path / "texts.txt").write_text("one acme\n\ntwo acme\n", encoding="utf-8")
    result = invoke("classify", "--input", "texts.txt", "--format", "json")
    assert [json.loads(x)["text"] for x in result.stdout.splitlines()] == ["one acme", "two acme"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["import", "missing.jsonl", "--platform", "x"],
            "Error: file 'missing.jsonl' does not exist",
        ),
        (["import", "x.jsonl", "--platform", "myspace"], "Error: unknown platform 'myspace'"),
        (["classify"], "Error: nothing to classify"),
        (["classify", "acme is down", "   "], "Error: text 2 is empty"),
        (["queue", "list", "--department", "nobody"], "Error: unknown department 'nobody'"),
        (
            ["--config", "nope.yaml", "queue", "list"],
            "Error: config file 'nope.yaml' (from --config)",
        ),
    ],
)
def test_errors_are_one_line_and_non_zero(project: Path, args: list[str], message: str) -> None:
    result = invoke(*args)
    assert result.exit_code == 1
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1


def test_broken_config_is_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("routing: {default: nobody}\n", encoding="utf-8")
    result = invoke("queue", "list")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: {tmp_path / 'config.yaml'}: ")
    assert "routing.default names department 'nobody'" in result.stderr


def test_locked_database_is_one_line_error(project: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import harken.store.db as db

    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 100)
    assert invoke("import", "x.jsonl", "--platform", "x", "--no-process").exit_code == 0
    holder = sqlite3.connect(project / "harken.db")
    holder.execute("BEGIN IMMEDIATE")
    try:
        result = invoke("import", "x.jsonl", "--platform", "x", "--no-process")
    finally:
        holder.rollback()
        holder.close()
    assert result.exit_code == 1
    assert "is locked by another process" in result.stderr


def test_db_flag_overrides_config(project: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    invoke("--db", f"sqlite:///{other}", "import", "x.jsonl", "-p", "x", "--no-process")
    assert other.exists() and not (project / "harken.db").exists()


def test_demo_refuses_a_directory_it_did_not_make(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text("brands: []\n", encoding="utf-8")
    result = invoke("demo", "--dir", ".")
    assert result.exit_code == 1
    assert "holds a config.yaml or harken.db that the demo did not write" in result.stderr
    assert (tmp_path / "config.yaml").read_text(encoding="utf-8") == "brands: []\n"


def test_init_writes_config_and_env_once(tmp_path: Path) -> None:
    result = invoke("init", "new")
    assert result.exit_code == 0
    assert (tmp_path / "new" / "config.yaml").read_text().startswith("# harken configuration")
    assert "X_BEARER_TOKEN=" in (tmp_path / "new" / ".env").read_text()
    assert (tmp_path / "new" / ".env").stat().st_mode & 0o077 == 0
    second = invoke("init", "new")
    assert second.exit_code == 1 and "already exist" in second.stderr
    assert invoke("init", "new", "--force").exit_code == 0


def test_doctor_reports_missing_credentials_without_showing_secrets(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        "sources:\n  x: {enabled: true, bearer_token: '${X_BEARER_TOKEN}'}\n"
        "  reddit: {client_secret: '${REDDIT_SECRET}'}\n",
        encoding="utf-8",
    )
    (tmp_path / ".env").write_text("REDDIT_SECRET=hunter2-very-secret\n")
    result = invoke("doctor", "--skip-model")
    assert result.exit_code == 1
    assert "FAIL credential X_BEARER_TOKEN: not set (needed by sources.x.bearer_token)" in (
        result.stdout
    )
    assert "ok   credential REDDIT_SECRET: set" in result.stdout
    assert "hunter2" not in result.stdout + result.stderr
    assert result.stderr.startswith("Error: 1 check failed")


def test_doctor_all_good_with_model(tmp_path: Path) -> None:
    (tmp_path / "config.yaml").write_text(
        CONFIG.replace("DATABASE_URL", "sqlite:///harken.db"), encoding="utf-8"
    )
    result = invoke("doctor")
    assert result.exit_code == 0, result.output
    assert "ok   model: minilm+adapter+heads" in result.stdout
    assert "ok   database: sqlite:///" in result.stdout


def test_demo_end_to_end(tmp_path: Path) -> None:
    result = invoke("demo", "--dir", "demo")
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "ALERT" in out and "Top risks" in out
    assert f"Database: {tmp_path / 'demo' / 'harken.db'}" in out
    assert "harken --config demo/config.yaml queue list" in out
    assert "\x1b[31m" not in out and "\x07" not in out
    # the demo's admin signs in to the web workspace with the password it printed
    login = re.search(r"open (http://\S+) and sign in as (\S+) / (\S+)", out)
    assert login and login[1] == "http://127.0.0.1:8080/" and login[2] == "demo"
    _web_sign_in(tmp_path / "demo" / "config.yaml", login[2], login[3])
    # the demo's config works afterwards, from another directory too
    listed = invoke(
        "--config", "demo/config.yaml", "queue", "list", "--format", "json", "--limit", "500"
    )
    items = json.loads(listed.stdout)
    assert {i["department"] for i in items} >= {"engineering", "legal", "pr", "support"}
    assert {i["mention"]["platform"] for i in items} == {
        "x",
        "reddit",
        "bluesky",
        "mastodon",
        "rss",
        "youtube",
        "facebook",
        "instagram",
    }
    summary = json.loads(
        invoke(
            "--config", "demo/config.yaml", "report", "summary", "--since", "24h", "-f", "json"
        ).stdout
    )
    assert summary["mentions"] >= 40  # the demo's posts are moved so that the newest is recent
    # a second demo run starts from a fresh database
    assert invoke("demo", "--dir", "demo").exit_code == 0
    again = json.loads(
        invoke(
            "--config", "demo/config.yaml", "report", "summary", "--since", "30d", "-f", "json"
        ).stdout
    )
    # 230 bundled, less 5 off-brand and 6 by Acme's own accounts answering nobody: 219
    # stored. Acme's 5 answers (kept: they mark the posts they answer responded, on every
    # platform) and its status page's 5 updates are its own words, not mentions of it.
    assert again["mentions"] == 209
    listed = invoke("--config", "demo/config.yaml", "queue", "list", "-s", "responded", "-fjson")
    responded = json.loads(listed.stdout)
    assert {"x", "facebook", "instagram"} <= {i["mention"]["platform"] for i in responded}
    # Replayed with the config it was routed with, nothing moves: route --explain and rules
    # test judge impostors as routing did (Acme's own Instagram answer, known by its account
    # id, asks for a DM under Acme's name: it imitates nobody).
    replay = invoke("--config", "demo/config.yaml", "rules", "test", "--since", "30d")
    assert replay.exit_code == 0, replay.output
    assert " 0 would move" in replay.stdout, replay.stdout


def _web_sign_in(config_path: Path, name: str, password: str) -> None:
    from fastapi.testclient import TestClient

    from harken.store import Store
    from harken.web.app import create_app

    config = load_config(config_path)
    store = Store(config.database.url)
    try:
        client = TestClient(create_app(config, store))
        form = client.get("/login").text
        token = re.search(r'name="login_token" value="([^"]+)"', form)[1]  # type: ignore[index]
        answer = client.post(
            "/login", data={"name": name, "password": password, "login_token": token}
        )
        assert answer.status_code == 200 and "Apply to selected" in answer.text
    finally:
        store.close()
