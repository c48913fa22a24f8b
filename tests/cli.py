"""Running harken's commands in-process from tests (typer's CliRunner), a project of imported
tweets and its store, and finding a queue item by its post: what the queue, routing-feedback
and Slack tests share."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from harken.cli import app
from harken.config import load_config
from harken.store import Store
from tests import payloads as p

runner = CliRunner()
STATUSES = ("new", "claimed", "responded", "resolved", "dismissed")


def invoke(*args: str) -> Any:
    return runner.invoke(app, list(args))


def ok(*args: str) -> str:
    """Stdout of a command that must succeed."""
    result = invoke(*args)
    assert result.exit_code == 0, result.output
    return str(result.stdout)


def fails(*args: str) -> str:
    """Stderr of a command that must fail the way library errors do (exit 1, one Error line)."""
    result = invoke(*args)
    assert result.exit_code == 1, result.output
    return str(result.stderr)


def item_id(external_id: str, department: str) -> int:
    """The id of the queue item of post ``external_id`` in ``department``, whatever its status."""
    listed = json.loads(
        ok("queue", "list", "-f", "json", *(a for s in STATUSES for a in ("-s", s)))
    )
    (found,) = [
        i["id"]
        for i in listed
        if i["mention"]["external_id"] == external_id and i["department"] == department
    ]
    return int(found)


def import_tweets(directory: Path, config: str, posts: Mapping[str, str]) -> Path:
    """A project in ``directory`` (the working directory): ``config`` as its config.yaml and
    these tweets (id -> text) imported by ``harken import``, as a user would."""
    (directory / "config.yaml").write_text(config, encoding="utf-8")
    p.write_jsonl(directory / "x.jsonl", p.x_page(*(p.tweet(k, v) for k, v in posts.items())))
    assert invoke("import", "x.jsonl", "--platform", "x").exit_code == 0
    return directory


@contextmanager
def project_store(directory: Path) -> Iterator[Store]:
    """The store of the project in ``directory``, closed afterwards."""
    opened = Store(load_config(directory / "config.yaml").database.url)
    try:
        yield opened
    finally:
        opened.close()
