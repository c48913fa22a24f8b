"""The routing gold set (`harken rules test --gold`): reading a gold file, the precision and
recall arithmetic, storms and per-kind errors, the real pipeline on a tiny set, and the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harken.config import load_config
from harken.errors import HarkenError
from harken.pipeline.gold import predict
from harken.reports.gold import Prediction, choose, read_gold, score, split_of
from tests.cli import fails, invoke, ok
from tests.conftest import TEST_TOPICS, write_config

GOLD_DIR = Path(__file__).resolve().parents[1] / "bench" / "data" / "gold"

CONFIG = f"""\
database: {{url: "sqlite:///unused.db"}}
brands:
  - {{name: Acme, keywords: [acme, アクメ], handles: ["@acmesupport"]}}
departments:
  - {{name: support, sla: 1h}}
  - {{name: engineering, sla: 30m}}
  - {{name: billing, sla: 4h}}
  - {{name: legal, sla: 4h}}
  - {{name: pr, sla: 2h}}
topics: {json.dumps(TEST_TOPICS, ensure_ascii=False)}
routing:
  default: support
  rules:
    - {{name: legal threats, when: {{keywords: [lawyer]}}, to: [legal], priority: urgent}}
    - {{name: outages, when: {{topics: [outage]}}, to: [engineering], priority: high}}
    - {{name: billing, when: {{topics: [billing]}}, to: [billing]}}
alerts: {{console: false}}
"""


def post(
    pid: str,
    text: str,
    departments: list[str],
    kind: str = "complaint",
    storm: str | None = None,
    handle: str | None = None,
    minute: int = 0,
    split: str | None = "tune",
) -> dict[str, Any]:
    line: dict[str, Any] = {
        "id": pid,
        "brand": "Acme",
        "platform": "x",
        "author": {"handle": handle or f"user_{pid}", "name": pid, "followers": 10},
        "created_at": f"2026-11-10T01:{minute:02d}:00Z",
        "text": text,
        "language": "en",
        "labels": {"departments": departments, "kind": kind, "storm": storm},
    }
    if split:
        line["split"] = split
    return line


TINY = [
    post("s1", "Acme is down, I can't log in", ["engineering"], storm="outage", minute=0),
    post(
        "s2", "acme down for me too, can't log in at all", ["engineering"], storm="outage", minute=3
    ),
    post("s3", "Acme charged twice, I want a refund", ["billing"], minute=5),
    post("s4", "Thanks Acme, the new boards look lovely", [], kind="praise", minute=7),
    post("s5", "@acmesupport we are on it", [], kind="staff", handle="acmesupport", minute=9),
    post("s6", "Acme lost my files, my lawyer will call", ["legal", "engineering"], minute=11),
    post("s7", "Acme raises prices", ["pr"], kind="news", minute=13, split="holdout"),
]


def write_gold(directory: Path, lines: list[dict[str, Any]]) -> Path:
    path = directory / "gold.jsonl"
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines), "utf-8")
    return path


def test_precision_recall_arithmetic(tmp_path: Path) -> None:
    posts = read_gold(write_gold(tmp_path, TINY))
    predicted = {
        "s1": Prediction(True, frozenset({"engineering"}), 0.9, (), 1, 1),
        "s2": Prediction(True, frozenset({"engineering", "support"}), 0.8, (), 2, 2),
        "s3": Prediction(True, frozenset({"billing"}), 0.7, (), 3, 1),
        "s4": Prediction(True, frozenset({"support"}), 0.6, (), 4, 1),
        "s5": Prediction(False),
        "s6": Prediction(True, frozenset({"legal"}), 0.9, (), 5, 1),
        "s7": Prediction(True, frozenset({"support"}), 0.1, (), 6, 1),
    }
    found = score(posts, predicted, ["support", "engineering", "billing", "legal", "pr"])
    by = {row.department: row for row in found.departments}
    # engineering: labelled s1 s2 s6, routed s1 s2 → precision 1, recall 2/3
    assert (by["engineering"].precision, by["engineering"].recall) == (1.0, pytest.approx(2 / 3))
    # support: labelled none, routed s2 s4 s7 → precision 0, recall 0
    assert (by["support"].labelled, by["support"].predicted, by["support"].precision) == (0, 3, 0)
    assert by["pr"].recall == 0 and by["pr"].labelled == 1
    assert by["legal"].f1 == 1.0 and by["billing"].f1 == 1.0
    # micro: tp 4 (engineering 2, billing, legal), fp 3 (support), fn 2 (s6 engineering, s7 pr)
    assert found.micro["precision"] == pytest.approx(4 / 7)
    assert found.micro["recall"] == pytest.approx(4 / 6)
    assert found.macro["recall"] == pytest.approx((2 / 3 + 0 + 0 + 1 + 1) / 5)
    assert (found.exact, found.queued_unwanted, found.stored) == (3, 1, 6)
    (storm,) = found.storms
    assert (storm.posts, storm.items, storm.incidents) == (2, 3, 2)
    assert storm.items_by_department == {"engineering": 2, "support": 1}
    assert found.errors["praise_complaint_0_5"] == {"count": 1, "of": 1}
    assert found.errors["press_not_to_pr"] == {"count": 1, "of": 1}
    assert found.errors["staff_own_moderator_queued"] == {"count": 0, "of": 1}
    assert found.errors["impostors_caught"] == {"count": 0, "of": 0}
    assert [p.id for p in choose(posts, "holdout")] == ["s7"]
    assert [(w["id"], w["routed"]) for w in found.wrong] == [
        ("s2", ["engineering", "support"]),
        ("s4", ["support"]),
        ("s6", ["legal"]),
        ("s7", ["support"]),
    ]


def test_split_rule_is_the_fixed_hash_and_the_shipped_set_follows_it() -> None:
    assert split_of("acme-s01") == split_of("acme-s01")
    lines = [json.loads(x) for x in (GOLD_DIR / "posts.jsonl").read_text("utf-8").splitlines()]
    assert len(lines) >= 300
    assert all(line["split"] == split_of(line["id"]) for line in lines)
    holdout = sum(line["split"] == "holdout" for line in lines) / len(lines)
    assert 0.2 < holdout < 0.4
    posts = read_gold(GOLD_DIR / "posts.jsonl")  # every line is a valid gold post
    assert len({p.storm for p in posts if p.storm}) >= 2


def test_shipped_config_is_valid() -> None:
    config = load_config(GOLD_DIR / "config.yaml", environ={})
    labelled = {d for p in read_gold(GOLD_DIR / "posts.jsonl") for d in p.departments}
    assert labelled <= {d.name for d in config.departments}


def test_bad_gold_lines_are_named(tmp_path: Path) -> None:
    broken = tmp_path / "broken.jsonl"
    broken.write_text(json.dumps(TINY[0]) + "\n{not json\n", "utf-8")
    with pytest.raises(HarkenError, match=r"broken\.jsonl:2: not a gold post"):
        read_gold(broken)
    twice = write_gold(tmp_path, [TINY[0], TINY[0]])
    with pytest.raises(HarkenError, match="appears twice"):
        read_gold(twice)


def test_the_real_pipeline_routes_the_tiny_set(tmp_path: Path, classifier: Any) -> None:
    config = load_config(write_config(tmp_path, CONFIG), environ={})
    posts = read_gold(write_gold(tmp_path, TINY))
    got = predict(config, posts, classifier)
    assert got["s5"].stored is False  # by the brand's own handle: left out at ingest
    assert "engineering" in got["s1"].departments
    assert "billing" in got["s3"].departments
    assert "legal" in got["s6"].departments
    assert got["s1"].opened >= 1 and got["s1"].incident_id is not None
    assert all(got[p].complaint is not None for p in ("s1", "s3", "s4"))


def test_cli_prints_scores_and_json(tmp_path: Path) -> None:
    write_config(tmp_path, CONFIG)
    gold = write_gold(tmp_path, TINY)
    data = json.loads(
        ok("rules", "test", "--gold", str(gold), "--split", "tune", "--format", "json")
    )
    assert data["split"] == "tune" and data["posts"] == 6
    departments = {row["department"]: row for row in data["departments"]}
    assert departments["billing"]["recall"] == 1.0
    assert set(data["micro"]) == {"precision", "recall", "f1"}
    assert data["storms"][0]["storm"] == "outage" and data["storms"][0]["posts"] == 2
    assert "impostors_caught" in data["errors"]
    table = ok("rules", "test", "--gold", str(gold))
    assert "precision" in table and "engineering" in table and "outage" in table
    assert "7 posts" in table
    assert all(w["id"] in table for w in data["wrong"])  # misrouted posts are listed
    assert not (tmp_path / "unused.db").exists()  # never the configured database


def test_cli_refuses_a_missing_gold_file(tmp_path: Path) -> None:
    write_config(tmp_path, CONFIG)
    assert "cannot read gold file" in fails("rules", "test", "--gold", "nope.jsonl")
    result = invoke("rules", "test", "--split", "holdout")
    assert result.exit_code == 2 and "--split is for --gold FILE" in result.output
