"""Escalation signals that need no configuration: legal threats, safety and press attention raise
risk with a named factor, in English and Japanese, not when denied (issue 21)."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from harken.classify.risk import DEFAULT_SIGNALS, RiskWeights, escalation_risk
from harken.classify.signals import find_signals
from harken.classify.types import Signals
from harken.config import Config, load_config
from harken.config.schema import RiskSignalsConfig
from harken.errors import ConfigError
from harken.matching import compile_phrases, first_affirmed
from harken.notify.contract import Delivered
from harken.pipeline.classify import risk_weights
from harken.pipeline.ingest import ingest
from harken.pipeline.process import run_pass
from harken.platforms.replay import read_jsonl
from harken.store import Store
from harken.store.repo import AlertView
from harken.store.tables import Alert, Classification, Mention
from harken.text import normalize
from tests import payloads as p

SMALL = Signals(followers=300, engagement=4)
COURT = "Acme cancelled my order without telling me. I will take you to court."
# The end-to-end case: from a verified author with 250,000 followers it scored 0.58 before.
SEE_YOU = "Acme cancelled my order without telling me. See you in court."


def risk(text: str, complaint: float = 0.9, negative: float = 0.85, **weights: object):
    chosen = RiskWeights(**weights) if weights else RiskWeights()  # type: ignore[arg-type]
    return escalation_risk(complaint, negative, 0.05, SMALL, (), chosen, text=text)


@pytest.mark.parametrize(
    ("text", "factor"),
    [
        (COURT, "legal threat: 'take you to court'"),
        ("my lawyer will hear about this", "legal threat: 'lawyer'"),
        ("filing a complaint with the CFPB today", "legal threat: 'cfpb'"),
        ("アクメを訴訟します。許せない", "legal threat: '訴訟'"),
        ("消費者センターに相談しました", "legal threat: '消費者センター'"),
        ("the charger caught fire on my desk", "safety: 'caught fire'"),
        ("my son got food poisoning from your meal kit", "safety: 'food poisoning'"),
        ("子供が食中毒になりました", "safety: '食中毒'"),
        ("I'm a reporter at the Herald, request for comment on the outage",
         "press attention: 'request for comment'"),
        ("この件について取材させてください", "press attention: '取材'"),
    ],
)  # fmt: skip
def test_a_stated_signal_raises_risk_with_a_named_factor(text: str, factor: str) -> None:
    plain, _ = risk("")
    raised, factors = risk(text)
    assert raised > plain + 0.1
    assert factor in factors


@pytest.mark.parametrize(
    "text",
    [
        "we will not sue, we just want a refund",
        "I'm not going to sue anyone, relax",
        "no lawyer needed, support sorted it",
        "訴えるつもりはありません",
        "it did not catch fire, it just got warm",
        "this deal is fire",  # slang, not a fire
        "there is an issue with my account",  # "sue" inside a word
    ],
)
def test_denied_or_absent_signals_do_not_raise(text: str) -> None:
    assert find_signals(text) == ()
    assert risk(text) == risk("")


def test_praise_naming_a_signal_word_stays_low() -> None:
    # A signal counts as much as the post is unhappy: "fire" and "court" in praise add nothing
    # worth naming.
    praise = "this deal is fire, and the food court staff were lovely, court side seats!"
    assert [f.kind for f in find_signals(praise)] == ["legal"]
    score, factors = risk(praise, complaint=0.04, negative=0.02)
    assert score - risk("", complaint=0.04, negative=0.02)[0] < 0.01
    assert not any(f.startswith("legal threat") for f in factors)


def test_signals_read_denials_like_keyword_rules_do() -> None:
    """One reading of a phrase for rules and signals (harken.matching.Phrase.affirmed_in):
    past 50 denials a phrase stands, so 40,000 characters of them cost 50 reads, not 2,400."""
    hostile = normalize("we will not sue. " * 2_400)
    assert first_affirmed(compile_phrases(["sue"]), hostile)[0] is not None
    assert [f.kind for f in find_signals(hostile)] == ["legal"]
    assert find_signals("we will not sue. " * 3) == ()


def test_markup_hides_no_signal_and_invents_none() -> None:
    assert [f.kind for f in find_signals("<b>my lawyer</b> will call")] == ["legal"]
    assert find_signals('<a title="lawyer" href="https://x">hello</a>') == ()


def test_config_reweights_or_switches_a_signal_off() -> None:
    config = load_config(overrides={"risk": {"signals": {"legal": 0, "safety": 0.5}}}, environ={})
    weights = risk_weights(config)
    assert weights.signals == {"legal": 0.0, "safety": 0.5, "press": 0.2}
    off, factors = escalation_risk(0.9, 0.85, 0.05, SMALL, (), weights, text=COURT)
    assert off == risk("")[0] and not any("legal" in f for f in factors)
    fire = "the charger caught fire on my desk"
    stronger, _ = escalation_risk(0.9, 0.85, 0.05, SMALL, (), weights, text=fire)
    assert stronger > risk(fire)[0]


def test_the_config_defaults_are_the_built_in_ones() -> None:
    assert RiskSignalsConfig().model_dump() == DEFAULT_SIGNALS == RiskWeights().signals
    assert load_config(overrides={}, environ={}).risk.signals.model_dump() == DEFAULT_SIGNALS


def test_an_unknown_signal_is_refused_at_load() -> None:
    with pytest.raises(ConfigError, match="lega"):
        load_config(overrides={"risk": {"signals": {"lega": 0.3}}}, environ={})


# --- end to end: the case the issue measured ---------------------------------------------------

CONFIG = {
    "brands": [{"name": "Acme", "keywords": ["acme"], "handles": ["@acmesupport"]}],
    "departments": [{"name": "support", "sla": "1h"}],
    "routing": {"default": "support"},
}  # default alerts: high priority or risk >= 0.6


class Recording:
    name = "console"
    verifiable = False
    budgeted = True

    def __init__(self) -> None:
        self.delivered: list[AlertView] = []

    def lane(self, alert: Alert) -> str:
        return alert.channel

    def verify(self, view: AlertView, thread: object = None) -> None:
        return None

    def deliver(self, view: AlertView, thread: object = None) -> Delivered:
        self.delivered.append(view)
        return Delivered()


@pytest.fixture
def config(db_url: str) -> Config:
    return load_config(overrides={**CONFIG, "database": {"url": db_url}}, environ={})


def test_a_court_threat_from_a_big_verified_author_is_alerted_by_default(
    tmp_path: Path, config: Config, store: Store, classifier
) -> None:
    big = {
        "id": "300",
        "name": "Dana",
        "username": "dana",
        "verified": True,
        "public_metrics": {"followers_count": 250_000},
    }
    page = p.x_page(p.tweet("7001", SEE_YOU, author="300"), users=[big])
    ingest(store, config, read_jsonl(p.write_jsonl(tmp_path / "x.jsonl", page), "x"), "test")
    sink = Recording()
    run_pass(store, config, {"console": sink}, classifier=classifier)
    with store.session() as session:
        score, factors = session.execute(
            select(Classification.risk, Classification.risk_factors).join(
                Mention, Mention.id == Classification.mention_id
            )
        ).one()
    assert score >= 0.6
    assert "legal threat: 'see you in court'" in factors
    assert len(sink.delivered) == 1
