"""Impostor detection (issue 21): lookalike handles and display names of the brand and its
accounts, luring readers with a link or a request for credentials or a DM, are flagged
``impersonation`` and routed as one urgent item for security, with the alert saying so."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import select

from harken.authors.impostors import impostor_of, skeleton
from harken.config import Config, Priority, load_config
from harken.notify.outbox import deliver_pending
from harken.notify.registry import build_sinks
from harken.pipeline.ingest import ingest
from harken.pipeline.process import run_pass
from harken.pipeline.rescore import rescore_mention
from harken.platforms.replay import read_jsonl
from harken.records import AuthorRecord
from harken.routing.impersonation import impostor_department
from harken.store import Store, incident_posts
from harken.store.sources import record_snapshot
from harken.store.tables import Incident, Mention
from tests import payloads as p
from tests.cli import ok
from tests.conftest import SLACK_CHANNELS, TEST_TOPICS
from tests.fakes.slack import TOKEN, FakeSlack

BRANDS = [
    {"name": "Acme", "keywords": ["acme", "acme cloud", "アクメ"],
     "handles": ["@acme", "@acmesupport"]},
]  # fmt: skip
ACCOUNTS = [{"handle": "@acme_jane", "role": "staff"}]
CHANNELS = {**SLACK_CHANNELS, "security": "#security"}


def config(**extra: Any) -> Config:
    return load_config(overrides={"brands": BRANDS, "accounts": ACCOUNTS, **extra}, environ={})


def author(handle: str, name: str | None = None) -> AuthorRecord:
    return AuthorRecord("x", "1", handle, name)


# The five kinds measured in issue 21: 0 of 5 were flagged before.
IMPOSTORS = {
    "digits for letters in the support handle": (
        author("acmesupp0rt"),
        "So sorry about that! Log in here and we will fix it: https://acme-help.example/login",
    ),
    "the brand plus refunds": (
        author("acme_refunds"),
        "You are owed compensation for the outage, claim it at acme-refunds.example.com",
    ),
    "a display name copying the brand's": (
        author("helpdesk_2291", "Acme"),
        "We saw your complaint. Please DM us your login details so we can help",
    ),
    "the password asked for by DM": (
        author("AcmeSupportTeam"),
        "Please send us your password by DM so we can verify your account",
    ),
    "a login link from a homoglyph handle": (
        author("аcmesupport"),  # a Cyrillic "а"
        "Your account is locked. Sign in at https://acme-secure.example to restore it",
    ),
    "a Bluesky lookalike linking elsewhere": (
        AuthorRecord("bluesky", "1", "acme-security-alerts.bsky.social", "Acme Security Team"),
        "Security notice: re-verify your account today at https://acme-verify.example",
    ),
    "Japanese: the brand plus サポート": (
        author("アクメサポート"),
        "ご迷惑をおかけしました。返金はこちらから https://acme-refund.example",
    ),
}


@pytest.mark.parametrize("kind", list(IMPOSTORS))
def test_lookalikes_luring_readers_are_impostors(kind: str) -> None:
    who, text = IMPOSTORS[kind]
    found = impostor_of(config(), who, text)
    assert found is not None, kind
    assert found.factor.startswith("possible impostor of ")
    assert found.why  # in plain words: how the name imitates, and the lure


def test_the_alert_names_the_account_imitated() -> None:
    cfg = config()
    found = impostor_of(cfg, *IMPOSTORS["digits for letters in the support handle"])
    assert found is not None and found.factor == "possible impostor of @acmesupport"
    assert "@acmesupp0rt" in found.why and "link" in found.why
    # the brand plus service words imitates its service account, not the bare brand
    refunds = impostor_of(cfg, *IMPOSTORS["the brand plus refunds"])
    assert refunds is not None and refunds.imitated == "@acmesupport"


NOT_IMPOSTORS = {
    "the real support handle": (author("AcmeSupport"), "Log in at https://acme.example/help"),
    "a configured staff account": (author("acme_jane"), "Please DM us your order number"),
    "a fan with no lure": (author("acme_fan_1987"), "acme is down AGAIN, worst service ever"),
    "a fan with a link": (author("acme_fan_1987"), "acme down again https://status.example"),
    "a brand-like name with no lure": (author("acme_support_team"), "acme was great today"),
    "a customer quoting the impostor's link": (
        author("kenji_t", "Kenji"),
        "@acmesupp0rt asked me to log in at https://acme-help.example/login, is that you?",
    ),
    "a short name one letter off": (author("acne"), "DM me for a link"),
    "the brand's own Bluesky domain linking its status page": (
        AuthorRecord("bluesky", "1", "acme.example.com", "Acme"),
        "We're investigating sign-in failures. Follow status.acme.example.com for updates.",
    ),
    "a Japanese customer asking for a refund": (author("tanaka_h", "田中"), "返金してください"),
    # a fan account named after the brand, locked out: its own trouble is no lure
    "a fan who cannot log in": (
        author("acme_japan"),
        "@acmesupport I can't log in since the update and my password reset fails",
    ),
    "a fan who cannot sign in, in Japanese": (
        author("アクメ公式ファン", "アクメ"),
        "ログインできない",
    ),
    "a fan whose curl script fails": (author("acme_us"), "acme api broke my curl script again"),
    # the brand with weak words only (regional and fan accounts) sharing a link: no lure
    "a regional fan account sharing a link": (
        author("acme_japan"),
        "アクメの新機能の記事 https://news.example/acme",
    ),
    "a fan named like the brand sharing a link": (
        author("realacme", "Acme"),
        "the new acme release notes are up https://blog.example/acme",
    ),
}


@pytest.mark.parametrize("kind", list(NOT_IMPOSTORS))
def test_real_accounts_customers_and_fans_are_not_impostors(kind: str) -> None:
    who, text = NOT_IMPOSTORS[kind]
    assert impostor_of(config(), who, text) is None, kind


SCAMS = {
    "claim a credit with a link, markup and all": (
        "[bold red]URGENT[/bold red] Acme outage compensation: claim your $50 credit before "
        "midnight [link=http://evil.example]click[/link] #acme"
    ),
    "redeem an amount": "Acme: redeem a $20 voucher today only https://evil.example/v",
    "Japanese: compensation here": "アクメの障害の補償金はこちらから受け取れます https://evil.example/a",
}
NOT_SCAMS = {
    "a customer asking how to claim": "How do I claim a refund from Acme? https://acme.example/help",
    "a customer's own refund": "acme, where is my refund? I claimed it https://acme.example/t/1",
    "an offer without a link": "Acme says to claim your $50 credit in the app",
    "a link without an offer": "Acme outage write-up https://blog.example/post",
    "money offered in no brand's name": "claim your $50 credit now http://evil.example",
    "a Japanese customer who applied for a refund": "アクメで二重請求、返金を申請したけど音沙汰なし https://x.example/a",
    "a Japanese customer who gets no refund": "アクメ、返金がもらえない https://x.example/a",
    "a customer relaying a broken offer": (
        "Acme says claim your $50 credit here https://status.acme.example/x but the form is broken!"
    ),
}


@pytest.mark.parametrize("kind", list(SCAMS))
def test_money_offered_in_the_brands_name_with_a_link_is_a_scam(kind: str) -> None:
    """No imitating name needed: "🔥 Deals & Refunds 🔥" offering Acme's compensation."""
    found = impostor_of(config(), author("promo_deals_24", "🔥 Deals & Refunds 🔥"), SCAMS[kind])
    assert found is not None and found.scam, kind
    assert found.factor == "possible scam in Acme's name"
    assert "offers money in Acme's name" in found.why and "has a link" in found.why


@pytest.mark.parametrize("kind", list(NOT_SCAMS))
def test_customers_asking_for_their_money_are_no_scam(kind: str) -> None:
    assert impostor_of(config(), author("kenji_t", "Kenji"), NOT_SCAMS[kind]) is None, kind


def test_a_scam_keeps_the_rules_decisions_beside_its_item() -> None:
    from harken.routing.impersonation import decide
    from harken.routing.rules import Decision

    cfg = config()
    scam = impostor_of(cfg, author("promo_deals_24"), SCAMS["redeem an amount"])
    lookalike = impostor_of(cfg, *IMPOSTORS["digits for letters in the support handle"])
    assert scam is not None and lookalike is not None
    billing = Decision("billing", Priority.normal, "billing", "rule 'billing': keyword 'refund'")
    quiet = Decision("support", Priority.normal, None, "not queued: ...", quiet=True)
    flagged = impostor_department(cfg)
    assert flagged != "billing"
    assert [d.department for d in decide(cfg, [billing], scam)] == [flagged, "billing"]
    assert [d.department for d in decide(cfg, [quiet], scam)] == [flagged]
    assert [d.department for d in decide(cfg, [billing], lookalike)] == [flagged]


def test_a_scam_offer_padded_with_spaces_is_read_in_bounded_time() -> None:
    import time

    began = time.monotonic()
    impostor_of(config(), author("x"), "acme claim" + " " * 40_000 + "http://x.example")
    impostor_of(config(), author("x"), "acme " + "claim your " * 4_000 + "http://x.example")
    assert time.monotonic() - began < 1


def test_a_hostile_long_name_is_read_in_bounded_time() -> None:
    """No platform allows a name of thousands of characters (X 50, Bluesky 64): one is not
    compared letter by letter with every target (0.4-0.6 s per post before)."""
    import time

    began = time.perf_counter()
    for name in ("x" * 40_000, "acme" + "support" * 5_700):
        assert impostor_of(config(), author("bob", name), "see https://x.example") is None
    assert time.perf_counter() - began < 0.2


def test_no_brand_configured_no_impostor() -> None:
    who, text = IMPOSTORS["digits for letters in the support handle"]
    assert impostor_of(load_config(overrides={}, environ={}), who, text) is None


def test_skeleton_folds_case_width_homoglyphs_digits_and_separators() -> None:
    assert (
        skeleton("＠ＡｃｍｅＳｕｐｐ0ｒｔ") == skeleton("acme.support") == skeleton("acmesupport")
    )
    assert skeleton("аcmе_suppоrt") == skeleton("acmesupport")  # Cyrillic а, е, о
    assert skeleton("acme") != skeleton("acne")


def test_the_department_for_impostors() -> None:
    def departments(*names: str) -> list[dict[str, str]]:
        return [{"name": n, "slack_channel": f"#{n}"} for n in names]

    assert impostor_department(config(departments=departments("support", "security", "pr"))) == (
        "security"
    )
    assert impostor_department(config(departments=departments("support", "pr"))) == "pr"
    assert impostor_department(config(departments=departments("support"))) == "support"
    chosen = config(
        departments=departments("support", "security", "trust"),
        routing={"impersonation": "trust"},
    )
    assert impostor_department(chosen) == "trust"


# -- through the pipeline, the queue, the export and Slack ----------------------------------

USERS = [
    {"id": "100", "name": "Kenji", "username": "kenji_t", "verified": False,
     "public_metrics": {"followers_count": 1200}},
    {"id": "300", "name": "Acme Support", "username": "acmesupp0rt", "verified": False,
     "public_metrics": {"followers_count": 12}},
]  # fmt: skip
ANGRY = "@acmesupport I was charged twice and nobody answers, I want a refund"
BAIT = "@kenji_t so sorry! Claim your refund here: https://acme-refund.example/login"


def pipeline_tree(tmp_path: Path, slack: FakeSlack, db: str, token: str) -> dict[str, Any]:
    return {
        "database": {"url": db},
        "brands": BRANDS,
        "accounts": ACCOUNTS,
        "departments": [
            {"name": name, "slack_channel": channel, "sla": "1h"}
            for name, channel in CHANNELS.items()
        ],
        "topics": TEST_TOPICS,
        "routing": {"default": "support"},
        "alerts": {
            "min_priority": "urgent",
            "min_risk": 0.99,
            "slack": {"bot_token": token, "api_base_url": slack.api_url, "timeout": "2s"},
        },
    }


def test_an_impostor_reply_is_one_urgent_security_item_flagged_everywhere(
    tmp_path: Path, slack: FakeSlack, classifier: Any, db_url: str
) -> None:
    slack.add_channel("#security")
    tree = pipeline_tree(tmp_path, slack, db_url, TOKEN)
    cfg = load_config(overrides=tree, environ={})
    page = p.x_page(
        p.tweet("7001", ANGRY, author="100"),
        p.tweet("7002", BAIT, author="300", conversation_id="7001",
                referenced_tweets=[{"type": "replied_to", "id": "7001"}]),
        users=USERS,
    )  # fmt: skip
    store = Store(cfg.database.url)
    ingest(store, cfg, list(read_jsonl(p.write_jsonl(tmp_path / "a.jsonl", page), "x")), "t")
    run_pass(store, cfg, {}, classifier)
    with store.session() as session:
        flags = {m.external_id: m.flags for m in session.execute(select(Mention)).scalars()}
    assert flags == {"7001": [], "7002": ["impersonation"]}
    with store.session() as session:
        bait_row = session.execute(
            select(Mention).where(Mention.external_id == "7002")
        ).scalar_one()
        its_incident = session.get(Incident, incident_posts.incident_of(session, bait_row.id))
    # The floor reaches the incident too: the digest ranks incidents by their top risk.
    assert its_incident is not None and its_incident.top_risk >= 0.8

    path = tmp_path / "config.yaml"
    tree["alerts"]["slack"]["bot_token"] = "${SLACK_BOT_TOKEN}"
    path.write_text(json.dumps(tree), encoding="utf-8")
    conf = ("--config", str(path))
    listed = json.loads(ok(*conf, "queue", "list", "-f", "json"))
    bait = [i for i in listed if i["mention"]["external_id"] == "7002"]
    # one item, in security, urgent: no customer-care item for the impostor's post
    assert [(i["department"], i["priority"], i["rule"]) for i in bait] == [
        ("security", "urgent", "impersonation")
    ]
    assert bait[0]["reason"].startswith("possible impostor of @acmesupport: ")
    assert bait[0]["risk_factors"][0] == "possible impostor of @acmesupport"
    assert bait[0]["risk"] >= 0.8
    assert bait[0]["mention"]["flags"] == ["impersonation"]
    customer = [i for i in listed if i["mention"]["external_id"] == "7001"]
    assert customer and all(i["mention"]["flags"] == [] for i in customer)

    rows = list(csv.reader(io.StringIO(ok(*conf, "export", "mentions", "--since", "3650d"))))
    assert rows[0][-1] == "flags" and rows[0][-2] == "source"  # a new last column
    by_id = {r[rows[0].index("external_id")]: r[-1] for r in rows[1:]}
    assert by_id == {"7001": "", "7002": "impersonation"}

    explained = ok(*conf, "route", "--explain", str(bait[0]["mention"]["id"]))
    assert "security (urgent): possible impostor of @acmesupport" in explained

    # a later rescore (new engagement, the incident growing) keeps the factor and the floor
    bait_id = bait[0]["mention"]["id"]
    with store.session() as session:
        start = datetime(2026, 11, 22, 10, tzinfo=UTC)
        record_snapshot(session, bait_id, {"likes": 0, "reposts": 0}, start)
        record_snapshot(
            session, bait_id, {"likes": 900, "reposts": 300}, start + timedelta(hours=1)
        )
        rescore_mention(session, cfg, bait_id)  # its risk and factors computed again
        session.commit()
    again = json.loads(ok(*conf, "queue", "list", "-f", "json"))
    [rescored] = [i for i in again if i["mention"]["external_id"] == "7002"]
    assert rescored["risk_factors"][0] == "possible impostor of @acmesupport"
    assert rescored["risk"] >= 0.8

    sinks = build_sinks(cfg, Console(file=io.StringIO()))
    assert deliver_pending(store, cfg, sinks).sent >= 1
    [alert] = slack.messages("#security")
    shown = json.dumps({"text": alert.text, "blocks": alert.blocks}, ensure_ascii=False)
    assert "possible impostor of @acmesupport" in shown


def test_the_console_alert_says_possible_impostor(
    tmp_path: Path, classifier: Any, sqlite_url: str
) -> None:
    tree = {
        "database": {"url": sqlite_url},
        "brands": BRANDS,
        "departments": [{"name": "support"}, {"name": "security"}],
        "alerts": {"min_priority": "urgent"},
    }
    cfg = load_config(overrides=tree, environ={})
    page = p.x_page(p.tweet("7002", BAIT, author="300"), users=USERS)
    store = Store(cfg.database.url)
    ingest(store, cfg, list(read_jsonl(p.write_jsonl(tmp_path / "a.jsonl", page), "x")), "t")
    run_pass(store, cfg, {}, classifier)
    printed = io.StringIO()
    deliver_pending(store, cfg, build_sinks(cfg, Console(file=printed, width=200)))
    assert "possible impostor of @acmesupport" in printed.getvalue()


def test_classify_json_has_flags_with_an_author() -> None:
    path = Path("config.yaml")
    path.write_text(json.dumps({"brands": BRANDS}), encoding="utf-8")
    plain = json.loads(ok("classify", "-f", "json", BAIT))
    assert plain["flags"] == []  # a plain text has no author to judge
    flagged = json.loads(ok("classify", "-f", "json", "--author", "@acmesupp0rt", BAIT))
    assert flagged["flags"] == ["impersonation"]
    fan = json.loads(
        ok(
            "classify",
            "-f",
            "json",
            "--author",
            "acme_fan_1987",
            "acme down again https://x.example",
        )
    )
    assert fan["flags"] == []
    # The same bait from a name that imitates nothing still offers Acme's money with a link.
    scam = json.loads(ok("classify", "-f", "json", "--author", "acme_fan_1987", BAIT))
    assert scam["flags"] == ["impersonation"]


def test_classify_never_flags_the_brands_own_accounts() -> None:
    """A brand handle, and an own account listed for another platform only (a Bluesky
    domain), imitate nobody: `classify --author` knows no platform, so it asks them all."""
    tree = {
        "brands": BRANDS,
        "accounts": [{"handle": "acme.example.com", "platform": "bluesky", "role": "own"}],
    }
    Path("config.yaml").write_text(json.dumps(tree), encoding="utf-8")
    ask = "Sorry for the trouble! Could you DM us your account email?"
    for own in ("@acmesupport", "acme", "acme.example.com"):
        lines = ok("classify", "-f", "json", "--author", own, ask, BAIT).splitlines()
        assert [json.loads(line)["flags"] for line in lines] == [[], []], own
    lookalike = json.loads(ok("classify", "-f", "json", "--author", "acme_supp0rt", ask))
    assert lookalike["flags"] == ["impersonation"]


def test_an_impostor_never_joins_the_customers_storm(
    tmp_path: Path, classifier: Any, db_url: str
) -> None:
    """Customers locked out, then a lookalike answering them with a sign-in link in the same
    words: its post must not fold into their incident and items (storms join by meaning)."""
    users = [
        {"id": str(100 + k), "name": f"c{k}", "username": f"customer{k}", "verified": False,
         "public_metrics": {"followers_count": 50}}
        for k in range(4)
    ] + [USERS[1]]  # fmt: skip
    locked = [
        "@acmesupport my acme account is locked and I can't sign in",
        "acme locked me out of my account, cannot log in at all",
        "is acme down? my account says locked, sign in fails",
        "acme login broken, account locked since this morning",
    ]
    page = p.x_page(
        *[p.tweet(str(7100 + k), text, author=str(100 + k)) for k, text in enumerate(locked)],
        p.tweet("7199", "@customer0 your acme account is locked: sign in at "
                "https://acme-secure.example to restore it", author="300"),
        users=users,
    )  # fmt: skip
    cfg = load_config(
        overrides={
            "database": {"url": db_url}, "brands": BRANDS, "accounts": ACCOUNTS,
            "departments": [{"name": "support"}, {"name": "security"}], "topics": TEST_TOPICS,
            "routing": {"default": "support"}, "alerts": {"min_risk": 0.99},
        },
        environ={},
    )  # fmt: skip
    store = Store(cfg.database.url)
    ingest(store, cfg, list(read_jsonl(p.write_jsonl(tmp_path / "a.jsonl", page), "x")), "t")
    run_pass(store, cfg, {}, classifier)
    with store.session() as session:
        incident_of = {
            m.external_id: m.incident_id for m in session.execute(select(Mention)).scalars()
        }
    customers = {incident_of[str(7100 + k)] for k in range(len(locked))}
    assert len(customers) < len(locked)  # the storm grouped the customers' reports
    assert incident_of["7199"] not in customers
