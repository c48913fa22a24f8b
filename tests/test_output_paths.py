"""Every command that writes a file the user names (``export -o``, ``report --chart``,
``digest --out``, ``init DIR``) follows one rule (harken/reports/output.py): ``-`` is stdout;
a character device or a FIFO, named or reached through a symlink, is written through and stays
what it was; a symlink to anything else is refused and left alone, and so is its target; a
directory is refused; a new path or a regular file is written whole or not at all. A path that
cannot be written is one ``Error: cannot write PATH: reason`` line, never a traceback.

The tests run as root, which ignores permission bits: "unwritable" here is a file used as a
directory (ENOTDIR), sysfs (no new files, even for root), and a file-size limit (EFBIG, like a
full disk, in a child process)."""

from __future__ import annotations

import contextlib
import io
import os
import pty
import stat
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow.parquet as pq
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from harken.cli import app
from harken.store import Store
from harken.store.tables import Author, Classification, Mention

runner = CliRunner()
WINDOW = ["--since", "2026-11-01", "--until", "2026-12-31"]
PNG = b"\x89PNG\r\n\x1a\n"

# What each command is asked to write, and how its output starts.
COMMANDS: dict[str, tuple[Callable[[str], list[str]], bytes]] = {
    "export": (lambda path: ["export", "mentions", *WINDOW, "-o", path], b"id,created_at,"),
    "chart": (lambda path: ["report", "summary", *WINDOW, "--chart", path], PNG),
    "digest": (lambda path: ["digest", "--date", "2026-12-01", "--out", path], b"<!doctype html"),
}
SUFFIX = {"export": ".csv", "chart": ".png", "digest": ".html"}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A small SQLite store (two posts, one 40,000 characters long) and its config. The store
    stays open, so its WAL files exist and a child process under a file-size limit only
    reads them."""
    root = tmp_path_factory.mktemp("outputs")
    store = Store(f"sqlite:///{root / 'h.db'}")
    with store.session() as session:
        author = Author(platform="x", external_id="a1", handle="alice", followers=10)
        session.add(author)
        session.flush()
        for n, text in enumerate(["acme is down", "acme " + "x" * 40_000], start=1):
            mention = Mention(
                platform="x",
                brand="Acme",
                external_id=str(n),
                text=text,
                created_at=datetime(2026, 11, 30, 12, n, tzinfo=UTC),
                author_id=author.id,  # type: ignore[arg-type]
            )
            session.add(mention)
            session.flush()
            session.add(
                Classification(
                    mention_id=mention.id,  # type: ignore[arg-type]
                    model="test",
                    sentiment="negative",
                    risk=0.5,
                    complaint=0.5,
                    abuse=0.0,
                    language="en",
                )
            )
    (root / "config.yaml").write_text(
        f"database: {{url: 'sqlite:///{root / 'h.db'}'}}\n"
        "brands:\n  - {name: Acme, keywords: [acme]}\n",
        encoding="utf-8",
    )
    with store.session() as session:  # a connection in the pool keeps the WAL files
        session.execute(select(Mention.id)).all()
    yield root
    store.close()


def harken(project: Path, *args: str) -> Any:
    return runner.invoke(app, ["--config", str(project / "config.yaml"), *args])


def run(project: Path, command: str, path: str | Path) -> Any:
    return harken(project, *COMMANDS[command][0](str(path)))


def failed_in_one_line(result: Any, *parts: str) -> str:
    """The command failed with one ``Error:`` line (no traceback) holding every part."""
    assert result.exit_code == 1, (result.output, result.exception)
    assert not isinstance(result.exception, OSError | AssertionError)
    line = str(result.stderr)
    assert line.startswith("Error: cannot write ") and line.count("\n") == 1, line
    for part in parts:
        assert part in line, line
    return line


def looks_like(data: bytes, command: str) -> bool:
    """``data`` starts as what ``command`` writes (case aside: ``<!DOCTYPE html>``)."""
    start = COMMANDS[command][1]
    return data[: len(start)].lower() == start.lower()


def listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


@pytest.fixture(params=list(COMMANDS))
def command(request: pytest.FixtureRequest) -> str:
    return str(request.param)


# -- symlinks --------------------------------------------------------------------------------


def test_a_symlink_to_a_file_is_refused_and_both_are_left_alone(
    project: Path, tmp_path: Path, command: str
) -> None:
    real = tmp_path / f"real{SUFFIX[command]}"
    real.write_text("keep me", encoding="utf-8")
    link = tmp_path / f"link{SUFFIX[command]}"
    link.symlink_to(real)
    result = run(project, command, link)
    failed_in_one_line(result, str(link), f"symbolic link to {real}")
    assert link.is_symlink() and os.readlink(link) == str(real)
    assert real.read_text(encoding="utf-8") == "keep me"
    assert listing(tmp_path) == sorted([real.name, link.name])  # no temporary file left


def test_a_dangling_symlink_is_refused(project: Path, tmp_path: Path, command: str) -> None:
    link = tmp_path / f"link{SUFFIX[command]}"
    link.symlink_to(tmp_path / "nowhere")
    failed_in_one_line(run(project, command, link), "symbolic link to")
    assert link.is_symlink() and listing(tmp_path) == [link.name]


def test_a_symlink_to_a_device_is_written_through(
    project: Path, tmp_path: Path, command: str
) -> None:
    """/dev/stdout, /dev/fd/N and bash's >(...) are links like this one."""
    link = tmp_path / "null"
    link.symlink_to("/dev/null")
    result = run(project, command, link)
    assert result.exit_code == 0, result.output
    assert link.is_symlink() and os.readlink(link) == "/dev/null"
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


# -- devices and FIFOs -----------------------------------------------------------------------


@pytest.fixture
def char_device(tmp_path: Path) -> Path:
    """A character device to write to. As root, a null device of the test's own (mknod), so a
    regression replaces that node and never the system's /dev/null; other users cannot
    replace /dev/null, so they get it."""
    if os.geteuid() != 0:
        return Path("/dev/null")
    node = tmp_path / "null"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return node


def test_a_character_device_stays_a_device(project: Path, char_device: Path, command: str) -> None:
    result = run(project, command, char_device)
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(char_device.lstat().st_mode)
    assert not [p for p in char_device.parent.iterdir() if ".part" in p.name]


@pytest.fixture
def fifo(tmp_path: Path) -> Iterator[tuple[Path, list[bytes]]]:
    """A FIFO with a reader thread collecting what is written to it."""
    path = tmp_path / "pipe"
    os.mkfifo(path)
    received: list[bytes] = []

    def read() -> None:
        with path.open("rb") as handle:  # blocks until a writer opens it
            received.append(handle.read())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    yield path, received
    if reader.is_alive() and stat.S_ISFIFO(path.lstat().st_mode):
        # Let the reader go. ENXIO: it left between the check and the open (nothing to do).
        with contextlib.suppress(OSError):
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
    reader.join(timeout=5)


def test_a_fifo_is_written_through(
    project: Path, fifo: tuple[Path, list[bytes]], command: str
) -> None:
    path, received = fifo
    result = run(project, command, path)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(path.lstat().st_mode)
    deadline = threading.Event()
    for _ in range(50):
        if received:
            break
        deadline.wait(0.1)
    assert received and looks_like(received[0], command)
    assert listing(path.parent) == ["pipe"]


def test_a_full_device_is_one_error_line(project: Path, tmp_path: Path, command: str) -> None:
    """/dev/full answers every write with ENOSPC, as a full disk does."""
    link = tmp_path / "full"
    link.symlink_to("/dev/full")
    failed_in_one_line(run(project, command, link), str(link), "No space left on device")
    assert stat.S_ISCHR(os.stat("/dev/full").st_mode) and link.is_symlink()


def test_binary_output_is_never_written_to_a_terminal(project: Path) -> None:
    leader, follower = pty.openpty()
    try:
        terminal = os.ttyname(follower)
        chart = harken(project, "report", "summary", *WINDOW, "--chart", terminal)
        failed_in_one_line(chart, terminal, "terminal")
        parquet = harken(project, "export", "mentions", *WINDOW, "-f", "parquet", "-o", terminal)
        failed_in_one_line(parquet, terminal, "terminal")
        # Text is fine on a terminal (one short row: nothing reads the terminal meanwhile).
        one = ["-f", "jsonl", "-n", "1", "-o", terminal]
        text = harken(project, "export", "mentions", *WINDOW, *one)
        assert text.exit_code == 0, text.output
        assert b'"text": "acme is down"' in os.read(leader, 1 << 16)
        assert stat.S_ISCHR(os.stat(terminal).st_mode)
    finally:
        os.close(follower)
        os.close(leader)


# -- stdout ----------------------------------------------------------------------------------


def test_dash_is_stdout_for_every_command(
    project: Path, tmp_path: Path, command: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = run(project, command, "-")
    assert result.exit_code == 0, result.output
    assert looks_like(result.stdout_bytes, command)
    assert listing(tmp_path) == []  # no file named "-"
    if command != "export":  # what the command shows moves to stderr, out of the file's way
        assert "Since the day before" in result.stderr or "platform" in result.stderr


def test_a_reader_that_stops_early_ends_the_command_quietly(project: Path) -> None:
    # `harken export ... | head -c 10`: the pipe closes under the writer.
    command = [sys.executable, "-m", "harken", "--config", str(project / "config.yaml")]
    writer = subprocess.Popen(
        [*command, "export", "mentions", *WINDOW, "-o", "-"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])},
    )
    assert writer.stdout is not None and writer.stderr is not None
    assert writer.stdout.read(10) == b"id,created"
    writer.stdout.close()
    assert writer.wait(timeout=120) == 1
    with writer.stderr:
        assert writer.stderr.read() == b""  # no error, no traceback


def test_binary_formats_go_to_stdout_when_it_is_not_a_terminal(project: Path) -> None:
    parquet = harken(project, "export", "mentions", *WINDOW, "-f", "parquet")
    assert parquet.exit_code == 0, parquet.output
    assert pq.read_table(io.BytesIO(parquet.stdout_bytes)).num_rows == 2
    xlsx = harken(project, "export", "mentions", *WINDOW, "-f", "xlsx", "-o", "-")
    assert xlsx.exit_code == 0, xlsx.output
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.stdout_bytes)).active
    assert sheet is not None and sheet.max_row == 3


# -- directories and unwritable places -------------------------------------------------------


def test_a_directory_is_refused(project: Path, tmp_path: Path, command: str) -> None:
    folder = tmp_path / f"folder{SUFFIX[command]}"
    folder.mkdir()
    failed_in_one_line(run(project, command, folder), str(folder), "is a directory")
    assert folder.is_dir() and listing(folder) == []


def test_a_missing_directory_is_one_error_line(project: Path, tmp_path: Path, command: str) -> None:
    path = tmp_path / "missing" / f"out{SUFFIX[command]}"
    failed_in_one_line(run(project, command, path), str(path), f"no directory {path.parent}")
    assert listing(tmp_path) == []


def test_a_file_used_as_a_directory_is_one_error_line(
    project: Path, tmp_path: Path, command: str
) -> None:
    (tmp_path / "somefile").write_text("x", encoding="utf-8")
    path = tmp_path / "somefile" / f"out{SUFFIX[command]}"
    failed_in_one_line(run(project, command, path), str(path), "Not a directory")
    assert listing(tmp_path) == ["somefile"]


def test_a_directory_even_root_cannot_write_is_one_error_line(project: Path, command: str) -> None:
    path = Path("/sys") / f"harken-test{SUFFIX[command]}"
    failed_in_one_line(run(project, command, path), str(path))
    assert not path.exists()


def test_a_write_failing_midway_leaves_the_earlier_file(
    project: Path, tmp_path: Path, command: str
) -> None:
    """A file-size limit makes the write fail partway (EFBIG, as ENOSPC does on a full disk);
    in a child process, so the limit binds nothing else."""
    out = tmp_path / f"out{SUFFIX[command]}"
    out.write_text("yesterday's file", encoding="utf-8")
    limited = (
        "import resource, runpy, sys; "
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.RLIM_INFINITY)); "
        "sys.argv[0] = 'harken'; runpy.run_module('harken', run_name='__main__')"
    )
    args = ["--config", str(project / "config.yaml"), *COMMANDS[command][0](str(out))]
    result = subprocess.run(
        [sys.executable, "-c", limited, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert result.stderr == f"Error: cannot write {out}: File too large\n"
    assert out.read_text(encoding="utf-8") == "yesterday's file"
    assert listing(tmp_path) == [out.name]


# -- a regular file is replaced whole, keeping its permissions -------------------------------


def test_a_regular_file_is_replaced_and_keeps_its_mode(
    project: Path, tmp_path: Path, command: str
) -> None:
    path = tmp_path / f"out{SUFFIX[command]}"
    path.write_text("old", encoding="utf-8")
    path.chmod(0o600)
    result = run(project, command, path)
    assert result.exit_code == 0, result.output
    assert looks_like(path.read_bytes(), command)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert listing(tmp_path) == [path.name]


# -- harken init -----------------------------------------------------------------------------


def test_init_refuses_a_symlinked_config_and_a_file_as_directory(tmp_path: Path) -> None:
    real = tmp_path / "elsewhere.yaml"
    real.write_text("mine", encoding="utf-8")
    folder = tmp_path / "new"
    folder.mkdir()
    (folder / "config.yaml").symlink_to(real)
    linked = runner.invoke(app, ["init", str(folder), "--force"])
    failed_in_one_line(linked, str(folder / "config.yaml"), "symbolic link")
    assert real.read_text(encoding="utf-8") == "mine" and not (folder / ".env").exists()
    (tmp_path / "afile").write_text("x", encoding="utf-8")
    as_folder = runner.invoke(app, ["init", str(tmp_path / "afile")])
    failed_in_one_line(as_folder, str(tmp_path / "afile"))
    fresh = runner.invoke(app, ["init", str(tmp_path / "fresh")])
    assert fresh.exit_code == 0, fresh.output
    assert stat.S_IMODE((tmp_path / "fresh" / ".env").stat().st_mode) == 0o600
