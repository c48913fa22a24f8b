"""Sarcasm (``harken.classify.sarcasm``): praise that names something bad reads as the complaint
it is, so the default department gets it instead of dropping it as praise; thanks for a fix,
thanks for good service that names a problem in passing, and a problem said to be gone stay
praise. The cases here were written for these tests, apart from the gold set's."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harken.classify.risk import escalation_risk
from harken.classify.sarcasm import read_as_meant, sarcasm, sarcasm_in_post
from harken.classify.types import Signals
from tests.cli import import_tweets, ok

SARCASTIC = [
    "Love how Nimbus Bank freezes my card every time I travel",
    "Thanks Orbit Mobile for dropping my call three times today, really helpful",
    "Oh great, Pinecrest Hotels lost my booking again",
    "Gotta love waiting 40 minutes for a Zephyr Rail ticket machine that takes cash only",
    "So glad Nimbus Bank charged me twice for the same transfer",
    "Love how the Orbit Mobile app logs me out every hour",
    "The Pinecrest 'customer service' line: a 2-hour hold and then it hangs up",
    "Zephyr Rail cancelled my train and nobody at the desk knew why. Great start to the week.",
    "What a wonderful surprise, another Orbit Mobile price rise",
    "さすがニンバス銀行、給料日にまたアプリが落ちる",
    "安定のゼファー鉄道、今日も遅延",
    "オービットモバイルのアプリ、支払い画面で毎回止まる親切設計",
    # a closing line that sums up the bad news, in the forms that are hardly ever sincere
    "Zephyr Rail cancelled my train again, no announcements at all. Never gets old.",
    "Nimbus Bank's app update bricked my login. What a surprise.",
    "ゼファー鉄道、また1時間待たされた。期待を裏切らないね",
    "ニンバス銀行の手数料また値上げ。庶民に優しいなあ",
]

NOT_SARCASTIC = [
    "Thanks Nimbus Bank for the quick reply about my delayed transfer!",
    "Love how fast Orbit Mobile fixed the outage last night",
    "Love that Zephyr Rail trains are never late on this line",
    "Thanks Pinecrest! No more booking errors since the update",
    "Just landed in Osaka after a Zephyr Rail trip. Amazing.",
    "Orbit Mobile has great coverage but the app crashes sometimes",  # a complaint, no irony
    "Amazing how fast Nimbus Bank support answered even during the outage",
    "Thanks Orbit Mobile for the clear updates during the incident",
    "Nimbus Bank froze my card and nobody answers the phone",  # plain complaint
    # Words that are only sometimes bad, in sincere praise (a review found these misread).
    "Thanks for waiting! Our new store opens tomorrow at 9am.",
    "Thanks for the fast delivery, can't wait to try it",
    "Love that I can finally log in again!",
    "Love how down to earth the Nimbus Bank staff are.",
    "Love how my Orbit Mobile order is right every time.",
    "Glad Nimbus Bank finally dropped the overdraft fee!",
    "Love that Orbit Mobile lets me cancel anytime with no fees.",
    "Huge thanks to the Pinecrest team for staying late to help me",
    "Thanks Zephyr Rail for being there when my train was cancelled, you saved my trip",
    "Stayed up late playing the new Orbit game. Awesome.",
    "Nimbus Bank shares drop 5% after earnings miss. Wow.",
    "Orbit Mobile launches 'seamless' checkout after two-year delay",
    "Was my order lost? Thanks for any help!",  # a question: queued anyway
    "Rebook at https://www.wow.com/help if your flight is delayed",
    "ニンバス銀行のサポート、神対応でした。障害の時もすぐ返事くれた",
    "さすがニンバス銀行、また行きます！",
    "安定のオービット、毎回安心して使える",
    "さすがオービット、エラーもなく快適",
    "流石ゼファー鉄道、待たされることなく乗れた",
    # a closing さすが or "Amazing." after thanks for the help is sincere
    "ゼファー鉄道、遅延したけど案内が丁寧で乗り継ぎもすぐ手配してくれた。さすが。",
    "My Orbit Mobile order was lost, support found it and sent it overnight. Amazing.",
    "さすがオービット、障害が起きても神対応",
    # "Perfect.", "10/10", さすが close sincere posts about a problem handled as often: not read
    "I was charged twice, emailed Nimbus Bank, and the money was back the next morning. 10/10",
    "Orbit Mobile's driver got lost in the snow but still delivered on time. Amazing.",
    "電車が遅延したけど駅員さんが優しかった。ありがとうございます",
    # acts the writer asked for, and problem words that are only named
    "So glad Nimbus Bank closed my old account without any fuss",
    "Love how Nimbus Bank locks my account after 3 wrong passwords. Security done right.",
    "Great job Orbit Mobile, the outage page was updated every 10 minutes",
    "さすがオービットモバイル、障害対応が早い",
    "連休中の障害で告知もなしはさすがにひどい",  # さすがに: "really", a plain complaint
    "ゼファー鉄道の遅延、すぐ振り替えてもらえて助かった",
]


@pytest.mark.parametrize("text", SARCASTIC)
def test_praise_of_something_bad_is_sarcasm(text: str) -> None:
    assert sarcasm(text) is not None


@pytest.mark.parametrize("text", NOT_SARCASTIC)
def test_praise_thanks_and_plain_complaints_are_not(text: str) -> None:
    assert sarcasm(text) is None


def test_the_sentence_of_sarcasm_is_what_is_quoted() -> None:
    quoted = sarcasm("I paid for a year. Love how Nimbus Bank charges me twice for it. Fun.")
    assert quoted == "love how nimbus bank charges me twice for it."
    # A sentence of praise alone praises the post's bad news: it is the one quoted.
    assert sarcasm("The Zephyr Rail app is down again. Never gets old.") == "never gets old."


def test_a_japanese_character_does_not_turn_the_english_rules_off() -> None:
    assert sarcasm("Love how Nimbus Bank charges me twice ¯\\_(ツ)_/¯") is not None
    assert sarcasm("Thanks Zephyr Rail for losing my bag at 成田") is not None


def test_only_the_head_of_a_long_post_is_read() -> None:
    # Sarcasm is a short post's: a long one is not scanned past its head, however built.
    assert sarcasm("Great. " * 10_000 + "Love how Nimbus Bank charges me twice") is None
    assert sarcasm("Love how Nimbus Bank charges me twice. " + "Great. " * 10_000) is not None


def test_a_retweet_and_markup_read_as_the_words_a_reader_sees() -> None:
    assert sarcasm_in_post("RT @ann: <b>Love how</b> Nimbus Bank loses my card again") is not None


def test_the_heads_reading_is_turned_round() -> None:
    scores = {"negative": 0.1, "neutral": 0.2, "positive": 0.7}
    meant, complaint = read_as_meant(scores, 0.15, "love how nimbus bank charges me twice")
    assert meant == {"negative": 0.7, "neutral": 0.2, "positive": 0.1}
    assert complaint == pytest.approx(0.85)
    # Read as negative already: left as it is; and nothing changes without sarcasm.
    negative = {"negative": 0.6, "neutral": 0.3, "positive": 0.1}
    assert read_as_meant(negative, 0.9, "x") == (negative, 0.9)
    assert read_as_meant(scores, 0.15, None) == (scores, 0.15)


def test_the_risk_factor_says_it_was_read_as_sarcasm() -> None:
    _, factors = escalation_risk(
        0.85, 0.7, 0.0, Signals(), sarcastic="love how nimbus bank charges me twice"
    )
    assert "complaint 0.85, read as sarcasm: 'love how nimbus bank charges me twice'" in factors


CONFIG = """\
database: {{url: "sqlite:///{db}"}}
brands:
  - {{name: Acme, keywords: [acme]}}
departments:
  - {{name: support, sla: 1h}}
routing:
  default: support
"""


@pytest.mark.slow
def test_a_sarcastic_complaint_is_queued_and_praise_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    posts = {
        "1": "Love how Acme charges me twice and then asks me to rate my experience",
        "2": "Thanks Acme for deleting three hours of my work. Really appreciate it.",
        "3": "Acme's new dark mode looks great, love it",
    }
    import_tweets(tmp_path, CONFIG.format(db=tmp_path / "h.db"), posts)
    items = json.loads(ok("queue", "list", "-f", "json"))
    assert sorted(i["mention"]["external_id"] for i in items) == ["1", "2"]
    mentions = {m["external_id"]: m for m in json.loads(ok("export", "mentions", "-f", "json"))}
    for external_id in ("1", "2"):
        assert mentions[external_id]["sentiment"] == "negative"
        assert mentions[external_id]["complaint"] >= 0.5
    assert any("read as sarcasm" in f for f in mentions["1"]["risk_factors"])
    assert mentions["3"]["sentiment"] == "positive"
