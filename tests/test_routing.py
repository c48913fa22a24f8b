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
    return Router(config.routing, config.topics)


def route(r: Router, **changes: object) -> list[Decision]:
    return r.route(replace(SUBJECT, **changes))  # type: ignore[arg-type]


def test_default_department_when_no_rule_matches() -> None:
    assert route(router([]), text="acme lost my file", complaint=0.8) == [
        Decision(
            "support", Priority.normal, None, "no rule matched: default department (complaint 0.80)"
        )
    ]


def test_the_default_department_takes_only_posts_that_need_an_answer() -> None:
    r = router([])
    (praise,) = route(r, text="Acme's dark mode looks great", sentiment="positive")
    assert praise.quiet and praise.department == "support"
    assert praise.reason == (
        "not queued: no rule matched and it needs no answer (routing.default_takes: all would "
        "queue it for support): complaint 0.10, positive, no question"
    )
    why = {
        "negative sentiment": {"sentiment": "negative"},
        "complaint 0.50": {"complaint": 0.5},
        "risk 0.70": {"risk": 0.7},
        "a question": {"text": "Does Acme work offline?"},
        "no meaning read for it (language 'ko')": {"language": "ko", "understood": False},
    }
    for reason, changes in why.items():
        (decision,) = route(r, **changes)
        assert not decision.quiet
        assert decision.reason == f"no rule matched: default department ({reason})"
    for question in ("アクメのギフトカードはどこで買えますか", "使えますか？", "どうでしょうか。"):
        assert not route(r, text=question, language="ja")[0].quiet, question
    for chatter in (
        "どっちが使いやすいかな",
        "ひなたバーガー最高",
        "kinda nice. Thanks!",
        "Love the new dashboard https://acme.example/blog?utm_source=x",  # a link's "?"
    ):
        assert route(r, text=chatter)[0].quiet, chatter


def test_a_press_post_with_a_negative_score_is_no_customer_grievance() -> None:
    config = router([]).config.model_copy(update={"press": False})
    r = Router(config, {})
    (decision,) = route(r, text="Acme outage hits Europe", sentiment="negative", role="press",
                        role_source="accounts:", complaint=0.9)  # fmt: skip
    assert decision.quiet


def test_default_takes_all_queues_every_post_no_rule_takes() -> None:
    config = router([]).config.model_copy(update={"default_takes": "all"})
    assert route(Router(config, {}), text="hello acme", sentiment="positive") == [
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
    assert detector.own_account("x", "1", "AcmeSupport") == "Acme"
    assert detector.own_account("x", "1", "@acmesupport") == "Acme"
    assert detector.own_account("x", "2", "acme_fan") is None
    # Exact handles only (a full-width lookalike is an impostor to find, not the brand), and
    # never a display name anyone can take: a Facebook Page named "acmesupport" is not the
    # brand's unless its id is one the config lists.
    assert detector.own_account("x", "3", "ＡｃｍｅＳｕｐｐｏｒｔ") is None
    assert detector.own_account("facebook", "9", "AcmeSupport") is None
    pages = {("facebook", "100064"): "Acme"}  # own_ids(config): sources.facebook.pages
    by_id = BrandDetector([BrandConfig(name="Acme", keywords=["acme"])], pages)
    assert by_id.own_account("facebook", "100064", "Anything") == "Acme"


def test_regex_matches_the_text_as_written_and_folded() -> None:
    r = router([{"name": "tickets", "when": {"regex": [r"\bACME-\d{4}\b"]}, "to": ["support"]}])
    (decision,) = route(r, text="my ticket ＡＣＭＥ－１２３４ is stuck")  # full-width forms
    assert decision.reason == "rule 'tickets': pattern '\\bACME-\\d{4}\\b' matched 'acme-1234'"
    assert route(r, text="ticket acme-12345")[0].rule is None


def test_a_bad_regex_fails_at_load_naming_the_rule() -> None:
    import pytest

    from harken.errors import ConfigError

    with pytest.raises(
        ConfigError, match=r"routing\.rules\[0\]\.when\.regex: '\(unclosed' is not a valid"
    ):
        router([{"name": "bad", "when": {"regex": ["(unclosed"]}, "to": ["support"]}])


def test_patterns_that_backtrack_exponentially_are_refused_at_load() -> None:
    import pytest

    from harken.errors import ConfigError

    for pattern in ("(a+)+$", r"(\w+\s*)+!", "(x+x+)+y", "(?:(a*))*b"):
        with pytest.raises(ConfigError, match=r"when\.regex: .* can take minutes on one unlucky"):
            router([{"name": "slow", "when": {"regex": [pattern]}, "to": ["pr"]}])
    with pytest.raises(ConfigError) as caught:
        router([{"name": "slow", "when": {"regex": ["(a+)+$"]}, "to": ["pr"]}])
    assert str(caught.value) == (
        "routing.rules[0].when.regex: '(a+)+$' can take minutes on one unlucky post (a repeated "
        "group made only of unbounded repeats, like (a+)+ or (\\w+\\s*)+): rewrite it without "
        "the repeated group, e.g. '(a+)+$' as 'a+$'; given a list"
    )
    # Repeats that cannot split the same text two ways stay allowed.
    for pattern in (r"(ab+c)+", r"(\w+,)+", r"(?:https?://)+\S+", r"(a++)+$"):
        router([{"name": "fine", "when": {"regex": [pattern]}, "to": ["pr"]}])


def test_a_pattern_out_of_time_is_not_applied_and_the_reason_says_so() -> None:
    # (a|aa)+$ passes the load-time check, but a failing search tries every way to split a run
    # of a's: about 10^8 steps for forty of them (minutes in Python's re).
    slow = {"name": "shouting", "when": {"regex": ["(a|aa)+$"]}, "to": ["pr"]}
    legal = {"name": "legal", "when": {"keywords": ["lawyer"]}, "to": ["legal"]}
    r = router([slow, legal])
    post = "acme lawyer " + "a" * 40 + "!"
    (decision,) = route(r, text=post)
    assert decision.department == "legal"
    assert decision.reason == (
        "rule 'legal': keyword 'lawyer' (not applied: rule 'shouting': "
        "pattern '(a|aa)+$' gave up after 0.1s on this post)"
    )
    (default,) = route(r, text="acme " + "a" * 40 + "!")
    assert default.department == "support" and "gave up" in default.reason
    traces = r.explain(replace(SUBJECT, text=post))
    assert traces[0].verdicts[0].gave_up and not traces[0].matched
    # The same pattern still matches when it can.
    assert route(r, text="acme aaaa")[0].department == "pr"


def test_a_long_match_is_quoted_short_in_the_reason() -> None:
    r = router([{"name": "all", "when": {"regex": ["acme.*"]}, "to": ["pr"]}])
    (decision,) = route(r, text="acme " + "x" * 5000)
    assert decision.reason == "rule 'all': pattern 'acme.*' matched 'acme " + "x" * 52 + "...'"


def test_explain_gives_every_condition_with_its_verdict() -> None:
    r = router(
        [
            {
                "name": "influential complaint",
                "when": {"complaint_gte": 0.5, "followers_gte": 50000, "sentiment": "negative"},
                "to": ["pr"],
            },
            {"name": "outages", "when": {"topics": ["outage"]}, "to": ["engineering"]},
        ]
    )
    subject = replace(
        SUBJECT,
        text="the app is down again",
        complaint=0.9,
        followers=1200,
        sentiment="negative",
        topics=("outage",),
        topic_scores={"outage": 1.0},
    )
    influential, outages = r.explain(subject)
    assert not influential.matched and outages.matched
    assert [(v.holds, v.text) for v in influential.verdicts] == [
        (True, "sentiment negative"),
        (True, "complaint 0.90 ≥ 0.50"),
        (False, "author has 1,200 followers < 50,000"),
    ]
    assert [(v.holds, v.text) for v in outages.verdicts] == [
        (True, "topic outage (phrase 'the app is down')")
    ]


def test_topic_reason_gives_the_similarity_when_no_phrase_occurs() -> None:
    r = router([{"name": "outages", "when": {"topics": ["outage"]}, "to": ["engineering"]}])
    (decision,) = route(r, text="nothing loads", topics=("outage",), topic_scores={"outage": 0.61})
    assert decision.reason == "rule 'outages': topic outage (similarity 0.61)"


def test_sla_per_priority_and_escalation_targets_are_checked_at_load() -> None:
    import pytest

    from harken.errors import ConfigError

    config = load_config(
        overrides={"departments": [{"name": "support", "sla": {"urgent": "15m", "default": "2h"}}]},
        environ={},
    )
    support = config.department("support")
    assert support.sla_for("urgent").total_seconds() == 900
    assert support.sla_for(Priority.low).total_seconds() == 7200
    with pytest.raises(ConfigError, match=r"departments\[0\]\.escalate_to names department 'boss'"):
        load_config(
            overrides={"departments": [{"name": "support", "escalate_to": "boss"}]}, environ={}
        )
    with pytest.raises(ConfigError, match=r"replies\.templates names 'refunds'"):
        load_config(overrides={"replies": {"templates": {"refunds": "hi"}}}, environ={})
    # A misspelt field fails when the config loads, not when a reply is due.
    with pytest.raises(ConfigError, match=r"template 'default' uses \{autor\}: known fields"):
        load_config(overrides={"replies": {"templates": {"default": "hi {autor}"}}}, environ={})
    # A department listed twice would have its first SLA silently win.
    twice = [{"name": "support", "sla": "1h"}, {"name": "support", "sla": "4h"}]
    with pytest.raises(ConfigError, match=r"departments\[1\]\.name: 'support' is listed twice"):
        load_config(overrides={"departments": twice}, environ={})
