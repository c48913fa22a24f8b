"""Author roles (accounts:): the config, who is who (role_of), routing that never queues the
brand's own people as customers, press that goes to PR and is no complaint, rules on roles,
and a staff account's reply on the platform marking the item it answers responded, once; the
database parts on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from harken.authors import author_role, role_of
from harken.config import Config, Priority, load_config
from harken.config.schema import PLATFORM_NAMES
from harken.errors import ConfigError
from harken.platforms.registry import platform_names
from harken.reports.scope import Scope
from harken.reports.summary import summary
from harken.reports.trend import trend
from harken.routing.items import subject_of
from harken.routing.rules import Router, Subject
from harken.store import Store
from harken.store.complaints import role_flags
from harken.store.tables import Author, Classification, Mention, QueueEvent, QueueItem
from tests import payloads as p
from tests.cli import invoke, ok

DEPARTMENTS = [{"name": n} for n in ("support", "engineering", "pr", "community")]
ACCOUNTS = [
    {"handle": "@AcmeSupport", "role": "staff"},
    {"pattern": "acme_*", "platform": "x", "role": "staff"},
    {"handle": "r_acme_mods", "platform": "reddit", "role": "moderator"},
    {"handle": "Acme Cloud Reviews", "platform": "rss", "role": "customer"},
    {"handle": "@globex", "role": "competitor", "brand": "Acme"},
]


def config_of(rules: list[dict[str, Any]] | None = None, **routing: Any) -> Config:
    return load_config(
        overrides={
            "brands": [{"name": "Acme", "keywords": ["acme"], "handles": ["@acme"]}],
            "departments": DEPARTMENTS,
            "accounts": ACCOUNTS,
            "routing": {"default": "support", "rules": rules or [], **routing},
        },
        environ={},
    )


def bad(tmp_path: Path, text: str) -> str:
    (tmp_path / "c.yaml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(tmp_path / "c.yaml", environ={})
    return str(caught.value)


# -- config ---------------------------------------------------------------------------------


def test_accounts_are_checked_at_load(tmp_path: Path) -> None:
    assert "accounts[0].role: Input should be 'own', 'staff'" in bad(
        tmp_path, 'accounts: [{handle: "@a", role: boss}]'
    )
    assert "accounts[0].platform: 'twitter' is not a platform (known: x, reddit" in bad(
        tmp_path, 'accounts: [{handle: "@a", role: staff, platform: twitter}]'
    )
    both = bad(tmp_path, 'accounts: [{handle: "@a", pattern: "a*", role: staff}]')
    assert "accounts[0]: give exactly one of handle" in both
    assert "give exactly one of handle" in bad(tmp_path, "accounts: [{role: staff}]")
    assert "accounts[0].brand names 'Globex', which is not in brands" in bad(
        tmp_path, 'brands: [{name: Acme}]\naccounts: [{handle: "@g", role: staff, brand: Globex}]'
    )
    assert "routing.press names department 'press'" in bad(tmp_path, "routing: {press: press}")
    assert "routing.impersonation names department 'sec'" in bad(
        tmp_path, "routing: {impersonation: sec}"
    )
    assert "routing.rules[0].when.roles[0]: Input should be" in bad(
        tmp_path, "routing: {rules: [{name: r, when: {roles: [boss]}, to: [support]}]}"
    )


def test_accounts_load_and_the_platforms_match_the_registry(tmp_path: Path) -> None:
    config = config_of()
    assert [a.role for a in config.accounts] == [
        "staff",
        "staff",
        "moderator",
        "customer",
        "competitor",
    ]
    assert config.accounts[1].platform == "x"
    assert config.routing.press == "pr"  # a department named pr, when there is one
    assert load_config(overrides={}, environ={}).routing.press == "support"  # else the default
    assert config_of(press=False).routing.press is False
    assert list(PLATFORM_NAMES) == platform_names()


def test_role_of_handles_patterns_platforms_brands_and_sources() -> None:
    config = config_of()
    assert role_of(config, "x", "acmesupport") == "staff"  # @ optional, any case
    assert role_of(config, "bluesky", "@ACMESUPPORT") == "staff"  # no platform: where handles
    # are searched (X, Bluesky); elsewhere the same name may be anyone's (a Reddit squatter)
    assert role_of(config, "reddit", "AcmeSupport") is None
    assert role_of(config, "mastodon", "acmesupport") is None  # a local name: whose?
    assert role_of(config, "facebook", "AcmeSupport") is None
    assert role_of(config, "x", "Acme_Jo") == "staff"  # a pattern
    assert role_of(config, "bluesky", "acme_jo") is None  # the pattern is for x only
    assert role_of(config, "reddit", "r_acme_mods") == "moderator"
    assert role_of(config, "x", "r_acme_mods") is None
    assert role_of(config, "x", "@acme") == "own"  # brands[].handles
    assert role_of(config, "rss", "Tech News Daily") == "press"  # RSS/news default
    assert role_of(config, "x", "wire", source_kind="news") == "press"
    assert role_of(config, "rss", "acme cloud reviews") == "customer"  # accounts: win
    assert role_of(config, "x", "globex", brand="Acme") == "competitor"
    assert role_of(config, "x", "globex", brand="Other") is None  # brand: narrows it
    assert role_of(config, "x", "kenji_t") is None
    assert author_role(config, "x", "acme_jo").source == "accounts: pattern 'acme_*'"  # type: ignore[union-attr]


# -- routing --------------------------------------------------------------------------------


def subject(config: Config, handle: str, text: str, platform: str = "x", **c: Any) -> Subject:
    mention = Mention(
        platform=platform,
        external_id="1",
        brand="Acme",
        text=text,
        created_at=datetime(2026, 11, 22, tzinfo=UTC),
        author_id=1,
    )
    author = Author(platform=platform, external_id="a", handle=handle)
    scores = {"sentiment": "negative", "complaint": 0.9, "abuse": 0.0, "risk": 0.5, **c}
    classification = Classification(mention_id=1, model="m", language="en", **scores)
    return subject_of(mention, author, classification, config)


RULES = [
    {"name": "complaints", "when": {"complaint_gte": 0.5}, "to": ["support"]},
    {"name": "angry", "when": {"sentiment": "negative"}, "to": ["support"]},
    {"name": "outages", "when": {"keywords": ["down"]}, "to": ["engineering"]},
]


def test_own_staff_and_moderator_posts_are_never_queued_by_customer_rules() -> None:
    config = config_of(RULES)
    router = Router(config.routing, config.topics)
    for handle, platform in (("acme_jo", "x"), ("@acme", "x"), ("r_acme_mods", "reddit")):
        staff = subject(config, handle, "acme is down, sorry everyone", platform)
        assert router.route(staff) == []
    mod = subject(config, "r_acme_mods", "Megathread: acme outage", "reddit")
    assert router.set_apart(mod) == (
        "not queued: author u/r_acme_mods is moderator (accounts:): a moderator's posts manage "
        "the community, they are no complaint (a rule with roles: [moderator] would take them)"
    )
    customer = subject(config, "kenji_t", "acme is down")
    assert [d.department for d in router.route(customer)] == ["support", "engineering"]
    assert router.set_apart(customer) is None


def test_press_goes_to_pr_and_is_no_complaint() -> None:
    config = config_of(RULES)
    router = Router(config.routing, config.topics)
    article = subject(config, "Tech News Daily", "Acme is down for thousands", "rss")
    decisions = router.route(article)
    # complaint and sentiment rules do not fire; the outage keyword still does; PR always.
    assert [(d.department, d.rule) for d in decisions] == [
        ("engineering", "outages"),
        ("pr", "press"),
    ]
    assert decisions[1].reason == (
        "rule 'press' (built in): author 'Tech News Daily' is press (an RSS/news source); "
        "press posts go to pr (routing.press)"
    )
    traces = {t.rule.name: t for t in router.explain(article)}
    assert [v.text for v in traces["complaints"].verdicts] == [
        "complaint 0.90 ≥ 0.50, but author 'Tech News Daily' is press (an RSS/news source): "
        "not a complaint"
    ]
    # An app-store review feed marked customer is a customer's complaint.
    review = subject(config, "Acme Cloud Reviews", "Acme ate my files", "rss")
    assert [d.department for d in router.route(review)] == ["support"]


def test_the_press_rule_can_be_moved_switched_off_or_stopped() -> None:
    article = ("Tech News Daily", "acme is down", "rss")
    moved = config_of(RULES, press="community")
    assert [d.department for d in Router(moved.routing).route(subject(moved, *article))] == [
        "engineering",
        "community",
    ]
    off = config_of(press=False)
    assert [d.department for d in Router(off.routing).route(subject(off, *article))] == ["support"]
    stop = [{"name": "news", "when": {"roles": ["press"]}, "to": ["community"], "stop": True}]
    stopped = config_of(stop)
    decisions = Router(stopped.routing).route(subject(stopped, *article))
    assert [(d.department, d.reason) for d in decisions] == [
        ("community", "rule 'news': author 'Tech News Daily' is press (an RSS/news source)")
    ]


def test_rules_with_roles_take_the_roles_they_name_with_every_condition() -> None:
    rules = [
        {"name": "mod posts", "when": {"roles": ["moderator"]}, "to": ["community"]},
        {
            "name": "angry press",
            "when": {"roles": ["press"], "complaint_gte": 0.5},
            "to": ["pr"],
            "priority": "high",
        },
        {"name": "partners", "when": {"roles": ["partner", "competitor"]}, "to": ["pr"]},
    ]
    config = config_of(rules)
    router = Router(config.routing, config.topics)
    mod = subject(config, "r_acme_mods", "Megathread: acme outage", "reddit")
    assert [(d.department, d.rule) for d in router.route(mod)] == [("community", "mod posts")]
    article = subject(config, "Tech News Daily", "acme is down", "rss")
    assert [(d.department, d.priority, d.rule) for d in router.route(article)] == [
        ("pr", Priority.high, "angry press")  # the stronger rule's decision stands
    ]
    rival = subject(config, "globex", "acme is slow")
    assert [d.rule for d in router.route(rival)] == ["partners"]
    nobody = subject(config, "kenji_t", "acme is down")
    assert [d.rule for d in router.route(nobody)] == [None]
    trace = router.explain(nobody)[0]
    assert [v.text for v in trace.verdicts] == ["author has no role (the rule is for moderator)"]
    staff_trace = router.explain(subject(config, "acme_jo", "acme is down"))[1]
    assert staff_trace.verdicts[0].text == (
        "author @acme_jo is staff (accounts: pattern 'acme_*') not in ['press']"
    )


# -- the pipeline, on both databases ------------------------------------------------------------

CONFIG = """\
database: {{url: "{db}"}}
brands:
  - {{name: Acme, keywords: [acme], handles: ["@acme"]}}
departments:
  - {{name: support, sla: 1h}}
  - {{name: engineering, sla: 30m}}
  - {{name: pr, sla: 2h}}
accounts:
  - {{pattern: "acme_*", platform: x, role: staff}}
  - {{handle: "acme_news", platform: x, role: own}}
routing:
  default: support
  rules:
    - {{name: outages, when: {{keywords: [down]}}, to: [engineering]}}
    - {{name: threats, when: {{keywords: [lawyer]}}, to: [pr, support], priority: urgent}}
sources:
  facebook: {{pages: {{Acme: ["100064"]}}}}   # its Page, by id (not enabled: imports only)
  instagram: {{accounts: {{Acme: ["ig-acme"]}}}}
"""

USERS = [
    {"id": "100", "name": "Kenji", "username": "kenji_t", "public_metrics": {}},
    {"id": "300", "name": "Jo at Acme", "username": "acme_jo", "public_metrics": {}},
    {"id": "400", "name": "Acme", "username": "acme", "public_metrics": {}},
    {"id": "500", "name": "Acme News", "username": "acme_news", "public_metrics": {}},
]


@pytest.fixture
def project(tmp_path: Path, db_url: str) -> Path:
    (tmp_path / "config.yaml").write_text(CONFIG.format(db=db_url), encoding="utf-8")
    customer = p.x_page(p.tweet("1001", "acme, where is my refund? been a week"), users=USERS)
    staff = p.x_page(
        p.tweet("2001", "acme here: we're on it, DM us please", author="300"),
        p.tweet(
            "2002",
            "@kenji_t sorry about that, your acme refund is on its way",
            author="300",
            referenced_tweets=[{"type": "replied_to", "id": "1001"}],
        ),
        users=USERS,
    )
    p.write_jsonl(tmp_path / "customer.jsonl", customer)
    p.write_jsonl(tmp_path / "staff.jsonl", staff)
    p.write_jsonl(
        tmp_path / "rss.jsonl", p.rss_entry("https://technews.example.com/a", "Acme is down")
    )
    return tmp_path


def items(project: Path) -> list[dict[str, Any]]:
    statuses = ("-s", "new", "-s", "responded", "-s", "claimed")
    return list(json.loads(ok("queue", "list", "-f", "json", *statuses)))


def replied_events(project: Path) -> list[tuple[str, str | None, str | None]]:
    store = Store(load_config(project / "config.yaml").database.url)
    try:
        with store.session() as session:
            rows = session.execute(
                select(QueueEvent).where(QueueEvent.action == "replied").order_by(QueueEvent.id)
            ).scalars()
            return [(e.actor, e.via, e.to_status) for e in rows]
    finally:
        store.close()


def test_a_staff_reply_marks_the_item_responded_once_and_staff_posts_are_not_queued(
    project: Path,
) -> None:
    assert invoke("import", "customer.jsonl", "--platform", "x").exit_code == 0
    (item,) = items(project)
    assert item["status"] == "new"
    assert invoke("import", "staff.jsonl", "--platform", "x").exit_code == 0
    (item,) = items(project)  # neither staff post queued
    assert (item["mention"]["external_id"], item["status"]) == ("1001", "responded")
    assert replied_events(project) == [("acme_jo", "x", "responded")]
    shown = json.loads(ok("queue", "show", str(item["id"]), "-f", "json"))
    assert shown["events"][-1]["note"].startswith("replied on x (")
    # The reply routed again (a replay, a reset bookmark): nothing is recorded twice.
    store = Store(load_config(project / "config.yaml").database.url)
    with store.session() as session:
        reply = session.execute(select(Mention).where(Mention.external_id == "2002")).scalar_one()
        reply.routed_at = None
        session.add(reply)
        session.commit()
    store.close()
    assert invoke("process").exit_code == 0
    assert replied_events(project) == [("acme_jo", "x", "responded")]
    assert invoke("import", "staff.jsonl", "--platform", "x").exit_code == 0
    assert replied_events(project) == [("acme_jo", "x", "responded")]


def test_the_brands_own_answer_made_outside_harken_marks_the_item_responded(
    project: Path,
) -> None:
    assert invoke("import", "customer.jsonl", "--platform", "x").exit_code == 0
    own = p.x_page(
        p.tweet("4001", "Acme Cloud 5.1 is out today!", author="400"),  # an announcement
        p.tweet(  # an answer that does not name the brand: kept, as the brand's own
            "4002",
            "@kenji_t so sorry, it is sorted: check your inbox",
            author="400",
            referenced_tweets=[{"type": "replied_to", "id": "1001"}],
        ),
        users=USERS,
    )
    unanswered = p.tweet("4003", "2/2 and the credits are automatic", author="400",
                         referenced_tweets=[{"type": "replied_to", "id": "4000"}])  # fmt: skip
    own["data"].append(unanswered)  # answers its own thread's 1/2, never stored: left out
    own["data"].append(  # an accounts: own entry's reply to a post harken does not hold
        p.tweet("5001", "see our status page", author="500",
                referenced_tweets=[{"type": "replied_to", "id": "4998"}])
    )  # fmt: skip
    p.write_jsonl(project / "own.jsonl", own)
    imported = invoke("import", "own.jsonl", "--platform", "x")
    assert "4 from own accounts (1 answers, kept)" in imported.stdout, imported.stdout
    assert "1 answered on the platform" in imported.stdout
    (item,) = items(project)  # the answer is queued nowhere, nor flagged an impostor
    assert (item["mention"]["external_id"], item["status"]) == ("1001", "responded")
    assert replied_events(project) == [("acme", "x", "responded")]
    store = Store(load_config(project / "config.yaml").database.url)
    with store.session() as session:
        stored = {m.external_id: m for m in session.execute(select(Mention)).scalars()}
    store.close()
    assert "4001" not in stored
    assert (stored["4002"].brand, stored["4002"].flags) == ("Acme", ["own"])
    # It joins the incident of the post it answers, and does not stand for it.
    assert stored["4002"].incident_id == stored["1001"].incident_id
    assert stored["4002"].incident_reason == "the brand's answer to x:1001"


def ig_comment(comment_id: str, text: str, user: str, at: str, parent: str = "") -> dict[str, Any]:
    return {
        "id": comment_id, "text": text, "timestamp": f"2026-11-22T{at}:00+0000",
        "username": user, "from": {"id": f"ig-{user}", "username": user},
        "media": {"id": "M1"}, **({"parent_id": parent} if parent else {}),
    }  # fmt: skip


def test_in_a_flat_thread_the_brands_answer_marks_the_customer_it_names(project: Path) -> None:
    thread = {"data": [{
        **ig_comment("C1", "acme charged me twice, refund please", "alice", "09:00"),
        "replies": {"data": [
            ig_comment("R2", "acme app crashes every time I log in", "bob", "09:05", "C1"),
            ig_comment("R3", "@bob sorry about the crash, a fix ships", "acme", "09:10", "C1"),
        ]},
    }]}  # fmt: skip
    p.write_jsonl(project / "ig.jsonl", thread)
    assert invoke("import", "ig.jsonl", "--platform", "instagram").exit_code == 0
    status = {i["mention"]["external_id"]: i["status"] for i in items(project)}
    assert status == {"C1": "new", "R2": "responded"}  # Bob was answered, not Alice
    # An answer to someone harken holds no post of marks nobody (not Alice by default).
    stranger = ig_comment("R4", "@dora DM us please", "acme", "09:20", "C1")
    stranger["from"]["id"] = "ig-acme"
    p.write_jsonl(project / "ig2.jsonl", {"data": [stranger]})
    assert invoke("import", "ig2.jsonl", "--platform", "instagram").exit_code == 0
    assert {i["mention"]["external_id"]: i["status"] for i in items(project)} == status


def test_the_brands_answer_responds_for_one_department_and_names_no_stranger(
    project: Path,
) -> None:
    threat = p.x_page(p.tweet("1201", "acme, refund me or my lawyer calls you"), users=USERS)
    answer = p.tweet("4201", "@kenji_t we are on it, DM us", author="400",
                     referenced_tweets=[{"type": "replied_to", "id": "1201"}])  # fmt: skip
    p.write_jsonl(project / "threat.jsonl", threat)
    p.write_jsonl(project / "answer.jsonl", p.x_page(answer, users=USERS))
    assert invoke("import", "threat.jsonl", "--platform", "x").exit_code == 0
    assert invoke("import", "answer.jsonl", "--platform", "x").exit_code == 0
    by_department = {i["department"]: i for i in items(project)}
    # The customers' queue is answered; PR's urgent item keeps its status and escalation.
    assert (by_department["support"]["status"], by_department["pr"]["status"]) == (
        "responded", "new"
    )  # fmt: skip
    # Once the customers' item is closed, a later answer never falls to PR's.
    ok("queue", "resolve", str(by_department["support"]["id"]))
    again = p.tweet("4202", "@kenji_t following up: refund sent", author="400",
                    referenced_tweets=[{"type": "replied_to", "id": "1201"}])  # fmt: skip
    p.write_jsonl(project / "again.jsonl", p.x_page(again, users=USERS))
    assert invoke("import", "again.jsonl", "--platform", "x").exit_code == 0
    assert {i["department"]: i["status"] for i in items(project)} == {"pr": "new"}


def test_a_page_that_calls_itself_acme_is_a_stranger_and_the_page_by_id_is_acme(
    project: Path,
) -> None:
    def comment(ident: str, text: str, sender: tuple[str, str], minute: int) -> dict[str, Any]:
        return {"id": ident, "message": text, "from": {"id": sender[0], "name": sender[1]},
                "created_time": f"2026-11-22T10:0{minute}:00+0000", "post_id": "100064_811",
                **({"parent": {"id": "811_1"}} if ident != "811_1" else {})}  # fmt: skip

    post = comment("811_1", "acme where is my refund", ("501", "Tom"), 0)
    fake = comment("811_2", "Hi Tom, verify here: http://evil.example", ("666", "ＡＣＭＥ"), 1)
    real = comment("811_3", "Hi Tom, DM us please", ("100064", "Acme Cloud"), 2)
    p.write_jsonl(project / "fb.jsonl", {"data": [post, fake]})
    assert invoke("import", "fb.jsonl", "--platform", "facebook").exit_code == 0
    assert items(project)[0]["mention"]["external_id"] == "811_1"
    assert {i["status"] for i in items(project)} == {"new"}  # the stranger marked nothing
    p.write_jsonl(project / "fb2.jsonl", {"data": [real]})
    assert invoke("import", "fb2.jsonl", "--platform", "facebook").exit_code == 0
    fb = {i["mention"]["external_id"]: i["status"] for i in items(project)}
    assert fb["811_1"] == "responded" and "811_3" not in fb
    # Facebook tags people by name: an answer that begins with Lena's answers Lena's comment.
    lena = comment("811_4", "acme billed me twice too!", ("502", "Lena Fischer"), 3)
    to_lena = comment("811_5", "Lena Fischer, so sorry: refund sent", ("100064", "Acme Cloud"), 4)
    p.write_jsonl(project / "fb3.jsonl", {"data": [lena, to_lena]})
    assert invoke("import", "fb3.jsonl", "--platform", "facebook").exit_code == 0
    store = Store(load_config(project / "config.yaml").database.url)
    with store.session() as session:
        lenas = session.execute(select(Mention).where(Mention.external_id == "811_4")).scalar_one()
        keyed = session.execute(
            select(QueueEvent).where(
                QueueEvent.request_key.startswith("staff-reply:facebook:811_5:")
            )
        ).scalar_one()
        answered = session.get(QueueItem, keyed.queue_item_id)
    store.close()
    # the item of Lena's post, or of the incident it joined (not Tom's post by default)
    assert answered is not None and answered.incident_id == lenas.incident_id


def test_an_answer_never_settles_an_urgent_escalation_alone() -> None:
    from harken.queue.platform_answers import _answering
    from harken.store.tables import QueueItem as Item

    legal = Item(id=1, department="legal", priority="urgent", status="new")
    billing = Item(id=2, department="billing", priority="normal", status="new")
    support = Item(id=3, department="support", priority="urgent", status="new")
    assert _answering([legal], "support") is None  # legal's alone: no answer settles it
    assert _answering([legal, billing], "support") is billing  # the customer's errand
    assert _answering([legal, support], "support") is support  # the customers' queue


def test_a_facebook_reply_answers_whom_it_tags(project: Path) -> None:
    def comment(ident: str, text: str, sender: tuple[str, str], minute: int, **more: Any) -> Any:
        return {"id": ident, "message": text, "from": {"id": sender[0], "name": sender[1]},
                "created_time": f"2026-11-22T11:0{minute}:00+0000", "post_id": "100064_900",
                **({"parent": {"id": "900_1"}} if ident != "900_1" else {}), **more}  # fmt: skip

    thread = [
        comment("900_1", "acme where is my refund for the annual plan", ("501", "Tom"), 0),
        comment("900_2", "acme, the logo in your app is blurry on tablets", ("502", "Lena"), 1),
        comment("900_3", "Lena, thanks! Passing it on to the design team", ("100064", "Acme"),
                2, message_tags=[{"id": "502", "name": "Lena", "type": "user"}]),
    ]  # fmt: skip
    p.write_jsonl(project / "tags.jsonl", {"data": thread})
    assert invoke("import", "tags.jsonl", "--platform", "facebook").exit_code == 0
    store = Store(load_config(project / "config.yaml").database.url)
    with store.session() as session:
        keyed = session.execute(
            select(QueueEvent).where(
                QueueEvent.request_key.startswith("staff-reply:facebook:900_3")
            )
        ).scalar_one()
        item = session.get(QueueItem, keyed.queue_item_id)
        lenas = session.execute(select(Mention).where(Mention.external_id == "900_2")).scalar_one()
        toms = session.execute(select(Mention).where(Mention.external_id == "900_1")).scalar_one()
    store.close()
    assert toms.incident_id != lenas.incident_id  # two problems: two incidents
    assert item is not None and item.incident_id == lenas.incident_id  # Lena's, not Tom's


def test_press_goes_to_pr_and_explain_names_the_role(project: Path) -> None:
    assert invoke("import", "rss.jsonl", "--platform", "rss").exit_code == 0
    assert invoke("import", "staff.jsonl", "--platform", "x").exit_code == 0
    assert sorted((i["department"], i["mention"]["platform"]) for i in items(project)) == [
        ("engineering", "rss"),
        ("pr", "rss"),
    ]
    assert {tuple(i["mention"]["flags"]) for i in items(project)} == {("press",)}
    store = Store(load_config(project / "config.yaml").database.url)
    with store.session() as session:
        flags = {m.external_id: m.flags for m in session.execute(select(Mention)).scalars()}
        assert (flags["2001"], flags["2002"]) == (["staff"], ["staff"])
        ids = {
            m.external_id: m.id
            for m in session.execute(select(Mention)).scalars()  # type: ignore[misc]
        }
        assert session.execute(select(QueueItem.id)).all()  # the rss items, nothing else
    store.close()
    article = ok("route", "--explain", str(ids["https://technews.example.com/a"]))
    assert "author 'Tech News Daily' is press (an RSS/news source)" in article
    assert "rule 'press' (built in)" in article
    staff = ok("route", "--explain", str(ids["2001"]))
    assert "author @acme_jo is staff (accounts: pattern 'acme_*')" in staff
    assert "nowhere: not queued: author @acme_jo is staff" in staff
    explained = json.loads(ok("route", "--explain", str(ids["2001"]), "-f", "json"))
    assert explained["mention"]["author_role"] == (
        "author @acme_jo is staff (accounts: pattern 'acme_*')"
    )
    assert explained["decided"][0]["department"] is None
    assert "3 unchanged" in ok("rules", "test", "--since", "3650d", "--stored-topics")


def test_press_and_staff_posts_are_no_complaints_and_own_posts_no_mentions(store: Store) -> None:
    when = datetime(2026, 11, 22, 10, tzinfo=UTC)
    with store.session() as session:
        author = Author(platform="x", external_id="a1", handle="someone")
        session.add(author)
        session.flush()
        for n, flags in enumerate([[], ["impersonation"], ["press"], ["staff"], ["own"]]):
            mention = Mention(
                platform="x",
                external_id=str(n),
                brand="Acme",
                text="acme is down",
                created_at=when,
                author_id=author.id,  # type: ignore[arg-type]
                flags=flags,
            )
            session.add(mention)
            session.flush()
            session.add(
                Classification(
                    mention_id=mention.id,  # type: ignore[arg-type]
                    model="m",
                    language="en",
                    sentiment="negative",
                    complaint=0.9,
                    abuse=0.0,
                    risk=0.5,
                )
            )
        session.commit()
    since, until = when - timedelta(hours=1), when + timedelta(hours=1)
    report = summary(store, since, until)
    # The brand's own post is no mention of it; press and staff posts are, but no complaints.
    assert (report.mentions, report.complaints) == (4, 2)  # the customer and the impostor
    assert report.by_platform["complaints"].tolist() == [2]
    table = trend(store, Scope(since, until), "hour", "UTC").section("hour").frame
    assert table["complaints"].sum() == 2


def test_routing_records_the_roles_that_are_no_complaints_as_flags() -> None:
    assert role_flags(["impersonation"], "press") == ["impersonation", "press"]
    assert role_flags(["press", "impersonation"], None) == ["impersonation"]
    assert role_flags(["staff"], "partner") == []
    assert role_flags([], "moderator") == ["moderator"]
