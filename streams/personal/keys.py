"""Per-person data keys wrapped by a master key (信封加密), and their destruction (crypto-shredding).

Each data subject — a person, or the case for the fields of a case that belong to no one person —
has data keys (版本 1, 2, … after rotation) that seal its fields. A data key is stored only wrapped
by the master key; the master key lives outside the store (`MasterKeys`: files in the data folder
by default; a KMS or HSM implements the same three methods). Destroying a subject's keys
(`KeyStore.erase`) makes every value ever sealed for it unreadable, wherever a copy went: the
ledger, the topics, the case store, the read models, the webhook outbox.

The store is SQL through SQLAlchemy: SQLite in the data folder (``secure_delete`` on, so a destroyed
key's page is zeroed, not left free) or PostgreSQL by URL.
"""

from __future__ import annotations

import base64
import contextlib
import hmac
import os
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    PrimaryKeyConstraint,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError

from .cipher import FieldCipher, cipher


class MasterKeys(Protocol):
    """Wraps and unwraps data keys; ``current`` is the version new wraps use (a KMS, an HSM, files)."""

    @property
    def current(self) -> int: ...

    def wrap(self, version: int, data_key: bytes, aad: bytes) -> bytes: ...

    def unwrap(self, version: int, wrapped: bytes, aad: bytes) -> bytes: ...


class FileMasterKeys:
    """Master keys as files ``master-N.key`` (32 random bytes, mode 0600) in a folder; N counts up.

    `rotate` makes the next version; `KeyStore.rewrap` then moves every data key onto it, after
    which `retire` deletes the older files. Back the folder up apart from the data: without it no
    personal field can be read.
    """

    def __init__(self, folder: Path, wrap_cipher: str = "aes-256-gcm") -> None:
        self.folder = folder
        self.cipher: FieldCipher = cipher(wrap_cipher)
        self._keys: dict[int, bytes] = {}
        if not self.versions():
            self.rotate()

    def versions(self) -> list[int]:
        if not self.folder.exists():
            return []
        return sorted(int(p.stem.split("-")[1]) for p in self.folder.glob("master-*.key"))

    @property
    def current(self) -> int:
        return self.versions()[-1]

    def rotate(self) -> int:
        version = (self.versions() or [0])[-1] + 1
        _write_secret(self.folder / f"master-{version}.key", os.urandom(32))
        return version

    def retire(self, below: int) -> list[int]:
        gone = [v for v in self.versions() if v < below]
        for v in gone:
            (self.folder / f"master-{v}.key").unlink()
            self._keys.pop(v, None)
        return gone

    def _key(self, version: int) -> bytes:
        if version not in self._keys:
            try:
                raw = (self.folder / f"master-{version}.key").read_bytes()
            except FileNotFoundError:
                raise KeyError(f"master key {version} is not in {self.folder}") from None
            self._keys[version] = raw[: self.cipher.key_size]
        return self._keys[version]

    def wrap(self, version: int, data_key: bytes, aad: bytes) -> bytes:
        return self.cipher.seal(self._key(version), data_key, aad)

    def unwrap(self, version: int, wrapped: bytes, aad: bytes) -> bytes:
        return self.cipher.open(self._key(version), wrapped, aad)


def _write_secret(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def load_secret(path: Path, size: int = 32) -> bytes:
    """A random secret kept in a file (made once, mode 0600); two processes starting together agree."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    with contextlib.suppress(FileExistsError):
        _write_secret(path, os.urandom(size))
    return path.read_bytes()


class Index:
    """Pseudonymous subject ids (假名): a keyed hash of a person's ID number or person id, or of a
    case id. The same input always gives the same id, so the hub finds a person's keys, links a
    person's cases and looks a sealed ID number up in a register, without keeping it in clear.
    The index key never rotates (the ids are on the log for ever) and is not destroyed by erasure."""

    def __init__(self, key: bytes, digest: str = "sha256") -> None:
        self._key = key
        self._digest = digest

    def subject(self, kind: str, value: str) -> str:
        """``p…`` for a person (kind ``ric`` or ``pid``), ``c…`` for a case."""
        mac = hmac.new(self._key, f"{kind}:{value}".encode(), self._digest).digest()[:15]
        return ("c" if kind == "case" else "p") + base64.urlsafe_b64encode(mac).decode()

    def person(self, id_number: str | None, person_id: str | None) -> str | None:
        if id_number:
            return self.subject("ric", id_number.strip().upper())
        if person_id:
            return self.subject("pid", person_id.strip())
        return None

    def case(self, case_id: str) -> str:
        return self.subject("case", case_id)


def _tables(md: MetaData) -> tuple[Table, Table, Table, Table]:
    keys = Table(
        "personal_keys",
        md,
        Column("subject", Text, nullable=False),
        Column("version", Integer, nullable=False),
        Column("wrapped", LargeBinary, nullable=False),
        Column("master_version", Integer, nullable=False),
        Column("created_at", DateTime(timezone=True), nullable=False),
        PrimaryKeyConstraint("subject", "version"),
    )
    erased = Table(
        "personal_erased",
        md,
        Column("subject", Text, primary_key=True),
        Column("last_version", Integer, nullable=False),
        Column("erased_at", DateTime(timezone=True), nullable=False),
    )
    links = Table(  # which persons a case is about: erasing one destroys the case's own key too
        "personal_case_persons",
        md,
        Column("case_id", Text, nullable=False),
        Column("person", Text, nullable=False),
        PrimaryKeyConstraint("case_id", "person"),
    )
    aliases = Table(  # a person id seen with an ID number: later records with only the id use the same key
        "personal_aliases",
        md,
        Column("alias", Text, primary_key=True),
        Column("subject", Text, nullable=False),
    )
    return keys, erased, links, aliases


def _engine(url: str) -> Engine:
    u = make_url(url)
    if u.drivername in ("postgresql", "postgres"):
        u = u.set(drivername="postgresql+psycopg")
    if u.get_backend_name() != "sqlite":
        return create_engine(u, pool_pre_ping=True)
    if u.database and u.database != ":memory:":
        Path(u.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(u, connect_args={"timeout": 60})

    @event.listens_for(engine, "connect")
    def _pragmas(conn: object, _record: object) -> None:
        cur = conn.cursor()  # type: ignore[attr-defined]
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA secure_delete=ON")  # a destroyed key's bytes are overwritten, not freed
        cur.close()

    return engine


class Erasure:
    """What `KeyStore.erase` destroyed: the person's subject id, the cases whose own keys went too."""

    def __init__(self, person: str, cases: list[str], keys: int) -> None:
        self.person, self.cases, self.keys = person, cases, keys


class KeyStore:
    """Data keys per subject, wrapped by `MasterKeys`; SQLite or PostgreSQL by SQLAlchemy URL."""

    def __init__(self, url: str, master: MasterKeys, index: Index, key_size: int = 32) -> None:
        self.url = url
        self.master = master
        self.index = index
        self.key_size = key_size
        self._engine = _engine(url)
        md = MetaData()
        self._keys, self._erased, self._links, self._aliases = _tables(md)
        for attempt in range(3):  # processes starting together race to create the tables
            try:
                md.create_all(self._engine)
                break
            except Exception:
                if attempt == 2:
                    raise
        self._cache: dict[tuple[str, int], bytes | None] = {}
        self._newest: dict[str, tuple[int, bytes]] = {}
        self._erasures = -1
        self._looked = 0.0  # monotonic time of the last look at the erasures
        self._linked: set[tuple[str, str]] = set()
        self._aliased: dict[str, str] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self._engine.dispose()

    # -- caches that follow erasures in any process -------------------------------------------------

    def _fresh(self) -> None:
        """Drop cached keys when any process erased since we last looked (one small query)."""
        with self._engine.connect() as c:
            n = c.execute(select(func.count()).select_from(self._erased)).scalar_one()
        if n != self._erasures:
            with self._lock:
                self._cache.clear()
                self._newest.clear()
                self._erasures = n

    # -- sealing: the newest key of a subject, made on first use -----------------------------------

    def data_key(self, subject: str) -> tuple[int, bytes]:
        """(version, key) new values of ``subject`` are sealed with; a first key is made here."""
        hit = self._newest.get(subject)
        if hit is not None:
            return hit
        with self._engine.begin() as c:
            row = c.execute(
                select(self._keys.c.version, self._keys.c.wrapped, self._keys.c.master_version)
                .where(self._keys.c.subject == subject)
                .order_by(self._keys.c.version.desc())
                .limit(1)
            ).first()
        if row is not None:
            key = self.master.unwrap(row.master_version, row.wrapped, _aad(subject, row.version))
            found = (row.version, key)
        else:
            found = self._create(subject)
        with self._lock:
            self._newest[subject] = found
            self._cache[(subject, found[0])] = found[1]
        return found

    def prepare(
        self, subjects: set[str], case_id: str, persons: set[str], aliases: Mapping[str, str] | None = None
    ) -> None:
        """Make sure each subject has a key and the case is linked to its persons, in ONE transaction
        for whatever is new (an intake's new case costs one commit, not one per key and link)."""
        todo = sorted(s for s in subjects if s not in self._newest)
        links = sorted(p for p in persons if (case_id, p) not in self._linked)
        names = {a: s for a, s in (aliases or {}).items() if a != s and self._aliased.get(a) != s}
        if not todo and not links and not names:
            return
        made: dict[str, tuple[int, bytes]] = {}
        try:
            with self._engine.begin() as c:
                if todo:
                    k = self._keys.c
                    rows = c.execute(
                        select(k.subject, k.version, k.wrapped, k.master_version).where(k.subject.in_(todo))
                    ).all()
                    for r in sorted(rows, key=lambda r: r.version):  # the newest version wins
                        made[r.subject] = (
                            r.version,
                            self.master.unwrap(r.master_version, r.wrapped, _aad(r.subject, r.version)),
                        )
                    missing = [s for s in todo if s not in made]
                    if missing:
                        e = self._erased.c
                        gone = dict(
                            c.execute(select(e.subject, e.last_version).where(e.subject.in_(missing))).all()
                        )
                        mv, now, new = self.master.current, datetime.now(UTC), []
                        for s in missing:
                            version, key = (gone.get(s) or 0) + 1, os.urandom(self.key_size)
                            wrapped = self.master.wrap(mv, key, _aad(s, version))
                            new.append(
                                {
                                    "subject": s,
                                    "version": version,
                                    "wrapped": wrapped,
                                    "master_version": mv,
                                    "created_at": now,
                                }
                            )
                            made[s] = (version, key)
                        c.execute(insert(self._keys), new)
                if links:
                    have = set(
                        c.execute(
                            select(self._links.c.person).where(self._links.c.case_id == case_id)
                        ).scalars()
                    )
                    if new_links := [{"case_id": case_id, "person": p} for p in links if p not in have]:
                        c.execute(insert(self._links), new_links)
                if names:
                    a = self._aliases.c
                    known = set(c.execute(select(a.alias).where(a.alias.in_(list(names)))).scalars())
                    if fresh := [{"alias": k, "subject": v} for k, v in names.items() if k not in known]:
                        c.execute(insert(self._aliases), fresh)
        except IntegrityError:  # another process made one of them first: the one-by-one path reads theirs
            for s in todo:
                self.data_key(s)
            self.link(case_id, persons)
            for k, v in names.items():
                self.alias(k, v)
            return
        with self._lock:
            for s, found in made.items():
                self._newest[s] = found
                self._cache[(s, found[0])] = found[1]
            self._linked.update((case_id, p) for p in persons)
            self._aliased.update(names)

    def _create(self, subject: str, version: int | None = None) -> tuple[int, bytes]:
        with self._engine.begin() as c:
            if version is None:
                gone = c.execute(
                    select(self._erased.c.last_version).where(self._erased.c.subject == subject)
                ).scalar()
                version = (gone or 0) + 1
            key = os.urandom(self.key_size)
            mv = self.master.current
            try:
                c.execute(
                    insert(self._keys).values(
                        subject=subject,
                        version=version,
                        wrapped=self.master.wrap(mv, key, _aad(subject, version)),
                        master_version=mv,
                        created_at=datetime.now(UTC),
                    )
                )
            except IntegrityError:  # another process made it first: use theirs
                c.rollback()
                got = self.key(subject, version)
                assert got is not None
                return version, got
        return version, key

    def rotate(self, subject: str) -> int:
        """A new data key for ``subject``: new values use it, old values keep opening with theirs."""
        version, _ = self.data_key(subject)
        new, _ = self._create(subject, version + 1)
        with self._lock:
            self._newest.pop(subject, None)
        return new

    # -- opening -------------------------------------------------------------------------------------

    def key(self, subject: str, version: int) -> bytes | None:
        """The data key, or None when it was destroyed (erased) or never made."""
        if (subject, version) in self._cache:
            return self._cache[(subject, version)]
        with self._engine.connect() as c:
            row = c.execute(
                select(self._keys.c.wrapped, self._keys.c.master_version).where(
                    self._keys.c.subject == subject, self._keys.c.version == version
                )
            ).first()
        key = (
            None
            if row is None
            else self.master.unwrap(row.master_version, row.wrapped, _aad(subject, version))
        )
        with self._lock:
            self._cache[(subject, version)] = key
        return key

    def refresh(self, max_age_s: float = 1.0) -> None:
        """Called before a batch of seals or opens: a key erased in another process leaves this one's
        cache within ``max_age_s`` (0: now)."""
        now = time.monotonic()
        if now - self._looked >= max_age_s:
            self._fresh()
            self._looked = now

    # -- who belongs to what --------------------------------------------------------------------------

    def link(self, case_id: str, persons: set[str]) -> None:
        """The case is about these persons (erasing one destroys the case's key too)."""
        if all((case_id, p) in self._linked for p in persons):
            return
        with self._engine.begin() as c:
            have = set(
                c.execute(select(self._links.c.person).where(self._links.c.case_id == case_id)).scalars()
            )
            new = persons - have
            if new:
                c.execute(insert(self._links), [{"case_id": case_id, "person": p} for p in sorted(new)])
        self._linked.update((case_id, p) for p in persons)

    def alias(self, alias: str, subject: str) -> None:
        if alias == subject or self._aliased.get(alias) == subject:
            return
        with self._engine.begin() as c:
            if (
                c.execute(select(self._aliases.c.subject).where(self._aliases.c.alias == alias)).first()
                is None
            ):
                c.execute(insert(self._aliases).values(alias=alias, subject=subject))
        self._aliased[alias] = subject

    def resolve(self, subject: str) -> str:
        """The subject a person id stands for once it was seen with an ID number (else itself)."""
        if subject in self._aliased:
            return self._aliased[subject]
        with self._engine.connect() as c:
            got = c.execute(select(self._aliases.c.subject).where(self._aliases.c.alias == subject)).scalar()
        if got:
            self._aliased[subject] = got
        return got or subject

    def cases_of(self, person: str) -> list[str]:
        """The cases about ``person`` (under any person id it was seen with)."""
        with self._engine.connect() as c:
            persons = [
                person,
                *c.execute(select(self._aliases.c.alias).where(self._aliases.c.subject == person)).scalars(),
            ]
            return list(
                c.execute(
                    select(self._links.c.case_id)
                    .where(self._links.c.person.in_(persons))
                    .distinct()
                    .order_by(self._links.c.case_id)
                ).scalars()
            )

    def erased_at(self, subject: str) -> datetime | None:
        with self._engine.connect() as c:
            return c.execute(
                select(self._erased.c.erased_at).where(self._erased.c.subject == subject)
            ).scalar()

    def has_keys(self, subject: str) -> bool:
        with self._engine.connect() as c:
            return (
                c.execute(
                    select(self._keys.c.version).where(self._keys.c.subject == subject).limit(1)
                ).first()
                is not None
            )

    # -- erasure and master-key rotation --------------------------------------------------------------

    def erase(self, person: str) -> Erasure:
        """Destroy every key of ``person`` and of each case it is linked to (its aliases' too)."""
        now = datetime.now(UTC)
        with self._engine.begin() as c:
            aliases = list(
                c.execute(select(self._aliases.c.alias).where(self._aliases.c.subject == person)).scalars()
            )
            persons = [person, *aliases]
            cases = sorted(
                set(
                    c.execute(
                        select(self._links.c.case_id).where(self._links.c.person.in_(persons))
                    ).scalars()
                )
            )
            subjects = persons + [self.index.case(cid) for cid in cases]
            destroyed = 0
            for s in subjects:
                last = c.execute(
                    select(func.max(self._keys.c.version)).where(self._keys.c.subject == s)
                ).scalar()
                destroyed += c.execute(delete(self._keys).where(self._keys.c.subject == s)).rowcount or 0
                prior = c.execute(
                    select(self._erased.c.last_version).where(self._erased.c.subject == s)
                ).scalar()
                top = max(last or 0, prior or 0)
                if prior is None:
                    c.execute(insert(self._erased).values(subject=s, last_version=top, erased_at=now))
                else:
                    c.execute(
                        update(self._erased)
                        .where(self._erased.c.subject == s)
                        .values(last_version=top, erased_at=now)
                    )
        if self._engine.dialect.name == "sqlite":
            with self._engine.connect() as c:  # the WAL would still hold the deleted pages
                c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        with self._lock:
            self._cache.clear()
            self._newest.clear()
            self._linked.clear()
        return Erasure(person, cases, destroyed)

    def rewrap(self) -> int:
        """Every data key wrapped again under the master's current version; returns how many moved."""
        mv = self.master.current
        moved = 0
        with self._engine.begin() as c:
            rows = c.execute(
                select(
                    self._keys.c.subject,
                    self._keys.c.version,
                    self._keys.c.wrapped,
                    self._keys.c.master_version,
                ).where(self._keys.c.master_version != mv)
            ).all()
            for r in rows:
                aad = _aad(r.subject, r.version)
                key = self.master.unwrap(r.master_version, r.wrapped, aad)
                c.execute(
                    update(self._keys)
                    .where(self._keys.c.subject == r.subject, self._keys.c.version == r.version)
                    .values(wrapped=self.master.wrap(mv, key, aad), master_version=mv)
                )
                moved += 1
        return moved


def _aad(subject: str, version: int) -> bytes:
    """A wrapped key is bound to its subject and version: it cannot be copied onto another person."""
    return f"fq-dek:{subject}:{version}".encode()
