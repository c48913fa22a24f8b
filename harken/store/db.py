"""Opening the database: engine, SQLite pragmas, migrations, sessions, error translation."""

from __future__ import annotations

import functools
import logging
import re
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any, Protocol, TypeVar

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError, SQLAlchemyError
from sqlmodel import Session

from harken.errors import StoreError

log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_MS = 5000


def create_store_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"database.url {redact_url(url)!r} is not a database URL",
            hint="e.g. sqlite:///harken.db or postgresql+psycopg://user@host/db",
        ) from None
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:":
            parent = Path(database).parent
            if not parent.is_dir():
                raise StoreError(
                    f"directory {str(parent)!r} for the SQLite database does not exist"
                )
        engine = create_engine(parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    try:
        return create_engine(parsed, pool_pre_ping=True)
    except (ImportError, SQLAlchemyError) as err:
        raise StoreError(f"cannot use {redact_url(url)!r}: {err}") from None


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL lets readers (reports, queue list) work while a pipeline pass writes.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    cursor.close()


@contextmanager
def savepoint(session: Session) -> Iterator[None]:
    """A savepoint nested in the session's transaction, on SQLite too.

    pysqlite begins a transaction only before a write statement, so a SAVEPOINT issued before
    any write opens a transaction of its own, and its RELEASE commits it: what the caller
    meant to commit later, with more (a page of mentions with its cursor), would be committed
    early and alone, and a crash in between would keep the page without its cursor. On
    SQLite the session's transaction is begun first, so the savepoint nests in it."""
    connection = session.connection()
    if connection.dialect.name == "sqlite":
        raw = connection.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            connection.exec_driver_sql("BEGIN")
    with session.begin_nested():
        yield


class Writer(Protocol):
    def write(self, session: Session) -> None: ...


W = TypeVar("W", bound=Writer)


def written_at_commit(session: Session, name: str, make: Callable[[], W]) -> W:
    """The session's ``name`` state (made on first need), whose ``write`` runs when the session
    commits: what a route batch keeps in memory and writes once (harken.routing)."""
    state = session.info.get(name)
    if state is None:
        state = session.info[name] = make()
        event.listen(session, "before_commit", state.write)
    return state  # type: ignore[no-any-return]


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (creates it on a new database)."""
    if _at_head(engine):
        return
    from alembic import command
    from alembic.config import Config as AlembicConfig

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", migrations_dir())
    with translate_errors(engine), engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def migrations_dir() -> str:
    return str(resources.files("harken.store").joinpath("migrations"))


# A migration file's own revision and the one it follows, as Alembic's templates write them
# (quoted either way, with or without a type annotation).
_REVISION = re.compile(
    r"""^(down_revision|revision)(?:\s*:[^=\n]*)?\s*=\s*['"]([^'"]+)['"]""", re.MULTILINE
)


@functools.cache
def head_revision() -> str | None:
    """The newest revision, read from the migration files' text (None unless there is exactly
    one head). Alembic finds it by importing every migration, which took most of a second of
    each command's start; this reads the same two lines of each file."""
    revisions: set[str] = set()
    followed: set[str] = set()
    for path in Path(migrations_dir(), "versions").glob("*.py"):
        found = dict((k, v) for k, v in _REVISION.findall(path.read_text(encoding="utf-8")))
        if "revision" not in found:
            return None  # a file this cannot read: Alembic reads it
        revisions.add(found["revision"])
        if "down_revision" in found:
            followed.add(found["down_revision"])
    heads = revisions - followed
    return heads.pop() if len(heads) == 1 else None


def _at_head(engine: Engine) -> bool:
    """Whether the database is already at the newest revision: one read of alembic_version.
    Anything else (a new or older database, one a newer harken wrote, a file that is not a
    database) goes through Alembic, which migrates or says what is wrong."""
    head = head_revision()
    if head is None:
        return False
    try:
        with engine.connect() as connection:
            rows = connection.exec_driver_sql("SELECT version_num FROM alembic_version").all()
    except DatabaseError:
        return False
    return [tuple(r) for r in rows] == [(head,)]


@contextmanager
def translate_errors(engine: Engine) -> Iterator[None]:
    """Turn driver errors into StoreErrors a user can act on."""
    try:
        yield
    except DatabaseError as err:
        # Integrity and data errors are about one row: the code that wrote it handles them.
        if not isinstance(err, OperationalError) and type(err) is not DatabaseError:
            raise
        message = str(err.orig) if err.orig is not None else str(err)
        where = redact_url(engine.url.render_as_string(hide_password=True))
        if "not a database" in message:  # SQLite, on a file that is something else
            raise StoreError(
                f"database {where}: the file is not a SQLite database",
                hint="check database.url (or --db): it names another kind of file",
            ) from None
        if "locked" in message or "busy" in message:
            raise StoreError(
                f"the database {where} is locked by another process",
                hint="wait for it to finish, or stop the other harken process",
            ) from None
        raise StoreError(f"database {where}: {message.splitlines()[0]}") from None


def redact_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable URL>"


class Store:
    """An opened, migrated database. ``with store.session() as s:`` commits on success."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = create_store_engine(url)
        # A store dropped without close() (the CLI opens one per command) must not leave its
        # pooled connections open until the engine happens to be garbage-collected: on
        # PostgreSQL each is a server process, and psycopg warns about every one.
        weakref.finalize(self, self.engine.dispose)
        migrate(self.engine)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        with translate_errors(self.engine), Session(self.engine, expire_on_commit=False) as s:
            try:
                yield s
                s.commit()
            except BaseException:
                s.rollback()
                raise

    def close(self) -> None:
        self.engine.dispose()
