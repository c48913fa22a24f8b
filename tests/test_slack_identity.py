"""Who acts from Slack, and whether they may, on SQLite and PostgreSQL: a Slack user is the
config's ``users:`` entry with their member id, or a harken user made once on their first
action; ``departments[].may_act`` decides who may act on a department's items; every queue
event records the face and the person's id there, and ``harken queue show`` prints them."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from typer.testing import CliRunner

from harken.cli import app
from harken.config import Config, UserConfig, load_config
from harken.errors import ConfigError, QueueError
from harken.queue.actions import claim, resolve, transfer
from harken.queue.actors import Actor, QueuePermissionError
from harken.slackapp.identity import actor_for, profile_name, slack_permission
from harken.store import Store
from harken.store.tables import QueueEvent, QueueItem, User
from tests import payloads as p
from tests.conftest import BACKENDS, pg_database

runner = CliRunner()

CONFIG = """\
database: {{url: "{db}"}}
brands:
  - {{name: Acme, keywords: [acme]}}
departments:
  - {{name: support, sla: 1h}}
  - {{name: legal, sla: 4h, may_act: [members, admins]}}
  - {{name: pr, sla: 2h, may_act: admins}}
routing:
  default: support
  rules:
    - {{name: legal threats, when: {{keywords: [lawyer]}}, to: [legal, pr], priority: urgent}}
users:
  - {{name: aiko, slack_id: U0AIKO, departments: [legal]}}
  - {{name: ben, slack_id: U0BEN, departments: [support, pr]}}
  - {{name: sam, slack_id: U0SAM, role: social}}
  - {{name: ada, slack_id: W0ADA, role: admin}}
  - {{name: carl, departments: [support]}}
"""


def ok(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return str(result.stdout)


@pytest.fixture
def project(tmp_path: Path, db_url: str) -> Path:
    (tmp_path / "config.yaml").write_text(CONFIG.format(db=db_url), encoding="utf-8")
    p.write_jsonl(
        tmp_path / "x.jsonl",
        p.x_page(
            p.tweet("1001", "acme, where is my refund?"),  # support
            p.tweet("1002", "I am calling my lawyer about acme"),  # legal and pr
        ),
    )
    ok("import", "x.jsonl", "--platform", "x")
    return tmp_path


@pytest.fixture
def config(project: Path) -> Config:
    return load_config(project / "config.yaml")


@pytest.fixture
def store(config: Config) -> Iterator[Store]:
    opened = Store(config.database.url)
    yield opened
    opened.close()


def item_in(store: Store, department: str) -> int:
    with store.session() as session:
        found = session.execute(
            select(QueueItem.id).where(QueueItem.department == department)
        ).scalar_one()
    return int(found)


def users(store: Store) -> list[tuple[str, str | None, str, list[str]]]:
    with store.session() as session:
        rows = session.execute(select(User).order_by(User.id)).scalars()
        return [(u.name, u.slack_id, u.role, list(u.departments)) for u in rows]


def events(store: Store, item: int) -> list[tuple[str, str, str | None, str | None]]:
    with store.session() as session:
        rows = session.execute(
            select(QueueEvent).where(QueueEvent.queue_item_id == item).order_by(QueueEvent.id)
        ).scalars()
        return [(e.actor, e.action, e.via, e.actor_ref) for e in rows]


# -- who a Slack user is ----------------------------------------------------------------------


def test_a_slack_user_listed_in_the_config_is_that_user(store: Store, config: Config) -> None:
    profile = {"display_name": "Someone Else", "real_name": "Not Aiko"}
    assert actor_for(store, config, "U0AIKO", profile) == Actor("aiko", "slack", "U0AIKO")
    assert actor_for(store, config, "W0ADA", None) == Actor("ada", "slack", "W0ADA")
    assert users(store) == []  # the config is their record


def test_an_unknown_slack_user_becomes_a_harken_user_once(store: Store, config: Config) -> None:
    first = actor_for(store, config, "U0NEW", {"display_name": "dana", "real_name": "Dana K"})
    assert first == Actor("dana", "slack", "U0NEW")
    # Next time, whatever their profile says now, they are the same harken user.
    again = actor_for(store, config, "U0NEW", {"display_name": "dana renamed"})
    assert again == first
    assert users(store) == [("dana", "U0NEW", "member", [])]
    assert actor_for(store, config, "U0REAL", {"display_name": "", "real_name": "Eve"}).name == (
        "Eve"
    )
    assert actor_for(store, config, "U0BARE", None).name == "U0BARE"
    assert [u[1] for u in users(store)] == ["U0NEW", "U0REAL", "U0BARE"]


def test_a_profile_name_never_becomes_someone_else(store: Store, config: Config) -> None:
    """A display name is whatever its owner typed: one naming a configured user, or a user
    harken already made, gets the Slack id so that two people never read as one."""
    spoof = actor_for(store, config, "U0SPOOF", {"display_name": "ada"})
    assert spoof == Actor("ada-U0SPOOF", "slack", "U0SPOOF")
    actor_for(store, config, "U0DANA1", {"display_name": "dana"})
    assert actor_for(store, config, "U0DANA2", {"display_name": "dana"}).name == "dana-U0DANA2"
    # The config lists a "dana" later: the one harken made is told apart from then on.
    listed = config.model_copy(update={"users": [*config.users, UserConfig(name="dana")]})
    assert actor_for(store, listed, "U0DANA1", None).name == "dana-U0DANA1"
    # The spoofer is no admin: departments and roles come from the config only.
    with pytest.raises(QueuePermissionError):
        claim(store, item_in(store, "pr"), spoof, may=slack_permission(config, store))


def test_hostile_profile_names_stay_data(store: Store, config: Config) -> None:
    hostile = "\x1b[2J\u202e<!channel> [bold]boss[/bold]\x07\n" + "x" * 500
    name = actor_for(store, config, "U0EVIL", {"display_name": hostile}).name
    assert name.startswith("<!channel> [bold]boss[/bold] xxx")
    assert len(name) == 80 and "\x1b" not in name and "\u202e" not in name
    assert profile_name({"display_name": ["not", "text"], "real_name": 7}, "U0X") == "U0X"
    for bad in ("", "u0lower", "U0<!channel>", "U" * 65, None):
        with pytest.raises(QueueError, match="is not a Slack user id"):
            actor_for(store, config, bad, {"display_name": "x"})  # type: ignore[arg-type]
    assert users(store) == [(name, "U0EVIL", "member", [])]


def test_two_first_actions_at_once_make_one_user(store: Store, config: Config) -> None:
    start = threading.Barrier(4)
    found: list[Actor] = []
    failures: list[BaseException] = []

    def act() -> None:
        start.wait()
        try:
            found.append(actor_for(store, config, "U0TWICE", {"display_name": "fran"}))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=act) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert found == [Actor("fran", "slack", "U0TWICE")] * 4
    assert users(store) == [("fran", "U0TWICE", "member", [])]


# -- who may act ------------------------------------------------------------------------------


def test_members_the_social_team_and_admins_may_act(store: Store, config: Config) -> None:
    may = slack_permission(config, store)
    support, legal, pr = (item_in(store, d) for d in ("support", "legal", "pr"))
    ben = actor_for(store, config, "U0BEN", None)
    assert claim(store, support, ben, may=may).after == "claimed"  # a member of support
    sam = actor_for(store, config, "U0SAM", None)
    assert resolve(store, support, sam, may=may).after == "resolved"  # the social team
    aiko = actor_for(store, config, "U0AIKO", None)
    assert claim(store, legal, aiko, may=may).after == "claimed"  # a member of legal
    ada = actor_for(store, config, "W0ADA", None)
    assert claim(store, pr, ada, may=may).after == "claimed"  # pr: admins only
    assert events(store, legal)[-1] == ("aiko", "claimed", "slack", "U0AIKO")


def test_anyone_else_is_refused_and_nothing_changes(store: Store, config: Config) -> None:
    may = slack_permission(config, store)
    support, legal, pr = (item_in(store, d) for d in ("support", "legal", "pr"))
    before = {i: events(store, i) for i in (support, legal, pr)}
    refusals = [
        (actor_for(store, config, "U0AIKO", None), support, "claim"),
        (actor_for(store, config, "U0SAM", None), legal, "claim"),  # legal: no social team
        (actor_for(store, config, "U0BEN", None), pr, "resolve"),  # pr: admins only
        (actor_for(store, config, "U0NEW", {"display_name": "dana"}), support, "claim"),
    ]
    messages = []
    for actor, item, action in refusals:
        with pytest.raises(QueuePermissionError) as refused:
            (claim if action == "claim" else resolve)(store, item, actor, may=may)
        messages.append(str(refused.value))
    hint = " (an admin lists your departments or role under users: in harken's config)"
    assert messages == [
        "not allowed: aiko is not a member of support (its items are for its members, "
        "the social team and admins)" + hint,
        "not allowed: sam is not a member of legal (its items are for its members and admins)"
        + hint,
        "not allowed: ben is a member of pr, but its items are for admins only" + hint,
        "not allowed: dana is not a member of support (its items are for its members, "
        "the social team and admins)" + hint,
    ]
    with pytest.raises(QueuePermissionError):  # a transfer asks about the item where it is
        transfer(store, config, legal, refusals[1][0], "support", may=may)
    assert {i: events(store, i) for i in (support, legal, pr)} == before


# -- the audit trail --------------------------------------------------------------------------


def test_events_record_the_face_and_queue_show_prints_it(
    project: Path, store: Store, config: Config
) -> None:
    support = item_in(store, "support")
    ok("queue", "claim", str(support), "--as", "carl")
    aiko = Actor("aiko", "slack", "U0AIKO")
    resolve(store, support, aiko, "refunded")
    assert events(store, support) == [
        ("harken", "created", None, None),
        ("carl", "claimed", "cli", None),
        ("aiko", "resolved", "slack", "U0AIKO"),
    ]
    shown = json.loads(ok("queue", "show", str(support), "-f", "json"))
    assert [(e["actor"], e["via"], e["actor_ref"]) for e in shown["events"]] == [
        ("harken", None, None),
        ("carl", "cli", None),
        ("aiko", "slack", "U0AIKO"),
    ]
    table = ok("queue", "show", str(support))
    history = table.split("history:\n", 1)[1].splitlines()[:3]
    assert [line.split(" ", 3)[3] for line in history] == [
        "harken created → new",
        "carl claimed new → claimed",
        "aiko (slack U0AIKO) resolved claimed → resolved: refunded",
    ]


# -- the config -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("users", "may_act", "message"),
    [
        (
            "[{name: aiko, departments: [legall]}]",
            "[members]",
            "users[0].departments names department 'legall', which is not in departments",
        ),
        ("[{name: aiko}, {name: aiko}]", "[members]", "users[1].name: 'aiko' is listed twice"),
        (
            "[{name: a, slack_id: U01}, {name: b, slack_id: U01}]",
            "[members]",
            "users[1].slack_id: 'U01' is given to two users",
        ),
        ("[{name: a, slack_id: '@aiko'}]", "[members]", "users[0].slack_id: expected a Slack"),
        ("[{name: a, role: boss}]", "[members]", "users[0].role: Input should be"),
        ("[{name: '  '}]", "[members]", "users[0].name: expected a name of 1 to 255"),
        ('[{name: "a\\x1b[2J"}]', "[members]", "users[0].name: expected a name"),
        ("[]", "[everyone]", "departments[0].may_act[0]: Input should be"),
        ("[]", "[]", "departments[0].may_act: expected at least one of members"),
    ],
)
def test_bad_users_and_may_act_fail_at_load_with_the_key_path(
    tmp_path: Path, users: str, may_act: str, message: str
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"departments:\n  - {{name: legal, may_act: {may_act}}}\n"
        f"routing: {{default: legal}}\nusers: {users}\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as error:
        load_config(path)
    assert message in str(error.value)


def test_users_and_may_act_defaults(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "departments: [{name: support}]\nusers: [{name: ' kai ', slack_id: U0KAI}]\n",
        encoding="utf-8",
    )
    config = load_config(path)
    assert config.departments[0].may_act == ["members", "social", "admins"]
    (kai,) = config.users
    assert (kai.name, kai.slack_id, kai.departments, kai.role) == ("kai", "U0KAI", [], "member")


# -- the migration ----------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
    else:
        with pg_database(request.getfixturevalue("pg_cluster"), "template0") as url:
            yield url


def test_0009_keeps_events_written_before_it(empty_url: str, tmp_path: Path) -> None:
    from alembic import command
    from alembic.config import Config as AlembicConfig

    from harken.store.db import migrations_dir

    engine = create_engine(empty_url)
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", migrations_dir())
    when = "2026-11-22 09:15:00.000000"
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "0008")
        for statement in (
            "INSERT INTO authors (platform, external_id, handle, verified, first_seen,"
            f" updated_at) VALUES ('x', '100', 'kenji', FALSE, '{when}', '{when}')",
            "INSERT INTO mentions (platform, external_id, brand, text, created_at,"
            " collected_at, author_id, metrics, source, raw, routing) VALUES ('x', '1',"
            f" 'Acme', 'acme is down', '{when}', '{when}', 1, '{{}}', 't', '{{}}', '[]')",
            "INSERT INTO queue_items (mention_id, department, status, priority, reason,"
            f" due_at, created_at, updated_at, mentions, escalation_level) VALUES (1,"
            f" 'support', 'claimed', 'normal', 'r', '{when}', '{when}', '{when}', 1, 0)",
            "INSERT INTO queue_events (queue_item_id, at, actor, action, from_status,"
            f" to_status) VALUES (1, '{when}', 'kenji', 'claimed', 'new', 'claimed')",
        ):
            connection.execute(text(statement))
    engine.dispose()
    store = Store(empty_url)  # migrates to head
    try:
        resolve(store, 1, Actor("aiko", "slack", "U0AIKO"))
        assert events(store, 1) == [
            ("kenji", "claimed", None, None),
            ("aiko", "resolved", "slack", "U0AIKO"),
        ]
        with store.session() as session:
            assert session.execute(select(func.count(User.id))).scalar_one() == 0
    finally:
        store.close()
    (tmp_path / "config.yaml").write_text(f'database: {{url: "{empty_url}"}}\n', "utf-8")
    table = ok("-c", str(tmp_path / "config.yaml"), "queue", "show", "1")
    assert " kenji claimed new → claimed\n" in table
    assert " aiko (slack U0AIKO) resolved claimed → resolved\n" in table
