"""Running harken's commands in-process from tests (typer's CliRunner), and finding a queue
item by its post: what the queue, routing-feedback and Slack tests share."""

from __future__ import annotations

import json
from typing import Any

from typer.testing import CliRunner

from harken.cli import app

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
