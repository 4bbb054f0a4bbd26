"""`RegistryStore`: subjects, versions, schemas and compatibility config in SQLite, with Confluent's
rules (global, immutable ids; a schema's identity by its JSON; the compatibility levels)."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import threading
from collections.abc import Iterator
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL, Engine
from sqlalchemy.pool import StaticPool

from ..compat import SchemaError, check, parse_schema
from .errors import (
    IncompatibleSchema,
    InvalidCompatibilityLevel,
    InvalidSchema,
    InvalidVersion,
    SchemaNotFound,
    StoreError,
    SubjectConfigNotFound,
    SubjectNotFound,
    VersionNotFound,
)
from .model import COMPATIBILITY_LEVELS, DEFAULT_COMPATIBILITY, SchemaVersion

_GLOBAL = ""  # the config row of the global level (a subject cannot be empty)


_meta = sa.MetaData()
_schemas = sa.Table(
    "schemas",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("schema", sa.Text, nullable=False),
    sa.Column("fingerprint", sa.String(64), nullable=False, unique=True),
)
_versions = sa.Table(
    "subject_versions",
    _meta,
    sa.Column("subject", sa.String, primary_key=True),
    sa.Column("version", sa.Integer, primary_key=True),
    sa.Column("schema_id", sa.Integer, sa.ForeignKey("schemas.id"), nullable=False),
    sa.UniqueConstraint("subject", "schema_id"),
)
_config = sa.Table(
    "config",
    _meta,
    sa.Column("subject", sa.String, primary_key=True),
    sa.Column("compatibility", sa.String, nullable=False),
)


def _fingerprint(schema: str) -> str:
    """Identity of a schema: its JSON with keys sorted and whitespace gone.

    Not the Avro parsing canonical form: that drops defaults, docs, aliases and the catalogue's own
    properties (``pii``), so a schema that only added a default would get the old id and its text
    would never be served. Confluent likewise keeps such schemas apart.
    """
    normal = json.dumps(json.loads(schema), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(normal.encode()).hexdigest()


def _level(level: Any) -> str:
    if not isinstance(level, str) or level.upper() not in COMPATIBILITY_LEVELS:
        raise InvalidCompatibilityLevel(
            f"Invalid compatibility level {level!r}; one of {', '.join(COMPATIBILITY_LEVELS)}"
        )
    return level.upper()


def _version_arg(version: int | str) -> int | None:
    """An int >= 1, or None for the latest ("latest" or -1, as Confluent accepts)."""
    given = version
    if isinstance(version, str):
        if version == "latest":
            return None
        try:
            version = int(version)
        except ValueError:
            version = 0
    if version == -1:
        return None
    if not 1 <= version <= 2**31 - 1:
        raise InvalidVersion(
            f"The specified version '{given}' is not a valid version id. "
            'Allowed values are between [1, 2^31-1] and the string "latest"'
        )
    return version


def _compat_problems(level: str, new: str, earlier: list[tuple[int, str]]) -> list[str]:
    """What stops ``new`` joining the versions ``earlier`` (oldest first) at ``level``."""
    if level == "NONE" or not earlier:
        return []
    targets = earlier if level.endswith("_TRANSITIVE") else earlier[-1:]
    problems: list[str] = []
    for version, old in reversed(targets):
        if level.startswith(("BACKWARD", "FULL")):
            problems += [f"version {version}: {p}" for p in check(new, old)]
        if level.startswith(("FORWARD", "FULL")):
            problems += [f"version {version}: {p}" for p in check(old, new, reader_is_newer=False)]
    return problems


class RegistryStore:
    """Subjects, versions, schemas and compatibility config in SQLite, safe to share across threads.

    ``path`` is a file or ``":memory:"``. One lock serialises the writes, so the check-then-insert
    of a registration cannot race another one and ids stay dense and global.
    """

    def __init__(
        self, path: str | os.PathLike[str] = ":memory:", *, compatibility: str = DEFAULT_COMPATIBILITY
    ):
        self.path = str(path)
        self.default_compatibility = _level(compatibility)
        memory = self.path == ":memory:"
        self._engine: Engine = sa.create_engine(
            URL.create("sqlite", database=None if memory else self.path),
            connect_args={"check_same_thread": False},
            poolclass=StaticPool
            if memory
            else None,  # one shared connection: the memory DB is per connection
        )
        _meta.create_all(self._engine)
        self._lock = threading.RLock()

    def close(self) -> None:
        self._engine.dispose()

    @contextlib.contextmanager
    def _tx(self) -> Iterator[sa.Connection]:
        with self._lock, self._engine.begin() as conn:
            yield conn

    # reads
    def subjects(self) -> list[str]:
        with self._tx() as c:
            return list(c.scalars(sa.select(_versions.c.subject).distinct().order_by(_versions.c.subject)))

    def versions(self, subject: str) -> list[int]:
        with self._tx() as c:
            found = list(
                c.scalars(
                    sa.select(_versions.c.version)
                    .where(_versions.c.subject == subject)
                    .order_by(_versions.c.version)
                )
            )
        if not found:
            raise SubjectNotFound(f"Subject '{subject}' not found.")
        return found

    def _history(self, c: sa.Connection, subject: str) -> list[SchemaVersion]:
        rows = c.execute(
            sa.select(_versions.c.version, _schemas.c.id, _schemas.c.schema)
            .join(_schemas, _schemas.c.id == _versions.c.schema_id)
            .where(_versions.c.subject == subject)
            .order_by(_versions.c.version)
        )
        return [SchemaVersion(subject, v, i, s) for v, i, s in rows]

    def get_version(self, subject: str, version: int | str = "latest") -> SchemaVersion:
        wanted = _version_arg(version)
        with self._tx() as c:
            history = self._history(c, subject)
        if not history:
            raise SubjectNotFound(f"Subject '{subject}' not found.")
        if wanted is None:
            return history[-1]
        for sv in history:
            if sv.version == wanted:
                return sv
        raise VersionNotFound(f"Version {wanted} not found.")

    def schema_by_id(self, schema_id: int) -> str:
        with self._tx() as c:
            text = c.scalar(sa.select(_schemas.c.schema).where(_schemas.c.id == schema_id))
        if text is None:
            raise SchemaNotFound(f"Schema {schema_id} not found")
        return text

    def versions_for_id(self, schema_id: int) -> list[tuple[str, int]]:
        self.schema_by_id(schema_id)
        with self._tx() as c:
            rows = c.execute(
                sa.select(_versions.c.subject, _versions.c.version)
                .where(_versions.c.schema_id == schema_id)
                .order_by(_versions.c.subject, _versions.c.version)
            )
            return [(s, v) for s, v in rows]

    def lookup(self, subject: str, schema: str, schema_type: str = "AVRO") -> SchemaVersion:
        """The version of ``subject`` holding ``schema``; SchemaNotFound if there is none."""
        fp = self._validate(schema, schema_type)
        with self._tx() as c:
            history = self._history(c, subject)
            if not history:
                raise SubjectNotFound(f"Subject '{subject}' not found.")
            sid = c.scalar(sa.select(_schemas.c.id).where(_schemas.c.fingerprint == fp))
        for sv in history:
            if sv.id == sid:
                return sv
        raise SchemaNotFound("Schema not found")

    # compatibility config
    def get_compatibility(self, subject: str | None = None, *, default_to_global: bool = True) -> str:
        with self._tx() as c:
            own = c.scalar(
                sa.select(_config.c.compatibility).where(_config.c.subject == (subject or _GLOBAL))
            )
            if own is not None or subject is None:
                return own or self.default_compatibility
            if not default_to_global:
                raise SubjectConfigNotFound(
                    f"Subject '{subject}' does not have subject-level compatibility configured"
                )
            glob = c.scalar(sa.select(_config.c.compatibility).where(_config.c.subject == _GLOBAL))
            return glob or self.default_compatibility

    def set_compatibility(self, level: str, subject: str | None = None) -> str:
        level = _level(level)
        key = subject or _GLOBAL
        with self._tx() as c:
            c.execute(sa.delete(_config).where(_config.c.subject == key))
            c.execute(sa.insert(_config).values(subject=key, compatibility=level))
        return level

    def delete_compatibility(self, subject: str) -> str:
        """Drop the subject's own level (it follows the global one again); returns the dropped level."""
        level = self.get_compatibility(subject, default_to_global=False)
        with self._tx() as c:
            c.execute(sa.delete(_config).where(_config.c.subject == subject))
        return level

    def test_compatibility(
        self, subject: str, schema: str, version: int | str | None = None, schema_type: str = "AVRO"
    ) -> list[str]:
        """Problems ``schema`` would have in ``subject`` (empty: compatible).

        With ``version``, against that one version in the direction(s) of the subject's level;
        without, against the versions the level says (all of them for *_TRANSITIVE).
        """
        self._validate(schema, schema_type)
        level = self.get_compatibility(subject)
        with self._tx() as c:
            history = self._history(c, subject)
        if version is None:
            return _compat_problems(level, schema, [(v.version, v.schema) for v in history])
        if not history:
            raise SubjectNotFound(f"Subject '{subject}' not found.")
        target = self.get_version(subject, version)
        return _compat_problems(level.removesuffix("_TRANSITIVE"), schema, [(target.version, target.schema)])

    # writes
    def _validate(self, schema: str, schema_type: str) -> str:
        if (schema_type or "AVRO").upper() != "AVRO":
            raise InvalidSchema(f"Schema type {schema_type} is not supported; this registry serves AVRO only")
        if not isinstance(schema, str):
            raise InvalidSchema("Invalid schema: 'schema' must be the schema's JSON as a string")
        try:
            parse_schema(schema)
            return _fingerprint(schema)
        except (SchemaError, ValueError) as e:
            raise InvalidSchema(f"Invalid schema {schema[:200]}: {e}") from e

    def register(self, subject: str, schema: str, schema_type: str = "AVRO") -> int:
        """Register ``schema`` under ``subject``; the existing id if it is already there.

        The same schema under another subject keeps its global id. IncompatibleSchema (409) when
        the subject's compatibility level refuses it, naming each field and why.
        """
        if not subject:
            raise StoreError("subject must not be empty")
        fp = self._validate(schema, schema_type)
        with self._tx() as c:
            history = self._history(c, subject)
            sid = c.scalar(sa.select(_schemas.c.id).where(_schemas.c.fingerprint == fp))
            if sid is not None and any(v.id == sid for v in history):
                return sid
            own = c.scalar(sa.select(_config.c.compatibility).where(_config.c.subject == subject))
            glob = c.scalar(sa.select(_config.c.compatibility).where(_config.c.subject == _GLOBAL))
            level = own or glob or self.default_compatibility
            problems = _compat_problems(level, schema, [(v.version, v.schema) for v in history])
            if problems:
                raise IncompatibleSchema(
                    f'Schema being registered is incompatible with an earlier schema for subject "{subject}" '
                    f"({level}): " + "; ".join(problems)
                )
            if sid is None:
                sid = c.execute(
                    sa.insert(_schemas).values(schema=schema, fingerprint=fp)
                ).inserted_primary_key[0]
            version = (history[-1].version if history else 0) + 1
            c.execute(sa.insert(_versions).values(subject=subject, version=version, schema_id=sid))
            return int(sid)
