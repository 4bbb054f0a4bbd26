"""Spreadsheet intake against the real hub: broker, ledger, worker, authorisation.

A township office's file with good and bad rows: each good row is published once — even when
the file is dropped again, or re-sent in the other format — and the rejects file names each bad
row (row number as Excel shows it, the column's Chinese header, the reason). A source stopped in
the middle of a file resumes after the last published row.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import csv
import io
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from fengqiao.connectors import runtime
from fengqiao.connectors.runtime import HubLink
from fengqiao.connectors.spreadsheet import SpreadsheetSource
from fengqiao.connectors.spreadsheet.columns import layout
from fengqiao.connectors.spreadsheet.template import csv_bytes, write_xlsx
from fengqiao.hub import Hub
from fengqiao.scenario import demo_events
from fengqiao.schemas.catalogue import load
from fengqiao.settings import Settings

pytestmark = pytest.mark.integration

PRISON = "zj-prison-2"
NOTICE = layout(load()["ReleaseNoticeIssued"])
COLUMNS = [c.path for c in NOTICE.shown()]
FIRST_ROW = 6  # rows 1-5 of a template are its type, headers, paths, notes and example


def notice(case_id: str, **cells: Any) -> list[Any]:
    base = {
        "case_id": case_id,
        "notice_number": f"浙二监通〔2026〕{case_id}",
        "prison.agency_id": PRISON,
        "person.person_id": f"P-{case_id}",
        "person.name": "王建国",
        "person.id_number": "11010519491231002X",
        "residence.code": "339901001001",
        "residence.name": "青山镇东溪村",
        "expected_release_date": "2026/12/1",
        "offence_category": "property",
        "key_person": "否",
    }
    base.update(cells)
    return [base.get(p, "") for p in COLUMNS]


class Intake:
    """One spreadsheet source on the session's hub, with its own folder and positions."""

    def __init__(self, hub_settings: Settings, root: Path, name: str) -> None:
        self.hub_settings = hub_settings
        self.own = hub_settings.model_copy(update={"data_dir": root / "data"})
        self.inbox = root / "inbox"
        self.name = name
        self.config = SpreadsheetSource.Config(inbox=self.inbox, agency=PRISON, poll_s=0.05, settle_s=0)

    @contextlib.asynccontextmanager
    async def running(self, cls: type[SpreadsheetSource] = SpreadsheetSource) -> AsyncIterator[asyncio.Event]:
        link = await HubLink.connect(self.hub_settings)
        stop, started = asyncio.Event(), asyncio.Event()
        ctx = runtime.context_for(self.name, self.own, link)
        task = asyncio.create_task(runtime.run_connector(cls, self.config, ctx, stop, started=started))
        try:
            await asyncio.wait_for(started.wait(), 30)
            yield stop
        finally:
            stop.set()
            await task
            link.close()

    def drop(self, name: str, data: bytes) -> Path:
        """As staff copy a file in: it appears whole (the source never sees half a file)."""
        tmp = self.inbox / f".{name}.tmp"
        tmp.write_bytes(data)
        os.replace(tmp, self.inbox / name)
        return self.inbox / name

    async def answered(self, path: Path, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while path.exists():
            assert time.monotonic() < deadline, f"{path.name} was not imported within {timeout}s"
            await asyncio.sleep(0.05)


def xlsx_bytes(rows: list[list[Any]], tmp: Path) -> bytes:
    return write_xlsx(NOTICE, tmp / f"{uuid.uuid4().hex}.xlsx", rows).read_bytes()


def published(settings: Settings, case_ids: list[str], etype: str = "ReleaseNoticeIssued") -> Counter[str]:
    """How many times the hub's ledger holds each case's event of ``etype`` (from any source)."""
    from fengqiao.streams.ledger import Ledger

    with Ledger(settings.ledger_url) as ledger:
        return Counter(
            r.case_id or "" for c in case_ids for r in ledger.read(case_id=c) if r.event_type == etype
        )


def rejects(path: Path) -> dict[int, list[str]]:
    table = list(csv.reader(io.StringIO(path.read_text("utf-8-sig"))))
    assert table[0] == ["行号", "列", "原因", "填写内容"]
    return {int(r[0]): r[1:] for r in table[1:]}


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
async def test_good_rows_published_once_bad_rows_explained(
    hub: Hub, hub_settings: Settings, tmp_path: Path, fmt: str
) -> None:
    run = uuid.uuid4().hex[:6].upper()
    good = [f"SS-{run}-{i}" for i in (1, 2, 3)]
    bad = [f"SS-{run}-{i}" for i in (4, 5, 6, 7)]
    rows = [
        notice(good[0]),
        notice(bad[0], **{"person.id_number": "110105194912310021"}),  # wrong check digit
        notice(good[1], key_person="是", key_person_reasons="暴力犯罪；累犯"),
        notice(bad[1], **{"residence.code": "33990100"}),  # 8 digits
        notice(bad[2], expected_release_date="1/12/2026"),  # not year first
        notice(bad[3], **{"person.name": ""}),  # a required cell left empty
        notice(good[2], **{"residence.code": "339901002001"}),
    ]
    intake = Intake(hub_settings, tmp_path, f"sheet-{fmt}")
    data = xlsx_bytes(rows, tmp_path) if fmt == "xlsx" else csv_bytes(NOTICE, rows)
    other = csv_bytes(NOTICE, rows) if fmt == "xlsx" else xlsx_bytes(rows, tmp_path)
    async with intake.running():
        await intake.answered(intake.drop(f"通知-1108.{fmt}", data))
        done = intake.inbox / "done"
        assert (done / f"通知-1108.{fmt}").exists()
        found = rejects(done / "通知-1108.rejects.csv")
        assert sorted(found) == [FIRST_ROW + 1, FIRST_ROW + 3, FIRST_ROW + 4, FIRST_ROW + 5]
        column, reason, value = found[FIRST_ROW + 1]
        assert (column, value) == (
            "服刑人员·公民身份号码",
            "110105194912310021",
        ) and "公民身份号码无效" in reason
        assert found[FIRST_ROW + 3][0] == "户籍地/居住地·区划代码" and "6、9或12位" in found[FIRST_ROW + 3][1]
        assert found[FIRST_ROW + 4][0] == "预计释放日期" and "2026-11-08" in found[FIRST_ROW + 4][1]
        assert found[FIRST_ROW + 5][:2] == ["服刑人员·姓名", "必填项未填写"]
        assert published(hub_settings, good + bad) == Counter(good)

        # The same file dropped again under another name, and the same rows in the other format.
        await intake.answered(intake.drop(f"通知-1108（再次）.{fmt}", data))
        assert "已导入过" in (done / "通知-1108（再次）.duplicate.txt").read_text("utf-8")
        other_fmt = "csv" if fmt == "xlsx" else "xlsx"
        await intake.answered(intake.drop(f"通知-1108.{other_fmt}", other))
        assert published(hub_settings, good + bad) == Counter(good)

    # The hub applied them: each good notice opened its case, as the prison's.
    link = await HubLink.connect(hub_settings)
    try:
        for case_id in good:
            case = await wait_for_case(link, case_id)
            assert PRISON in {e["source"] for e in case["events"]}
    finally:
        link.close()


async def wait_for_case(link: HubLink, case_id: str, timeout: float = 30.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        case = await link.case(case_id)
        if case is not None:
            return case
        await asyncio.sleep(0.1)
    pytest.fail(f"the worker never showed case {case_id}")


class StopsAfterTwo(SpreadsheetSource):
    """Stopped by the runtime right after its second published row, as a crash mid-file would."""

    stop: asyncio.Event | None = None
    count = 0

    async def _publish(self, outbox: Any, sheet: Any, row: Any) -> Any:
        result = await super()._publish(outbox, sheet, row)
        type(self).count += 1
        if type(self).count == 2 and self.stop is not None:
            self.stop.set()
        return result


async def test_stopped_mid_file_resumes_after_the_last_published_row(
    hub: Hub, hub_settings: Settings, tmp_path: Path
) -> None:
    run = uuid.uuid4().hex[:6].upper()
    cases = [f"SR-{run}-{i}" for i in range(1, 6)]
    intake = Intake(hub_settings, tmp_path, "sheet-resume")
    async with intake.running(StopsAfterTwo) as stop:
        StopsAfterTwo.stop = stop
        path = intake.drop("notices.csv", csv_bytes(NOTICE, [notice(c) for c in cases]))
        await asyncio.wait_for(stop.wait(), 60)
    assert path.exists()  # not answered: it stays in the inbox
    first = published(hub_settings, cases)
    assert sum(first.values()) == 2 and max(first.values()) == 1
    async with intake.running():
        await intake.answered(path)
    assert published(hub_settings, cases) == Counter(cases)  # each once: the first two were not sent again
    assert not (intake.inbox / "done" / "notices.rejects.csv").exists()


async def test_the_conformance_harness_feeds_one_agencys_events(
    hub: Hub, hub_settings: Settings, tmp_path: Path
) -> None:
    """The harness the kit drives: the prison's demo events in, one event per id, a refusal explained."""
    run = uuid.uuid4().hex[:6].upper()
    events = []
    for e in demo_events(1):
        if e["source"] != PRISON:
            continue
        e = copy.deepcopy(e)
        e["subject"] = e["data"]["case_id"] = f"{e['subject']}-{run}"
        e["id"] = f"{e['id']}-{run}"
        events.append(e)
    harness = SpreadsheetSource.conformance(tmp_path)
    harness.agency = PRISON
    await harness.open()
    config = SpreadsheetSource.parse_config(harness.config())
    link = await HubLink.connect(hub_settings)
    stop = asyncio.Event()
    own = hub_settings.model_copy(update={"data_dir": tmp_path / "data"})
    task = asyncio.create_task(
        runtime.run_connector(SpreadsheetSource, config, runtime.context_for("sheet-kit", own, link), stop)
    )
    try:
        await harness.feed(events)
        await harness.feed(events)  # the same input twice
        broken = copy.deepcopy(next(e for e in events if e["type"] == "ReleaseNoticeIssued"))
        broken["data"]["person"]["id_number"] = "123"
        await harness.feed_invalid(broken)
        with pytest.raises(ValueError, match="speak for"):
            await harness.feed([{**events[0], "source": "qs-jo-1"}])
        refusals = await harness.refusals()
        assert len(refusals) == 1 and "服刑人员·公民身份号码" in refusals[0], refusals
        assert link.ledger is not None
        for e in events:
            rec = link.ledger.find_event(e["id"])
            assert rec is not None and rec.source == PRISON and rec.event_type == e["type"]
            assert sum(1 for r in link.ledger.read(case_id=e["subject"]) if r.event_id == e["id"]) == 1
    finally:
        stop.set()
        await task
        await harness.close()
        link.close()
