"""Reading a dropped file: which event type it holds, which column is which, and its data rows.

The layout a template has (see template.py), every part but the header row optional:

* row 1 ``#模板 template | ReleaseNoticeIssued | 刑满释放人员通知书 | …``: the event type;
* row 2 the Chinese column headers (or the field paths, for files a system writes);
* rows starting with ``#``: the field paths, the notes, the example — never imported;
* then one event per row. Entirely empty rows are skipped.

Without the type row, an XLSX sheet named after the event type or a file named
``ReleaseNoticeIssued….csv`` says the type. Row numbers are the ones Excel shows.
"""

from __future__ import annotations

import csv
import io
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fengqiao.schemas.catalogue import Catalogue

from .cells import is_empty, text
from .columns import Column, Layout, UnsupportedEvent, layout

EXTENSIONS = (".csv", ".xlsx")
COMMENT = "#"


class SheetError(ValueError):
    """The file as a whole cannot be imported; ``reason`` (Chinese) says why, ``row`` where."""

    def __init__(self, reason: str, row: int | None = None, column: str = "") -> None:
        super().__init__(reason)
        self.reason = reason
        self.row = row
        self.column = column


@dataclass
class Sheet:
    layout: Layout
    header_row: int
    columns: list[Column | None]  # by position; None: an empty column nobody wrote in
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)  # (row number, cells)

    def cells(self, values: list[Any]) -> dict[str, Any]:
        """A data row as path → raw cell, empty cells left out."""
        out: dict[str, Any] = {}
        for col, raw in zip(self.columns, values, strict=False):
            if col is not None and not is_empty(raw):
                out[col.path] = raw
        return out


def raw_rows(path: Path) -> tuple[list[list[Any]], str | None]:
    """Every row of the file's first sheet (row 1 first) and the sheet's name (XLSX only)."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _csv_rows(path.read_bytes()), None
    if suffix == ".xlsx":
        return _xlsx_rows(path)
    if suffix in (".xls", ".et", ".ods", ".numbers"):
        raise SheetError(f"不支持 {suffix} 格式：请在 Excel/WPS 中「另存为」.xlsx 或 CSV UTF-8 后重新放入")
    raise SheetError(f"不支持的文件类型 {suffix or '(无扩展名)'}：只收 .xlsx 和 .csv")


def _csv_rows(data: bytes) -> list[list[Any]]:
    # Excel's "CSV UTF-8" has a BOM; its plain "CSV" on a Chinese Windows is GB18030 (GBK).
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            decoded = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any byte string
        raise SheetError("文件编码无法识别：请另存为「CSV UTF-8」")
    try:
        return [list(r) for r in csv.reader(io.StringIO(decoded, newline=""))]
    except csv.Error as e:
        raise SheetError(f"CSV 格式有误（{e}）：请用 Excel 重新另存为「CSV UTF-8」") from e


def _xlsx_rows(path: Path) -> tuple[list[list[Any]], str]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise SheetError(
            f"无法打开该 .xlsx 文件（{type(e).__name__}）：文件可能已损坏或不是 Excel 文件"
        ) from e
    try:
        ws = wb.worksheets[0]
        ws.reset_dimensions()  # some writers record a wrong sheet size; read to the last row
        return [list(r) for r in ws.iter_rows(values_only=True)], ws.title
    finally:
        wb.close()


def _is_comment(row: list[Any]) -> bool:
    return bool(row) and text(row[0]).startswith(COMMENT)


def _empty(row: list[Any]) -> bool:
    return all(is_empty(c) for c in row)


def event_type(catalogue: Catalogue, rows: list[list[Any]], sheet_name: str | None, file_name: str) -> str:
    """The event type a file holds: its type row, else its sheet's name, else its file name."""
    for row in rows:
        if _empty(row):
            continue
        if not _is_comment(row):
            break
        for cell in row:
            name = text(cell).lstrip(COMMENT).strip()
            if name in catalogue:
                return catalogue[name].name
    if sheet_name and sheet_name.strip() in catalogue:
        return catalogue[sheet_name.strip()].name
    prefix = re.split(r"[^A-Za-z0-9]", file_name, maxsplit=1)[0]
    if prefix in catalogue:
        return catalogue[prefix].name
    raise SheetError(
        "无法确定这是哪类事件：请使用 `fengqiao templates` 生成的模板（第1行注明事件类型），"
        "或让文件名以事件类型开头，如 ReleaseNoticeIssued-2026-11.xlsx"
    )


def read(path: Path, catalogue: Catalogue, *, max_rows: int = 10_000) -> Sheet:
    """Read the file. Raises `SheetError` when it cannot be imported at all."""
    rows, sheet_name = raw_rows(path)
    etype = event_type(catalogue, rows, sheet_name, path.name)
    try:
        lay = layout(catalogue[etype])
    except UnsupportedEvent as e:
        raise SheetError(f"{etype} 不能用表格报送（{e}）") from e
    n = 0
    while n < len(rows) and (_is_comment(rows[n]) or _empty(rows[n])):
        n += 1
    if n == len(rows):
        raise SheetError("文件中没有列名行：请使用 `fengqiao templates` 生成的模板")
    header_row, headers = n + 1, rows[n]
    # A system-written file may name its columns by path in a "#" row right under the headers.
    names: list[Any] = list(headers)
    if n + 1 < len(rows) and _is_comment(rows[n + 1]):
        paths = [text(c).lstrip(COMMENT).strip() for c in rows[n + 1]]
        if paths and all(lay.column(p) is not None for p in paths if p):
            names = [p or h for p, h in zip(paths, headers, strict=False)] + list(headers[len(paths) :])
    columns = _columns(lay, names, headers, header_row)
    body = [(i + 1, r) for i, r in enumerate(rows) if i > n and not _is_comment(r) and not _empty(r)]
    if len(body) > max_rows:
        raise SheetError(f"共 {len(body)} 行，超过每个文件 {max_rows} 行的上限：请分成几个文件")
    for number, r in body:
        stray = [i for i, c in enumerate(r) if not is_empty(c) and (i >= len(columns) or columns[i] is None)]
        if stray:
            raise SheetError(
                f"第 {_letter(stray[0])} 列没有列名却填了内容：请删除该列的内容，或不要改动模板的列",
                number,
            )
    return Sheet(lay, header_row, columns, body)


def _columns(lay: Layout, names: list[Any], headers: list[Any], header_row: int) -> list[Column | None]:
    columns: list[Column | None] = []
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        if is_empty(name):
            columns.append(None)
            continue
        col = lay.match(name)
        if col is None:
            raise SheetError(
                f"第 {_letter(i)} 列「{text(headers[i] if i < len(headers) else name)}」不是 {lay.name}"
                f"（{lay.title}）模板中的列：请使用最新模板，不要增改列名",
                header_row,
                text(name),
            )
        if col.path in seen:
            raise SheetError(
                f"「{col.header}」出现了两次（第 {_letter(seen[col.path])} 列和第 {_letter(i)} 列）",
                header_row,
                col.header,
            )
        seen[col.path] = i
        columns.append(col)
    return columns


def _letter(index: int) -> str:
    """Excel's column letter of a 0-based index: 0 → A, 26 → AA."""
    s = ""
    index += 1
    while index:
        index, r = divmod(index - 1, 26)
        s = chr(65 + r) + s
    return s
