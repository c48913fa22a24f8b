"""Limits on what arrives through ``harken import``: line size, item count, and what is printed.

A file can be anything (an export gone wrong, a concatenated dump, a hostile page): reading
it must never cost more memory than one line's limit, and a million bad items must read as
one summary, not a million lines.
"""

from __future__ import annotations

import gzip
import json
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from harken.cli import app
from harken.platforms.replay import MAX_LINE, LineRejection, Rejections, read_jsonl
from harken.records import MentionRecord
from tests import payloads as p
from tests.fakes.http import FakeAPI, Reply
from tests.fakes.x import FakeX

runner = CliRunner()

CONFIG = """\
database: {url: "sqlite:///harken.db"}
brands:
  - {name: Acme, keywords: [acme]}
departments:
  - {name: support, sla: 1h}
routing: {default: support}
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "config.yaml").write_text(CONFIG, encoding="utf-8")
    return tmp_path


def oversized_file(path: Path, size: int = 60 * 1024 * 1024) -> Path:
    """A good page, one single-line page of ``size`` bytes, another good page."""
    with path.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps(p.x_page(p.tweet("1", "acme one"))) + "\n")
        head = '{"data": [{"id": "2", "author_id": "100", "text": "acme '
        tail = '"}], "meta": {}}'
        handle.write(head + "a" * (size - len(head) - len(tail)) + tail + "\n")
        handle.write(json.dumps(p.x_page(p.tweet("3", "acme three"))) + "\n")
    return path


def test_an_oversized_line_is_rejected_and_the_lines_after_it_imported(project: Path) -> None:
    oversized_file(project / "big.jsonl", size=20 * 1024 * 1024)
    result = runner.invoke(app, ["import", "big.jsonl", "-p", "x", "--no-process"])
    assert result.exit_code == 0, result.output
    assert result.stderr == (
        "skipped line 2: the line is 20,971,520 bytes, over the 16 MiB limit for one line "
        "(split the page into smaller ones)\n"
    )
    assert (
        "big.jsonl: 2 stored, 0 already stored, 0 off-brand, 0 from own accounts, 1 rejected"
        in (result.stdout)
    )


def test_reading_an_oversized_line_never_holds_it_in_memory(tmp_path: Path) -> None:
    path = oversized_file(tmp_path / "big.jsonl")
    tracemalloc.start()
    try:
        results = list(read_jsonl(path, "x"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert [r.external_id for r in results if isinstance(r, MentionRecord)] == ["1", "3"]
    (rejection,) = [r for r in results if isinstance(r, LineRejection)]
    assert rejection.line == 2
    # At most one line's limit (and a little): not the 60 MB line, nor its decoded copies.
    assert peak < MAX_LINE + 4 * 1024 * 1024, f"peak {peak:,} bytes"


def test_a_line_just_within_the_limit_is_read(tmp_path: Path) -> None:
    page = json.dumps(p.x_page(p.tweet("1", "acme")))
    padded = page[:-1] + ', "pad": "' + "p" * (MAX_LINE - len(page) - 11) + '"}'
    assert len(padded) == MAX_LINE
    path = tmp_path / "edge.jsonl"
    path.write_text(padded + "\n", encoding="utf-8")
    (record,) = list(read_jsonl(path, "x"))
    assert isinstance(record, MentionRecord) and record.external_id == "1"


def test_a_page_of_many_non_objects_is_summed_up_in_one_line(project: Path) -> None:
    count = 200_000
    page = {"data": [1] * count, "meta": {}}
    p.write_jsonl(project / "junk.jsonl", p.x_page(p.tweet("1", "acme ok")), page)
    result = runner.invoke(app, ["import", "junk.jsonl", "-p", "x", "--no-process"])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[:2] == [
        "skipped line 2: tweet is not a JSON object (item 0)",
        "skipped line 2: tweet is not a JSON object (item 1)",
    ]
    assert len(lines) == 11
    assert (
        lines[-1]
        == f"… and {count - 10:,} more skipped ({count - 10:,}: tweet is not a JSON object)"
    )
    summary = "junk.jsonl: 1 stored, 0 already stored, 0 off-brand, 0 from own accounts"
    assert f"{summary}, {count} rejected\n" in result.stdout


def test_the_summary_names_the_commonest_reasons(project: Path) -> None:
    items = [1] * 30 + [{"id": "x"}] * 20 + ["s"] * 5
    p.write_jsonl(project / "mixed.jsonl", {"data": items, "meta": {}}, "{oops")
    result = runner.invoke(app, ["import", "mixed.jsonl", "-p", "x", "--no-process"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == (
        "… and 46 more skipped (25: tweet is not a JSON object; 20: missing field tweet.author_id; "
        "1: invalid JSON: Expecting property name enclosed in double quotes at column 2)"
    )


def test_an_over_long_post_is_cut_and_counted_on_import(project: Path) -> None:
    p.write_jsonl(project / "long.jsonl", p.x_page(p.tweet("1", "acme " + "x" * 1_000_000)))
    result = runner.invoke(app, ["import", "long.jsonl", "-p", "x", "--no-process"])
    assert result.exit_code == 0, result.output
    summary = "long.jsonl: 1 stored, 0 already stored, 0 off-brand, 0 from own accounts"
    assert f"{summary}, 0 rejected, 1 cut to fit\n" in result.stdout


def test_a_tally_of_endless_distinct_reasons_stays_small() -> None:
    tally = Rejections()
    for n in range(100_000):
        tally.add(LineRejection(n, f"reason {n % 5_000}: {n}", cause=f"reason {n % 5_000}"))
    assert tally.total == 100_000 and len(tally.shown) == 10
    assert len(tally.more) == 20  # reasons counted by name; the others only counted
    assert tally.summary() == (
        "… and 99,990 more skipped (20: reason 10; 20: reason 11; 20: reason 12; "
        "99,930: other reasons)"
    )


# -- live answers ------------------------------------------------------------------------------

ANSWER_LIMIT = 32 * 1024 * 1024


def x_config(tmp_path: Path, url: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(
        'database: {url: "sqlite:///harken.db"}\n'
        "brands: [{name: Acme, keywords: [acme]}]\n"
        "departments: [{name: support}]\n"
        "refresh: {enabled: false}\n"
        f'sources: {{x: {{enabled: true, bearer_token: "test-bearer-token", '
        f'api_base_url: "{url}", max_results: 10}}}}\n',
        encoding="utf-8",
    )
    return path


@pytest.mark.parametrize(
    ("reply", "how"),
    [
        # says how big it is: refused before the body is read
        ({"body": b"[" + b" " * ANSWER_LIMIT + b"]"}, "says it is 33,554,434 bytes"),
        # a gzip bomb: 40 KB on the wire, 40 MiB once inflated: cut while it inflates
        (
            {
                "body": gzip.compress(b" " * (40 * 1024 * 1024)),
                "headers": {"Content-Encoding": "gzip"},
            },
            "was cut off after 33,",
        ),
    ],
    ids=["declared", "gzip-bomb"],
)
def test_a_live_answer_over_the_limit_fails_the_poll_without_filling_memory(
    tmp_path: Path, reply: dict[str, Any], how: str
) -> None:
    fake = FakeX()
    with fake.api:
        fake.api.fail_next(Reply(**reply))
        x_config(tmp_path, fake.api.url)
        result = runner.invoke(app, ["listen", "--once"])
        assert result.exit_code == 1, result.output
        assert "failed: x: search for Acme: the answer is larger than 32 MiB" in result.output
        assert f"(it {how}" in result.output
        assert len(fake.searches) == 1  # not retried: the same page would come again
        (row,) = json.loads(runner.invoke(app, ["sources", "--format", "json"]).output)
        assert row["state"] == "failing" and "larger than 32 MiB" in row["last_error"]


def test_an_httpx_answer_over_the_limit_is_cut_too() -> None:
    import httpx

    from harken.net.limits import AnswerTooLarge, capped_httpx_hooks

    api = FakeAPI()
    api.route("GET", "/big")(lambda _: Reply(body=b" " * (ANSWER_LIMIT + 1)))
    with (
        api,
        httpx.Client(event_hooks=capped_httpx_hooks()) as client,
        pytest.raises(AnswerTooLarge, match="larger than 32 MiB"),
    ):
        client.get(api.url + "/big")
