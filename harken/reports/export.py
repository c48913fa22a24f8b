"""``harken export``: mentions, queue items and incidents as files a social team can open in a
spreadsheet (CSV, XLSX) or load into something else (JSON, JSON Lines, Parquet).

An export is sorted, filtered and shared by people, mostly in Excel, and compared with last
week's file. So:

* Each kind has fixed columns (``COLUMNS``) in a stable order, snake_case, the same names in
  every format; rows come ordered by id, so two exports of the same data diff cleanly (CSV,
  JSON and Parquet are byte-identical).
* The writers, one per format, are in ``export_writers``. The spreadsheet formats (CSV, XLSX)
  hold text written by strangers: a text cell that would
  start a formula (``=HYPERLINK(...)``, ``+1``, ``@SUM(A1)``) is neutralised with a leading
  ``'`` and control characters are stripped (``harken.text.for_csv``); numbers stay numbers.
  JSON and Parquet are data, not spreadsheets: text is kept exactly as posted.
* A store can hold millions of mentions: rows are read in chunks (``iter_frames``), the
  database joins authors and classifications, two queries per chunk gather the departments
  (the items a post opened, and where routing sent it: a post folded into its incident's open
  item has only the latter; never a query per row), and every writer streams what it is given.
* Where it goes follows the rule of every output (harken.reports.output): ``-`` is stdout, a
  device or FIFO is written through, a symlink to a file or a directory is refused, and a file
  appears under its name only once complete (a temporary file beside it is renamed at the
  end), so a crash, Ctrl-C or a full disk leaves the previous file (or none).
* XLSX cells hold at most 32,767 characters (Excel's limit): a longer text is cut, ending
  ``… [cut: N characters]``, and counted so the command can say so.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import pandas as pd
from sqlalchemy import Select, case, func, or_, select
from sqlalchemy.orm import aliased
from sqlmodel import col

from harken.errors import HarkenError
from harken.queue.items import WAITING
from harken.reports import scope as scopes
from harken.reports.export_writers import (
    CELL_CHARS,
    Block,
    Column,
    CsvWriter,
    JsonWriter,
    ParquetWriter,
    Writer,
    XlsxWriter,
)
from harken.reports.output import OutputTarget, open_output, output_target
from harken.reports.scope import Scope, iter_frames, raw
from harken.store import Store
from harken.store.json_text import json_text_holds
from harken.store.repo import OPEN_STATUSES
from harken.store.tables import Author, Classification, Incident, Mention, QueueItem

KINDS = ("mentions", "queue", "incidents")
FORMATS = ("csv", "json", "jsonl", "parquet", "xlsx")
BINARY = ("parquet", "xlsx")  # never written to a terminal
EXTENSIONS = {f".{name}": name for name in FORMATS}
NOUNS = {
    "mentions": ("mention", "mentions"),
    "queue": ("queue item", "queue items"),
    "incidents": ("incident", "incidents"),
}

IN_LIST_MAX = 900  # ids per IN (...) list; larger chunks are fetched by id range instead


def _columns(spec: str) -> tuple[Column, ...]:
    return tuple(Column(*item.split(":")) for item in spec.split())


COLUMNS: dict[str, tuple[Column, ...]] = {
    "mentions": _columns(
        "id:int created_at:time platform:text brand:text external_id:text url:text "
        "author:text author_name:text followers:int verified:bool language:text text:text "
        "likes:int reposts:int replies:int quotes:int sentiment:text complaint:float "
        "abuse:float risk:float risk_factors:list topics:list incident_id:int "
        "departments:list source:text flags:list"
    ),
    "queue": _columns(
        "id:int department:text status:text priority:text rule:text reason:text "
        "created_at:time due_at:time claimed_at:time responded_at:time closed_at:time "
        "assignee:text escalation_level:int mentions:int incident_id:int mention_id:int "
        "platform:text external_id:text url:text author:text text:text sentiment:text "
        "risk:float first_response_min:float resolution_min:float sla_met:bool overdue:bool"
    ),
    "incidents": _columns(
        "id:int brand:text status:text size:int first_seen:time last_seen:time top_risk:float "
        "top_mention_id:int platform:text author:text url:text text:text departments:list "
        "open_items:int items:int"
    ),
}


@dataclass(frozen=True)
class Filters:
    """What narrows an export beyond its scope; each kind reads the fields that apply to it
    (mentions: sentiment, min_risk, department, incident; queue: department, statuses,
    overdue; incidents: statuses, min_size)."""

    sentiment: str | None = None
    min_risk: float | None = None
    department: str | None = None
    incident: int | None = None
    statuses: tuple[str, ...] = ()
    overdue: bool = False
    min_size: int | None = None


@dataclass(frozen=True)
class Plan:
    """What one export reads: the query (ordered by id), its timestamp columns, and what each
    chunk gains from other tables or from arithmetic."""

    kind: str
    statement: Select[Any]
    dates: tuple[str, ...]
    now: datetime
    enrich: Callable[[Store, Block, datetime], None]

    @property
    def columns(self) -> tuple[Column, ...]:
        return COLUMNS[self.kind]


@dataclass(frozen=True)
class ExportResult:
    kind: str
    format: str
    rows: int
    path: Path | None  # None: written to stdout
    sheets: tuple[str, ...] = ()  # xlsx: the sheets written
    cut: int = 0  # xlsx: cells cut to Excel's limit

    def describe(self) -> str:
        one, many = NOUNS[self.kind]
        where = str(self.path) if self.path else "stdout"
        return f"Exported {self.rows} {one if self.rows == 1 else many} to {where} ({self.format})"

    def warning(self) -> str | None:
        """What the file lost, in one line (XLSX cells cut to Excel's limit), or None."""
        if not self.cut:
            return None
        cells = "1 cell was" if self.cut == 1 else f"{self.cut:,} cells were"
        return (
            f"warning: {cells} longer than Excel's {CELL_CHARS:,} characters and cut, "
            "ending '… [cut: N characters]' (CSV, JSON and Parquet keep the full text)"
        )


# -- choosing the format and the target ------------------------------------------------------


def choose_format(fmt: str | None, out: str | None) -> tuple[str, str | None]:
    """The format to write and, when worth saying, a note: an explicit ``--format`` wins; else
    the extension of ``--out`` when it is one of ours; else CSV."""
    suffix = Path(out).suffix.lower() if out and out != "-" else ""
    if fmt is not None:
        if fmt not in FORMATS:
            raise HarkenError(f"unknown format {fmt!r}", hint=f"one of {', '.join(FORMATS)}")
        inferred = EXTENSIONS.get(suffix)
        if inferred and inferred != fmt:
            return fmt, f"note: writing {fmt} to {out} (--format wins over the extension)"
        return fmt, None
    if suffix in EXTENSIONS:
        return EXTENSIONS[suffix], None
    if suffix:
        known = " ".join(EXTENSIONS)
        return "csv", f"note: writing csv to {out} ({suffix} is not one of {known}; see --format)"
    return "csv", None


def check_target(fmt: str, out: str | Path | None) -> OutputTarget:
    """Where the export goes (None or ``-``: stdout), checked before anything is read: see
    harken.reports.output for what is written through, replaced whole or refused."""
    return output_target("-" if out is None else out, binary=fmt in BINARY)


# -- what to read ----------------------------------------------------------------------------


def plan(
    kind: str,
    scope: Scope,
    filters: Filters | None = None,
    limit: int | None = None,
    now: datetime | None = None,
) -> Plan:
    """The export of ``kind`` for ``scope``. Every kind is about the scope's mentions (posted
    in the window, of the brand and platforms): queue items of those posts, incidents with at
    least one of them, so the three files of one window line up."""
    filters = filters or Filters()
    now = now or datetime.now(UTC)
    if kind == "mentions":
        statement, dates, enrich = _mentions(scope, filters)
    elif kind == "queue":
        statement, dates, enrich = _queue(scope, filters, now)
    elif kind == "incidents":
        statement, dates, enrich = _incidents(scope, filters)
    else:
        raise HarkenError(f"unknown export {kind!r}", hint=f"one of {', '.join(KINDS)}")
    if limit is not None:
        statement = statement.limit(limit)
    return Plan(kind, statement, dates, now, enrich)


def _mentions(scope: Scope, f: Filters) -> tuple[Select[Any], tuple[str, ...], Any]:
    statement = (
        select(
            raw(Mention.id, "id"),
            raw(Mention.created_at, "created_at"),
            raw(Mention.platform, "platform"),
            raw(Mention.brand, "brand"),
            raw(Mention.external_id, "external_id"),
            raw(Mention.url, "url"),
            raw(Author.handle, "author"),
            raw(Author.name, "author_name"),
            raw(Author.followers, "followers"),
            raw(Author.verified, "verified"),
            raw(func.coalesce(Classification.language, Mention.language), "language"),
            raw(Mention.text, "text"),
            raw(Mention.likes, "likes"),
            raw(Mention.reposts, "reposts"),
            raw(Mention.replies, "replies"),
            raw(Mention.quotes, "quotes"),
            raw(Classification.sentiment, "sentiment"),
            raw(Classification.complaint, "complaint"),
            raw(Classification.abuse, "abuse"),
            raw(Classification.risk, "risk"),
            raw(Classification.risk_factors, "risk_factors"),
            raw(Classification.topics, "topics"),
            raw(Mention.incident_id, "incident_id"),
            raw(Mention.source, "source"),
            raw(Mention.flags, "flags"),
        )
        .select_from(Mention)
        .join(Author, col(Author.id) == col(Mention.author_id))
        .outerjoin(Classification, col(Classification.mention_id) == col(Mention.id))
        .where(*scope.mention_filters())
        .order_by(col(Mention.id))
    )
    if f.sentiment:
        statement = statement.where(col(Classification.sentiment) == f.sentiment)
    if f.min_risk is not None:
        statement = statement.where(col(Classification.risk) >= f.min_risk)
    if f.department:
        opened = select(col(QueueItem.mention_id)).where(col(QueueItem.department) == f.department)
        statement = statement.where(
            or_(
                col(Mention.id).in_(opened),
                json_text_holds(col(Mention.routing), "department", f.department),
            )
        )
    if f.incident is not None:
        statement = statement.where(col(Mention.incident_id) == f.incident)

    def enrich(store: Store, block: Block, now: datetime) -> None:
        departments = _departments(store, col(QueueItem.mention_id), block["id"])
        for mention_id, routing in _routing(store, block["id"]).items():
            sent = {d["department"] for d in routing if isinstance(d, dict) and d.get("department")}
            departments.setdefault(mention_id, set()).update(sent)
        block["departments"] = [sorted(departments.get(i, {})) for i in block["id"]]

    return statement, ("created_at",), enrich


def _queue(scope: Scope, f: Filters, now: datetime) -> tuple[Select[Any], tuple[str, ...], Any]:
    statement = (
        select(
            raw(QueueItem.id, "id"),
            raw(QueueItem.department, "department"),
            raw(QueueItem.status, "status"),
            raw(QueueItem.priority, "priority"),
            raw(QueueItem.rule, "rule"),
            raw(QueueItem.reason, "reason"),
            raw(QueueItem.created_at, "created_at"),
            raw(QueueItem.due_at, "due_at"),
            raw(QueueItem.claimed_at, "claimed_at"),
            raw(QueueItem.responded_at, "responded_at"),
            raw(QueueItem.closed_at, "closed_at"),
            raw(QueueItem.assignee, "assignee"),
            raw(QueueItem.escalation_level, "escalation_level"),
            raw(QueueItem.mentions, "mentions"),
            raw(QueueItem.incident_id, "incident_id"),
            raw(QueueItem.mention_id, "mention_id"),
            raw(Mention.platform, "platform"),
            raw(Mention.external_id, "external_id"),
            raw(Mention.url, "url"),
            raw(Author.handle, "author"),
            raw(Mention.text, "text"),
            raw(Classification.sentiment, "sentiment"),
            raw(Classification.risk, "risk"),
        )
        .select_from(QueueItem)
        .join(Mention, col(Mention.id) == col(QueueItem.mention_id))
        .join(Author, col(Author.id) == col(Mention.author_id))
        .outerjoin(Classification, col(Classification.mention_id) == col(Mention.id))
        .where(*scope.mention_filters())
        .order_by(col(QueueItem.id))
    )
    if f.department:
        statement = statement.where(col(QueueItem.department) == f.department)
    if f.statuses:
        statement = statement.where(col(QueueItem.status).in_(f.statuses))
    if f.overdue:
        statement = statement.where(col(QueueItem.status).in_(WAITING), col(QueueItem.due_at) < now)
    dates = ("created_at", "due_at", "claimed_at", "responded_at", "closed_at")
    return statement, dates, _queue_times


def _queue_times(store: Store, block: Block, now: datetime) -> None:
    """Minutes to first response and to closing, whether the SLA was met, whether overdue."""
    first, resolution, met, overdue = [], [], [], []
    for created, due, responded, closed, status in zip(
        block["created_at"],
        block["due_at"],
        block["responded_at"],
        block["closed_at"],
        block["status"],
        strict=True,
    ):
        first.append(_minutes(created, responded))
        resolution.append(_minutes(created, closed))
        touched = [t for t in (responded, closed) if t is not None]
        if touched:
            met.append(min(touched) <= due)
        else:
            met.append(False if due <= now else None)
        overdue.append(status in WAITING and due < now)
    block["first_response_min"] = first
    block["resolution_min"] = resolution
    block["sla_met"] = met
    block["overdue"] = overdue


def _minutes(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return round((end - start).total_seconds() / 60, 1)


def _incidents(scope: Scope, f: Filters) -> tuple[Select[Any], tuple[str, ...], Any]:
    top, top_author = aliased(Mention), aliased(Author)
    members = select(col(Mention.incident_id)).where(
        *scope.mention_filters(), col(Mention.incident_id).is_not(None)
    )
    statement = (
        select(
            raw(Incident.id, "id"),
            raw(Incident.brand, "brand"),
            raw(Incident.status, "status"),
            raw(Incident.size, "size"),
            raw(Incident.first_seen, "first_seen"),
            raw(Incident.last_seen, "last_seen"),
            raw(Incident.top_risk, "top_risk"),
            raw(Incident.top_mention_id, "top_mention_id"),
            raw(top.platform, "platform"),
            raw(top_author.handle, "author"),
            raw(top.url, "url"),
            raw(top.text, "text"),
        )
        .select_from(Incident)
        .outerjoin(top, col(top.id) == col(Incident.top_mention_id))
        .outerjoin(top_author, col(top_author.id) == col(top.author_id))
        .where(col(Incident.id).in_(members))
        .order_by(col(Incident.id))
    )
    if f.statuses:
        statement = statement.where(col(Incident.status).in_(f.statuses))
    if f.min_size is not None:
        statement = statement.where(col(Incident.size) >= f.min_size)

    def enrich(store: Store, block: Block, now: datetime) -> None:
        counts = _item_counts(store, block["id"])
        block["departments"] = [sorted(counts.get(i, {})) for i in block["id"]]
        block["items"] = [sum(n for n, _ in counts.get(i, {}).values()) for i in block["id"]]
        block["open_items"] = [sum(o for _, o in counts.get(i, {}).values()) for i in block["id"]]

    return statement, ("first_seen", "last_seen"), enrich


def _key_filter(key: Any, ids: Sequence[int]) -> Any:
    """``key IN (ids)`` for a few ids, else the id range (ids come sorted: the rows are ordered
    by id), which stays one indexed range scan however large the chunk."""
    if len(ids) <= IN_LIST_MAX:
        return key.in_(list(ids))
    return key.between(ids[0], ids[-1])


def _departments(store: Store, key: Any, ids: Sequence[int]) -> dict[int, set[str]]:
    """The departments with a queue item for each id of ``key`` (one grouped query)."""
    if not ids:
        return {}
    wanted = set(ids)
    statement = (
        select(raw(key, "key"), raw(QueueItem.department, "department"))
        .where(_key_filter(key, ids))
        .group_by(key, col(QueueItem.department))
    )
    found: dict[int, set[str]] = {}
    with store.session() as session:
        for owner, department in session.execute(statement):
            if owner in wanted:
                found.setdefault(owner, set()).add(department)
    return found


def _routing(store: Store, ids: Sequence[int]) -> dict[int, list[Any]]:
    """What routing decided for each mention (``mentions.routing``): a post folded into its
    incident's open item has no item of its own, only this."""
    if not ids:
        return {}
    wanted = set(ids)
    statement = select(col(Mention.id), col(Mention.routing)).where(
        _key_filter(col(Mention.id), ids)
    )
    with store.session() as session:
        return {i: r or [] for i, r in session.execute(statement) if i in wanted}


def _item_counts(store: Store, ids: Sequence[int]) -> dict[int, dict[str, tuple[int, int]]]:
    """Per incident and department: (items, open items), from one grouped query."""
    if not ids:
        return {}
    wanted = set(ids)
    key = col(QueueItem.incident_id)
    is_open = case((col(QueueItem.status).in_(OPEN_STATUSES), 1), else_=0)
    statement = (
        select(
            raw(key, "key"),
            raw(QueueItem.department, "department"),
            raw(func.count(), "items"),
            raw(func.sum(is_open), "open_items"),
        )
        .where(_key_filter(key, ids))
        .group_by(key, col(QueueItem.department))
    )
    found: dict[int, dict[str, tuple[int, int]]] = {}
    with store.session() as session:
        for owner, department, items, open_items in session.execute(statement):
            if owner in wanted:
                found.setdefault(owner, {})[department] = (int(items), int(open_items or 0))
    return found


# -- reading ---------------------------------------------------------------------------------


def count(store: Store, job: Plan) -> int:
    """How many rows the export will have (for the progress bar)."""
    counted = select(func.count()).select_from(job.statement.order_by(None).subquery())
    with store.session() as session:
        return int(session.execute(counted).scalar_one())


def blocks(store: Store, job: Plan, chunk: int | None = None) -> Iterator[Block]:
    """The export's rows, ``chunk`` at a time (default ``scope.CHUNK_ROWS``), every column
    present and typed: int, float, bool, str, list, aware UTC ``pd.Timestamp``, or None."""
    size = chunk or scopes.CHUNK_ROWS
    # Without yield_per the ORM fetches every row before handing back the first.
    statement = job.statement.execution_options(yield_per=size)
    types = {c.name: c.type for c in job.columns}
    for frame in iter_frames(store, statement, job.dates, chunk=size):
        if not len(frame):
            continue
        block = {str(name): _values(frame[name], types[str(name)]) for name in frame.columns}
        del frame  # a chunk in memory once, not twice, while it is written
        job.enrich(store, block, job.now)
        yield block


def _values(series: pd.Series, kind: str) -> list[Any]:
    if kind == "time":
        return [None if v is pd.NaT else v for v in series.astype(object).tolist()]
    values = series.tolist()
    if kind == "int":
        return [None if _missing(v) else int(v) for v in values]
    if kind == "float":
        return [None if _missing(v) else float(v) for v in values]
    if kind == "bool":
        return [None if _missing(v) else bool(v) for v in values]
    if kind == "list":
        return [_list(v) for v in values]
    return [None if _missing(v) else str(v) for v in values]


def _missing(value: Any) -> bool:
    return value is None or value is pd.NA or (isinstance(value, float) and value != value)


def _list(value: Any) -> list[str] | None:
    """A JSON list column: SQLite hands back its text, PostgreSQL the parsed list."""
    if _missing(value):
        return None
    if isinstance(value, str | bytes):
        value = json.loads(value)
    return None if value is None else [str(v) for v in value]


# -- writing ---------------------------------------------------------------------------------


def export(
    store: Store,
    job: Plan,
    fmt: str,
    out: str | Path | OutputTarget | None = None,
    on_rows: Callable[[int], None] | None = None,
    on_sheet: Callable[[str], None] | None = None,
    chunk: int | None = None,
) -> ExportResult:
    """Write the export as ``fmt`` to ``out`` (None or ``-``: stdout; a file appears complete
    or not at all)."""
    target = out if isinstance(out, OutputTarget) else check_target(fmt, out)
    sheets: list[str] = []

    def sheet(name: str) -> None:
        sheets.append(name)
        if on_sheet and len(sheets) > 1:
            on_sheet(name)

    rows = 0
    with open_output(target, binary=fmt in BINARY) as handle:
        writer = _writer(fmt, handle, job.columns, job.kind, sheet)
        try:
            for block in blocks(store, job, chunk):
                writer.write(block)
                n = len(block["id"])
                del block  # before the next chunk is read, not after
                rows += n
                if on_rows:
                    on_rows(n)
        except BaseException:
            writer.abort()
            raise
        writer.close()
    cut = writer.cut if isinstance(writer, XlsxWriter) else 0
    return ExportResult(job.kind, fmt, rows, target.path, tuple(sheets), cut)


def _writer(
    fmt: str, handle: IO[Any], columns: tuple[Column, ...], kind: str, sheet: Any
) -> Writer:
    if fmt == "csv":
        return CsvWriter(handle, columns)
    if fmt in ("json", "jsonl"):
        return JsonWriter(handle, columns, lines=fmt == "jsonl")
    if fmt == "parquet":
        return ParquetWriter(handle, columns)
    if fmt == "xlsx":
        return XlsxWriter(handle, columns, kind, sheet)
    raise HarkenError(f"unknown format {fmt!r}", hint=f"one of {', '.join(FORMATS)}")
