"""`SpreadsheetSource`: a folder township offices drop CSV and XLSX files into (表格导入).

Each file holds one event type (its template, see ``fengqiao templates``); each data row becomes
one CloudEvent published for the configured agency, validated and authorised like any other
(``outbox.publish(event, agency=...)``). Good rows are published even when other rows are bad;
each bad row is explained in ``<name>.rejects.csv`` (行号, 列, 原因, 填写内容) next to the file, which
then moves to ``done/`` (``failed/`` when nothing could be imported).

Never half-imported twice: a row's event id is stable (see rows.py) and each published id is
kept in the connector's positions, so a crash mid-file resumes where it stopped and the same
rows sent again — the same file, or a corrected copy — publish nothing twice. The same file
dropped again (same SHA-256, any name) is moved to ``done/`` with a ``<name>.duplicate.txt`` note.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
import stat
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import Field

from fengqiao import logs
from fengqiao.schemas.codec import SHANGHAI, ValidationFailed

from ..cloudevents_json import Refused, parse
from ..sdk import ConnectorConfig, ConnectorFailed, RecordError, RetriableError, Source
from .columns import ID, labels
from .rows import Reject, Row, build, refusal
from .sheet import EXTENSIONS, Sheet, SheetError, read

if TYPE_CHECKING:
    from ..conformance import Harness
    from ..runtime import Outbox

log = logs.get(__name__)
REJECTS_HEADER = ("行号", "列", "原因", "填写内容")
NOT_SHEETS = (".xls", ".et", ".ods", ".numbers")  # spreadsheets we cannot read: refused with a reason


class SpreadsheetConfig(ConnectorConfig):
    inbox: Path = Field(description="the folder staff drop .xlsx and .csv files into")
    agency: str = Field(description="directory id of the agency the files speak for (the events' source)")
    poll_s: float = Field(default=2.0, gt=0, description="how often the inbox is looked at")
    settle_s: float = Field(
        default=2.0, ge=0, description="a file is read once unchanged this long (still being copied before)"
    )
    done: Path = Field(default=Path("done"), description="where imported files go (relative: in the inbox)")
    failed: Path = Field(default=Path("failed"), description="where files nothing could be imported from go")
    max_rows: int = Field(default=10_000, gt=0, description="rows per file; a bigger file is refused whole")


@dataclass
class FileReport:
    """What became of one file."""

    name: str
    status: str  # done, failed, duplicate
    published: int = 0
    already: int = 0  # rows published before (an earlier file or attempt)
    rejects: list[Reject] = field(default_factory=list)
    moved_to: Path | None = None


class SpreadsheetSource(Source[SpreadsheetConfig]):
    Config = SpreadsheetConfig
    summary = "CSV/XLSX files from a folder, one event per row, a rejects file naming each bad row (表格导入)"

    @property
    def inbox(self) -> Path:
        return Path(self.config.inbox)

    def folder(self, name: Path) -> Path:
        return name if name.is_absolute() else self.inbox / name

    async def start(self) -> None:
        hub = self.context.hub
        if hub is not None and self.config.agency not in hub.directory:
            raise ConnectorFailed(
                f"agency {self.config.agency!r} is not in the agency directory; set `agency` to its id"
            )
        for d in (self.inbox, self.folder(self.config.done), self.folder(self.config.failed)):
            d.mkdir(parents=True, exist_ok=True)

    async def run(self, outbox: Outbox) -> None:
        while True:
            try:
                ready = self.pending()
            except OSError as e:  # the share is away: wait for it
                self._degraded(f"cannot list the inbox {self.inbox}: {e}")
                ready = []
            for path in ready:
                try:
                    await self.import_file(path, outbox)
                except RetriableError as e:
                    # The hub is unreachable: the file stays and is tried again at the next poll;
                    # the rows published so far are not sent again.
                    self._degraded(f"{path.name}: {e}")
                    break
                except OSError as e:  # this file cannot be read or moved (yet): try the others
                    self._degraded(f"{path.name}: {e}")
                    continue
                if self._health.status == "degraded":
                    self._health.status, self._health.detail = "running", ""
            await asyncio.sleep(self.config.poll_s)

    def _degraded(self, detail: str) -> None:
        self._health.status, self._health.detail = "degraded", detail
        log.warning("spreadsheet.retry_later", detail=detail)

    def pending(self) -> list[Path]:
        """Files in the inbox ready to read, oldest first; temporary and our own files are left alone."""
        now = time.time()
        found: list[tuple[float, str, Path]] = []
        for p in self.inbox.iterdir():
            name = p.name
            if name.startswith((".", "~$")) or name.endswith((".rejects.csv", ".duplicate.txt")):
                continue
            if p.suffix.lower() not in EXTENSIONS + NOT_SHEETS:
                continue
            try:
                st = p.stat()
            except OSError:  # gone since listed
                continue
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime >= self.config.settle_s:
                found.append((st.st_mtime, name, p))
        return [p for _, _, p in sorted(found)]

    async def import_file(self, path: Path, outbox: Outbox) -> FileReport:
        """Import one file; returns once it is moved out of the inbox with its rejects written.

        Raises `RetriableError` (the file stays in the inbox) when the hub cannot be reached.
        """
        positions = outbox.positions
        data = await asyncio.to_thread(path.read_bytes)
        digest = hashlib.sha256(data).hexdigest()
        key = f"file:{digest}"
        state = json.loads(positions.get(key) or "{}")
        if state.get("status") == "done":
            return await self._duplicate(path, digest, state)
        if state.get("status") == "importing":
            log.info("spreadsheet.resuming", file=path.name, after_row=state.get("row"))
        state = {"status": "importing", "name": path.name, "started": _now()}
        positions.put(key, json.dumps(state, ensure_ascii=False))
        report = FileReport(path.name, "done")
        try:
            sheet = await asyncio.to_thread(
                read, path, outbox.hub.codec.catalogue, max_rows=self.config.max_rows
            )
            self._may_publish(outbox, sheet)
        except SheetError as e:
            report.rejects.append(Reject(e.row, e.column, e.reason))
        else:
            await self._rows(sheet, outbox, digest, state, report)
        if report.rejects and not report.published and not report.already:
            report.status = "failed"
        target = self.folder(self.config.failed if report.status == "failed" else self.config.done)
        report.moved_to = await asyncio.to_thread(_finish, path, target, report.rejects)
        state.update(
            status=report.status,
            moved_to=str(report.moved_to),
            published=report.published,
            already=report.already,
            rejected=len({r.row for r in report.rejects}),
            finished=_now(),
        )
        positions.put(key, json.dumps(state, ensure_ascii=False))
        self._health.count(f"files_{report.status}")
        self._health.count("rows_rejected", state["rejected"])
        log.info(
            "spreadsheet.imported",
            file=path.name,
            status=report.status,
            published=report.published,
            already_imported=report.already,
            rejected_rows=state["rejected"],
            moved_to=str(report.moved_to),
        )
        return report

    def _may_publish(self, outbox: Outbox, sheet: Sheet) -> None:
        """Refuse the whole file at once when the agency may not publish its event type at all."""
        directory = outbox.hub.directory
        if self.config.agency not in directory:
            raise SheetError(f"本机构 {self.config.agency} 不在机构目录中，请联系枢纽管理员")
        agency = directory.get(self.config.agency)
        agency_types = labels().enums.get("AgencyType", {})
        ev = sheet.layout.event
        if agency.type not in ev.publishers:
            raise SheetError(
                f"本机构（{agency.name}）无权报送「{sheet.layout.title}」（{ev.name}）；"
                f"此类事件由 {'、'.join(agency_types.get(p, p) for p in ev.publishers)} 报送"
            )

    async def _rows(
        self, sheet: Sheet, outbox: Outbox, digest: str, state: dict[str, Any], report: FileReport
    ) -> None:
        positions = outbox.positions
        hub = outbox.hub
        seen: dict[str, int] = {}
        for number, values in sheet.rows:
            row = build(
                sheet.layout,
                number,
                sheet.cells(values),
                agency=self.config.agency,
                now=datetime.now(UTC),
                codec=hub.codec,
                directory=hub.directory,
            )
            if row.event is None:
                report.rejects += row.rejects
                continue
            try:
                parse(hub.codec, row.event)  # a bad row is refused even when its id was seen before
            except Refused as r:
                report.rejects += refusal(sheet.layout, row, r)
                continue
            event_id = str(row.id)
            if event_id in seen:
                same = "事件编号与" if ID in row.cells else "内容与"
                report.rejects.append(
                    Reject(number, "", f"{same}第 {seen[event_id]} 行相同：同一事件，未重复导入")
                )
                continue
            seen[event_id] = number
            known = positions.get(f"event:{event_id}")
            if known is None and await self._in_ledger(outbox, event_id):
                known = "{}"
            if known is not None:
                if json.loads(known).get("content", row.content) != row.content:
                    report.rejects.append(
                        Reject(
                            number,
                            sheet.layout.header_of(ID),
                            f"事件编号 {event_id} 已导入过，但这一行的内容与当时不同：未再次导入；"
                            "更正请使用新的事件编号",
                            event_id,
                        )
                    )
                else:
                    report.already += 1
                continue
            rejects = await self._publish(outbox, sheet, row)
            if rejects:
                report.rejects += rejects
                continue
            positions.put(
                f"event:{event_id}", json.dumps({"file": digest, "row": number, "content": row.content})
            )
            state["row"] = number
            positions.put(f"file:{digest}", json.dumps(state, ensure_ascii=False))
            report.published += 1
            self._health.count("published")

    async def _publish(self, outbox: Outbox, sheet: Sheet, row: Row) -> list[Reject]:
        assert row.event is not None
        try:
            await outbox.publish(row.event, agency=self.config.agency)
        except RecordError as e:
            return refusal(sheet.layout, row, e)
        except ValidationFailed as e:  # the record cannot be written as Avro (the codec's last word)
            return refusal(sheet.layout, row, e)
        return []

    async def _in_ledger(self, outbox: Outbox, event_id: str) -> bool:
        """Published before our positions recorded it (a crash in between): the ledger has the last word."""
        ledger = outbox.hub.ledger
        if ledger is None:
            return False
        rec = await asyncio.to_thread(ledger.find_event, event_id)
        if rec is None or rec.source != self.config.agency:
            return False
        outbox.positions.put(f"event:{event_id}", json.dumps({"ledger": True}))
        return True

    async def _duplicate(self, path: Path, digest: str, state: dict[str, Any]) -> FileReport:
        target = self.folder(self.config.done)
        moved = await asyncio.to_thread(
            _finish, path, target, [], note=_duplicate_note(path.name, digest, state)
        )
        self._health.count("files_duplicate")
        log.info(
            "spreadsheet.duplicate", file=path.name, first_imported_as=state.get("name"), moved_to=str(moved)
        )
        return FileReport(path.name, "duplicate", moved_to=moved)

    @classmethod
    def conformance(cls, workdir: Path) -> Harness:
        from .harness import SpreadsheetHarness

        return SpreadsheetHarness(workdir)


def _now() -> str:
    return datetime.now(SHANGHAI).isoformat(timespec="seconds")


def _free(target: Path, name: str) -> Path:
    """``target/name``, or ``name-2``, ``name-3``… when that name, its rejects or its note are taken."""
    stem, suffix = os.path.splitext(name)
    n = 1
    while True:
        candidate = stem if n == 1 else f"{stem}-{n}"
        if not any(
            (target / f).exists()
            for f in (candidate + suffix, f"{candidate}.rejects.csv", f"{candidate}.duplicate.txt")
        ):
            return target / (candidate + suffix)
        n += 1


def _finish(path: Path, target: Path, rejects: list[Reject], note: str | None = None) -> Path:
    """Write the rejects (or the note) beside where the file goes, then move it there."""
    target.mkdir(parents=True, exist_ok=True)
    dest = _free(target, path.name)
    stem = os.path.splitext(dest.name)[0]
    if rejects:
        _write_atomic(target / f"{stem}.rejects.csv", rejects_csv(rejects))
    if note is not None:
        _write_atomic(target / f"{stem}.duplicate.txt", note.encode("utf-8"))
    os.replace(path, dest)  # last: a file gone from the inbox is a file fully answered
    return dest


def rejects_csv(rejects: list[Reject]) -> bytes:
    """The rejects file: UTF-8 with a BOM so that Excel shows the Chinese."""
    buf = io.StringIO(newline="")
    w = csv.writer(buf)
    w.writerow(REJECTS_HEADER)
    for r in rejects:
        w.writerow(("" if r.row is None else r.row, r.column, r.reason, r.value))
    return buf.getvalue().encode("utf-8-sig")


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _duplicate_note(name: str, digest: str, state: dict[str, Any]) -> str:
    return (
        f"本文件已导入过（{state.get('finished', '?')}，当时文件名 {state.get('name', '?')}），"
        f"此次未重复导入任何一行。\n"
        f"This file was imported before (as {state.get('name', '?')}, {state.get('finished', '?')}); "
        f"nothing was published again.\nSHA-256: {digest}\n原文件 file: {name}\n"
    )
