"""Negation and denial: a keyword, phrase or topic named only to be denied does not fire.

The table is the contract of ``harken.negation.negated`` (English and Japanese, both
polarities, and the traps: abilities, absences that are the complaint, questions, "not only",
"no longer", double negatives). The end-to-end tests run rules and ``harken route --explain``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from harken.config import load_config
from harken.matching import compile_phrases, compile_topic, first_affirmed
from harken.negation import Solved, negated, solved_statement
from harken.routing.rules import Router, Subject
from harken.text import normalize
from tests import payloads as p
from tests.cli import ok

# (post, the matched phrase, the negating phrase expected, or None where the match stands)
TABLE: list[tuple[str, str, str | None]] = [
    # denials of a breach, a hack, a lawsuit, an outage: the match does not fire
    ("There was no evidence of a data breach.", "data breach", "no evidence of a data breach"),
    ("No evidence of a breach, they say.", "breach", "no evidence of a breach"),
    (
        "the company said there was no evidence of an attack or a data breach.",
        "data breach",
        "no evidence of an attack or a data breach",
    ),
    ("Sunday was an availability incident, not a breach.", "breach", "not a breach"),
    ("My account was not hacked after all, I just mistyped", "hacked", "not hacked"),
    ("turns out my account wasn't hacked, false alarm", "hacked", "wasn't hacked"),
    ("Update: my account wasn’t hacked", "hacked", "wasn’t hacked"),
    ("I will not sue, I just want an answer", "sue", "will not sue"),
    # "get" is owed ("never got a refund") unless what is got is a harm
    ("I didn't get sick from Acme Burger, it was the sushi place", "sick", "didn't get sick"),
    ("my account never got hacked, false alarm", "hacked", "never got hacked"),
    ("I didn't get a refund for the hacked account", "refund", None),
    ("I never got my hacked account back", "hacked", None),
    # ... until something happened: it did
    ("I didn't get sick until I ate at Acme Burger", "sick", None),
    ("never got hacked before I joined Acme, now someone has my login", "hacked", None),
    (
        "no evidence of a data breach before the audit",
        "data breach",
        "no evidence of a data breach",
    ),
    ("I have never been hacked before.", "hacked", "never been hacked"),
    ("Relax, I won't sue anyone over a 2h outage", "sue", "won't sue"),
    ("I'm not going to sue them, calm down", "sue", "not going to sue"),
    ("Acme has never had a data breach", "data breach", "never had a data breach"),
    ("We found no sign of a breach on our side", "breach", "no sign of a breach"),
    ("Acme denied any breach in a statement", "breach", "denied any breach"),
    ("Investigators ruled out a hack", "hack", "ruled out a hack"),
    ("There are false reports of a breach going around", "breach", "false reports of a breach"),
    ("No customer data was leaked", "leaked", "no customer data was leaked"),
    ("The outage ended without any data loss", "data loss", "without any data loss"),
    ("Nothing was leaked, says Acme", "leaked", "nothing was leaked"),
    ("None of our customers' data was exposed", "exposed", "none of our customers' data was"),
    ("There has been no outage today", "outage", "no outage"),
    ("It isn't a breach, it's an expired cert", "breach", "isn't a breach"),
    ("They didn't hack anything, it was phishing", "hack", "didn't hack"),
    ("A data breach has not been confirmed", "data breach", "data breach has not been confirmed"),
    ("情報漏洩は確認されていない。", "情報漏洩", "情報漏洩は確認されていない"),
    ("不正アクセスや情報漏洩は確認されていないという。", "不正アクセス", "確認されていない"),
    ("個人情報の流出は確認されておりません。", "流出", "流出は確認されておりません"),
    ("アカウントの乗っ取りではありません", "乗っ取り", "乗っ取りではありません"),
    ("ハッキングじゃないよ、ただのパスワード忘れ", "ハッキング", "ハッキングじゃない"),
    ("情報漏洩の事実はない", "情報漏洩", "情報漏洩の事実はない"),
    ("情報漏洩はなかったと発表", "情報漏洩", "情報漏洩はなかった"),
    ("訴訟を起こすつもりはありません", "訴訟", "訴訟を起こすつもりはありません"),
    ("乗っ取りされていないので安心", "乗っ取り", "乗っ取りされていない"),
    ("情報漏洩なし", "情報漏洩", "情報漏洩なし"),
    ("同社は情報漏洩を否定した", "情報漏洩", "情報漏洩を否定"),
    ("障害は発生していません", "障害", "障害は発生していません"),
    ("お客様の個人情報は流出していない", "個人情報", "個人情報は流出していない"),
    # the match stands: statements, abilities, absences that are the complaint, traps
    ("There was a data breach and nobody told us", "data breach", None),
    ("my account was hacked last night", "hacked", None),
    ("I will sue if this isn't fixed by Friday", "sue", None),
    ("I can't log in since this morning", "log in", None),
    ("I cannot log in at all", "log in", None),
    ("the app won't let me log in", "log in", None),
    ("login no longer works after the update", "login", None),
    ("I can no longer log in", "log in", None),
    ("not only was my data leaked but they charged me twice", "leaked", None),
    ("I'm not happy about the breach", "breach", None),
    ("why didn't you tell us about the breach?", "breach", None),
    ("Wasn't there a breach last year?", "breach", None),
    ("there's no way this wasn't a hack", "hack", None),
    ("I never received my refund", "refund", None),
    ("still no refund after three weeks", "refund", None),
    ("I was not refunded", "refunded", None),
    ("No, my account was hacked, I checked the logs", "hacked", None),
    ("They did not even mention the breach", "breach", None),
    ("It was not a glitch, it was a breach", "breach", None),
    ("not sure if it was a hack or my fault", "hack", None),
    ("Acme is not GDPR compliant", "gdpr", None),
    ("nobody can log in since 9am", "log in", None),
    ("The sync is not working and my data was leaked", "leaked", None),
    ("ログインできない", "ログイン", None),
    ("障害が発生してログインできない", "障害", None),
    ("返金されていない、もう三週間", "返金", None),
    ("同期されないんだけど", "同期", None),
    ("情報漏洩があったのに発表がない", "情報漏洩", None),
    ("これ情報漏洩ではないか？", "情報漏洩", None),
    ("情報漏洩ではないでしょうか", "情報漏洩", None),
    ("ハッキングされたが、データ流出は確認されていない", "ハッキング", None),
    ("情報漏洩なら発表してほしい", "情報漏洩", None),
    # complaints whose negation is about something else: the match stands (hiding them is
    # the worst mistake: a real complaint goes nowhere)
    ("no apology for the data breach", "data breach", None),
    ("still no notification of the data breach", "data breach", None),
    ("no news on the data breach", "data breach", None),
    ("not a word from acme on the data breach", "data breach", None),
    ("no compensation for the data breach", "data breach", None),
    ("zero communication and no transparency on the data breach", "data breach", None),
    ("without any notice my account was hacked", "hacked", None),
    ("Never again, this data breach exposed my card", "data breach", None),
    ("I never thought acme would have a data breach", "data breach", None),
    ("I didn't expect a data breach from acme", "data breach", None),
    ("my account wasn't just hacked, they stole my card", "hacked", None),
    ("I'm not the only one hacked", "hacked", None),
    ("My account wasn't secure, it was hacked", "hacked", None),
    ("They're not taking the data breach seriously", "data breach", None),
    ("don't ignore the data breach", "data breach", None),
    ("I'm not afraid to sue", "sue", None),
    ("I won't hesitate to sue", "sue", None),
    ("No one from acme has addressed the data breach", "data breach", None),
    ("I was not given any details on the data breach", "data breach", None),
    ("no support for hacked accounts", "hacked", None),
    ("no password change, no 2fa, then a hack", "hack", None),
    # "until now" undoes the "never": the breach is news ("never had a data breach until now")
    ("Acme never had a data breach until now", "data breach", None),
    ("never been hacked in 10 years until today, thanks acme", "hacked", None),
    ("no outage until this week", "outage", None),
    # a short comma tail with a verb is a clause of its own ("no security, account hacked")
    ("no security, account hacked", "hacked", None),
    ("no 2fa, my account got hacked", "hacked", None),
    ("no security, account hacked", "account hacked", None),
    # ...but a list of participles is still one denial
    ("no data was exposed, leaked or stolen", "stolen", "no data was exposed, leaked or stolen"),
    (
        "we were never breached, hacked or attacked",
        "attacked",
        "were never breached, hacked or attacked",
    ),
    ("never, ever hacked", "hacked", "never, ever hacked"),
]


@pytest.mark.parametrize("post,match,expected", TABLE, ids=[f"{i}" for i in range(len(TABLE))])
def test_negated_reads_the_scope_of_a_denial(post: str, match: str, expected: str | None) -> None:
    folded = normalize(post)
    start = folded.index(normalize(match))
    found = negated(folded, start, start + len(normalize(match)))
    if expected is None:
        assert found is None, f"{post!r}: {found!r}"
    else:
        assert found is not None and normalize(expected) in found, f"{post!r}: {found!r}"


def test_a_japanese_example_is_read_by_its_words() -> None:
    topic = compile_topic(["お腹を壊した", "情報漏洩", "ログインできない", "ケガをした"])
    anchors = {a.pattern for a in topic.anchors}
    assert {"お腹", "壊した", "情報漏洩", "ログイン", "ケガ"} <= anchors
    # a bare ending, or half a compound, would be found in any post
    assert not {"した", "情報", "漏洩", "ログ", "イン"} & anchors
    said = normalize("お腹壊したって言ったけど、ただの風邪でした")
    assert topic.denial(said)[1] is not None
    assert topic.denial(normalize("ひなたバーガーでお腹壊した")) == (None, None)


def test_the_table_is_large_and_balanced() -> None:
    denials = [row for row in TABLE if row[2] is not None]
    assert len(TABLE) >= 40 and 15 <= len(denials) <= len(TABLE) - 15
    assert sum(1 for row in TABLE if any("\u3040" <= c <= "\u30ff" for c in row[0])) >= 15


def test_a_phrase_fires_when_one_occurrence_stands() -> None:
    phrases = compile_phrases(["breach"])
    denied = normalize("No evidence of a breach.")
    assert first_affirmed(phrases, denied) == (None, ["no evidence of a breach"])
    both = normalize("No evidence of a breach, they said. Then the breach notices came.")
    hit, denials = first_affirmed(phrases, both)
    assert hit is not None and hit.text == "breach" and denials == []


def test_hostile_text_is_read_in_bounded_time() -> None:
    import time

    phrases = compile_phrases(["breach"])
    began = time.monotonic()
    for text in (
        "no breach, " * 20_000,
        "," * 40_000 + " not a breach",
        "ない" * 20_000 + "情報漏洩",
    ):
        first_affirmed(phrases + compile_phrases(["情報漏洩"]), normalize(text))
        compile_topic(["data breach", "情報漏洩"]).denial(normalize(text))
    assert time.monotonic() - began < 3


SUBJECT = Subject(
    text="",
    platform="rss",
    brand="Acme",
    language="en",
    followers=None,
    verified=False,
    sentiment="neutral",
    complaint=0.5,
    abuse=0.0,
    risk=0.2,
)


def router() -> Router:
    config = load_config(
        overrides={
            "departments": [{"name": "support"}, {"name": "security"}],
            "topics": {"security": ["my account was hacked", "data breach", "情報漏洩"]},
            "routing": {
                "default": "support",
                "rules": [
                    {
                        "name": "breach",
                        "when": {"keywords": ["breach", "情報漏洩"]},
                        "to": ["security"],
                    },
                    {"name": "sec topic", "when": {"topics": ["security"]}, "to": ["security"]},
                ],
            },
        },
        environ={},
    )
    return Router(config.routing, config.topics)


def departments(text: str, topics: tuple[str, ...] = ()) -> list[str]:
    return [d.department for d in router().route(replace(SUBJECT, text=text, topics=topics))]


def test_a_keyword_rule_does_not_fire_on_its_denial() -> None:
    assert departments("There was no evidence of a data breach.") == ["support"]
    assert departments("There was a data breach.") == ["security"]
    assert departments("不正アクセスや情報漏洩は確認されていないという。") == ["support"]
    assert departments("情報漏洩がありました。") == ["security"]


def test_a_topic_does_not_fire_on_a_denied_example_or_a_denied_similar_post() -> None:
    # the classifier gave the topic (a literal example, or similarity): routing reads its scope
    assert departments("Acme: no evidence of a data breach", ("security",)) == ["support"]
    assert departments("Good news, my account was not hacked after all", ("security",)) == [
        "support"
    ]
    assert departments("my account got hacked overnight", ("security",)) == ["security"]
    # a generic half of an example (情報 of 情報漏洩) is no word of the topic: denied alone, it
    # does not take the topic from a post that says it in other words
    said = "運営からの情報はないけど、アカウントを乗っ取られてカードを不正利用された"
    assert departments(said, ("security",)) == ["security"]
    # no word of the examples in the post: nothing to read a denial on, similarity stands
    assert departments("someone is logging into my profile from abroad", ("security",)) == [
        "security"
    ]


def test_explain_says_what_was_negated() -> None:
    traces = router().explain(replace(SUBJECT, text="No evidence of a breach, Acme says."))
    keyword, topic = (t.verdicts[0] for t in traces)
    assert (keyword.holds, keyword.text) == (False, "negated: 'no evidence of a breach'")
    assert topic.holds is False  # the classifier gave no topic: explain says why
    assert topic.text.endswith("; negated: 'no evidence of a breach'")


def test_a_denied_topic_is_no_topic_of_the_post_nor_a_risk(classifier_with_security) -> None:  # type: ignore[no-untyped-def]
    denied, stated = classifier_with_security.classify(
        ["Acme says there was no evidence of a data breach", "Acme had a data breach"]
    )
    assert "security" not in denied.topics
    assert "risky topic: security" not in denied.risk_factors
    assert denied.topic_scores["security"] < 1.0  # the denied example is no literal match
    assert stated.topics == ("security",) and "risky topic: security" in stated.risk_factors


@pytest.fixture(scope="module")
def classifier_with_security():  # type: ignore[no-untyped-def]
    from harken.classify.classifier import Classifier
    from harken.classify.risk import RiskWeights

    weights = RiskWeights(topics={"security": 0.25})
    return Classifier(topics={"security": ["data breach"]}, risk_weights=weights)


CONFIG = """\
database: {{url: "{db}"}}
brands:
  - {{name: Acme, keywords: [acme, アクメ]}}
departments:
  - {{name: support, sla: 1h}}
  - {{name: security, sla: 1h}}
topics:
  security: ["my account was hacked", "情報漏洩"]
routing:
  default: support
  default_takes: all  # the denials land in support, where the explanation is looked at
  rules:
    - {{name: breach, when: {{keywords: [breach, 情報漏洩]}}, to: [security], priority: urgent}}
    - {{name: security, when: {{topics: [security]}}, to: [security], priority: urgent}}
alerts: {{min_priority: urgent, min_risk: 0.99}}
"""


def test_route_and_explain_end_to_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db_url: str
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(CONFIG.format(db=db_url), encoding="utf-8")
    p.write_jsonl(
        tmp_path / "x.jsonl",
        p.x_page(
            p.tweet("1", "Acme says there was no evidence of a data breach"),
            p.tweet("2", "Acme had a data breach, my account was hacked"),
            p.tweet("3", "アクメの発表：情報漏洩は確認されていない。"),
        ),
    )
    ok("import", "x.jsonl", "--platform", "x")
    listed = json.loads(ok("queue", "list", "-f", "json"))
    routed = sorted((i["mention"]["external_id"], i["department"]) for i in listed)
    assert routed == [("1", "support"), ("2", "security"), ("3", "support")]
    mention = next(i["mention"]["id"] for i in listed if i["mention"]["external_id"] == "1")
    lines = ok("route", "--explain", str(mention)).splitlines()
    assert "      ✗ negated: 'no evidence of a data breach'" in lines, "\n".join(lines)


# --- solved problems: thanks for a fix names the problem, nobody has to act -------------------

SOLVED = [
    # (post, the phrase a rule or topic matched, solved?)
    (
        "Acme support fixed my login problem in 10 minutes. Honestly impressed.",
        "login problem",
        True,
    ),
    ("The upload bug I reported on Monday is fixed in Acme 4.3. Thanks team!", "upload bug", True),
    ("Shoutout to Acme for refunding the double charge the same day", "double charge", True),
    ("Refund from Acme arrived 3 days after the cancellation. Smooth.", "refund", True),
    ("Acme found my lost bag and delivered it to my hotel. Great recovery.", "lost bag", True),
    ("アクメのアプリの不具合、アップデートで直ってた。ありがとう", "不具合", True),
    ("アクメの二重決済、問い合わせたらすぐ返金された", "二重決済", True),
    (
        "アクメのログインできない問題、サポートに連絡したら30分で解決した。対応早い",
        "ログインできない",
        True,
    ),
    # still a problem
    ("They said the login problem was fixed. It is still broken.", "login problem", False),
    ("When will the login problem be fixed", "login problem", False),
    ("The login problem hasn't been fixed after 3 days", "login problem", False),
    ("the sync bug needs to be fixed asap, thanks", "sync bug", False),
    ("Acme 'fixed' sync and now it's worse", "sync", False),
    ("my refund never arrived, thanks for nothing", "refund", False),
    ("my order arrived cold and half of it was missing", "order", False),
    ("I found a bug in the acme sync, thanks", "bug", False),
    ("Got my refund but I was charged twice again", "charged twice", False),
    ("is the login problem fixed?", "login problem", False),
    ("返金されたと思ったらまた二重請求", "二重請求", False),
    ("アプリの不具合、まだ直らない", "不具合", False),
    # review of 2026-12-06: real complaints that named a fix
    ("Acme is down again. The outage is back, thanks", "outage", False),
    ("Acme fixed my login. Now the app won't open at all, thanks", "login", False),
    ("Acme refunded the wrong amount, I was charged twice. Thanks", "charged twice", False),
    ("Login fixed, thanks Acme. My invoice is wrong though", "invoice", False),
    ("fixed-rate plan doubled my bill, thanks acme", "bill", False),
    ("marked my ticket as resolved without fixing anything, great", "ticket", False),
    ("restored my account but all my photos are gone, thanks", "photos", False),
    ("Thanks for fixing the bug by deleting my files", "bug", False),
    ("Acme fixed the sync bug", "sync bug", False),  # a fix nobody thanks for
    ("アクメのサポート、全然対応してくれない。ありがとう", "サポート", False),
    ("返金してもらえず困ってます、ありがとう", "返金", False),
    ("アクメの不具合、直していただきたいです。助かります", "不具合", False),
]


@pytest.mark.parametrize("post,match,solved", SOLVED, ids=[f"{i}" for i in range(len(SOLVED))])
def test_a_phrase_in_thanks_for_its_fix_is_solved(post: str, match: str, solved: bool) -> None:
    folded = normalize(post)
    start = folded.index(normalize(match))
    found = negated(folded, start, start + len(normalize(match)))
    assert isinstance(found, Solved) if solved else found is None, f"{post!r}: {found!r}"
    assert (solved_statement(folded) is not None) == solved, post


def test_explain_says_what_was_solved_and_the_default_does_not_queue_it() -> None:
    text = "Acme fixed the data breach issue in minutes, thanks!"
    (keyword, _) = (t.verdicts[0] for t in router().explain(replace(SUBJECT, text=text)))
    assert keyword.text == "solved: 'fixed the data breach'"
    (decision,) = router().route(replace(SUBJECT, text=text, platform="x", sentiment="negative"))
    assert decision.quiet and "it says the problem is solved" in decision.reason


def test_a_similar_topic_in_thanks_for_a_fix_does_not_hold() -> None:
    # no example word in the post: the classifier's similarity alone gave the topic
    thanks = "Someone got into my profile last night, support sorted it out fast, thanks"
    assert departments(thanks, ("security",)) == ["support"]
    assert departments("Someone got into my profile last night", ("security",)) == ["security"]


def test_a_denial_with_a_negative_score_needs_no_answer_unless_it_complains() -> None:
    denial = replace(SUBJECT, text="No, Acme had no data breach", platform="x",
                     sentiment="negative", complaint=0.2)  # fmt: skip
    (decision,) = router().route(denial)
    assert decision.quiet
    assert decision.reason.startswith("not queued: no rule matched and it needs no answer (")
    assert "negated: 'no data breach'" in decision.reason
    (complaint,) = router().route(replace(denial, complaint=0.9))
    assert not complaint.quiet and complaint.department == "support"


DEBUNKED = [
    (
        "Nobody's data was leaked, the Acme 'breach' thread going around is just a rumor",
        "breach",
        True,
    ),
    ("the acme breach email turned out to be phishing", "breach", True),
    ("ひなたバーガーの異物混入の噂、デマだって", "異物混入", True),
    ("ひなたバーガーでお腹壊したって言ったけど、ただの風邪でした", "お腹壊した", True),
    # stands
    ("I got a phishing email pretending to be Acme about a data breach", "data breach", False),
    ("Acme says the breach is just a rumor but my account was emptied", "breach", False),
    ("my account was hacked, acme says it's a false alarm", "hacked", False),
    ("the breach wasn't just a rumor after all", "breach", False),
    ("アクメの情報漏洩、デマじゃなかった", "情報漏洩", False),
    ("Acme calls the outage a hoax? I lost a day of work", "outage", False),
    ("アクメから流出したっていう顧客リスト、偽物でした", "流出", True),
    # complaints about the brand, not claims called false (review of 2026-12-06)
    ("acme's unlimited storage is just a scam", "unlimited storage", False),
    ("the acme support line is just a joke", "support line", False),
    ("アクメで買った商品、届いたら偽物でした", "商品", False),
]


@pytest.mark.parametrize(
    "post,match,debunked", DEBUNKED, ids=[f"{i}" for i in range(len(DEBUNKED))]
)
def test_a_claim_called_false_later_in_its_sentence_is_denied(
    post: str, match: str, debunked: bool
) -> None:
    folded = normalize(post)
    start = folded.index(normalize(match))
    found = negated(folded, start, start + len(normalize(match)))
    assert (found is not None) == debunked, f"{post!r}: {found!r}"


# A post that thanks for one fix and complains about something else is a complaint: every other
# sentence must thank too (second review of 2026-12-06).
STILL_COMPLAINING = [
    "Acme charged me twice this month and nobody answers. At least my login got fixed, thanks.",
    "Support fixed my login, thanks. Now I'm locked out of billing.",
    "Acme fixed the password reset. Thanks! Two-factor codes don't arrive.",
    "Thanks Acme, the replacement arrived. It's the wrong size.",
    "Acme refunded the order, charged me twice anyway. Thanks.",
    "Thanks for fixing the app, it crashes every time I open it now.",
    "Acme restored my account, lost all my photos. Thanks.",
    "二重請求された。ログインは直った、ありがとう",
    "ログイン直った、ありがとう。今度は請求が二重になってる",
    "届いた、ありがとう。中身が違った",
    "アクメのアプリ直った、感謝。代わりに通知が来なくなった",
    "サポートは解決したと言ってる。すぐ落ちるんだが",
]


@pytest.mark.parametrize("post", STILL_COMPLAINING)
def test_thanks_for_one_fix_beside_a_complaint_is_not_solved(post: str) -> None:
    assert solved_statement(normalize(post)) is None
