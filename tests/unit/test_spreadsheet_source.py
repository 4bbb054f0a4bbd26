"""The spreadsheet source against a fake outbox (validation and authorisation real, no broker).

The real broker, ledger and worker are in tests/integration/test_spreadsheet.py.
"""

from __future__ import annotations

import asyncio
import csv
import io
from pathlib import Path
from typing import Any

import pytest

from fengqiao.connectors.authz import Authorizer, Forbidden
from fengqiao.connectors.cloudevents_json import Refused, parse
from fengqiao.connectors.runtime import Positions
from fengqiao.connectors.sdk import ConnectorContext, RecordError, RetriableError
from fengqiao.connectors.spreadsheet import SpreadsheetSource
from fengqiao.connectors.spreadsheet.columns import layout
from fengqiao.connectors.spreadsheet.template import csv_bytes, write_xlsx
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec
from fengqiao.streams.workflows import load_context

NOTICE = layout(load()["ReleaseNoticeIssued"])
COLUMNS = [c.path for c in NOTICE.shown()]


class FakeHub:
    def __init__(self) -> None:
        self.codec = Codec(load(), {})
        self.directory = load_context().directory
        self.ledger = None


class FakeOutbox:
    """Validates and authorises like the real one; `fail_after` makes the hub unreachable after N events."""

    def __init__(self, state: Path, fail_after: int | None = None) -> None:
        self.hub = FakeHub()
        self.positions = Positions(state)
        self.published: list[dict[str, Any]] = []
        self.fail_after = fail_after

        async def no_case(case_id: str) -> None:
            return None

        self.authorizer = Authorizer(self.hub.directory, self.hub.codec.catalogue, no_case)

    async def publish(self, event: dict[str, Any], *, agency: str | None = None) -> None:
        if self.fail_after is not None and len(self.published) >= self.fail_after:
            raise RetriableError("the hub did not take the event")
        try:
            accepted = parse(self.hub.codec, event)
        except Refused as r:
            raise RecordError(str(r), "invalid") from r
        try:
            await self.authorizer.check(str(agency), accepted)
        except Forbidden as f:
            raise RecordError(str(f), "unauthorised") from f
        self.published.append(event)


def notice(case_id: str, **cells: Any) -> list[Any]:
    base = {
        "case_id": case_id,
        "notice_number": f"ZJ2-{case_id}",
        "prison.agency_id": "zj-prison-2",
        "person.person_id": f"P-{case_id}",
        "person.name": "王建国",
        "person.id_number": "11010519491231002X",
        "residence.code": "339901001001",
        "expected_release_date": "2026-12-01",
        "offence_category": "property",
        "key_person": "否",
    }
    base.update(cells)
    return [base.get(p, "") for p in COLUMNS]


GOOD = [notice("U-1"), notice("U-2", key_person="是", key_person_reasons="暴力犯罪"), notice("U-3")]
BAD = [
    notice("U-4", **{"person.id_number": "110105194912310021"}),
    notice("U-5", **{"residence.code": "3399"}),
    notice("U-6", expected_release_date="2026-02-30"),
    notice("U-7", notice_number=""),
]


@pytest.fixture
def source(tmp_path: Path) -> SpreadsheetSource:
    config = SpreadsheetSource.Config(inbox=tmp_path / "inbox", agency="zj-prison-2", settle_s=0)
    src = SpreadsheetSource(config, ConnectorContext("sheet", tmp_path / "state", None))
    asyncio.run(src.start())
    return src


def rejects(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text("utf-8-sig"))))


async def test_good_rows_published_bad_rows_explained_and_the_file_moved(source: SpreadsheetSource) -> None:
    inbox = source.inbox
    (inbox / "notices.csv").write_bytes(
        csv_bytes(NOTICE, [GOOD[0], BAD[0], GOOD[1], BAD[1], BAD[2], BAD[3], GOOD[2]])
    )
    outbox = FakeOutbox(inbox.parent / "state")
    report = await source.import_file(inbox / "notices.csv", outbox)  # type: ignore[arg-type]
    assert [e["subject"] for e in outbox.published] == ["U-1", "U-2", "U-3"]
    assert report.status == "done" and report.published == 3
    assert not (inbox / "notices.csv").exists() and (inbox / "done" / "notices.csv").exists()
    table = rejects(inbox / "done" / "notices.rejects.csv")
    assert table[0] == ["行号", "列", "原因", "填写内容"]
    by_row = {int(r[0]): r for r in table[1:]}
    # Rows 1-5 are the template's; the data starts at row 6, as Excel shows it.
    assert by_row[7][1:3] == ["服刑人员·公民身份号码", "公民身份号码无效：末位校验码不对，请核对每一位"]
    assert by_row[9][1] == "户籍地/居住地·区划代码" and "6、9或12位" in by_row[9][2]
    assert by_row[10][1] == "预计释放日期" and "没有这一天" in by_row[10][2]
    assert by_row[11][1:3] == ["通知书文号", "必填项未填写"]
    assert set(by_row) == {7, 9, 10, 11}


async def test_the_same_file_again_or_resaved_publishes_nothing_twice(source: SpreadsheetSource) -> None:
    inbox = source.inbox
    outbox = FakeOutbox(inbox.parent / "state")
    data = csv_bytes(NOTICE, [*GOOD, BAD[0]])
    (inbox / "week1.csv").write_bytes(data)
    await source.import_file(inbox / "week1.csv", outbox)  # type: ignore[arg-type]
    (inbox / "week1 copy.csv").write_bytes(data)  # same bytes, another name
    dup = await source.import_file(inbox / "week1 copy.csv", outbox)  # type: ignore[arg-type]
    assert dup.status == "duplicate"
    assert "已导入过" in (inbox / "done" / "week1 copy.duplicate.txt").read_text("utf-8")
    # Re-saved as XLSX with the bad row fixed: only the fixed row is new.
    write_xlsx(NOTICE, inbox / "week1.xlsx", [*GOOD, notice("U-4")])
    fixed = await source.import_file(inbox / "week1.xlsx", outbox)  # type: ignore[arg-type]
    assert (fixed.published, fixed.already, fixed.rejects) == (1, 3, [])
    assert sorted(e["subject"] for e in outbox.published) == ["U-1", "U-2", "U-3", "U-4"]
    # week1.rejects.csv is week1.csv's: the new file takes a name whose rejects cannot be mistaken.
    assert fixed.moved_to == inbox / "done" / "week1-2.xlsx" and fixed.moved_to.exists()


async def test_a_crash_mid_file_resumes_after_the_last_published_row(source: SpreadsheetSource) -> None:
    inbox = source.inbox
    (inbox / "notices.csv").write_bytes(csv_bytes(NOTICE, GOOD))
    down = FakeOutbox(inbox.parent / "state", fail_after=2)
    with pytest.raises(RetriableError):
        await source.import_file(inbox / "notices.csv", down)  # type: ignore[arg-type]
    assert (inbox / "notices.csv").exists()  # not answered yet: it stays in the inbox
    down.positions.close()
    up = FakeOutbox(inbox.parent / "state")
    report = await source.import_file(inbox / "notices.csv", up)  # type: ignore[arg-type]
    assert [e["subject"] for e in down.published] == ["U-1", "U-2"]
    assert [e["subject"] for e in up.published] == ["U-3"]
    assert (report.published, report.already) == (1, 2)


async def test_identical_rows_in_one_file_are_one_event(source: SpreadsheetSource) -> None:
    inbox = source.inbox
    (inbox / "n.csv").write_bytes(csv_bytes(NOTICE, [GOOD[0], GOOD[0]]))
    outbox = FakeOutbox(inbox.parent / "state")
    await source.import_file(inbox / "n.csv", outbox)  # type: ignore[arg-type]
    assert len(outbox.published) == 1
    [_, row] = rejects(inbox / "done" / "n.rejects.csv")
    assert row[0] == "7" and "与第 6 行相同" in row[2]


@pytest.mark.parametrize(
    ("name", "content", "says"),
    [
        ("notes.csv", "姓名,电话\n张三,1\n".encode(), "无法确定这是哪类事件"),
        (
            "ReleaseNoticeIssued-x.csv",
            "案件编号,身高\nXS-1,180\n".encode(),
            "「身高」不是 ReleaseNoticeIssued",
        ),
        ("PersonReported-x.csv", "案件编号\nXS-1\n".encode(), "无权报送"),
        ("old.xls", b"\xd0\xcf\x11\xe0", "另存为"),
        ("broken.xlsx", b"PK\x03\x04 not really", "无法打开"),
    ],
)
async def test_a_file_that_cannot_be_read_goes_to_failed_with_the_reason(
    source: SpreadsheetSource, name: str, content: bytes, says: str
) -> None:
    inbox = source.inbox
    (inbox / name).write_bytes(content)
    outbox = FakeOutbox(inbox.parent / "state")
    report = await source.import_file(inbox / name, outbox)  # type: ignore[arg-type]
    assert report.status == "failed" and outbox.published == []
    stem = name.rsplit(".", 1)[0]
    [_, line] = rejects(inbox / "failed" / f"{stem}.rejects.csv")
    assert says in line[2]


async def test_a_gbk_csv_from_chinese_excel_is_read(source: SpreadsheetSource) -> None:
    inbox = source.inbox
    text = csv_bytes(NOTICE, GOOD[:1]).decode("utf-8-sig")
    (inbox / "gbk.csv").write_bytes(text.encode("gb18030"))
    outbox = FakeOutbox(inbox.parent / "state")
    report = await source.import_file(inbox / "gbk.csv", outbox)  # type: ignore[arg-type]
    assert report.published == 1 and outbox.published[0]["data"]["person"]["name"] == "王建国"


def test_pending_skips_temporary_and_own_files(source: SpreadsheetSource) -> None:
    inbox = source.inbox
    for name in ("a.csv", "~$a.xlsx", ".a.csv.tmp", "a.rejects.csv", "readme.txt", "b.xlsx"):
        (inbox / name).write_bytes(b"x")
    assert [p.name for p in source.pending()] == ["a.csv", "b.xlsx"]


async def test_an_own_event_id_used_again_for_other_content_is_refused(source: SpreadsheetSource) -> None:
    """A system export may carry its own ids (事件编号): one id with other content is not the same event."""
    inbox = source.inbox
    outbox = FakeOutbox(inbox.parent / "state")
    text = csv_bytes(NOTICE, [[*GOOD[0], "E-1"]]).decode("utf-8-sig").splitlines()
    text[1] += ",事件编号"  # the template does not show the column; a file may add it
    (inbox / "a.csv").write_text("\n".join(text) + "\n", "utf-8-sig")
    await source.import_file(inbox / "a.csv", outbox)  # type: ignore[arg-type]
    assert [e["id"] for e in outbox.published] == ["E-1"]
    changed = [*notice("U-1", offence_category="violent"), "E-1"]
    text = csv_bytes(NOTICE, [changed]).decode("utf-8-sig").splitlines()
    text[1] += ",事件编号"
    (inbox / "b.csv").write_text("\n".join(text) + "\n", "utf-8-sig")
    report = await source.import_file(inbox / "b.csv", outbox)  # type: ignore[arg-type]
    assert len(outbox.published) == 1 and report.status == "failed"
    [_, line] = rejects(inbox / "failed" / "b.rejects.csv")
    assert line[1] == "事件编号" and "内容与当时不同" in line[2]


async def test_a_failed_file_dropped_again_is_read_again(source: SpreadsheetSource) -> None:
    """Only an imported file is a duplicate: one refused whole may pass once the directory is fixed."""
    inbox = source.inbox
    outbox = FakeOutbox(inbox.parent / "state")
    data = csv_bytes(NOTICE, [BAD[0]])
    (inbox / "n.csv").write_bytes(data)
    first = await source.import_file(inbox / "n.csv", outbox)  # type: ignore[arg-type]
    (inbox / "n.csv").write_bytes(data)
    second = await source.import_file(inbox / "n.csv", outbox)  # type: ignore[arg-type]
    assert (first.status, second.status) == ("failed", "failed")
    assert second.moved_to == inbox / "failed" / "n-2.csv"
