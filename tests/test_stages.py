"""The stage table is the one list of the pipeline's stages (the import direction of what the
stages call is checked for every module in test_layers.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from harken.errors import HarkenError
from harken.pipeline.stages import STAGES, WORKER_STAGES
from harken.pipeline.worker import parse_stages
from harken.spikes.method import document_frequency

ROOT = Path(__file__).parent.parent / "harken"


def test_every_runner_takes_its_stages_from_the_table() -> None:
    assert [s.name for s in STAGES] == ["classify", "route", "escalate", "notify"]
    assert WORKER_STAGES == ("classify", "route", "notify")  # escalation is the scheduler's
    assert parse_stages(" notify,classify,notify") == ("classify", "notify")  # table order
    with pytest.raises(HarkenError, match="unknown stage escalate"):
        parse_stages("escalate")


def test_the_worker_command_offers_the_tables_stages() -> None:
    from typer.main import get_command

    from harken.cli import app

    worker = get_command(app).commands["worker"]  # type: ignore[attr-defined]
    (option,) = [p for p in worker.params if p.name == "stages"]
    assert option.default == ",".join(WORKER_STAGES)
    assert option.help == f"Comma-separated: {', '.join(WORKER_STAGES)}."


def test_document_frequency_counts_a_post_once_per_term() -> None:
    texts = ["Outage outage OUTAGE at https://x.co/outage", "the login outage", "login"]
    assert document_frequency(texts) == {"outage": 2, "login": 2}
    assert document_frequency(texts, exclude={"login"}) == {"outage": 2}
