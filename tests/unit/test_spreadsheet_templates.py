"""Spreadsheet templates: a Chinese header for every field of every agency event; templates read back."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fengqiao.connectors.cloudevents_json import parse
from fengqiao.connectors.spreadsheet.columns import ID, TIME, labels, layout, layouts
from fengqiao.connectors.spreadsheet.rows import build
from fengqiao.connectors.spreadsheet.sheet import read
from fengqiao.connectors.spreadsheet.template import FIRST_DATA_ROW, generate, rows
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec
from fengqiao.streams.workflows import load_context

IN_EVENTS = [ev.name for ev in load() if ev.direction == "in"]


def test_every_field_of_every_agency_event_has_a_chinese_header() -> None:
    """`layout` raises MissingLabel for a field, an event title or an enum symbol without a label."""
    for lay in layouts(load()):
        headers = [c.header for c in lay.columns]
        doubled = [h for h, n in Counter(headers).items() if n > 1]
        assert not doubled, f"{lay.name}: two columns share the header {doubled}"
        assert lay.title and all(headers)
        for c in lay.columns:
            assert not any("a" <= ch.lower() <= "z" for ch in c.header), f"{lay.name}.{c.path}: {c.header}"


def test_nested_records_lists_and_optional_groups_become_columns() -> None:
    lay = layout(load()["PickupPlanned"])
    by_path = {c.path: c for c in lay.columns}
    assert by_path["office.agency_id"].header == "司法所·机构编号"
    assert by_path["meeting_place.division.code"].header == "接人地点·区划代码"  # Address.division dropped
    assert by_path["participants[2].name"].header == "参与人员3·姓名"
    assert by_path["participants[0].role"].requirement() == "填写「参与人员1」时必填"
    assert by_path["notes"].requirement() == "选填"
    assert by_path["planned_at"].required and by_path["planned_at"].kind == "instant"
    assert lay.instant_fields[-1] == "planned_at"  # the event's own moment
    assert not by_path[TIME].shown and not by_path[ID].shown
    notice = layout(load()["ReleaseNoticeIssued"])
    assert notice.column("person.name").header == "服刑人员·姓名"
    assert "18位公民身份号码" in notice.column("person.id_number").note()
    assert "6/9/12位行政区划代码" in notice.column("residence.code").note()
    assert notice.column(TIME).shown  # no instant in the record: the staff may say when
    assert notice.header_of("person") == "服刑人员"
    assert notice.header_of("person.id_number") == "服刑人员·公民身份号码"


def test_labels_name_no_field_the_schemas_do_not_have() -> None:
    """A label for a field that was renamed away would hide a missing one."""
    names: set[str] = set()

    def walk(schema: object) -> None:
        if isinstance(schema, dict):
            for f in schema.get("fields", ()):
                names.add(f["name"])
            for v in schema.values():
                walk(v)
        elif isinstance(schema, list):
            for v in schema:
                walk(v)

    for ev in load():
        if ev.direction == "in":
            walk(dict(ev.expanded))
    assert set(labels().fields) - names == set()
    assert set(labels().events) == set(IN_EVENTS)


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_templates_read_back_with_every_column_and_no_data_row(tmp_path: Path, fmt: str) -> None:
    written = generate(tmp_path, fmt)
    assert len(written) == len(IN_EVENTS)
    for path in written:
        sheet = read(path, load())
        assert sheet.header_row == 2
        assert [c.path for c in sheet.columns if c] == [c.path for c in sheet.layout.shown()]
        assert sheet.rows == []  # the field, note and example rows start with # and are never imported
        assert path.name.startswith(sheet.layout.name + "-")
    if fmt == "csv":
        assert written[0].read_bytes().startswith(b"\xef\xbb\xbf")  # Excel needs the BOM for Chinese


def test_xlsx_template_names_its_sheet_after_the_event_and_keeps_codes_as_text(tmp_path: Path) -> None:
    import openpyxl

    [path] = generate(tmp_path, "xlsx", ["ReleaseNoticeIssued"])
    wb = openpyxl.load_workbook(path)
    ws = wb.worksheets[0]
    assert ws.title == "ReleaseNoticeIssued"
    assert wb.sheetnames[1] == "说明"
    assert ws["A2"].value == "*案件编号"
    id_col = next(c for c in ws[2] if c.value == "服刑人员·公民身份号码").column_letter
    assert ws.column_dimensions[id_col].number_format == "@"
    assert any("是,否" in (dv.formula1 or "") for dv in ws.data_validations.dataValidation)


def test_unknown_or_hub_event_types_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="NoSuchEvent"):
        generate(tmp_path, "csv", ["NoSuchEvent"])
    with pytest.raises(ValueError, match="HandoffAssigned"):
        generate(tmp_path, "csv", ["HandoffAssigned"])


@pytest.mark.parametrize("etype", IN_EVENTS)
def test_the_example_row_of_every_template_is_a_valid_event(etype: str) -> None:
    """What the template shows staff as an example is accepted as it is (without its #)."""
    lay = layout(load()[etype])
    example = rows(lay)[FIRST_DATA_ROW - 2]
    example[0] = example[0].lstrip("#")
    cells = {c.path: v for c, v in zip(lay.shown(), example, strict=True) if v != ""}
    codec = Codec(load(), {})
    row = build(
        lay,
        FIRST_DATA_ROW,
        cells,
        agency="qs-jo-1",
        now=datetime(2026, 11, 8, tzinfo=UTC),
        codec=codec,
        directory=load_context().directory,
    )
    assert row.rejects == [] and row.event is not None
    accepted = parse(codec, row.event)
    assert accepted.envelope.subject == row.event["data"]["case_id"]
