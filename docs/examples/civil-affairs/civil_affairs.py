"""A source for 民政救助系统, a fictional civil affairs assistance system: docs/integrators.md's
second example, for an agency other than the prison and event types of its own.

The system exports one JSON file per decision into a folder: an assistance grant (救助批准,
``AssistanceGranted``) or a hardship check (经济困难状况, ``HardshipStatusReported``). The source
publishes each through the hub's outbox (which answers once the event is durable), moves the file
to ``done/`` — or, when the hub refuses it, writes the reason beside it in ``refused/`` where the
bureau's staff see it — and then reports the file taken (``outbox.took``). The event id comes from
the file's content, so a file exported twice is one event.
"""

from __future__ import annotations

import asyncio
import json
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from fengqiao.connectors.conformance import SourceHarness
from fengqiao.connectors.runtime import Outbox
from fengqiao.connectors.sdk import ConnectorConfig, RecordError, Source

TYPES = {"assistance": "AssistanceGranted", "hardship": "HardshipStatusReported"}


class CivilAffairsConfig(ConnectorConfig):
    folder: Path = Field(description="where the assistance system exports its decisions (*.json)")
    agency_id: str = Field(default="qs-ca", description="the bureau's id in the hub's agency directory")
    agency_name: str = "青山县民政局"
    poll_s: float = Field(default=1.0, gt=0, description="how often to look for new files")


class CivilAffairsSource(Source[CivilAffairsConfig]):
    """Assistance grants and hardship checks (救助、经济困难状况) from the 民政 assistance system."""

    Config = CivilAffairsConfig
    summary = "民政救助系统 decisions → AssistanceGranted, HardshipStatusReported"
    agency = "qs-ca"
    event_types = ("AssistanceGranted", "HardshipStatusReported")

    async def start(self) -> None:
        for sub in ("done", "refused"):
            (self.config.folder / sub).mkdir(parents=True, exist_ok=True)

    async def run(self, outbox: Outbox) -> None:
        while True:
            files = sorted(self.config.folder.glob("*.json"))
            for path in files:
                await self.one(outbox, path)
            if not files:
                await asyncio.sleep(self.config.poll_s)

    async def one(self, outbox: Outbox, path: Path) -> None:
        folder = self.config.folder
        try:
            await outbox.publish(
                self.event(json.loads(path.read_text("utf-8"))), agency=self.config.agency_id
            )
            self.health().count("published")
            os.replace(path, folder / "done" / path.name)
        except (RecordError, ValueError, KeyError) as e:  # refused, or not an export we know
            reason = e.reason if isinstance(e, RecordError) else f"unreadable export: {e!r}"
            (folder / "refused" / f"{path.stem}.txt").write_text(reason, "utf-8")
            os.replace(path, folder / "refused" / path.name)
            self.health().count("refused")
        outbox.took(path.name)  # the file is handled: the exporting system may go on

    def event(self, row: dict[str, Any]) -> dict[str, Any]:
        """One exported decision as the hub's event (docs/events.md)."""
        etype = TYPES[row["kind"]]
        data: dict[str, Any] = {
            "case_id": row["case_no"],
            "civil_affairs": {
                "agency_id": self.config.agency_id,
                "agency_type": "civil_affairs",
                "name": self.config.agency_name,
            },
        }
        if etype == "AssistanceGranted":
            data |= {k: row.get(k) for k in ("kinds", "amount_fen", "period_months", "hardship_status")}
            data |= {"decision_number": row["decision_no"], "decided_at": row["at"]}
        else:
            data |= {"handoff_id": row.get("handoff_id"), "status": row["status"]}
            data |= {
                "on_assistance_register": bool(row.get("register")),
                "valid_until": row.get("valid_until"),
            }
            data["checked_at"] = row["at"]
        return {
            "specversion": "1.0",
            "id": f"{row['case_no']}-{row['kind']}-{row.get('decision_no') or row['at']}",  # from the content
            "source": self.config.agency_id,
            "type": etype,
            "subject": row["case_no"],
            "time": datetime.now(UTC).isoformat(),
            "jurisdiction": row["county_code"],
            "data": data,
        }

    @classmethod
    def conformance(cls, workdir: Path) -> CivilAffairsHarness:
        return CivilAffairsHarness(workdir)


class CivilAffairsHarness(SourceHarness):
    """Plays the assistance system for the kit: exports decisions as files, reads the refusals."""

    def __init__(self, workdir: Path) -> None:
        self.folder = workdir / "exports"
        self.folder.mkdir(parents=True, exist_ok=True)
        self._n = 0

    def config(self) -> dict[str, Any]:
        return {"folder": str(self.folder), "poll_s": 0.05}

    def export(self, event: dict[str, Any]) -> str:
        """The event as the system's export file (written whole, then renamed); returns its name."""
        d = event["data"]
        kind = next(k for k, t in TYPES.items() if t == event["type"])
        row = {
            "kind": kind,
            "case_no": event["subject"],
            "county_code": event.get("jurisdiction"),
            "at": d.get("decided_at") or d.get("checked_at"),
            "decision_no": d.get("decision_number"),
            **{k: d.get(k) for k in ("kinds", "amount_fen", "period_months", "hardship_status")},
            **{k: d.get(k) for k in ("handoff_id", "status", "valid_until")},
            "register": d.get("on_assistance_register"),
        }
        self._n += 1
        name = f"{self._n:06d}-{event['subject']}.json"
        tmp = self.folder / f".{name}.tmp"  # not *.json: the source never reads half a file
        tmp.write_text(json.dumps(row, ensure_ascii=False), "utf-8")
        os.replace(tmp, self.folder / name)
        return name

    async def feed(self, events: list[dict[str, Any]]) -> None:
        for name in [self.export(e) for e in events]:
            await self.taken(name)

    async def feed_invalid(self, event: dict[str, Any]) -> None:
        await self.taken(self.export(event))

    async def refusals(self) -> list[str]:
        return [p.read_text("utf-8") for p in sorted((self.folder / "refused").glob("*.txt"))]
