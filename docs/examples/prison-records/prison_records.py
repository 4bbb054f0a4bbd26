"""A source for 明镜狱政管理系统, a fictional prison records system: docs/integrators.md's example.

The prison system keeps its release schedule in a SQL table, ``release_schedule``; each row gets a
growing ``row_version`` when it is written. This source polls for rows above the last version it
published, turns each into a ``ReleaseNoticeIssued`` CloudEvent, publishes it through the hub's
outbox (which answers once the event is durable) and only then remembers the row's version, so a
crash publishes a row again at worst — with the same event id, which the hub applies once.
Rows the hub refuses are written back to the prison system's ``hub_refusals`` table with the
reason, where the prison's staff see them, and the source goes on with the next row.
"""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from fengqiao.connectors.conformance import SourceHarness
from fengqiao.connectors.runtime import Outbox
from fengqiao.connectors.sdk import ConnectorConfig, RecordError, Source

SCHEMA = """
CREATE TABLE IF NOT EXISTS release_schedule (
    row_version INTEGER PRIMARY KEY AUTOINCREMENT,
    inmate_no TEXT NOT NULL, name TEXT NOT NULL, id_card TEXT, phone TEXT,
    residence_code TEXT NOT NULL, residence_name TEXT,
    release_date TEXT NOT NULL, offence TEXT NOT NULL, key_person INTEGER NOT NULL, reasons TEXT,
    notice_no TEXT NOT NULL, case_no TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS hub_refusals (row_version INTEGER, case_no TEXT, reason TEXT, at TEXT);
"""


class PrisonRecordsConfig(ConnectorConfig):
    database: Path = Field(description="the prison system's SQLite database (read-only for the schedule)")
    prison_id: str = Field(default="zj-prison-2", description="the prison's id in the hub's agency directory")
    prison_name: str = "浙江省第二监狱"
    poll_s: float = Field(default=1.0, gt=0, description="how often to look for new rows")


class PrisonRecordsSource(Source[PrisonRecordsConfig]):
    """Release notices (刑满释放通知) from the 明镜 prison records system."""

    Config = PrisonRecordsConfig
    summary = "明镜狱政系统 release schedule → ReleaseNoticeIssued"
    agency = "zj-prison-2"  # who it speaks for by default (config prison_id), and what it publishes
    event_types = ("ReleaseNoticeIssued",)

    async def start(self) -> None:
        self.db = sqlite3.connect(self.config.database, isolation_level=None, check_same_thread=False)
        self.db.executescript(SCHEMA)

    async def stop(self) -> None:
        self.db.close()

    async def run(self, outbox: Outbox) -> None:
        while True:
            last = int(outbox.positions.get("row_version") or 0)
            rows = self.db.execute(
                "SELECT * FROM release_schedule WHERE row_version > ? ORDER BY row_version LIMIT 100", (last,)
            ).fetchall()
            names = [d[0] for d in self.db.execute("SELECT * FROM release_schedule LIMIT 0").description]
            for values in rows:
                row = dict(zip(names, values, strict=True))
                try:
                    await outbox.publish(self.event(row), agency=self.config.prison_id)
                    self.health().count("published")
                except RecordError as e:  # tell the prison's staff, where they work, and go on
                    self.db.execute(
                        "INSERT INTO hub_refusals VALUES (?, ?, ?, ?)",
                        (row["row_version"], row["case_no"], e.reason, datetime.now(UTC).isoformat()),
                    )
                    self.health().count("refused")
                outbox.positions.put("row_version", str(row["row_version"]))
                outbox.took(str(row["row_version"]))  # done with the row: whoever waits on it may go on
            if not rows:
                await asyncio.sleep(self.config.poll_s)

    def event(self, row: dict[str, Any]) -> dict[str, Any]:
        """One schedule row as the hub's ReleaseNoticeIssued (docs/events.md)."""
        return {
            "specversion": "1.0",
            "id": f"{row['case_no']}-notice-{row['notice_no']}",  # stable: a row published twice is one event
            "source": self.config.prison_id,
            "type": "ReleaseNoticeIssued",
            "subject": row["case_no"],
            "time": datetime.now(UTC).isoformat(),
            "jurisdiction": row["residence_code"],
            "data": {
                "case_id": row["case_no"],
                "notice_number": row["notice_no"],
                "prison": {
                    "agency_id": self.config.prison_id,
                    "agency_type": "prison",
                    "name": self.config.prison_name,
                },
                "person": {
                    "person_id": row["inmate_no"],
                    "name": row["name"],
                    "id_number": row["id_card"],
                    "phone": row["phone"],
                },
                "residence": {"code": row["residence_code"], "name": row["residence_name"]},
                "expected_release_date": row["release_date"],
                "offence_category": row["offence"],
                "key_person": bool(row["key_person"]),
                "key_person_reasons": [r for r in (row["reasons"] or "").split(";") if r],
            },
        }

    @classmethod
    def conformance(cls, workdir: Path) -> PrisonRecordsHarness:
        return PrisonRecordsHarness(workdir)


class PrisonRecordsHarness(SourceHarness):
    """Plays the prison system for the conformance kit: writes schedule rows, reads refusals."""

    def __init__(self, workdir: Path) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.database = workdir / "mingjing.db"
        self.db = sqlite3.connect(self.database, isolation_level=None, check_same_thread=False)
        self.db.executescript(SCHEMA)

    def config(self) -> dict[str, Any]:
        return {"database": str(self.database), "poll_s": 0.05}

    async def close(self) -> None:
        self.db.close()

    def _row(self, event: dict[str, Any]) -> int:
        d = event["data"]
        cur = self.db.execute(
            "INSERT INTO release_schedule (inmate_no, name, id_card, phone, residence_code, residence_name,"
            " release_date, offence, key_person, reasons, notice_no, case_no)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                d["person"]["person_id"],
                d["person"]["name"],
                d["person"]["id_number"],
                d["person"]["phone"],
                d["residence"]["code"],
                d["residence"]["name"],
                d["expected_release_date"],
                d["offence_category"],
                int(d["key_person"]),
                ";".join(d["key_person_reasons"]),
                d["notice_number"],
                event["subject"],
            ),
        )
        assert cur.lastrowid is not None
        return cur.lastrowid

    async def feed(self, events: list[dict[str, Any]]) -> None:
        last = 0
        for e in events:
            last = self._row(e)
        await self._answered(last)

    async def feed_invalid(self, event: dict[str, Any]) -> None:
        await self._answered(self._row(event))

    async def refusals(self) -> list[str]:
        return [r[0] for r in self.db.execute("SELECT reason FROM hub_refusals ORDER BY rowid")]

    async def _answered(self, row_version: int) -> None:
        """Until the source has taken the row (published or refused it): its ``outbox.took``."""
        await self.taken(str(row_version))
