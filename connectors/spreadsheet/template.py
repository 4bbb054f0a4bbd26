"""Spreadsheet templates (表格模板), generated from the Avro schemas: ``fengqiao templates``.

Rows of a template (the same in XLSX and CSV; see sheet.py for how a file is read back):

1. ``#模板 template | ReleaseNoticeIssued | 刑满释放人员通知书 | how to fill it``
2. the column headers in Chinese, ``*`` marking the required ones
3. ``#`` the field paths (``person.id_number``), for integrators and as a fallback for the headers
4. ``#`` a note per column: required or optional, and the format (2026-11-08, 18位公民身份号码, …)
5. ``#`` an example row
6. … the data, one event per row

CSV templates are UTF-8 with a BOM so that Excel shows the Chinese. An XLSX template also has a
说明 sheet describing every column, drop-down lists for yes/no and enum columns, and text
format on code columns so Excel keeps an 18-digit ID number as typed.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fengqiao.schemas.catalogue import Catalogue, EventType, load
from fengqiao.schemas.codec import to_json
from fengqiao.schemas.samples import SAMPLE_RIC, sample_event

from .cells import write
from .columns import TIME, Column, Layout, layout
from .rows import flatten

FORMATS = ("xlsx", "csv")
FIRST_DATA_ROW = 6
MARK = "#模板 template"
HOW_TO = (
    "第2行是列名（带*为必填）；以 # 开头的行（字段、说明、示例）不会导入，可保留。"
    "请从第6行起每行填写一条记录，不要增删或修改列名；填好后放入导入文件夹，"
    "有误的行会在同一文件夹的「文件名.rejects.csv」中逐行说明原因。"
)
EXAMPLE_TIME = datetime(2026, 11, 8, 1, 30, tzinfo=UTC)  # 2026-11-08 09:30 Beijing time


def header(col: Column) -> str:
    return f"*{col.header}" if col.required and not col.autofill else col.header


def example(lay: Layout) -> dict[str, Any]:
    """An example row (path → cell as staff would write it) from the schemas' sample record."""
    from fengqiao.scenario import AGENCIES, PREFIX

    ev = lay.event
    publisher = next((AGENCIES[p] for p in ev.publishers if p in AGENCIES), AGENCIES["judicial_office"])

    def agency(field: str) -> dict[str, str]:
        for kind, ref in AGENCIES.items():
            if kind.split("_")[0] in field:
                return ref
        return publisher

    hints = {
        "fengqiao.common.Person": lambda f: {
            "person_id": "P-0001",
            "name": "王建国",
            "id_number": SAMPLE_RIC,
            "phone": "13800000000",
        },
        "fengqiao.common.AgencyRef": agency,
        "fengqiao.common.Division": lambda f: {"code": "339901001001", "name": "青山镇东溪村"},
    }
    case_id = f"{PREFIX.get(ev.workflow, 'AJ')}-2026-0001"
    data = to_json(sample_event(ev, case_id, hints=hints))
    values = flatten(data)
    if (col := lay.column(TIME)) is not None and col.shown:
        values[TIME] = to_json(EXAMPLE_TIME)
    out: dict[str, Any] = {}
    for col in lay.shown():
        if col.path in values:
            v = write(col, values[col.path], friendly=True)
            out[col.path] = _plausible(col, v if isinstance(v, str) else str(v))
    return out


def _plausible(col: Column, value: str) -> str:
    """The sampler's ``notice_number-0`` made into something staff recognise as an example."""
    leaf = col.path.rsplit(".", 1)[-1].split("[")[0]
    if not re.fullmatch(rf"{re.escape(leaf)}-\d+", value):
        return value
    if leaf.endswith("phone"):
        return "13800000000"
    if leaf.endswith("_number") or leaf.endswith("_id"):
        return "（2026）青字第001号" if leaf.endswith("_number") else "P-0001"
    return f"{col.header.split('·')[-1]}（示例）"


def rows(lay: Layout) -> list[list[Any]]:
    """The template's first five rows as cells."""
    cols = lay.shown()
    sample = example(lay)

    def commented(cells: list[Any]) -> list[Any]:
        return [f"#{cells[0]}", *cells[1:]] if cells else cells

    return [
        [MARK, lay.name, lay.title, HOW_TO],
        [header(c) for c in cols],
        commented([c.path for c in cols]),
        commented([c.note() for c in cols]),
        commented([sample.get(c.path, "") for c in cols]),
    ]


def csv_bytes(lay: Layout, data_rows: Iterable[list[Any]] = ()) -> bytes:
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerows(rows(lay))
    w.writerows(data_rows)
    return buf.getvalue().encode("utf-8-sig")


def write_csv(lay: Layout, path: Path) -> Path:
    path.write_bytes(csv_bytes(lay))
    return path


def write_xlsx(lay: Layout, path: Path, data_rows: Iterable[list[Any]] = ()) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter
    from openpyxl.worksheet.datavalidation import DataValidation

    wb = Workbook()
    ws = wb.active
    ws.title = lay.name[:31]  # the sheet's name says the event type too
    for r in rows(lay):
        ws.append(r)
    for r in data_rows:
        ws.append(r)
    ws["B1"].font = ws["C1"].font = Font(bold=True, size=12)
    ws["D1"].alignment = Alignment(wrap_text=False)
    required, optional = PatternFill("solid", fgColor="FCE4D6"), PatternFill("solid", fgColor="DDEBF7")
    quiet = Font(italic=True, color="808080", size=9)
    for i, col in enumerate(lay.shown(), start=1):
        letter = get_column_letter(i)
        head = ws.cell(row=2, column=i)
        head.font = Font(bold=True)
        head.fill = required if col.required and not col.autofill else optional
        head.alignment = Alignment(wrap_text=True, vertical="center")
        for r in (3, 4, 5):
            cell = ws.cell(row=r, column=i)
            cell.font = quiet
            cell.alignment = Alignment(wrap_text=True, vertical="top")
        dim = ws.column_dimensions[letter]
        dim.width = min(max(len(col.header) * 2 + 4, 14), 36)
        # Excel would turn an ID number into 1.10105E+17 and a code into a number: keep them text.
        dim.number_format = {"date": "yyyy-mm-dd", "instant": "yyyy-mm-dd hh:mm"}.get(col.kind, "@")
        choices = (
            ["是", "否"]
            if col.kind == "boolean"
            else [zh for _, zh in col.symbol_labels]
            if col.kind == "enum"
            else []
        )
        if choices and len(",".join(choices)) < 250:
            dv = DataValidation(type="list", formula1=f'"{",".join(choices)}"', allow_blank=True)
            dv.showErrorMessage = False  # a symbol (prison) is accepted as well as its name (监狱)
            dv.add(f"{letter}{FIRST_DATA_ROW}:{letter}{FIRST_DATA_ROW + 4999}")
            ws.add_data_validation(dv)
    ws.row_dimensions[4].height = 60
    ws.freeze_panes = "B3"
    _guide(wb.create_sheet("说明"), lay)
    wb.save(path)
    return path


def _guide(ws: Any, lay: Layout) -> None:
    from openpyxl.styles import Alignment, Font

    ws.append([f"{lay.title}（{lay.name}）"])
    ws.append([lay.event.doc])
    ws.append([HOW_TO])
    ws.append([])
    ws.append(["列名 column", "字段 field", "是否必填 required", "格式 format", "说明 description"])
    for c in lay.shown():
        ws.append([c.header, c.path, c.requirement(), c.format_note(), c.doc])
    ws["A1"].font = Font(bold=True, size=12)
    for cell in ws[5]:
        cell.font = Font(bold=True)
    for letter, width in zip("ABCDE", (28, 30, 22, 40, 60), strict=True):
        ws.column_dimensions[letter].width = width
        for cell in ws[letter]:
            cell.alignment = Alignment(wrap_text=True, vertical="top")


def file_name(lay: Layout, fmt: str) -> str:
    """``ReleaseNoticeIssued-刑满释放人员通知书.xlsx``: the event type first, as the reader expects."""
    title = re.sub(r'[\\/:*?"<>|\s]+', "-", lay.title)
    return f"{lay.name}-{title}.{fmt}"


def selected(catalogue: Catalogue, types: Iterable[str] | None) -> list[EventType]:
    """The ``in`` events asked for (all when none); raises ValueError naming an unknown or hub event."""
    wanted = list(types or [])
    if not wanted:
        return [ev for ev in catalogue if ev.direction == "in"]
    out = []
    for name in wanted:
        if name not in catalogue:
            raise ValueError(f"unknown event type {name!r} 未知事件类型; see docs/events.md")
        ev = catalogue[name]
        if ev.direction != "in":
            raise ValueError(f"{ev.name} is decided by the hub itself 由枢纽产生: agencies do not send it")
        out.append(ev)
    return out


def generate(
    out_dir: Path, fmt: str = "xlsx", types: Iterable[str] | None = None, catalogue: Catalogue | None = None
) -> list[Path]:
    """Write one template per event type into ``out_dir``; returns the files written."""
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {fmt!r}")
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for ev in selected(catalogue or load(), types):
        lay = layout(ev)
        path = out_dir / file_name(lay, fmt)
        written.append(write_xlsx(lay, path) if fmt == "xlsx" else write_csv(lay, path))
    return written
