"""The writers of ``harken export``, one per format, each streaming the chunks (``Block``)
it is given into a handle from harken.reports.output: CSV and JSON as text, Parquet and XLSX
as bytes. The spreadsheet formats (CSV, XLSX) neutralise formula starts and control
characters (``sheet_text``); JSON and Parquet keep text as posted. XLSX respects Excel's
limits: rows past a sheet continue on the next, cells past 32,767 characters are cut with a
visible marker (``fit_cell``) and counted."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import IO, Any, Protocol

import pandas as pd

from harken.text import for_csv, strip_controls

# Excel's limit, the header row included; later rows continue on "<kind> (2)", "<kind> (3)"...
SHEET_ROWS = 1_048_576
CELL_CHARS = 32_767  # Excel's limit for one cell (UTF-16 units, as Excel counts)

Block = dict[str, list[Any]]  # one chunk, column by column, as plain Python values


@dataclass(frozen=True)
class Column:
    name: str
    type: str  # int | float | bool | text | time | list


class Writer(Protocol):
    def write(self, block: Block) -> None: ...

    def close(self) -> None: ...  # finish the file

    def abort(self) -> None: ...  # let go of it (the temporary file is removed after)


def sheet_text(value: str) -> str:
    """A text cell for a spreadsheet: no formula start, no control characters. ``for_csv``
    keeps a cell that starts with a tab or CR as it is after the ``'``; the CR goes too."""
    cell = str(for_csv(value))
    if cell.startswith(("'\t", "'\r")):
        cell = "'" + strip_controls(cell[1:])
    return cell


class CsvWriter:
    """UTF-8 without BOM, ``\\n`` line ends, a header row; empty cell for missing values."""

    def __init__(self, handle: IO[str], columns: tuple[Column, ...]) -> None:
        self.columns = columns
        self.csv = csv.writer(handle, lineterminator="\n")
        self.csv.writerow([c.name for c in columns])

    def write(self, block: Block) -> None:
        cells = [_csv_cells(block[c.name], c.type) for c in self.columns]
        self.csv.writerows(zip(*cells, strict=True))

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _csv_cells(values: list[Any], kind: str) -> list[Any]:
    if kind == "text":
        return ["" if v is None else sheet_text(v) for v in values]
    if kind == "list":
        return ["" if v is None else sheet_text(";".join(v)) for v in values]
    if kind == "time":
        return ["" if v is None else v.isoformat() for v in values]
    if kind == "bool":
        return ["" if v is None else "true" if v else "false" for v in values]
    return ["" if v is None else v for v in values]


class JsonWriter:
    """``json``: one array, one row per line (so files diff by row); ``jsonl``: one object
    per line. Text as posted; JSON escapes what must be escaped."""

    def __init__(self, handle: IO[str], columns: tuple[Column, ...], lines: bool) -> None:
        self.handle, self.columns, self.lines = handle, columns, lines
        self.first = True
        if not lines:
            handle.write("[")

    def write(self, block: Block) -> None:
        names = [c.name for c in self.columns]
        cells = [
            [v.isoformat() if v is not None else None for v in block[c.name]]
            if c.type == "time"
            else block[c.name]
            for c in self.columns
        ]
        parts = []
        for row in zip(*cells, strict=True):
            # U+2028/2029 are valid in JSON strings but split lines for some readers.
            line = json.dumps(dict(zip(names, row, strict=True)), ensure_ascii=False)
            line = line.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
            if self.lines:
                parts.append(line + "\n")
            else:
                parts.append(("\n" if self.first else ",\n") + line)
                self.first = False
        self.handle.write("".join(parts))

    def close(self) -> None:
        if not self.lines:
            self.handle.write("]\n" if self.first else "\n]\n")

    def abort(self) -> None:
        pass


class ParquetWriter:
    """One row group per chunk, a fixed schema: timestamps are ``timestamp[us, UTC]``, lists
    are ``list<string>``, missing values are nulls."""

    def __init__(self, handle: IO[bytes], columns: tuple[Column, ...]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        self.pa = pa
        types = {
            "int": pa.int64(),
            "float": pa.float64(),
            "bool": pa.bool_(),
            "text": pa.string(),
            "time": pa.timestamp("us", tz="UTC"),
            "list": pa.list_(pa.string()),
        }
        self.columns = columns
        self.schema = pa.schema([pa.field(c.name, types[c.type]) for c in columns])
        self.parquet = pq.ParquetWriter(handle, self.schema)
        self.rows = 0

    def write(self, block: Block) -> None:
        arrays = [
            self.pa.array(block[c.name], type=self.schema.field(c.name).type) for c in self.columns
        ]
        self.parquet.write_table(self.pa.Table.from_arrays(arrays, schema=self.schema))
        self.rows += len(block["id"])

    def close(self) -> None:
        if not self.rows:  # still a readable file, with the columns
            self.parquet.write_table(self.schema.empty_table())
        self.parquet.close()

    def abort(self) -> None:
        self.parquet.close()


WIDTHS = {"text": 60, "reason": 40, "url": 30, "risk_factors": 30, "topics": 20}


class XlsxWriter:
    """Streamed (constant memory) cell by cell with typed writes: text as strings (never
    formulas, links or numbers), numbers as numbers, times as Excel datetimes in UTC (Excel
    has no time zones) shown ``yyyy-mm-dd hh:mm:ss``. Past Excel's row limit the rows go on
    on a new sheet, ``mentions (2)`` and so on."""

    def __init__(
        self,
        handle: IO[bytes],
        columns: tuple[Column, ...],
        kind: str,
        on_sheet: Callable[[str], None],
    ) -> None:
        import xlsxwriter

        self.book = xlsxwriter.Workbook(
            handle,
            {
                "constant_memory": True,
                "strings_to_formulas": False,
                "strings_to_urls": False,
                "strings_to_numbers": False,
            },
        )
        self.bold = self.book.add_format({"bold": True})
        self.date = self.book.add_format({"num_format": "yyyy-mm-dd hh:mm:ss"})
        self.columns, self.kind, self.on_sheet = columns, kind, on_sheet
        self.sheet: Any = None
        self.sheets = 0
        self.row = 0
        self.cut = 0  # cells cut to Excel's limit
        self._new_sheet()

    def _new_sheet(self) -> None:
        self._finish_sheet()
        self.sheets += 1
        name = self.kind if self.sheets == 1 else f"{self.kind} ({self.sheets})"
        self.sheet = self.book.add_worksheet(name)
        self.on_sheet(name)
        for i, column in enumerate(self.columns):
            width = WIDTHS.get(column.name, 19 if column.type == "time" else 12)
            self.sheet.set_column(i, i, max(width, len(column.name) + 2))
            self.sheet.write_string(0, i, column.name, self.bold)
        self.sheet.freeze_panes(1, 0)
        self.row = 0

    def _finish_sheet(self) -> None:
        if self.sheet is not None and self.row:
            self.sheet.autofilter(0, 0, self.row, len(self.columns) - 1)

    def write(self, block: Block) -> None:
        columns = [(i, c.type, block[c.name]) for i, c in enumerate(self.columns)]
        for r in range(len(block["id"])):
            if self.row >= SHEET_ROWS - 1:
                self._new_sheet()
            self.row += 1
            for i, kind, values in columns:
                self._cell(self.row, i, kind, values[r])

    def _cell(self, row: int, column: int, kind: str, value: Any) -> None:
        if value is None:
            return
        sheet = self.sheet
        if kind == "text":
            sheet.write_string(row, column, self._fit(sheet_text(value)))
        elif kind == "list":
            sheet.write_string(row, column, self._fit(sheet_text(";".join(value))))
        elif kind == "time":
            naive = value.tz_convert(None) if isinstance(value, pd.Timestamp) else value
            sheet.write_datetime(row, column, naive.to_pydatetime(), self.date)
        elif kind == "bool":
            sheet.write_boolean(row, column, value)
        else:
            sheet.write_number(row, column, value)

    def _fit(self, text: str) -> str:
        cell, cut = fit_cell(text)
        self.cut += cut > 0
        return cell

    def close(self) -> None:
        self._finish_sheet()
        self.book.close()

    def abort(self) -> None:
        pass  # never closed: the workbook is not written


def fit_cell(text: str, limit: int = CELL_CHARS) -> tuple[str, int]:
    """``text`` within Excel's cell limit and how many characters were cut: a longer text
    keeps its start and ends ``… [cut: N characters]``. Excel counts UTF-16 units (an emoji is
    two), so the cut is made on those, never inside a character."""
    units = len(text.encode("utf-16-le")) // 2
    if units <= limit:
        return text, 0
    room = limit - len(f"… [cut: {len(text):,} characters]")  # the longest the marker can be
    kept = text.encode("utf-16-le")[: room * 2].decode("utf-16-le", errors="ignore")
    cut = len(text) - len(kept)
    return f"{kept}… [cut: {cut:,} characters]", cut
