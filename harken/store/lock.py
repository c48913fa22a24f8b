"""Locks between processes that share one database.

* **One scheduler per database** (SchedulerLock): ``harken run`` holds it while it lives.
  APScheduler must not share its jobs between processes (two daemons would poll every source
  twice and race on cursors). ``harken run`` refuses to start while another holds it;
  ``harken run --scheduler-only`` waits as a standby and takes over when the holder dies.
* **One router at a time** (serial_session): routing joins each post to the incidents of the
  posts before it, so two routers at once could open the same incident twice, and it commits
  alerts in id order, the order each channel gets them. Workers take turns, one batch each,
  while classification and delivery run side by side.
* **Whose alert claims are alive** (SenderLease): a delivery run holds a lease while it may
  have alerts claimed, and writes the lease's holder id with each claim. Another sender takes
  back at once the claims whose lease is gone (the run died), never those of a live one.

SQLite: an exclusive ``flock`` on a file beside the database. PostgreSQL: advisory locks (a
session lock on a connection held open for the scheduler or a delivery run, a transaction
lock for a batch). Both are released by the kernel or the server when the process dies,
even by ``kill -9``; nothing is refreshed, and no clock decides who is alive.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import secrets
import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from harken.errors import StoreError
from harken.store.db import Store, redact_url

log = logging.getLogger(__name__)

_ADVISORY_KEY = 0x6861726B656E  # "harken": the scheduler's session lock (bigint key space)
_STAGE_CLASS = 0x6861726B  # "hark": batch locks, pg_advisory_xact_lock(class, name hash)
_SENDER_CLASS = 0x73656E64  # "send": delivery runs' leases, pg_advisory_lock(class, token)
WAIT_POLL = 1.0  # seconds between a standby scheduler's tries


class SchedulerLock:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._file: Any = None
        self._connection: Any = None

    def acquire(
        self,
        wait: bool = False,
        stop: threading.Event | None = None,
        on_wait: Callable[[str], None] | None = None,
    ) -> bool:
        """Take the lock. Held by another process: raise, or with ``wait`` tell ``on_wait``
        once and try every second until it is free (True) or ``stop`` is set (False)."""
        told = False
        while True:
            holder = self._try()
            if holder is None:
                return True
            where = self._where()
            if not wait:
                raise StoreError(
                    f"another `harken run` or `listen` ({holder}) is already polling {where}",
                    hint="stop it first; one scheduler per database "
                    "(`harken run --scheduler-only` waits for it instead)",
                )
            if not told and on_wait is not None:
                on_wait(f"another scheduler ({holder}) holds {where}; waiting to take over")
                told = True
            if stop is None:
                threading.Event().wait(WAIT_POLL)
            elif stop.wait(WAIT_POLL):
                return False

    def _where(self) -> str:
        if self.store.dialect == "postgresql":
            return redact_url(self.store.url)
        return str(self.store.engine.url.database)

    def _try(self) -> str | None:
        """None when taken; else who holds it."""
        if self.store.dialect == "postgresql":
            return self._try_advisory()
        return self._try_file()

    def _try_file(self) -> str | None:
        database = self.store.engine.url.database
        if not database or database == ":memory:":
            return None
        path = Path(database).with_name(Path(database).name + ".run.lock")
        handle = open(path, "a+")  # noqa: SIM115 (held for the process's lifetime)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            return f"pid {holder}"
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle
        return None

    def _try_advisory(self) -> str | None:
        connection = self.store.engine.connect()
        got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _ADVISORY_KEY})
        if got.scalar():
            connection.commit()
            self._connection = connection
            return None
        holder = connection.execute(
            text(
                "SELECT a.pid, host(a.client_addr) FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.classid = :hi AND l.objid = :lo AND l.objsubid = 1"
            ),
            {"hi": _ADVISORY_KEY >> 32, "lo": _ADVISORY_KEY & 0xFFFFFFFF},
        ).first()
        connection.close()
        if holder is None:
            return "a session that is just letting go"
        return f"server backend {holder[0]}" + (f" for {holder[1]}" if holder[1] else "")

    def release(self) -> None:
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None
        if self._connection is not None:
            with contextlib.suppress(Exception):
                self._connection.execute(
                    text("SELECT pg_advisory_unlock(:k)"), {"k": _ADVISORY_KEY}
                )
            self._connection.close()
            self._connection = None

    def __enter__(self) -> SchedulerLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def serial_session(store: Store, name: str) -> Iterator[Session]:
    """A transaction that no other process (or thread) runs at the same time under ``name``
    on this database: the others wait their turn. PostgreSQL: a transaction-level advisory
    lock, let go at commit. SQLite: an exclusive flock on ``<db>.<name>.lock``."""
    database = store.engine.url.database
    handle: Any = None
    if store.dialect == "sqlite" and database and database != ":memory:":
        handle = open(Path(database).with_name(f"{Path(database).name}.{name}.lock"), "a")  # noqa: SIM115
        fcntl.flock(handle, fcntl.LOCK_EX)
    try:
        with store.session() as session:
            if store.dialect == "postgresql":
                key = zlib.crc32(name.encode()) & 0x7FFFFFFF
                session.execute(
                    text("SELECT pg_advisory_xact_lock(:c, :k)"), {"c": _STAGE_CLASS, "k": key}
                )
            yield session
    finally:
        if handle is not None:
            handle.close()  # closing the file lets go of the flock


# -- alert claims ----------------------------------------------------------------------------

_TOKEN = re.compile(r"/([0-9a-f]{16})$")
# A worker on another host that drops off the network holds its PostgreSQL session (and its
# claims) until the server notices: TCP keepalives on the lease's connection make that about
# two minutes rather than the kernel's default two hours. (Ignored on Unix sockets.)
_KEEPALIVES = {"tcp_keepalives_idle": 60, "tcp_keepalives_interval": 10, "tcp_keepalives_count": 6}
_TMP_AGE = 60.0  # seconds after which a lock file that was never renamed is litter


class SenderLease:
    """The mark of one delivery run on the alerts it claims: ``take()`` gives the holder id
    written with each claim ("pid@host/token", a new token per run); ``live_holders`` tells
    another sender whether that run still holds it.

    SQLite: an exclusive flock on ``<db>.senders/<token>.lock`` (one host, as SQLite itself).
    PostgreSQL: a session advisory lock on a connection the run keeps open, for workers on any
    host; the server lets go of it when the connection drops. Either way the lock lives
    exactly as long as the run: a slow Slack call never loses it, a ``kill -9`` always does.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.holder: str | None = None
        self._file: Any = None
        self._path: Path | None = None
        self._connection: Any = None

    def take(self) -> str:
        """The holder id; the lease is taken on first use, and taken anew if the server
        dropped it (the claims made under the old one are all finished by then)."""
        if self.holder is not None and self._still_held():
            return self.holder
        self.release()
        while self.holder is None:
            holder = f"{os.getpid()}@{socket.gethostname()[:200]}/{secrets.token_hex(8)}"
            if self.store.dialect == "postgresql":
                self._connection = _advisory_session(self.store, _sender_key(holder))
                if self._connection is None:
                    continue  # another live run drew the same key: draw again
            else:
                self._path, self._file = _lock_file(self.store, holder)
            self.holder = holder
        return self.holder

    def _still_held(self) -> bool:
        if self._connection is None:
            return True  # a flock is ours until we let go of it
        try:
            self._connection.execute(text("SELECT 1"))
            return True
        except Exception as err:  # the server or the network dropped the session
            log.warning("the delivery lease's database connection dropped (%s)", err)
            return False

    def release(self) -> None:
        if self._file is not None:
            if self._path is not None:
                with contextlib.suppress(OSError):
                    self._path.unlink()
            self._file.close()  # lets go of the flock
        if self._connection is not None:
            _end_advisory_session(self._connection, _sender_key(self.holder or ""))
        self._file = self._path = self._connection = self.holder = None

    def __enter__(self) -> SenderLease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def live_holders(store: Store, holders: Iterable[str]) -> set[str]:
    """The holders, of those given, whose delivery run still holds its lease. Only lease
    holder ids (``is_lease_holder``) can be checked; the others are left out."""
    chosen = {h for h in holders if is_lease_holder(h)}
    if not chosen:
        return set()
    if store.dialect == "postgresql":
        held = _held_sender_keys(store)
        return {h for h in chosen if _sender_key(h) in held}
    directory = _senders_dir(store)
    return {h for h in chosen if _file_held(directory, _token(h))}


def is_lease_holder(holder: str | None) -> bool:
    """A holder id a SenderLease wrote (not a claim made before there were leases)."""
    return holder is not None and _token(holder) is not None


def holder_name(holder: str) -> str:
    """ "pid@host" of a holder id: what a person can look for."""
    return _TOKEN.sub("", holder)


def _token(holder: str) -> str | None:
    found = _TOKEN.search(holder)
    return found.group(1) if found else None


def _sender_key(holder: str) -> int:
    return int((_token(holder) or "0")[:8], 16) & 0x7FFFFFFF


def _advisory_session(store: Store, key: int) -> Any:
    """A pooled connection, outside any transaction, holding the run's lock; None when the
    key is taken already."""
    connection = store.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
    try:
        for name, value in _KEEPALIVES.items():
            connection.execute(text(f"SET {name} = {value}"))
        got = connection.execute(
            text("SELECT pg_try_advisory_lock(:c, :k)"), {"c": _SENDER_CLASS, "k": key}
        ).scalar()
    except BaseException:
        connection.invalidate()
        connection.close()
        raise
    if got:
        return connection
    _end_advisory_session(connection, None)
    return None


def _end_advisory_session(connection: Any, key: int | None) -> None:
    """Unlock and put the connection back in the pool as it was (one that fails is
    dropped, which lets go of the lock too)."""
    try:
        if key is not None:
            connection.execute(
                text("SELECT pg_advisory_unlock(:c, :k)"), {"c": _SENDER_CLASS, "k": key}
            )
        for name in _KEEPALIVES:
            connection.execute(text(f"RESET {name}"))
    except Exception:
        connection.invalidate()
    connection.close()


def _held_sender_keys(store: Store) -> set[int]:
    with store.engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT l.objid FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
                "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2 "
                "AND l.classid = :c AND d.datname = current_database()"
            ),
            {"c": _SENDER_CLASS},
        )
        return {int(row[0]) for row in rows}


def _senders_dir(store: Store) -> Path | None:
    database = store.engine.url.database
    if not database or database == ":memory:":
        return None  # one connection, one process: no one else can hold a claim
    return Path(database).with_name(Path(database).name + ".senders")


def _lock_file(store: Store, holder: str) -> tuple[Path | None, Any]:
    """Create and lock ``<token>.lock``. It is locked under a temporary name and renamed, so
    that no one ever finds it unlocked while its run lives."""
    directory = _senders_dir(store)
    token = _token(holder)
    if directory is None or token is None:
        return None, None
    directory.mkdir(exist_ok=True)
    _sweep(directory)
    temporary = directory / f".{token}.tmp"
    handle = open(temporary, "w")  # noqa: SIM115 (held for the run)
    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # a new file: no one else has it
    handle.write(f"{holder}\n")
    handle.flush()
    path = directory / f"{token}.lock"
    temporary.rename(path)
    return path, handle


def _file_held(directory: Path | None, token: str | None) -> bool:
    """Whether the run of ``token`` holds its lock file; the file of a dead one is removed."""
    if directory is None or token is None:
        return False
    path = directory / f"{token}.lock"
    try:
        handle = open(path)  # noqa: SIM115
    except FileNotFoundError:
        return False  # its run let go of it, or a sweep found it dead
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        with contextlib.suppress(OSError):
            path.unlink()  # under the lock: no run can hold it any more
        return False


def _sweep(directory: Path) -> None:
    """Remove the lock files of runs that died holding no claim anyone asked about."""
    for path in directory.glob("*.lock"):
        _file_held(directory, path.stem)
    for path in directory.glob(".*.tmp"):
        with contextlib.suppress(OSError):
            if time.time() - path.stat().st_mtime > _TMP_AGE:
                path.unlink()
