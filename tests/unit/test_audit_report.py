"""The case audit report: a key person's release case with a missed pick-up, in HTML, CSV and JSON.

The case is told through the engine (as `tests/scenarios/test_release.py` does); its ledger records
are made here from the published events and the hub's decisions, chained like the ledger's.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
from helpers import release_event

from fengqiao.reporting import audit as audit_report
from fengqiao.schemas.codec import to_json
from fengqiao.schemas.envelope import format_time
from fengqiao.streams import engine
from fengqiao.streams.topics import workflow_topic
from fengqiao.streams.workflows import load_context

T0 = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # Tuesday 10:00 in Beijing
RELEASE = datetime(2026, 10, 13, 1, 0, tzinfo=UTC)  # Tuesday 09:00 in Beijing
NOW = RELEASE + timedelta(days=2)
HOME = {"code": "339901001001", "name": "东溪村"}
EVIL = '<script>alert("x")</script>浙江省第二监狱'
PRISON = {"agency_id": "zj-prison-2", "agency_type": "prison", "name": EVIL}


def _story() -> tuple[engine.Case, list[dict[str, Any]]]:
    """Key person: acknowledged and planned on time, picked up a day late, never reported delivered."""
    ctx = load_context()
    case: engine.Case | None = None
    log: list[tuple[Any, dict[str, Any], datetime]] = []  # (envelope, record, recorded at)

    def publish(etype: str, t: datetime, source: str, **fields: Any) -> None:
        nonlocal case
        env, record = release_event(etype, "XS-9", t, source, **fields)
        out = engine.handle(case, env, record, ctx, t)
        case = out.case
        log.append((env, record, t + timedelta(seconds=2)))
        log.extend((e, r, t + timedelta(seconds=3)) for e, r in out.decisions)

    def time_passes(now: datetime) -> None:
        nonlocal case
        for env, record in engine.tick(case, ctx, now):
            case, _ = engine.fold(case, env, record, "release")
            log.append((env, record, now + timedelta(seconds=1)))

    publish(
        "ReleaseNoticeIssued",
        T0,
        "zj-prison-2",
        key_person=True,
        residence=HOME,
        prison=PRISON,
        expected_release_date=RELEASE.date(),
        key_person_reasons=["暴力犯罪"],
    )
    publish("ReleaseNoticeAcknowledged", T0 + timedelta(days=1), "qs-jo-1")
    publish("PickupPlanned", T0 + timedelta(days=20), "qs-jo-1", meeting_at=RELEASE)
    publish("PersonReleased", RELEASE, "zj-prison-2", released_at=RELEASE)
    time_passes(RELEASE + timedelta(hours=15, minutes=1))  # 00:01 the next day: PickupMissed
    time_passes(RELEASE + timedelta(hours=24, minutes=1))  # 24 hours passed: DeliveryMissed
    publish("PersonReceived", RELEASE + timedelta(hours=26), "qs-jo-1")  # a day late
    assert case is not None
    return case, _ledger(log)


def _ledger(log: list[tuple[Any, dict[str, Any], datetime]]) -> list[dict[str, Any]]:
    """Ledger records as the audit reads them, with a SHA-256 chain over the partition."""
    prev = b""
    out = []
    for offset, (env, record, recorded) in enumerate(log):
        data = to_json(record)
        row = {
            "event_id": env.id,
            "event_type": env.type,
            "source": env.source,
            "event_time": format_time(env.time),
            "recorded_at": format_time(recorded),
            "topic": workflow_topic("release"),
            "partition": 3,
            "offset": offset,
            "causation_id": env.causationid,
            "data": data,
        }
        digest = hashlib.sha256(prev + json.dumps(row, sort_keys=True, ensure_ascii=False).encode()).digest()
        prev = digest
        out.append({**row, "hash": digest.hex()})
    return out


@pytest.fixture(scope="module")
def story() -> tuple[engine.Case, list[dict[str, Any]]]:
    return _story()


class _Tables(HTMLParser):
    """Rows of each table by its class, and every tag seen."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, int] = {}
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self._table: str | None = None
        self._in_body = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag == "table":
            self._table = dict(attrs).get("class") or ""
            self.rows[self._table] = 0
        elif tag == "tbody":
            self._in_body = True
        elif tag == "tr" and self._in_body and self._table is not None:
            self.rows[self._table] += 1

    def handle_endtag(self, tag: str) -> None:
        if tag == "tbody":
            self._in_body = False
        elif tag == "table":
            self._table = None


def test_the_story_has_what_the_report_must_show(story) -> None:
    case, records = story
    outcomes = {h["step"]: h["state"] for h in case["handoffs"].values()}
    assert outcomes["gate_pickup"] == "fulfilled" and outcomes["delivery"] == "escalated"
    assert [a["type"] for a in case["alerts"]] == ["PickupMissed", "DeliveryMissed"]
    assert sorted(r["event_id"] for r in records) == sorted(e["id"] for e in case["events"])


def test_html_lists_every_handoff_with_its_deadline_and_outcome(story) -> None:
    case, records = story
    page = audit_report.render(case, records, "html", generated_at=NOW)
    assert page.startswith("<!DOCTYPE html>") and '<html lang="zh-CN">' in page
    assert "刑满释放人员衔接与必接必送" in page and "2026.1" in page
    parser = _Tables()
    parser.feed(page)
    parser.close()
    assert parser.rows["handoffs"] == len(case["handoffs"])
    assert parser.rows["timeline"] == len(records)
    assert parser.rows["alerts"] == 2
    # Self-contained: no scripts, no external stylesheets, images or links.
    assert not [t for t, a in parser.tags if t in ("script", "link", "img", "iframe")]
    assert not [a for _, a in parser.tags if a.get("src") or a.get("href")]

    for h in case["handoffs"].values():
        if h.get("deadline"):
            assert audit_report._limit(h["deadline"]["due"]) in page
    # Each outcome in its row: limits ending at midnight read 24:00 of their last day.
    rows = page.split("<tr>")
    expect = {
        "签收刑满释放人员衔接任务": ("2026-09-04 24:00:00", "按时完成", "release.acknowledge"),
        "释放当日在监狱门口接回": ("2026-10-13 24:00:00", "逾期完成", "release.pickup"),
        "24小时内送达居住地": ("2026-10-14 09:00:00", "逾期未完成", "release.delivery"),
        "30日内报到并办理户口登记": ("2026-11-12 24:00:00", "未到期", "release.report"),
    }
    for task, wanted in expect.items():
        row = next(r for r in rows if r.startswith(f"<td>{task}"))
        assert all(w in row for w in wanted), (task, row)
    pickup = next(r for r in rows if r.startswith("<td>释放当日在监狱门口接回"))
    assert "2026-10-14 11:00:00" in pickup  # when it was done, a day late
    assert "青山县司法局" in pickup and "青山镇派出所" in pickup  # escalated to


def test_html_shows_who_knew_what_when(story) -> None:
    case, records = story
    page = audit_report.render(case, records, "html", generated_at=NOW)
    released = next(r for r in page.split("<tr") if "PersonReleased" in r)
    assert "2026-10-13 09:00:00" in released and "2026-10-13 09:00:02" in released  # happened, recorded
    assert "zj-prison-2" in released and "fengqiao.release / 3 / " in released
    assert records[10]["hash"][:12] in page
    assert page.count("枢纽决定") >= sum(r["source"] == "fengqiao-hub" for r in records)
    assert "生成时间" in page and "2026-10-15 09:00:00" in page


def test_html_escapes_what_the_agencies_send(story) -> None:
    case, records = story
    page = audit_report.render(case, records, "html", generated_at=NOW, agencies={"x": "<b>"})
    assert "<script" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;浙江省第二监狱" in page


def test_csv_has_a_row_per_event_then_handoffs_and_alerts(story) -> None:
    case, records = story
    text = audit_report.render(case, records, "csv", generated_at=NOW)
    assert text.startswith("\ufeff") and text.encode("utf-8").startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert list(rows[0]) == list(audit_report.CSV_COLUMNS)
    kinds = [r["kind"] for r in rows]
    assert kinds == ["case"] + ["event"] * len(records) + ["handoff"] * len(case["handoffs"]) + ["alert"] * 2
    events = [r for r in rows if r["kind"] == "event"]
    assert [r["event_id"] for r in events] == [r["event_id"] for r in records]
    assert [r["hash"] for r in events] == [r["hash"] for r in records]
    assert [int(r["offset"]) for r in events] == list(range(len(records)))
    released = next(r for r in events if r["event_type"] == "PersonReleased")
    assert (released["event_time"], released["recorded_at"]) == ("2026-10-13 09:00:00", "2026-10-13 09:00:02")
    pickup = next(r for r in rows if r["kind"] == "handoff" and r["step"] == "gate_pickup")
    assert pickup["deadline"] == "2026-10-13 24:00:00" and pickup["outcome"] == "late 逾期完成"
    assert pickup["rule_id"] == "release.pickup" and pickup["legal_source"] == "local practice"
    assert [r["event_type"] for r in rows if r["kind"] == "alert"] == ["PickupMissed", "DeliveryMissed"]


def test_csv_cells_are_not_formulas(story) -> None:
    case, records = story
    text = audit_report.render(case, records, "csv", generated_at=NOW, agencies={"qs-jo-1": "=HYPERLINK(1)"})
    rows = list(csv.DictReader(io.StringIO(text.removeprefix("\ufeff"))))
    assert {r["agency_name"] for r in rows if r["agency_id"] == "qs-jo-1"} == {"'=HYPERLINK(1)"}


def test_json_round_trips_with_the_same_content(story) -> None:
    case, records = story
    text = audit_report.render(case, records, "json", generated_at=NOW)
    report = json.loads(text)
    assert report == audit_report.build(case, records, generated_at=NOW)
    assert json.loads(json.dumps(report, ensure_ascii=False)) == report
    assert [e["event_id"] for e in report["timeline"]] == [r["event_id"] for r in records]
    assert report["case"]["workflow_zh"] == "刑满释放人员衔接与必接必送"
    delivery = next(h for h in report["handoffs"] if h["step"] == "delivery")
    assert delivery["outcome"] == "missed" and delivery["deadline"]["due_bj"] == "2026-10-14 09:00:00"
    assert [x["agency_id"] for x in delivery["escalations"]] == ["qs-jb", "qs-ps-1"]
    missed = report["alerts"][0]
    assert missed["type"] == "PickupMissed" and missed["responsible"]["agency_id"] == "qs-jo-1"
    assert report["timeline"][missed["seq"] - 1]["event_type"] == "PickupMissed"
    assert report["consistency"] == {"missing_from_ledger": [], "not_in_case_state": []}


def test_a_record_missing_from_the_ledger_is_shown(story) -> None:
    case, records = story
    gone = records[4]["event_id"]
    report = audit_report.build(case, records[:4] + records[5:], generated_at=NOW)
    assert report["consistency"]["missing_from_ledger"] == [gone]
    assert "不一致" in audit_report.render(case, records[:4] + records[5:], "html", generated_at=NOW)


def test_an_unknown_format_is_refused(story) -> None:
    case, records = story
    with pytest.raises(ValueError, match="format"):
        audit_report.render(case, records, "pdf")  # type: ignore[arg-type]


def test_a_case_not_yet_opened_renders_in_every_format() -> None:
    case = engine.new_case("XS-0", "release")
    for fmt in ("html", "csv", "json"):
        assert "XS-0" in audit_report.render(case, [], fmt, generated_at=NOW)
