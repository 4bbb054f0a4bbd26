"""Spreadsheet cells and rows: Excel's dates and numbers, Chinese text, and bad cells named in Chinese."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from fengqiao.connectors.spreadsheet.cells import CellError, read
from fengqiao.connectors.spreadsheet.columns import Column, layout
from fengqiao.connectors.spreadsheet.rows import build, flatten, nest, reason_zh, unslot
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec
from fengqiao.streams.workflows import load_context

NOTICE = layout(load()["ReleaseNoticeIssued"])
DATE = NOTICE.column("expected_release_date")
RIC = NOTICE.column("person.id_number")
KEY = NOTICE.column("key_person")
REASONS = NOTICE.column("key_person_reasons")
AGENCY_TYPE = NOTICE.column("prison.agency_type")
INSTANT = layout(load()["PersonReleased"]).column("released_at")
NOW = datetime(2026, 11, 8, 2, 0, tzinfo=UTC)


def cell(col: Column | None, raw: object) -> object:
    assert col is not None
    return read(col, raw)


@pytest.mark.parametrize(
    "raw",
    [datetime(2026, 11, 8), date(2026, 11, 8), "2026-11-08", "2026/11/8", "2026年11月8日", "2026.11.08"],
)
def test_a_date_from_excel_or_as_text_year_first(raw: object) -> None:
    assert cell(DATE, raw) == "2026-11-08"


@pytest.mark.parametrize(
    ("raw", "says"),
    [
        ("8/11/2026", "应为 年-月-日，如 2026-11-08"),
        ("2026-02-30", "没有这一天"),
        ("下周一", "日期格式不正确"),
    ],
)
def test_a_date_that_is_not_year_first_or_does_not_exist_is_refused_naming_the_format(
    raw: str, says: str
) -> None:
    with pytest.raises(CellError, match=says):
        cell(DATE, raw)


def test_an_instant_without_an_offset_is_beijing_time() -> None:
    assert cell(INSTANT, datetime(2026, 11, 8, 9, 30)) == "2026-11-08T09:30:00+08:00"
    assert cell(INSTANT, "2026/11/8 9:30") == "2026-11-08T09:30:00+08:00"
    assert cell(INSTANT, "2026-11-08T01:30:00Z") == "2026-11-08T01:30:00+00:00"
    with pytest.raises(CellError, match="只有日期"):
        cell(INSTANT, "2026-11-08")
    with pytest.raises(CellError, match="时间格式不正确"):
        cell(INSTANT, "上午九点")


def test_an_id_number_excel_made_a_number_is_refused_with_the_fix() -> None:
    with pytest.raises(CellError, match="文本"):
        cell(RIC, 1.1010519491231002e17)
    with pytest.raises(CellError, match="科学计数法"):
        cell(RIC, "1.10105E+17")
    assert cell(RIC, " 11010519491231002x ") == "11010519491231002X"
    assert cell(RIC, "１１０１０５１９４９１２３１００２Ｘ") == "11010519491231002X"  # full-width digits


def test_yes_no_enums_in_chinese_or_as_symbols_and_lists() -> None:
    assert cell(KEY, "是") is True and cell(KEY, "否") is False and cell(KEY, True) is True
    with pytest.raises(CellError, match="「是」或「否」"):
        cell(KEY, "也许")
    assert cell(AGENCY_TYPE, "监狱") == "prison" and cell(AGENCY_TYPE, "Prison") == "prison"
    with pytest.raises(CellError, match="监狱\\(prison\\)"):
        cell(AGENCY_TYPE, "看守所")
    assert cell(REASONS, "暴力犯罪；涉毒;\n累犯") == ["暴力犯罪", "涉毒", "累犯"]


def test_nest_and_unslot_keep_track_of_the_group_each_list_item_came_from() -> None:
    data, slots = nest(
        {"case_id": "C", "parties[0].name": "甲", "parties[2].name": "乙", "risk.violence": True}
    )
    assert data == {"case_id": "C", "parties": [{"name": "甲"}, {"name": "乙"}], "risk": {"violence": True}}
    assert slots == {"parties": [0, 2]}
    assert unslot("parties[1].id_number", slots) == "parties[2].id_number"
    assert flatten(data) == {
        "case_id": "C",
        "parties[0].name": "甲",
        "parties[1].name": "乙",
        "risk.violence": True,
    }


def test_a_row_with_bad_cells_names_each_column_and_what_else_is_missing() -> None:
    cells = {
        "case_id": "XS-1",
        "prison.agency_id": "浙江省第二监狱",  # the agency's full name is enough
        "person.person_id": "P1",
        "person.name": "张三",
        "person.id_number": "110105194912310021",
        "residence.code": "339901001001",
        "expected_release_date": "8/11/2026",
        "offence_category": "property",
        "key_person": "否",
    }
    codec, directory = Codec(load(), {}), load_context().directory
    row = build(NOTICE, 7, cells, agency="zj-prison-2", now=NOW, codec=codec, directory=directory)
    assert row.event is None
    found = {(r.row, r.column): r.reason for r in row.rejects}
    assert "应为 年-月-日" in found[(7, "预计释放日期")]
    assert found[(7, "通知书文号")] == "必填项未填写"
    assert found[(7, "服刑人员·公民身份号码")].startswith("公民身份号码无效")
    cells.update({"expected_release_date": "2026/11/8", "notice_number": "N-1", "person.id_number": ""})
    good = build(NOTICE, 7, cells, agency="zj-prison-2", now=NOW, codec=codec, directory=directory)
    assert good.rejects == [] and good.event is not None
    assert good.event["data"]["prison"] == {
        "agency_id": "zj-prison-2",
        "agency_type": "prison",
        "name": "浙江省第二监狱",
    }
    assert good.event["subject"] == "XS-1" and good.event["time"] == NOW.isoformat()
    again = build(NOTICE, 99, dict(cells), agency="zj-prison-2", now=datetime.now(UTC), directory=directory)
    assert again.id == good.id  # the same row, anywhere, any time: the same event
    other = build(NOTICE, 7, cells, agency="qs-jo-1", now=NOW, directory=directory)
    assert other.id != good.id


def test_the_event_time_is_the_records_own_instant() -> None:
    lay = layout(load()["PersonReleased"])
    cells = {"case_id": "XS-1", "released_at": "2026-11-08 09:30"}
    row = build(lay, 6, cells, agency="zj-prison-2", now=NOW)
    assert row.event is not None and row.event["time"] == "2026-11-08T09:30:00+08:00"


def test_codec_reasons_read_in_chinese() -> None:
    assert reason_zh("required field is missing") == "必填项未填写"
    assert (
        reason_zh("an administrative division code has 6, 9 or 12 digits") == "行政区划代码应为6、9或12位数字"
    )
    assert "末位校验码" in reason_zh(
        "not a valid resident identity card number (The number's checksum or check digit is invalid.)"
    )
