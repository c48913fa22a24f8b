"""``harken export``: every format round-trips known rows of a small store, filters pick the
right rows, stranger-written text cannot become a spreadsheet formula (CSV, XLSX) yet stays
verbatim in JSON, chunked and one-chunk output are identical, XLSX continues on a new sheet
past the row limit, a failed export leaves no file, and two runs write the same bytes."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import openpyxl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from harken.cli import app
from harken.reports import export as exports
from harken.reports import export_writers as writers
from harken.reports import scope as scopes
from harken.reports.scope import Scope
from harken.store import Store
from harken.store.tables import Author, Classification, Incident, Mention, QueueItem

T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
H = timedelta(hours=1)
M = timedelta(minutes=1)
WINDOW = ["--since", "2026-11-01", "--until", "2026-12-31"]

# Each one a formula, a DDE/command start or a terminal trick if it reached a spreadsheet or a
# terminal as it is.
HOSTILE = [
    '=HYPERLINK("http://evil","x")',
    "+1",
    "-2+3",
    "@SUM(A1)",
    "\t=1",
    "\r=1",
    "[bold]x[/bold]",
    "\x1b[31mred",
]
# What a spreadsheet cell holds for each: a leading ' for a formula start, no control chars.
NEUTRAL = [
    '\'=HYPERLINK("http://evil","x")',
    "'+1",
    "'-2+3",
    "'@SUM(A1)",
    "'\t=1",
    "'=1",
    "[bold]x[/bold]",
    "red",
]
JA = "Acme charged me twice 💸 二重請求されました"

runner = CliRunner()


class Builder:
    def __init__(self, session: Session) -> None:
        self.session = session
        self.n = 0

    def add(self, row: Any) -> Any:
        self.session.add(row)
        self.session.flush()
        return row

    def author(self, handle: str, **fields: Any) -> Author:
        return self.add(Author(platform="x", external_id=handle, handle=handle, **fields))

    def post(self, author: Author, at: datetime, text: str, **fields: Any) -> Mention:
        self.n += 1
        fields.setdefault("platform", "x")
        fields.setdefault("brand", "Acme")
        return self.add(
            Mention(
                external_id=f"19000000000000000{self.n:02d}",
                text=text,
                created_at=at,
                author_id=author.id,  # type: ignore[arg-type]
                **fields,
            )
        )

    def classify(self, mention: Mention, sentiment: str, risk: float, **fields: Any) -> None:
        fields.setdefault("complaint", 0.5)
        fields.setdefault("abuse", 0.0)
        self.add(
            Classification(
                mention_id=mention.id,  # type: ignore[arg-type]
                model="test",
                sentiment=sentiment,
                risk=risk,
                language="en",
                **fields,
            )
        )

    def item(self, mention: Mention, department: str, due: timedelta, **fields: Any) -> None:
        fields.setdefault("created_at", mention.created_at)
        self.add(
            QueueItem(
                mention_id=mention.id,  # type: ignore[arg-type]
                incident_id=mention.incident_id,
                department=department,
                reason=f"rule for {department}",
                due_at=fields["created_at"] + due,
                **fields,
            )
        )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory, module_db_url: str) -> Path:
    """A store with known rows and a config pointing at it, on each backend; the tests only
    read it."""
    root = tmp_path_factory.mktemp("export")
    store = Store(module_db_url)
    with store.session() as s:
        b = Builder(s)
        alice = b.author("alice", name="Alice A", followers=1200, verified=True)
        evil = b.author("@SUM(A1)", name="=cmd|' /C calc'!A0")
        big = b.add(Incident(brand="Acme", key="k1", first_seen=T0, last_seen=T0 + H, size=3))
        done = b.add(
            Incident(brand="Acme", key="k2", first_seen=T0, last_seen=T0, size=1, status="closed")
        )
        # 1: the top post of a 3-post incident, in two queues (support answered in time).
        m1 = b.post(
            alice, T0, JA, url="https://x.com/alice/1", likes=10, reposts=-2, incident_id=big.id
        )
        b.classify(
            m1,
            "negative",
            0.9,
            complaint=0.93,
            abuse=0.05,
            risk_factors=["complaint 0.93", "author reach 1,200 followers"],
            topics=["billing", "outage"],
        )
        big.top_mention_id, big.top_risk = m1.id, 0.9
        b.item(m1, "support", H, status="responded", responded_at=T0 + 30 * M, assignee="aiko")
        b.item(m1, "pr", 30 * M)  # never answered: overdue
        # 2: same incident, engineering closed it after its due time; it also folded into
        # support's open item, so it has no support item of its own.
        m2 = b.post(evil, T0 + H, "the app is down", platform="reddit", incident_id=big.id)
        m2.routing = [
            {"department": "engineering", "priority": "high", "rule": "outages", "reason": "r"},
            {"department": "support", "priority": "normal", "rule": None, "joined": True,
             "reason": "joined item #1 of its incident"},
        ]  # fmt: skip
        b.classify(m2, "neutral", 0.2)
        b.item(m2, "engineering", H, status="resolved", closed_at=T0 + 3 * H)
        # 3-10: hostile texts on bluesky, unclassified.
        for i, text in enumerate(HOSTILE):
            b.post(evil, T0 + (2 + i) * M, text, platform="bluesky")
        # 11: another brand, still waiting, not due for years.
        m11 = b.post(alice, T0 + 2 * H, "Globex is great", brand="Globex", incident_id=done.id)
        b.classify(m11, "positive", 0.05)
        done.top_mention_id = m11.id
        b.item(m11, "support", timedelta(days=365 * 70))
        # 12: outside the window.
        b.post(alice, T0 - timedelta(days=60), "old news")
        s.add_all([big, done])
    store.close()
    (root / "config.yaml").write_text(
        f"database: {{url: '{module_db_url}'}}\n"
        "brands:\n  - {name: Acme, keywords: [acme]}\n  - {name: Globex, keywords: [globex]}\n"
        "departments:\n  - {name: support, sla: 1h}\n  - {name: pr, sla: 30m}\n"
        "  - {name: engineering, sla: 1h}\n",
        encoding="utf-8",
    )
    return root


def invoke(project: Path, *args: str) -> Any:
    return runner.invoke(app, ["--config", str(project / "config.yaml"), "export", *args])


def ok(project: Path, *args: str) -> Any:
    result = invoke(project, *args)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def names(kind: str) -> list[str]:
    return [c.name for c in exports.COLUMNS[kind]]


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def json_rows(project: Path, kind: str, *args: str) -> list[dict[str, Any]]:
    return json.loads(ok(project, kind, *WINDOW, "-f", "json", *args).stdout)  # type: ignore[no-any-return]


# -- formats ---------------------------------------------------------------------------------


def test_csv_round_trip(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.csv"
    result = ok(project, "mentions", *WINDOW, "-o", str(out))
    assert result.stderr.strip() == f"Exported 11 mentions to {out} (csv)"
    data = out.read_bytes()
    assert not data.startswith(b"\xef\xbb\xbf") and b"\r" not in data  # no BOM, \n line ends
    rows = read_csv(out)
    assert list(rows[0]) == names("mentions")
    assert [int(r["id"]) for r in rows] == list(range(1, 12))  # ordered by id; 12 is too old
    first = rows[0]
    assert first["created_at"] == "2026-11-30T12:00:00+00:00"
    assert first["text"] == JA
    assert first["external_id"] == "1900000000000000001"
    assert (first["author"], first["author_name"]) == ("alice", "Alice A")
    assert first["followers"] == "1200"
    assert (first["verified"], first["reposts"], first["replies"]) == ("true", "-2", "")
    assert first["risk_factors"] == "complaint 0.93;author reach 1,200 followers"
    assert (first["topics"], first["departments"]) == ("billing;outage", "pr;support")
    assert (first["sentiment"], first["risk"], first["incident_id"]) == ("negative", "0.9", "1")
    assert rows[1]["author"] == "'@SUM(A1)" and rows[1]["author_name"].startswith("'=cmd")
    assert rows[2]["sentiment"] == rows[2]["risk"] == rows[2]["departments"] == ""


def test_json_and_jsonl_round_trip(project: Path) -> None:
    rows = json_rows(project, "mentions")
    assert [r["id"] for r in rows] == list(range(1, 12))
    first = rows[0]
    assert list(first) == names("mentions")
    assert first["created_at"] == "2026-11-30T12:00:00+00:00"
    assert (first["reposts"], first["replies"], first["verified"]) == (-2, None, True)
    assert first["departments"] == ["pr", "support"]
    assert rows[1]["departments"] == ["engineering", "support"]  # opened one, folded into one
    assert first["topics"] == ["billing", "outage"]
    assert rows[2]["risk_factors"] is None and rows[2]["departments"] == []
    lines = ok(project, "mentions", *WINDOW, "-f", "jsonl").stdout.splitlines()
    assert [json.loads(line) for line in lines] == rows


def test_parquet_round_trip(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.parquet"
    ok(project, "mentions", *WINDOW, "-o", str(out))
    table = pq.read_table(out)
    assert table.column_names == names("mentions")
    assert table.schema.field("created_at").type == pa.timestamp("us", tz="UTC")
    assert table.schema.field("departments").type == pa.list_(pa.string())
    assert table.schema.field("followers").type == pa.int64()
    rows = table.to_pylist()
    assert rows == [
        {**r, "created_at": datetime.fromisoformat(r["created_at"])}
        for r in json_rows(project, "mentions")
    ]
    assert rows[0]["created_at"] == T0 and rows[0]["reposts"] == -2


def test_xlsx_round_trip_with_typed_cells(project: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.xlsx"
    ok(project, "mentions", *WINDOW, "-o", str(out))
    sheet = openpyxl.load_workbook(out).active
    assert sheet is not None and sheet.title == "mentions"
    rows = list(sheet.iter_rows())
    assert [c.value for c in rows[0]] == names("mentions")
    assert len(rows) == 12
    first = dict(zip(names("mentions"), rows[1], strict=True))
    assert first["created_at"].value == T0.replace(tzinfo=None)  # UTC, as Excel has no zones
    assert first["created_at"].data_type == "d"
    assert (first["reposts"].value, first["reposts"].data_type) == (-2, "n")
    assert (first["followers"].value, first["verified"].value) == (1200, True)
    assert (first["risk"].value, first["text"].value) == (0.9, JA)
    assert first["departments"].value == "pr;support"
    assert first["external_id"].data_type == "s"  # a long id stays text, never 1.9E+18
    assert first["replies"].value is None


# -- formula injection -----------------------------------------------------------------------


def test_hostile_text_is_neutralised_in_csv_and_xlsx_and_verbatim_in_json(
    project: Path, tmp_path: Path
) -> None:
    ok(project, "mentions", *WINDOW, "-p", "bluesky", "-o", str(tmp_path / "h.csv"))
    ok(project, "mentions", *WINDOW, "-p", "bluesky", "-o", str(tmp_path / "h.xlsx"))
    assert [r["text"] for r in read_csv(tmp_path / "h.csv")] == NEUTRAL
    sheet = openpyxl.load_workbook(tmp_path / "h.xlsx").active
    assert sheet is not None
    column = names("mentions").index("text") + 1
    cells = [row[0] for row in sheet.iter_rows(min_row=2, min_col=column, max_col=column)]
    assert [c.value for c in cells] == NEUTRAL
    assert {c.data_type for c in cells} == {"s"}  # never "f"
    for row in sheet.iter_rows():
        assert all(c.data_type != "f" for c in row)
    rows = json_rows(project, "mentions", "-p", "bluesky")
    assert [r["text"] for r in rows] == HOSTILE
    assert {r["author"] for r in rows} == {"@SUM(A1)"}


def test_numbers_are_not_neutralised() -> None:
    cells = writers._csv_cells([-2, -0.5, None], "int")
    assert cells == [-2, -0.5, ""]
    assert writers.sheet_text("-2") == "'-2"  # text that looks like a formula still is text


# -- filters ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "ids"),
    [
        ([], list(range(1, 12))),
        (["--sentiment", "negative"], [1]),
        (["--min-risk", "0.2"], [1, 2]),
        (["--department", "pr"], [1]),
        (["-d", "support"], [1, 2, 11]),  # 2 folded into support's item
        (["-d", "engineering"], [2]),
        (["--incident", "1"], [1, 2]),
        (["--brand", "Globex"], [11]),
        (["-p", "reddit", "-p", "x"], [1, 2, 11]),
        (["--limit", "2"], [1, 2]),
        (["--until", "2026-11-30T12:30:00"], [1, *range(3, 11)]),
    ],
)
def test_mention_filters(project: Path, args: list[str], ids: list[int]) -> None:
    assert [r["id"] for r in json_rows(project, "mentions", *args)] == ids


def test_queue_rows_and_filters(project: Path) -> None:
    rows = {r["department"] + str(r["mention_id"]): r for r in json_rows(project, "queue")}
    assert list(next(iter(rows.values()))) == names("queue")
    support = rows["support1"]
    assert (support["first_response_min"], support["sla_met"], support["overdue"]) == (
        30.0,
        True,
        False,
    )
    assert support["assignee"] == "aiko" and support["text"] == JA
    assert support["responded_at"] == "2026-11-30T12:30:00+00:00"
    pr = rows["pr1"]
    assert (pr["sla_met"], pr["overdue"], pr["first_response_min"]) == (False, True, None)
    engineering = rows["engineering2"]
    assert (engineering["resolution_min"], engineering["sla_met"]) == (120.0, False)
    assert (engineering["overdue"], engineering["author"]) == (False, "@SUM(A1)")
    waiting = rows["support11"]
    assert (waiting["sla_met"], waiting["overdue"]) == (None, False)  # open, not due yet

    def ids(*args: str) -> list[int]:
        return [r["mention_id"] for r in json_rows(project, "queue", *args)]

    assert ids("--overdue") == [1]
    assert ids("-d", "support") == [1, 11]
    assert ids("--status", "resolved", "--status", "responded") == [1, 2]
    assert ids("--brand", "Globex") == [11]


def test_incident_rows_and_filters(project: Path, tmp_path: Path) -> None:
    rows = json_rows(project, "incidents")
    assert [r["id"] for r in rows] == [1, 2]
    big = rows[0]
    assert list(big) == names("incidents")
    assert (big["size"], big["top_mention_id"], big["top_risk"]) == (3, 1, 0.9)
    assert (big["author"], big["text"], big["platform"]) == ("alice", JA, "x")
    assert big["departments"] == ["engineering", "pr", "support"]
    assert (big["items"], big["open_items"]) == (3, 2)
    assert (rows[1]["status"], rows[1]["departments"]) == ("closed", ["support"])
    assert [r["id"] for r in json_rows(project, "incidents", "--min-size", "2")] == [1]
    assert [r["id"] for r in json_rows(project, "incidents", "--status", "closed")] == [2]
    assert [r["id"] for r in json_rows(project, "incidents", "--brand", "Globex")] == [2]
    out = tmp_path / "i.csv"
    ok(project, "incidents", *WINDOW, "-o", str(out))
    assert read_csv(out)[0]["departments"] == "engineering;pr;support"


# -- streaming -------------------------------------------------------------------------------


@pytest.fixture
def store(project: Path, module_db_url: str) -> Iterator[Store]:
    opened = Store(module_db_url)
    yield opened
    opened.close()


SCOPE = Scope(T0 - 30 * H, T0 + 30 * H)
NOW = datetime(2026, 12, 1, tzinfo=UTC)


def written(store: Store, kind: str, fmt: str, path: Path, chunk: int | None = None) -> Any:
    """The file's bytes; a Parquet file's table (its row groups follow the chunks)."""
    exports.export(store, exports.plan(kind, SCOPE, now=NOW), fmt, path, chunk=chunk)
    return pq.read_table(path).to_pylist() if fmt == "parquet" else path.read_bytes()


@pytest.mark.parametrize("kind", exports.KINDS)
@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "parquet"])
def test_small_chunks_write_what_one_chunk_writes(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, kind: str, fmt: str
) -> None:
    whole = written(store, kind, fmt, tmp_path / f"one.{fmt}", chunk=10_000)
    assert whole and written(store, kind, fmt, tmp_path / f"two.{fmt}", chunk=2) == whole
    monkeypatch.setattr(exports, "IN_LIST_MAX", 1)  # departments by id range instead of IN
    assert written(store, kind, fmt, tmp_path / f"range.{fmt}", chunk=3) == whole


def test_scope_chunk_size_is_used_by_default(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok(project, "mentions", *WINDOW, "-o", str(tmp_path / "one.csv"))
    monkeypatch.setattr(scopes, "CHUNK_ROWS", 4)
    chunks: list[int] = []
    original = exports._departments

    def counting(*args: Any) -> dict[int, set[str]]:
        chunks.append(len(args[2]))
        return original(*args)

    monkeypatch.setattr(exports, "_departments", counting)
    ok(project, "mentions", *WINDOW, "-o", str(tmp_path / "four.csv"))
    assert chunks == [4, 4, 3]
    assert (tmp_path / "four.csv").read_bytes() == (tmp_path / "one.csv").read_bytes()


def test_xlsx_continues_on_a_new_sheet(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(writers, "SHEET_ROWS", 5)  # a header and 4 rows a sheet
    out = tmp_path / "m.xlsx"
    result = ok(project, "mentions", *WINDOW, "-o", str(out))
    assert "continuing on sheet 'mentions (2)'" in result.stderr
    assert "continuing on sheet 'mentions (3)'" in result.stderr
    book = openpyxl.load_workbook(out)
    assert book.sheetnames == ["mentions", "mentions (2)", "mentions (3)"]
    ids = []
    for sheet in book.worksheets:
        rows = list(sheet.iter_rows(values_only=True))
        assert list(rows[0]) == names("mentions") and len(rows) <= 5
        ids += [row[0] for row in rows[1:]]
    assert ids == list(range(1, 12))


@pytest.mark.parametrize("fmt", exports.FORMATS)
def test_reruns_write_the_same_output(project: Path, tmp_path: Path, fmt: str) -> None:
    first, second = tmp_path / f"a.{fmt}", tmp_path / f"b.{fmt}"
    for out in (first, second):
        ok(project, "queue", *WINDOW, "-o", str(out))
    if fmt == "xlsx":  # the file records when it was written: compare the cells
        a, b = (list(openpyxl.load_workbook(p).active.values) for p in (first, second))  # type: ignore[union-attr]
        assert a == b and len(a) == 5
    else:
        assert first.read_bytes() == second.read_bytes()


# -- failures leave no file ------------------------------------------------------------------


@pytest.mark.parametrize("fmt", exports.FORMATS)
@pytest.mark.parametrize("error", [RuntimeError("disk on fire"), KeyboardInterrupt()])
def test_a_failed_export_leaves_no_file(
    project: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    error: BaseException,
) -> None:
    monkeypatch.setattr(scopes, "CHUNK_ROWS", 3)
    calls = []

    def fail_on_second_chunk(*args: Any) -> dict[int, set[str]]:
        calls.append(1)
        if len(calls) == 2:
            raise error
        return {}

    monkeypatch.setattr(exports, "_departments", fail_on_second_chunk)
    out = tmp_path / f"m.{fmt}"
    result = invoke(project, "mentions", *WINDOW, "-o", str(out))
    assert result.exit_code != 0 and len(calls) == 2
    assert list(tmp_path.iterdir()) == []  # neither the file nor its temporary file
    # An earlier file under that name is left as it was.
    out.write_text("yesterday's export", encoding="utf-8")
    calls.clear()
    assert invoke(project, "mentions", *WINDOW, "-o", str(out)).exit_code != 0
    assert list(tmp_path.iterdir()) == [out]
    assert out.read_text(encoding="utf-8") == "yesterday's export"


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-o", "missing/m.csv"], 1, "cannot write missing/m.csv: no directory missing"),
        (["-o", "."], 1, "cannot write .: it is a directory"),
        (["-f", "xls", "-o", "m.xls"], 2, "'xls' is not one of"),
        (["--since", "1d", "--until", "2d"], 2, "--until must be after --since"),
        (["--since", "yesterday"], 2, "use a duration"),
        (["-d", "nowhere"], 1, "unknown department 'nowhere'"),
        (["--min-risk", "2"], 2, "--min-risk"),
    ],
)
def test_bad_options_fail_in_one_line_and_write_nothing(
    project: Path, tmp_path: Path, args: list[str], code: int, message: str
) -> None:
    result = invoke(project, "mentions", *args)
    assert result.exit_code == code
    assert message in " ".join(result.output.replace("│", " ").split())
    if code == 1:
        assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []  # the tests run in tmp_path


def test_unknown_queue_status_is_refused(project: Path) -> None:
    result = invoke(project, "queue", "--status", "open")
    assert result.exit_code == 2 and "unknown status 'open'" in result.output


def test_unknown_incident_status_is_refused(project: Path) -> None:
    """A misspelt status would match nothing, silently."""
    result = invoke(project, "incidents", "--status", "clsoed")
    flat = " ".join(result.output.replace("│", " ").split())
    assert result.exit_code == 2 and "unknown incident status 'clsoed'" in flat
    assert "(one of open, closed;" in flat


# -- format from the extension, empty exports ------------------------------------------------


def test_format_comes_from_format_else_extension_else_csv(project: Path, tmp_path: Path) -> None:
    ok(project, "mentions", *WINDOW, "-o", str(tmp_path / "m.json"))
    assert json.loads((tmp_path / "m.json").read_text(encoding="utf-8"))[0]["id"] == 1
    ok(project, "mentions", *WINDOW, "-o", str(tmp_path / "m.JSONL"))
    assert json.loads((tmp_path / "m.JSONL").read_text(encoding="utf-8").splitlines()[0])
    result = ok(project, "mentions", *WINDOW, "-o", str(tmp_path / "m.txt"))
    assert "writing csv" in result.stderr and result.stderr.endswith("(csv)\n")
    assert (tmp_path / "m.txt").read_text(encoding="utf-8").startswith("id,created_at,")
    result = ok(project, "mentions", *WINDOW, "-f", "csv", "-o", str(tmp_path / "x.json"))
    assert "--format wins" in result.stderr
    assert (tmp_path / "x.json").read_text(encoding="utf-8").startswith("id,created_at,")
    stdout = ok(project, "mentions", *WINDOW, "-o", "-", "--limit", "1").stdout
    assert [r["id"] for r in csv.DictReader(io.StringIO(stdout))] == ["1"]


def test_empty_exports_still_have_their_columns(project: Path, tmp_path: Path) -> None:
    empty = ["--since", "2020-01-01", "--until", "2020-01-02"]
    result = ok(project, "incidents", *empty, "-o", str(tmp_path / "i.csv"))
    assert result.stderr == f"Exported 0 incidents to {tmp_path / 'i.csv'} (csv)\n"
    assert (tmp_path / "i.csv").read_text(encoding="utf-8") == ",".join(names("incidents")) + "\n"
    assert ok(project, "queue", *empty, "-f", "json").stdout == "[]\n"
    assert ok(project, "queue", *empty, "-f", "jsonl").stdout == ""
    ok(project, "mentions", *empty, "-o", str(tmp_path / "m.parquet"))
    table = pq.read_table(tmp_path / "m.parquet")
    assert table.num_rows == 0 and table.column_names == names("mentions")
    ok(project, "mentions", *empty, "-o", str(tmp_path / "m.xlsx"))
    sheet = openpyxl.load_workbook(tmp_path / "m.xlsx").active
    assert sheet is not None and list(sheet.values) == [tuple(names("mentions"))]


# -- Excel's cell limit ----------------------------------------------------------------------


def test_xlsx_cuts_cells_past_excels_limit_and_says_so(sqlite_url: str, tmp_path: Path) -> None:
    store = Store(sqlite_url)
    with store.session() as s:
        b = Builder(s)
        alice = b.author("alice")
        b.post(alice, T0, "a" * 40_000)
        b.post(alice, T0 + M, "😀" * 20_000)  # 40,000 UTF-16 units: Excel's count
        b.post(alice, T0 + 2 * M, "b" * writers.CELL_CHARS)  # exactly the limit: kept
    store.close()
    config = tmp_path / "config.yaml"
    config.write_text(f"database: {{url: '{sqlite_url}'}}\nbrands: [{{name: Acme}}]\n", "utf-8")
    out = tmp_path / "m.xlsx"
    result = runner.invoke(
        app, ["--config", str(config), "export", "mentions", *WINDOW, "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[-1] == (
        "warning: 2 cells were longer than Excel's 32,767 characters and cut, ending "
        "'… [cut: N characters]' (CSV, JSON and Parquet keep the full text)"
    )
    sheet = openpyxl.load_workbook(out).active
    assert sheet is not None
    rows = list(sheet.values)
    texts = [str(row[rows[0].index("text")]) for row in rows[1:]]
    assert texts[0] == "a" * 32_741 + "… [cut: 7,259 characters]"  # 32,766 characters
    assert texts[1].startswith("😀") and texts[1].endswith(" characters]")
    assert len(texts[1].encode("utf-16-le")) // 2 <= 32_767  # no emoji split in half
    assert texts[2] == "b" * writers.CELL_CHARS
    whole = runner.invoke(app, ["--config", str(config), "export", "mentions", *WINDOW])
    assert [len(r["text"]) for r in csv.DictReader(io.StringIO(whole.stdout))] == [
        40_000,
        20_000,
        writers.CELL_CHARS,
    ]
