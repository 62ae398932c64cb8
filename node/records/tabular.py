"""Reading a register from a CSV or XLSX file into a header and rows of strings.

Kept apart from validation so the same checks apply whatever the file format was.
Each row carries where it came from ("records.csv line 7") for error messages.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from node.errors import ImportRefused

# Big enough that an absurd cell reaches validation (and gets a message naming its column)
# instead of failing inside the csv module; small enough to bound memory.
CSV_FIELD_LIMIT = 64 * 1024 * 1024


@dataclass(frozen=True)
class Table:
    """A register as read: header names (as written) and rows (line label, cells)."""

    name: str
    header: list[str]
    rows: list[tuple[str, list[str]]]


HeaderCheck = Callable[[str, list[str]], object]


def read_table(
    path: Path, *, max_rows: int | None = None, check_header: HeaderCheck | None = None
) -> Table:
    """Read CSV (UTF-8, optional BOM, ',' or ';') or XLSX, refusing what cannot be read.

    ``check_header(name, header)`` runs as soon as the header is read, before any row, and may
    raise ImportRefused; past ``max_rows`` rows reading stops with ImportRefused. So a file
    with a wrong header or far too many rows (a 600,000-row workbook) is refused without being
    read whole."""
    limits = _Limits(path.name, max_rows, check_header)
    if not path.exists():
        raise ImportRefused([f"{path}: no such file"])
    if path.is_dir():
        raise ImportRefused([f"{path}: is a folder, not a file"])
    try:
        data = path.read_bytes()
    except OSError as err:
        raise ImportRefused([f"{path}: cannot be read ({err.strerror})"]) from err
    if data[:4] == b"PK\x03\x04":
        return _read_xlsx(path, data, limits)
    return _read_csv(path.name, data, limits)


@dataclass(frozen=True)
class _Limits:
    name: str
    max_rows: int | None
    check_header: HeaderCheck | None

    def header(self, header: list[str]) -> list[str]:
        if self.check_header is not None:
            self.check_header(self.name, header)
        return header

    def row(self, rows: list) -> None:
        if self.max_rows is not None and len(rows) >= self.max_rows:
            self.too_many(f"more than {self.max_rows:,}")

    def too_many(self, how_many: str) -> None:
        raise ImportRefused(
            [
                f"{self.name} has {how_many} rows; this node takes at most {self.max_rows:,} "
                "in an upload: split the file, import it with `tafuta import`, or ask your "
                "admin to raise [web] max_upload_rows"
            ]
        )


def _read_csv(name: str, data: bytes, limits: _Limits) -> Table:
    if not data.strip(b"\xef\xbb\xbf \r\n\t"):
        raise ImportRefused([f"{name} is empty"])
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = data[: err.start].count(b"\n") + 1
        raise ImportRefused(
            [
                f"{name} line {line}: byte 0x{data[err.start]:02x} is not UTF-8; "
                "save the file as 'CSV UTF-8' and import it again"
            ]
        ) from err
    first_line = text.lstrip("\r\n").splitlines()[0]
    delimiter = _delimiter(name, first_line)
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    rows: list[tuple[str, list[str]]] = []
    header: list[str] | None = None
    try:
        start = 1
        for cells in reader:
            where = f"{name} line {start}"
            start = reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = limits.header(cells)
            else:
                limits.row(rows)
                rows.append((where, cells))
    except csv.Error as err:
        raise ImportRefused(
            [f"{name} line {reader.line_num}: cannot be read as CSV ({err})"]
        ) from err
    if header is None:
        raise ImportRefused([f"{name} is empty"])
    return Table(name=name, header=header, rows=rows)


def _delimiter(name: str, header_line: str) -> str:
    """',' or ';' by which the header uses; spreadsheets in many locales write ';'."""
    commas, semicolons = header_line.count(","), header_line.count(";")
    if commas == 0 and semicolons == 0:
        if "\t" in header_line or "|" in header_line:
            raise ImportRefused(
                [
                    f"{name} line 1: cannot tell the delimiter; "
                    "columns must be separated by ',' or ';'"
                ]
            )
        return ","
    return "," if commas >= semicolons else ";"


# Unpacked worksheet XML allowed per permitted row: a register row of 19 text cells is about
# 1.2 KB, so only a workbook padded far beyond its rows (or a zip bomb) reaches this.
XLSX_BYTES_PER_ROW = 4096
_DIMENSION = re.compile(rb'<(?:\w+:)?dimension ref="[A-Z]+[0-9]+(?::[A-Z]+([0-9]+))?"')
_FIRST_SHEET = re.compile(rb'<(?:\w+:)?sheet\b[^>]*?\br:id="([^"]+)"')


def _precheck_xlsx(data: bytes, limits: _Limits) -> None:
    """Refuse a workbook over the row limit before openpyxl reads it: openpyxl scans a whole
    worksheet for its size when it does not declare one, so the row count checked while
    reading would come too late. Checks how large the workbook unpacks, and the row count
    the first worksheet declares (Excel always writes it). Anything unreadable here is left
    for openpyxl to refuse with its own message."""
    if limits.max_rows is None:
        return
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            unpacked = sum(member.file_size for member in book.infolist())
            if unpacked > (limits.max_rows + 1) * XLSX_BYTES_PER_ROW + 2**20:
                raise ImportRefused(
                    [
                        f"{limits.name} unpacks to {unpacked // 2**20:,} MB, far more than a "
                        f"register of {limits.max_rows:,} rows, this node's limit, needs"
                    ]
                )
            sheet = _first_sheet(book)
            with book.open(sheet) as xml:
                head = xml.read(8192)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError, IndexError):
        return
    declared = _DIMENSION.search(head)
    if declared and declared.group(1) and int(declared.group(1)) - 1 > limits.max_rows:
        limits.too_many(f"{int(declared.group(1)) - 1:,}")


def _first_sheet(book: zipfile.ZipFile) -> str:
    """The zip path of the workbook's first worksheet (the one an import reads)."""
    rel_id = _FIRST_SHEET.findall(book.read("xl/workbook.xml"))[0].decode()
    rels = book.read("xl/_rels/workbook.xml.rels").decode("utf-8")
    for tag in re.findall(r"<(?:\w+:)?Relationship\b[^>]*>", rels):
        if f'Id="{rel_id}"' in tag:
            target = re.findall(r'Target="([^"]+)"', tag)[0]
            return target.lstrip("/") if target.startswith("/") else f"xl/{target}"
    raise KeyError(rel_id)


def _read_xlsx(path: Path, data: bytes, limits: _Limits) -> Table:
    import openpyxl  # imported here: only XLSX imports pay for it

    _precheck_xlsx(data, limits)
    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, OSError, KeyError, ValueError) as err:
        raise ImportRefused([f"{path.name} is not a readable XLSX workbook ({err})"]) from err
    try:
        sheet = book.worksheets[0]
        header: list[str] | None = None
        rows: list[tuple[str, list[str]]] = []
        for number, values in enumerate(sheet.iter_rows(values_only=True), start=1):
            cells = [_xlsx_cell(value) for value in values]
            if not any(cell.strip() for cell in cells):
                continue
            if header is None:
                header = limits.header(cells)
            else:
                limits.row(rows)
                rows.append((f"{path.name} row {number}", cells))
    finally:
        book.close()
    if header is None:
        raise ImportRefused([f"{path.name} is empty"])
    return Table(name=path.name, header=header, rows=rows)


def _xlsx_cell(value: object) -> str:
    """Spreadsheet values as the register's author saw them: 15 not 15.0, dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
