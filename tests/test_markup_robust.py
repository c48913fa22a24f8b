"""Scores and routing read the words a reader sees: markup, link syntax, control characters and a
leading spreadsheet formula must not change what a post is (issue 21)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from harken.classify.preprocess import clean_text
from harken.config import load_config
from harken.routing.rules import Router
from harken.text import visible_text
from tests.test_routing import SUBJECT as ROUTING_SUBJECT

# Threats whose scores collapsed behind markup before the heads read visible words: complaint
# 0.81 -> 0.14 (script) and 0.15 (formula); 0.57 -> 0.30 (script).
ANGRY = (
    "My lawyer will be in touch, Acme.",
    "Acme you have until Friday to refund me or we go to court.",
)
SCRIPT = "<script>alert(1)</script>"
FORMULA = '=HYPERLINK("http://x","click") '


@pytest.mark.parametrize(
    ("posted", "seen"),
    [
        ("<script>alert(1)</script>I will sue", "I will sue"),
        ("<SCRIPT type='x'>var a = '<b>';</SCRIPT>ok", "ok"),
        ("<style>.a{color:red}</style>fine", "fine"),
        ("<script>unclosed, still read", "unclosed, still read"),
        ("<p>Hello <b>Acme</b>'s team</p><div>next</div>", "Hello Acme's team next"),
        ('<a href="http://x" title="lawyer">my bill</a>', "my bill"),
        ("<!-- hidden lawyer --> shown", "shown"),
        # an unclosed comment hides nothing in a plain-text post: the words after it stay
        ("<!-- I will sue acme", "I will sue acme"),
        ("a <!-- b --> c <!-- d", "a c d"),
        ("&lt;script&gt;alert(1)&lt;/script&gt;refund me", "refund me"),
        ("<http://evil.example|Your bank> says hi", "Your bank says hi"),
        ("see <https://acme.com>", "see https://acme.com"),
        ("<!channel> <!here|here> the app is down", "the app is down"),
        ("<@U123> and <@U456|kenji> and <#C1|general>", "@U123 and @kenji and #general"),
        ("read [the docs](https://acme.com/docs) and ![a cat](cat.png)", "read the docs and a cat"),
        (
            "```python\nprint('down')\n``` then `acme login` fails",
            "print('down')\nthen acme login fails",
        ),
        ("don`t and we`ll stay, ``a b`` too", "don`t and we`ll stay, a b too"),
        ("\x1b[31mrefund\x1b[0m me\x07 now", "refund me now"),
        ('=HYPERLINK("http://x","click") I will sue', "click I will sue"),
        ('+CONCAT("I am ", "angry") really', "I am angry really"),
        ("@SUM(A1:A3) nope", "nope"),
        ("@acme(help) my bill", "@acme(help) my bill"),
        ("- a list item, not a formula", "- a list item, not a formula"),
        ("I <3 acme, and 1 < 2 > 0", "I <3 acme, and 1 < 2 > 0"),
        ("アクメ<br>訴訟します", "アクメ 訴訟します"),
        # Words in angle brackets that are not an HTML element stay words (the brackets go).
        ("my account <was hacked>", "my account was hacked"),
        ("acme<sue you>now", "acme sue you now"),
        ("<Acme Support> refunded me", "Acme Support refunded me"),
        ("</whatever> and <stop charging me>", "whatever and stop charging me"),
        ("<I hate acme> <b>really</b>", "I hate acme really"),
        ('x<br/>y<img src="a.png" />z<hr>w', "x y z w"),
        ('<svg><path d="M0 0"/></svg>fine', "fine"),
    ],
)
def test_visible_text_keeps_the_words_a_reader_sees(posted: str, seen: str) -> None:
    assert visible_text(posted) == seen


def test_heads_read_the_visible_words() -> None:
    for angry in ANGRY:
        assert clean_text(SCRIPT + angry) == clean_text(angry)
        assert clean_text(FORMULA + angry) == "click " + clean_text(angry)
    assert clean_text("<https://acme.com/x|here> <@U1> hi") == "here @user hi"


def test_a_long_run_of_brackets_is_read_in_linear_time() -> None:
    import time

    start = time.perf_counter()
    for hostile in (
        "<" * 40_000, "<a " * 20_000, "<script>" * 10_000, "[x](" * 20_000, "<!--" * 10_000,
        "<was hacked " * 20_000, "<sue you>" * 20_000,
    ):  # fmt: skip
        visible_text(hostile + " acme")
    assert time.perf_counter() - start < 2


def test_markup_before_a_complaint_does_not_change_its_scores(classifier) -> None:
    posts = [prefix + angry for angry in ANGRY for prefix in ("", SCRIPT, FORMULA)]
    hidden = '<a href="https://acme.com" title="charged twice">acme</a> ships tomorrow'
    wrapped = "acme <em>charged</em> <b>twice</b> for one order"
    *scored, topic_hidden, topic_wrapped = classifier.classify([*posts, hidden, wrapped])
    for i in range(0, len(scored), 3):
        clean, *marked = scored[i : i + 3]
        for one in marked:
            assert one.text != clean.text  # stored as posted
            # A formula's link label ("click") is a word a reader sees: it moves scores a little.
            assert abs(one.complaint - clean.complaint) < 0.15
            negative = one.sentiment_scores["negative"] - clean.sentiment_scores["negative"]
            assert abs(negative) < 0.15
            assert abs(one.risk - clean.risk) < 0.15
    # A topic's literal example phrase counts in the visible words only.
    assert topic_hidden.topic_scores.get("billing", 0) < 1.0
    assert topic_wrapped.topic_scores["billing"] == 1.0 and "billing" in topic_wrapped.topics


def _router() -> Router:
    config = load_config(
        overrides={
            "departments": [{"name": "support"}, {"name": "legal"}],
            "routing": {
                "rules": [
                    {"name": "legal", "when": {"keywords": ["lawyer"]}, "to": ["legal"]},
                ]
            },
        },
        environ={},
    )
    return Router(config.routing)


SUBJECT = replace(ROUTING_SUBJECT, sentiment="negative", complaint=0.9, risk=0.3)


@pytest.mark.parametrize(
    ("text", "department"),
    [
        ('<a href="https://x" title="lawyer">hello acme</a>', "support"),
        ("<!-- lawyer -->hello acme", "support"),
        ("<script>var lawyer = 1</script>hello acme", "support"),
        ("<b>my</b> <i>lawyer</i> will call acme", "legal"),
        ("<http://x|my lawyer> will call acme", "legal"),
        ("acme<my lawyer>will call", "legal"),
    ],
)
def test_routing_keywords_read_visible_words_only(text: str, department: str) -> None:
    decisions = _router().route(replace(SUBJECT, text=text))
    assert [d.department for d in decisions] == [department]
