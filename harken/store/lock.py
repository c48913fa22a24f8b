"""One scheduler per database: ``harken run`` holds this lock while it lives.

APScheduler must not share its jobs between processes (two daemons would poll every source
twice and race on cursors). SQLite: an exclusive ``flock`` on a file beside the database,
released by the kernel when the process dies, even by ``kill -9``. PostgreSQL: a session-level
advisory lock on a connection held open, released the same way when the connection drops.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Any

from sqlalchemy import text

from harken.errors import StoreError
from harken.store.db import Store, redact_url

_ADVISORY_KEY = 0x6861726B656E  # "harken"


class SchedulerLock:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._file: Any = None
        self._connection: Any = None

    def acquire(self) -> None:
        if self.store.dialect == "postgresql":
            self._acquire_advisory()
        else:
            self._acquire_file()

    def _acquire_file(self) -> None:
        database = self.store.engine.url.database
        if not database or database == ":memory:":
            return
        path = Path(database).with_name(Path(database).name + ".run.lock")
        handle = open(path, "a+")  # noqa: SIM115 (held for the process's lifetime)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "?"
            handle.close()
            raise StoreError(
                f"another `harken run` or `listen` (pid {holder}) is already polling {database}",
                hint="stop it first; one scheduler per database",
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def _acquire_advisory(self) -> None:
        connection = self.store.engine.connect()
        got = connection.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": _ADVISORY_KEY})
        if not got.scalar():
            connection.close()
            raise StoreError(
                f"another `harken run` or `listen` is already polling {redact_url(self.store.url)}",
                hint="stop it first; one scheduler per database",
            )
        connection.commit()
        self._connection = connection

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
