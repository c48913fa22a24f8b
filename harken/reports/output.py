"""Where a command's output goes: one rule for every path a user names (``export -o``,
``report --chart``, ``digest --out``, ``init DIR``, ``digest.out_dir``, the demo's files).

* ``-``: stdout.
* A new path or a regular file: written to a hidden temporary file beside it, synced, and
  renamed over it once complete, so a crash, Ctrl-C or a full disk leaves the earlier file (or
  none) under the name, never half a file. A replaced file keeps its permissions.
* A character device or a FIFO (``/dev/null``, a terminal, ``mkfifo``): written through as a
  stream, no temporary file; it stays what it was. Never opened with ``O_CREAT``, so a device
  that vanished is not replaced by a file either.
* A symbolic link: written through when it leads to a character device or a FIFO
  (``/dev/stdout``, ``/dev/fd/N``, bash's ``>(...)``), otherwise refused, saying where it
  points. Renaming over it would replace the link; writing into the file it names would not be
  atomic; and a link planted in a shared directory could aim a command run as root at any
  file. Only the last part of the path counts: directories on the way may be links.
* A directory, a block device, a socket: refused.
* Binary output (Parquet, XLSX, PNG) is never written to a terminal.

Each refusal or failure is a ``HarkenError`` "cannot write PATH: reason", raised before any
work when the path is checked (``output_target``) and again if it changed by the time it is
opened (``open_output``).
"""

from __future__ import annotations

import os
import secrets
import stat
import sys
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from harken.errors import HarkenError

STDOUT = "-"
_STREAMS = (stat.S_ISCHR, stat.S_ISFIFO)


@dataclass(frozen=True)
class OutputTarget:
    """A checked place to write: ``path`` None is stdout; ``stream`` means written through
    (stdout, a character device, a FIFO), else a file written whole or not at all."""

    path: Path | None
    stream: bool

    @property
    def stdout(self) -> bool:
        return self.path is None

    def __str__(self) -> str:
        return "stdout" if self.path is None else str(self.path)


def cannot(where: object, reason: str | OSError, hint: str | None = None) -> HarkenError:
    if isinstance(reason, OSError):
        reason = reason.strerror or str(reason)
    return HarkenError(f"cannot write {where}: {reason}", hint=hint)


def output_target(name: str | Path, binary: bool = False) -> OutputTarget:
    """Check where ``name`` leads (see the module's rule), before any work is done."""
    if str(name) == STDOUT:
        if binary and sys.stdout.isatty():
            raise _terminal("stdout")
        return OutputTarget(None, stream=True)
    path = Path(name)
    if "\0" in str(path):  # no file name holds one (only an in-process caller can pass it)
        raise cannot(repr(str(path)), "a file name cannot contain a NUL character")
    return OutputTarget(path, stream=_is_stream(path))


def _is_stream(path: Path) -> bool:
    """True for what is written through, False for a file to write whole; else refused."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        _check_directory(path)
        return False
    except OSError as error:  # ENOTDIR: a file on the way; EACCES, ELOOP...
        raise cannot(path, error) from None
    if stat.S_ISLNK(mode):
        return _link_to_stream(path)
    if stat.S_ISREG(mode):
        return False
    if any(test(mode) for test in _STREAMS):
        return True
    what = "a directory" if stat.S_ISDIR(mode) else "not a file, a device or a FIFO"
    raise cannot(path, f"it is {what}", "give a file name" if stat.S_ISDIR(mode) else None)


def _link_to_stream(path: Path) -> bool:
    with suppress(OSError):  # dangling or looping: refused below like any other link
        if any(test(path.stat().st_mode) for test in _STREAMS):
            return True
    raise cannot(
        path,
        f"it is a symbolic link to {os.readlink(path)}",
        "links are followed only to devices and FIFOs: name the file itself, or - for stdout",
    )


def _check_directory(path: Path) -> None:
    parent = path.parent
    if not parent.is_dir():
        raise cannot(path, f"no directory {parent}")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise cannot(path, f"permission denied in {parent}")


def _terminal(where: object) -> HarkenError:
    return cannot(where, "it is a terminal and this output is binary", "redirect it to a file")


# -- writing ---------------------------------------------------------------------------------


@contextmanager
def open_output(
    target: OutputTarget, binary: bool = False, mode: int | None = None
) -> Iterator[IO[Any]]:
    """A handle to write ``target`` (text: UTF-8, no newline translation). The file appears
    only when the block ends without an exception. ``mode``: the new file's permissions
    (default: as any new file, or the replaced file's)."""
    if target.path is None:
        opened = _stdout(binary)
    elif target.stream:
        opened = _stream(target.path, binary)
    else:
        opened = _atomic(target.path, binary, mode)
    with opened as handle:
        yield handle


def write_output(target: OutputTarget, data: str | bytes, mode: int | None = None) -> None:
    """All of ``data`` to ``target``, by the same rule."""
    with open_output(target, binary=isinstance(data, bytes), mode=mode) as handle:
        handle.write(data)


@contextmanager
def _stdout(binary: bool) -> Iterator[IO[Any]]:
    sys.stdout.flush()
    if binary and sys.stdout.isatty():
        raise _terminal("stdout")
    handle: IO[Any] = sys.stdout.buffer if binary else sys.stdout
    try:
        yield handle
        handle.flush()
    except BrokenPipeError:
        raise  # the reader stopped early (`| head`): the CLI ends quietly
    except OSError as error:
        raise cannot("stdout", error) from None


@contextmanager
def _stream(path: Path, binary: bool) -> Iterator[IO[Any]]:
    try:
        # Blocks until a FIFO has a reader, as the shell's ">" does.
        fd = os.open(path, os.O_WRONLY | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as error:
        raise cannot(path, error) from None
    try:
        if not any(test(os.fstat(fd).st_mode) for test in _STREAMS):
            raise cannot(path, "it changed since it was checked")  # never write a file here
        if binary and os.isatty(fd):
            raise _terminal(path)
        with _handle(fd, binary) as handle:
            yield handle
    except OSError as error:
        raise cannot(path, error) from None
    finally:
        _close(fd)


@contextmanager
def _atomic(path: Path, binary: bool, mode: int | None) -> Iterator[IO[Any]]:
    # Beside the target (same file system: the rename is atomic), hidden, and never a name
    # someone else holds (O_EXCL).
    temp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.part{path.suffix}")
    try:
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o666)
    except OSError as error:
        raise cannot(path, error) from None
    try:
        _set_mode(fd, path, mode)
        with _handle(fd, binary) as handle:
            yield handle
            handle.flush()
            os.fsync(fd)  # on disk before it takes the name
        if _is_stream(path):  # a device or FIFO appeared there meanwhile: never replace it
            raise cannot(path, "it changed since it was checked")
        os.replace(temp, path)
    except OSError as error:
        temp.unlink(missing_ok=True)
        raise cannot(path, error) from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    finally:
        _close(fd)


def _set_mode(fd: int, path: Path, mode: int | None) -> None:
    if mode is None:
        try:
            mode = stat.S_IMODE(path.stat().st_mode)
        except FileNotFoundError:
            return  # a new file: the usual permissions (0666 less the umask)
    os.fchmod(fd, mode)


@contextmanager
def _handle(fd: int, binary: bool) -> Iterator[IO[Any]]:
    """A file object over ``fd`` that leaves closing ``fd`` to the caller."""
    if binary:
        handle: IO[Any] = open(fd, "wb", closefd=False)  # noqa: SIM115
    else:
        handle = open(fd, "w", encoding="utf-8", newline="", closefd=False)  # noqa: SIM115
    with handle:
        yield handle


def _close(fd: int) -> None:
    with suppress(OSError):  # an error here was already reported by the write or the flush
        os.close(fd)
