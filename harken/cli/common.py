"""What every command group shares: the consoles, the error-handling group class, the
state the root callback sets up, opening the store, durations and dates, the report scope
(window, brand, platforms), checking a department name, output formats, progress bars and the
one-line summary of a delivery run. Command modules import from here, never from each other.
"""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from harken.config import Config, load_config
from harken.errors import HarkenError
from harken.logs import redact, register_secrets
from harken.text import strip_controls, to_json

if TYPE_CHECKING:
    from harken.store import Store

out = Console(highlight=False, soft_wrap=True)


err = Console(stderr=True, highlight=False)


class HarkenGroup(typer.core.TyperGroup):
    """Turns library errors into one ``Error:`` line and a non-zero exit."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        # Bytes that are not UTF-8 reach Python as lone surrogates, which no database, file
        # or terminal takes: refuse them here, as a usage error, before any command runs.
        for arg in args:
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:
                raise typer.BadParameter(
                    f"'{escaped(arg)}' is not valid UTF-8 text (re-type it, or rename the file)"
                ) from None
        return super().parse_args(ctx, args)  # type: ignore[no-any-return]

    def invoke(self, ctx: typer.Context) -> Any:
        try:
            return super().invoke(ctx)
        except HarkenError as error:
            # Plain write: one line, never wrapped, never interpreted as markup.
            # Messages can carry what a server or a post said: no escape sequences get through.
            # Secrets the config resolved, and anything shaped like a credential, are masked.
            shown = redact(strip_controls(str(error)))
            sys.stderr.write(f"Error: {' '.join(shown.split())}\n")
            raise typer.Exit(1) from None
        except KeyboardInterrupt:
            err.print("Interrupted: finished batches are saved; run the command again to resume.")
            raise SystemExit(130) from None
        except BrokenPipeError:
            # The reader of our output stopped early (`harken export ... | head`): nothing to
            # say. Python would complain again when it flushes stdout at exit, so point stdout
            # at /dev/null first (the way the signal module's documentation shows).
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise SystemExit(1) from None


def from_signal_handler(work: Any) -> None:
    """Runs ``work`` (say, ``stop.set``) soon, on its own thread, for a signal handler. The
    handler runs in the main thread between two bytecodes, maybe while that thread holds a
    lock ``work`` needs: inside ``stop.wait()`` it holds the event's own lock, and
    ``stop.set()`` right there would wait for it forever (a stop signal that hangs the process)."""
    threading.Thread(target=work, name="harken-stop", daemon=True).start()


def escaped(arg: str) -> str:
    """An argument with its stray bytes as ``\\xff`` (or a lone surrogate as ``\\ud83d``)."""
    try:
        return arg.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
    except UnicodeEncodeError:
        return arg.encode("utf-8", "backslashreplace").decode("utf-8")


# The largest id and count a database column holds (BIGINT): a larger number given on the
# command line is refused by the parser instead of overflowing in the driver.
MAX_ID = 2**63 - 1


class Format(StrEnum):
    table = "table"
    json = "json"


class ReportFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


@dataclass
class State:
    config_path: Path | None = None
    database_url: str | None = None

    def config(self) -> Config:
        config = load_config(self.config_path, overrides={"database.url": self.database_url})
        register_secrets(config.secret_values)
        return config


def root_state(ctx: typer.Context) -> State:
    return ctx.find_root().obj  # type: ignore[no-any-return]


def progress_bars() -> Progress:
    return Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )


class StageProgress:
    """Feeds pipeline progress callbacks into rich progress bars, one bar per stage."""

    def __init__(self, progress: Progress, totals: dict[str, int | None]) -> None:
        self.progress = progress
        self.tasks = {
            stage: progress.add_task(stage, total=total) for stage, total in totals.items()
        }

    def __call__(self, stage: str, n: int) -> None:
        if stage not in self.tasks:
            self.tasks[stage] = self.progress.add_task(stage, total=None)
        self.progress.advance(self.tasks[stage], n)


def open_store(config: Config) -> Any:
    from harken.store import Store

    return Store(config.database.url)


class YesNo(StrEnum):
    yes = "yes"
    no = "no"


class SentimentChoice(StrEnum):
    negative = "negative"
    neutral = "neutral"
    positive = "positive"


def parse_since(value: str) -> datetime:
    from harken.reports.scope import parse_when

    try:
        return parse_when(value)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def print_json(data: Any) -> None:
    """JSON for other tools: indented, one document, on stdout (never through rich)."""
    sys.stdout.write(to_json(data, indent=2) + "\n")


def posts_count(n: int) -> str:
    return f"{n} post" if n == 1 else f"{n} posts"


def scope_of(
    config: Config, since: str, until: str | None, brand: str | None, platforms: list[str] | None
) -> Any:
    """The window, brand and platforms of a report or an export (``-p x,reddit`` splits)."""
    from harken.reports.scope import scope_for

    try:
        return scope_for(config, since, until, brand, platforms)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from None


def check_department(config: Config, department: str | None, store: Store | None = None) -> None:
    """Refuse a ``--department`` that is most likely a typo. A department of the config passes;
    given ``store``, so does one the store has queue items for (renamed or removed since:
    exports are for history too). No department given passes too."""
    if not department or department in {d.name for d in config.departments}:
        return
    if store is not None:
        from harken.store.repo import department_has_items

        with store.session() as session:
            if department_has_items(session, department):
                return
    config.known_department(department)  # refuses it, naming the known ones


def describe_pass(result: Any) -> str:
    """One line for a processing pass (process, listen, demo): what it classified, routed,
    found answered on the platform by the brand's own or staff accounts, and delivered."""
    route = result.route
    answered = f" · {route.responded} answered on the platform" if route.responded else ""
    return (
        f"classified {result.classified} · routed {route.mentions} into "
        f"{route.queue_items} queue items{answered} · " + describe_notify(result.notify)
    )


def describe_notify(result: Any) -> str:
    """One line for a delivery run (used by process, listen, demo, digest and the alert
    commands), ending with what is left undelivered and what it waits on (another sender's live
    claim, a retry...)."""
    from harken.notify.outbox import describe_waiting

    parts = [f"{result.sent} sent"]
    for name, label in (
        ("retry_later", "to retry"),
        ("held", "held by the noise budget"),
        ("failed", "failed"),
        ("skipped", "skipped"),
        ("recovered", "found delivered after an interruption"),
        ("resent", "re-sent after an interruption"),
    ):
        if getattr(result, name):
            parts.append(f"{getattr(result, name)} {label}")
    line = "alerts: " + ", ".join(parts)
    if result.waiting_until is not None:
        line += f" · rate limited until {result.waiting_until:%H:%M:%S} UTC"
    if result.waiting:
        line += " · " + describe_waiting(result.waiting)
    return line


def one_of(names: list[str]) -> str:
    """``a, b or c``: the choices of an option, for its help."""
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else "".join(names)
