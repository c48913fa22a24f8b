from __future__ import annotations

import pytest

from harken.classify.language import detect_language
from harken.text import for_csv, for_terminal, html_to_text, normalize


def test_terminal_escaping_removes_markup_and_escapes() -> None:
    hostile = (
        "[bold red]URGENT[/bold red] [link=http://evil.example]click[/link] \x1b[31mRED\x1b[0m\x07"
    )
    safe = for_terminal(hostile)
    assert "\x1b" not in safe and "\x07" not in safe
    assert safe.startswith("\\[bold red]URGENT\\[/bold red]")
    from rich.text import Text

    # rendered through rich, the stranger's markup comes out as literal text
    assert Text.from_markup(safe).plain == (
        "[bold red]URGENT[/bold red] [link=http://evil.example]click[/link] RED"
    )


@pytest.mark.parametrize(
    "cell", ['=HYPERLINK("http://evil")', "+1", "-2", "@SUM(A1)", "\tx", "\rx"]
)
def test_csv_formula_cells_are_neutralised(cell: str) -> None:
    assert str(for_csv(cell)).startswith("'")


def test_csv_leaves_plain_values() -> None:
    assert for_csv("acme is down") == "acme is down"
    assert for_csv(-3) == -3


def test_normalize_folds_width_case_accents_keeps_kana() -> None:
    assert normalize("ＡＣＭＥ Café") == "acme cafe"
    assert normalize("ｶﾞｲﾄﾞ") == "ガイド"


def test_html_to_text() -> None:
    assert html_to_text("<p>a &amp; b<br/>c</p><p>d</p>") == "a & b\nc\nd"


@pytest.mark.parametrize(
    ("text", "reported", "expected"),
    [
        ("アクメが落ちてる", None, "ja"),
        ("服务器宕机了", None, "zh"),  # Han only, no kana
        ("acme is down", None, "en"),
        ("🔥🔥", None, "und"),
        ("whatever", "ja", "ja"),
        ("whatever", "en-US", "en"),
        ("acme", "und", "en"),
    ],
)
def test_language_detection(text: str, reported: str | None, expected: str) -> None:
    assert detect_language(text, reported) == expected
