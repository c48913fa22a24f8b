from __future__ import annotations

from dataclasses import replace

from harken.brands import BrandDetector
from harken.config import BrandConfig, Priority, load_config
from harken.routing.rules import Decision, Router, Subject

SUBJECT = Subject(
    text="",
    platform="x",
    brand="Acme",
    language="en",
    followers=100,
    verified=False,
    sentiment="neutral",
    complaint=0.1,
    abuse=0.0,
    risk=0.1,
    topics=(),
)


def router(rules: list[dict], default: str = "support") -> Router:
    departments = [{"name": n} for n in ("support", "engineering", "pr", "legal", "billing")]
    config = load_config(
        overrides={
            "departments": departments,
            "topics": {"outage": ["the app is down"]},
            "routing": {"default": default, "rules": rules},
        },
        environ={},
    )
    return Router(config.routing)


def route(r: Router, **changes: object) -> list[Decision]:
    return r.route(replace(SUBJECT, **changes))  # type: ignore[arg-type]


def test_default_department_when_no_rule_matches() -> None:
    assert route(router([]), text="hello acme") == [
        Decision("support", Priority.normal, None, "no rule matched: default department")
    ]


def test_keyword_rule_reason_names_the_keyword() -> None:
    r = router(
        [
            {
                "name": "legal threats",
                "when": {"keywords": ["lawyer", "sue"]},
                "to": ["legal", "pr"],
                "priority": "urgent",
            }
        ]
    )
    decisions = route(r, text="I will SUE acme")
    assert [(d.department, d.priority, d.reason) for d in decisions] == [
        ("legal", Priority.urgent, "rule 'legal threats': keyword 'sue'"),
        ("pr", Priority.urgent, "rule 'legal threats': keyword 'sue'"),
    ]


def test_latin_keywords_match_whole_words_only() -> None:
    r = router([{"name": "legal", "when": {"keywords": ["sue"]}, "to": ["legal"]}])
    assert route(r, text="there is an issue with acme")[0].department == "support"
    assert route(r, text="gonna sue.")[0].department == "legal"


def test_keywords_are_width_case_and_accent_insensitive() -> None:
    r = router([{"name": "cafe", "when": {"keywords": ["cafe"]}, "to": ["pr"]}])
    assert route(r, text="ＣＡＦＥ acme")[0].department == "pr"
    assert route(r, text="the Café at acme")[0].department == "pr"


def test_japanese_keywords_match_without_word_boundaries() -> None:
    r = router([{"name": "legal", "when": {"keywords": ["訴訟", "弁護士"]}, "to": ["legal"]}])
    decision = route(r, text="アクメを訴訟します。弁護士に相談済み")[0]
    assert decision.department == "legal"
    assert decision.reason == "rule 'legal': keyword '訴訟'"
    # half-width katakana folds to full width
    r = router([{"name": "brand", "when": {"keywords": ["アクメ"]}, "to": ["pr"]}])
    assert route(r, text="ｱｸﾒ最悪")[0].department == "pr"


def test_all_conditions_must_hold_and_reasons_list_each() -> None:
    r = router(
        [
            {
                "name": "influencer complaint",
                "when": {"complaint_gte": 0.5, "followers_gte": 50000, "platforms": ["x"]},
                "to": ["pr"],
                "priority": "high",
            }
        ]
    )
    assert route(r, complaint=0.9, followers=1000)[0].department == "support"
    assert route(r, complaint=0.9, followers=None)[0].department == "support"
    assert route(r, complaint=0.9, followers=90000, platform="reddit")[0].department == "support"
    decision = route(r, complaint=0.9, followers=90000)[0]
    assert decision.reason == (
        "rule 'influencer complaint': platform x; complaint 0.90 ≥ 0.50; "
        "author has 90,000 followers ≥ 50,000"
    )


def test_sentiment_language_and_topics() -> None:
    r = router(
        [
            {
                "name": "ja negative",
                "when": {"sentiment": "negative", "languages": ["ja"]},
                "to": ["pr"],
            },
            {"name": "outage", "when": {"topics": ["outage"]}, "to": ["engineering"]},
        ]
    )
    assert route(r, sentiment="negative", language="en")[0].department == "support"
    assert route(r, sentiment="negative", language="ja")[0].reason == (
        "rule 'ja negative': language ja; sentiment negative"
    )
    assert [
        d.department for d in route(r, sentiment="negative", language="ja", topics=("outage",))
    ] == ["pr", "engineering"]


def test_rules_accumulate_first_rule_per_department_wins_and_stop_ends() -> None:
    r = router(
        [
            {"name": "first", "when": {"risk_gte": 0.5}, "to": ["pr"], "priority": "high"},
            {"name": "second", "when": {"risk_gte": 0.5}, "to": ["pr", "legal"], "stop": True},
            {"name": "never", "when": {}, "to": ["billing"]},
        ]
    )
    decisions = route(r, risk=0.7)
    assert [(d.department, d.rule, d.priority) for d in decisions] == [
        ("pr", "first", Priority.high),
        ("legal", "second", Priority.normal),
    ]


def test_brand_detection_keywords_handles_and_exclusions() -> None:
    detector = BrandDetector(
        [
            BrandConfig(
                name="Acme",
                keywords=["acme", "アクメ"],
                handles=["@acmesupport"],
                hashtags=["#acme"],
                exclude=["acme anvil"],
            ),
            BrandConfig(name="Globex", keywords=["globex"]),
        ]
    )
    assert detector.brand_of("Thanks @AcmeSupport!") == "Acme"
    assert detector.brand_of("アクメのアプリ") == "Acme"
    assert detector.brand_of("Loved the Acme Anvil gag in that cartoon") is None
    assert detector.brand_of("acme anvil jokes aside, acme cloud is down") == "Acme"
    assert detector.brand_of("switching to globex") == "Globex"
    assert detector.brand_of("acmeville is a town") is None
    assert BrandDetector([]).brand_of("anything") is None
    assert detector.own_account("AcmeSupport") == "Acme"
    assert detector.own_account("@acmesupport") == "Acme"
    assert detector.own_account("acme_fan") is None
