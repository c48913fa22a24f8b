"""`harken doctor` checks the bot token's OAuth scopes (Slack's ``X-OAuth-Scopes`` header on
``auth.test``, which the fake Slack sends too) against the scopes the Slack app needs, the one
list that the manifest in docs/alerts.md declares; it says which are missing and how to get
them, and never prints a token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from harken.pipeline.doctor_slack import BOT_SCOPES
from tests.fakes.http import Reply
from tests.fakes.slack import APP_TOKEN, TOKEN, FakeSlack
from tests.test_slack_app import SECRET
from tests.test_slack_ops import ALL, doctor, lines, write_config

DOCS = Path(__file__).parent.parent / "docs" / "alerts.md"


def manifest() -> dict:
    """The app manifest of docs/alerts.md (its YAML block with ``oauth_config``)."""
    blocks = re.findall(r"```yaml\n(.*?)```", DOCS.read_text("utf-8"), re.S)
    (found,) = [b for b in blocks if "oauth_config:" in b]
    return yaml.safe_load(found)


def no_secret_in(output: str) -> bool:
    return not any(secret in output for secret in (TOKEN, APP_TOKEN, SECRET))


def test_the_docs_manifest_asks_for_exactly_the_scopes_doctor_checks() -> None:
    assert manifest()["oauth_config"]["scopes"]["bot"] == [s.name for s in BOT_SCOPES]


def test_all_scopes_granted(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = doctor(monkeypatch, write_config(tmp_path, slack), ALL)
    assert code == 0, output
    assert lines(output, "slack scopes") == [
        "ok   slack scopes: the bot token has the 6 scopes the app needs"
    ]
    assert len(slack.api_calls("auth.test")) == 1  # the token's check's own answer
    assert no_secret_in(output)


def test_missing_scopes_are_named_with_what_to_do(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack.scopes -= {"commands", "groups:read"}
    code, output = doctor(monkeypatch, write_config(tmp_path, slack), ALL)
    assert code == 1
    assert lines(output, "slack scopes") == [
        "FAIL slack scopes: the bot token lacks groups:read (find a private channel's id by its "
        "name); commands (/harken)"
    ]
    assert (
        "fix: add them under OAuth & Permissions > Bot Token Scopes (the manifest in "
        "docs/alerts.md lists them all), then reinstall the app to the workspace" in output
    )
    assert "ok   slack bot token: accepted by Slack" in output
    assert "Error: 1 check failed (see above)" in output
    assert no_secret_in(output)


def test_files_write_is_needed_only_for_the_digest_upload(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    slack.scopes.discard("files:write")
    config = write_config(tmp_path, slack)
    code, output = doctor(monkeypatch, config, ALL)
    assert code == 0, output
    assert "ok   slack scopes: the bot token has the 6 scopes" in output

    text = config.read_text("utf-8")
    config.write_text(text[:-1] + ', "digest": {"upload": true}}', "utf-8")
    code, output = doctor(monkeypatch, config, ALL)
    assert code == 1
    assert lines(output, "slack scopes") == [
        "FAIL slack scopes: the bot token lacks files:write (only for digest.upload)"
    ]


def test_no_scopes_header_is_a_warning(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A gateway in alerts.slack.api_base_url that passes the body but not the header.
    answer = {"ok": True, "team": "Harken Test", "user": "harken", "user_id": "U0HKBOT01"}
    slack.fail_method("auth.test", Reply(json=answer))
    code, output = doctor(monkeypatch, write_config(tmp_path, slack), ALL)
    assert code == 0, output
    assert lines(output, "slack scopes") == [
        "warn slack scopes: Slack did not say which scopes the bot token has (no X-OAuth-Scopes "
        "header)"
    ]
    assert no_secret_in(output)


def test_a_refused_token_has_no_scope_line(
    tmp_path: Path, slack: FakeSlack, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, output = doctor(
        monkeypatch, write_config(tmp_path, slack), {**ALL, "SLACK_BOT_TOKEN": "xoxb-revoked"}
    )
    assert code == 1
    assert lines(output, "slack scopes") == [] and "revoked" not in output
