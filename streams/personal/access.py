"""The read log (个人信息查阅记录): every read of personal data in clear, hash-chained, in the ledger's
database beside the records it is about.

A row says which agency (and which of its keys) read which persons' fields of which case, through
which entry point, when. Each row's hash covers the previous row's hash and the row, with the
ledger's digest, so `verify` names the first row altered, removed or inserted; `fengqiao audit
verify` runs it with the ledger's own checks. Masked views are not logged: they show no personal
data in clear.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Column,
    DateTime,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    insert,
    select,
    update,
)

from fengqiao.streams.ledger.tables import _engine

Digest = Callable[[bytes], bytes]


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


@dataclass(frozen=True)
class Read:
    """One read in clear."""

    id: int
    at: datetime
    agency: str
    key_id: str
    entry: str
    case_id: str
    persons: tuple[str, ...]
    fields: tuple[str, ...]

    def canonical(self) -> bytes:
        return json.dumps(
            [
                self.at.astimezone(UTC).isoformat(timespec="microseconds"),
                self.agency,
                self.key_id,
                self.entry,
                self.case_id,
                list(self.persons),
                list(self.fields),
            ],
            ensure_ascii=True,
            separators=(",", ":"),
        ).encode()


@dataclass(frozen=True)
class ReadLogProblem:
    read_id: int
    what: str


class ReadLog:
    """Appends reads and checks the chain; SQLite or PostgreSQL (the ledger's URL)."""

    def __init__(self, url: str, digest: Digest = _sha256, digest_size: int = 32) -> None:
        self.url = url
        self._digest = digest
        self._zero = bytes(digest_size)
        self._engine = _engine(url)
        md = MetaData()
        self._reads = Table(
            "personal_reads",
            md,
            Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
            Column("at", DateTime(timezone=True), nullable=False),
            Column("agency", Text, nullable=False),
            Column("key_id", Text, nullable=False),
            Column("entry", Text, nullable=False),
            Column("case_id", Text, nullable=False),
            Column("persons", Text, nullable=False),
            Column("fields", Text, nullable=False),
            Column("prev_hash", LargeBinary, nullable=False),
            Column("hash", LargeBinary, nullable=False),
        )
        self._head = Table(  # one row: the last hash; updating it first serialises appenders
            "personal_reads_head",
            md,
            Column("id", Integer, primary_key=True),
            Column("count", BigInteger, nullable=False),
            Column("hash", LargeBinary, nullable=False),
        )
        for attempt in range(3):
            try:
                md.create_all(self._engine)
                with self._engine.begin() as c:
                    if c.execute(select(self._head.c.id)).first() is None:
                        c.execute(insert(self._head).values(id=1, count=0, hash=self._zero))
                break
            except Exception:
                if attempt == 2:
                    raise

    def close(self) -> None:
        self._engine.dispose()

    def record(
        self,
        *,
        agency: str,
        entry: str,
        case_id: str,
        persons: Iterable[str],
        fields: Iterable[str],
        key_id: str = "",
    ) -> None:
        at = datetime.now(UTC)
        read = Read(
            0, at, agency, key_id, entry, case_id, tuple(sorted(set(persons))), tuple(sorted(set(fields)))
        )
        with self._engine.begin() as c:
            c.execute(update(self._head).where(self._head.c.id == 1).values(count=self._head.c.count + 1))
            prev = bytes(c.execute(select(self._head.c.hash).where(self._head.c.id == 1)).scalar_one())
            h = self._digest(prev + read.canonical())
            c.execute(
                insert(self._reads).values(
                    at=at,
                    agency=agency,
                    key_id=key_id,
                    entry=entry,
                    case_id=case_id,
                    persons=",".join(read.persons),
                    fields=",".join(read.fields),
                    prev_hash=prev,
                    hash=h,
                )
            )
            c.execute(update(self._head).where(self._head.c.id == 1).values(hash=h))

    def reads(
        self, *, person: str | None = None, agency: str | None = None, case_id: str | None = None
    ) -> Iterator[Read]:
        q = select(self._reads).order_by(self._reads.c.id)
        if agency is not None:
            q = q.where(self._reads.c.agency == agency)
        if case_id is not None:
            q = q.where(self._reads.c.case_id == case_id)
        if person is not None:
            q = q.where(self._reads.c.persons.contains(person))
        with self._engine.connect() as c:
            for r in c.execute(q):
                got = _read(r)
                if person is None or person in got.persons:
                    yield got

    def verify(self) -> list[ReadLogProblem]:
        """Every row's hash recomputed along the chain; the head must be the last row's."""
        problems: list[ReadLogProblem] = []
        prev, last_id, n = self._zero, 0, 0
        with self._engine.connect() as c:
            for r in c.execute(select(self._reads).order_by(self._reads.c.id)):
                n += 1
                read = _read(r)
                if bytes(r.prev_hash) != prev:
                    problems.append(
                        ReadLogProblem(r.id, "does not follow the row before it (removed or inserted)")
                    )
                if self._digest(bytes(r.prev_hash) + read.canonical()) != bytes(r.hash):
                    problems.append(ReadLogProblem(r.id, "altered: its hash does not match its content"))
                prev, last_id = bytes(r.hash), r.id
            head = c.execute(
                select(self._head.c.count, self._head.c.hash).where(self._head.c.id == 1)
            ).first()
        if head is not None and (bytes(head.hash) != prev or head.count != n):
            problems.append(
                ReadLogProblem(
                    last_id, "the log's head does not match its last row (rows removed at the end)"
                )
            )
        return problems


def _read(r: Any) -> Read:
    at = r.at if r.at.tzinfo else r.at.replace(tzinfo=UTC)
    return Read(
        r.id,
        at,
        r.agency,
        r.key_id,
        r.entry,
        r.case_id,
        tuple(p for p in r.persons.split(",") if p),
        tuple(f for f in r.fields.split(",") if f),
    )
