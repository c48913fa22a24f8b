"""Locks between processes that share one database.

* **One scheduler per database** (SchedulerLock): ``harken run`` holds it while it lives.
  APScheduler must not share its jobs between processes (two daemons would poll every source
  twice and race on cursors). ``harken run`` refuses to start while another holds it;
  ``harken run --scheduler-only`` waits as a standby and takes over when the holder dies.
* **One router at a time** (serial_session): routing joins each post to the incidents of the
  posts before it, so two routers at once could open the same incident twice, and it commits
  alerts in id order, the order each channel gets them. Workers take turns, one batch each,
  while classification and delivery run side by side.

SQLite: an exclusive ``flock`` on a file beside the database. PostgreSQL: advisory locks (a
session lock on a connection held open for the scheduler, a transaction lock for a batch).
Both are released by the kernel or the server when the process dies, even by ``kill -9``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlmodel import Session

from harken.errors import StoreError
from harken.store.db import Store, redact_url

_ADVISORY_KEY = 0x6861726B656E  # "harken": the scheduler's session lock (bigint key space)
_STAGE_CLASS = 0x6861726B  # "hark": batch locks, pg_advisory_xact_lock(class, name hash)
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
