"""The conformance harness of `SpreadsheetSource`: plays a township office dropping CSV files.

`feed` writes the CloudEvents it is given as spreadsheets — one file per run of events of the
same type, Chinese headers as in the templates, each event's own id and time in the 事件编号 and
事件时间 columns — into the inbox, and returns once the source has answered the file (moved it out
of the inbox, its rejects written). `refusals` reads the rejects files back.

A spreadsheet speaks for one agency (the source's ``agency``), so the kit must feed events of one
agency only: the harness's ``agency`` — the demo prison ``zj-prison-2``, whose release notices the
kit feeds, unless given. An event from another source is a mistake of the caller and raises
ValueError, rather than being published under the wrong name.
"""

from __future__ import annotations

import asyncio
import csv
import io
import itertools
import os
import time
import uuid
from pathlib import Path
from typing import Any

from fengqiao.schemas.catalogue import load

from ..conformance import SourceHarness
from .cells import write
from .columns import ID, TIME, layout
from .rows import flatten
from .template import MARK, header


class SpreadsheetHarness(SourceHarness):
    agency = "zj-prison-2"  # the kit feeds the demo prison's release notices (connectors/kit.py)

    def __init__(self, workdir: Path, agency: str | None = None, timeout: float = 60.0) -> None:
        self.workdir = Path(workdir)
        self.inbox = self.workdir / "inbox"
        if agency is not None:
            self.agency = agency
        self.timeout = timeout
        self._n = itertools.count(1)

    def config(self) -> dict[str, Any]:
        return {"inbox": str(self.inbox), "agency": self.agency, "poll_s": 0.05, "settle_s": 0}

    async def open(self) -> None:
        self.inbox.mkdir(parents=True, exist_ok=True)

    async def feed(self, events: list[dict[str, Any]]) -> None:
        for e in events:
            if e.get("source") != self.agency:
                raise ValueError(
                    f"event {e.get('id')} is from {e.get('source')!r}; this harness's spreadsheets speak for "
                    f"{self.agency!r} only (SpreadsheetHarness(workdir, agency=...))"
                )
        await self._drop(events)

    async def feed_invalid(self, event: dict[str, Any]) -> None:
        await self._drop([event])

    async def _drop(self, events: list[dict[str, Any]]) -> None:
        # One file per run of the same type, in order: the hub sees the events in the order given.
        for etype, run in itertools.groupby(events, key=lambda e: str(e.get("type"))):
            await self._file(etype, list(run))

    async def _file(self, etype: str, events: list[dict[str, Any]]) -> None:
        name = f"{etype}-{next(self._n):04d}-{uuid.uuid4().hex[:6]}.csv"
        tmp = self.inbox / f".{name}.tmp"
        tmp.write_bytes(spreadsheet(etype, events))
        os.replace(tmp, self.inbox / name)  # whole or not at all: the source never reads half a file
        deadline = time.monotonic() + self.timeout
        while (self.inbox / name).exists():
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the spreadsheet source did not take {name} within {self.timeout:.0f}s; "
                    f"is it running with inbox {self.inbox}?"
                )
            await asyncio.sleep(0.02)

    async def refusals(self) -> list[str]:
        out: list[str] = []
        files = sorted(self.workdir.rglob("*.rejects.csv"), key=lambda p: (p.stat().st_mtime, p.name))
        for path in files:
            for row in list(csv.reader(io.StringIO(path.read_text("utf-8-sig"))))[1:]:
                number, column, reason = [*row, "", "", ""][:3]
                where = f"第{number}行" if number else "整个文件"
                out.append(f"{path.name}: {where} {column}: {reason}".replace("  ", " "))
        return out


def spreadsheet(etype: str, events: list[dict[str, Any]]) -> bytes:
    """CloudEvents of one type as a CSV file staff could have typed (UTF-8 with BOM)."""
    catalogue = load()
    lay = layout(catalogue[etype]) if etype in catalogue and catalogue[etype].direction == "in" else None
    rows: list[dict[str, Any]] = []
    for e in events:
        cells = flatten(e.get("data"))
        cells[ID], cells[TIME] = e.get("id"), e.get("time")
        rows.append(cells)
    paths = list(dict.fromkeys(p for r in rows for p in r))
    if lay is not None:  # the template's order, then anything the template does not know (refused)
        known = [c.path for c in lay.columns if c.path in paths]
        paths = known + [p for p in paths if p not in known]
    heads = [header(c) if lay is not None and (c := lay.column(p)) else p for p in paths]
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow([MARK, etype])
    w.writerow(heads)
    for r in rows:
        cells = []
        for p in paths:
            col = lay.column(p) if lay is not None else None
            v = r.get(p)
            cells.append("" if v is None else write(col, v) if col is not None else v)
        w.writerow(cells)
    return buf.getvalue().encode("utf-8-sig")
