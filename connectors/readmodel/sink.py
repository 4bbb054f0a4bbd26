"""`ReadModelSink` (SQL 读模型): the hub's cases, handoffs and events as tables in SQLite or PostgreSQL.

Reads every workflow topic and applies each record with `store.ReadModel.apply` in one transaction
of its own. Driver failures are sorted the Kafka Connect way: a lost connection or a lock timeout
is retried (`RetriableError`), a row the database refuses for good is dead-lettered
(`RecordError`), and tables that are not what the migrations made stop the sink (`ConnectorFailed`).
docs/read-models.md has the tables and example queries.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import ClassVar

from alembic.util import CommandError
from pydantic import ConfigDict, Field
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc

from fengqiao import logs
from fengqiao.connectors.conformance import Harness
from fengqiao.connectors.runtime import Positions
from fengqiao.connectors.sdk import (
    ConnectorConfig,
    ConnectorContext,
    ConnectorFailed,
    RecordError,
    RetriableError,
    Sink,
    SinkRecord,
)
from fengqiao.schemas.catalogue import load

from . import store

log = logs.get(__name__)
DATABASE_KEY = "readmodel:database"  # in the runner's positions: which database the offsets belong to


class ReadModelConfig(ConnectorConfig):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the read model, e.g. postgresql+psycopg://user@host/db; "
        "default: SQLite readmodel.db in the hub's data folder",
    )
    schema_: str | None = Field(
        default=None, alias="schema", description="PostgreSQL schema for the tables (made if missing)"
    )


def default_url(data_dir: Path) -> str:
    return f"sqlite:///{(Path(data_dir) / 'readmodel.db').resolve()}"


class ReadModelSink(Sink[ReadModelConfig]):
    """Cases, handoffs, alerts and events as SQL tables, written idempotently, rebuildable from the log."""

    Config: ClassVar[type[ConnectorConfig]] = ReadModelConfig
    summary = "SQL read model: cases, handoffs, events as tables (SQLite, PostgreSQL)"

    def __init__(self, config: ReadModelConfig, context: ConnectorContext) -> None:
        super().__init__(config, context)
        hub = context.hub
        self.model = store.ReadModel(hub.codec.catalogue if hub is not None else load())
        self.url = config.url or default_url(context.settings.data_dir)
        self.engine: Engine | None = None
        self._lock = asyncio.Lock()  # one writer: a case's rows are read, folded and rewritten

    def topics(self) -> list[str]:
        return self.model.topics()

    async def start(self) -> None:
        try:
            self.engine = store.connect(self.url, self.config.schema_)
            revision = await asyncio.to_thread(store.migrate, self.engine)
            await asyncio.to_thread(self._resume_from_database)
        except CommandError as e:  # e.g. a database migrated by a newer version of the hub
            raise ConnectorFailed(f"the read model at {_safe(self.url)} cannot be migrated: {e}") from e
        except (sa_exc.SQLAlchemyError, OSError, ValueError) as e:
            raise ConnectorFailed(f"the read model at {_safe(self.url)} cannot be opened: {e}") from e
        log.info("readmodel.started", url=_safe(self.url), revision=revision)

    async def stop(self) -> None:
        if self.engine is not None:
            self.engine.dispose()
            self.engine = None

    async def write(self, record: SinkRecord) -> None:
        async with self._lock:
            applied = await asyncio.to_thread(self._write, record)
        self._health.count("applied" if applied else "already_applied")

    def _write(self, record: SinkRecord) -> bool:
        assert self.engine is not None, "start() first"
        what = f"{record.type} {record.event_id}"
        try:
            with self.engine.begin() as conn:
                return self.model.apply(conn, record).applied
        except (sa_exc.IntegrityError, sa_exc.DataError) as e:
            raise RecordError(f"the read model refused {what}: {_orig(e)}", "handler_failed") from e
        except (sa_exc.ProgrammingError, sa_exc.NotSupportedError, sa_exc.OperationalError) as e:
            if isinstance(e, sa_exc.OperationalError) and not _schema_problem(e):
                raise RetriableError(f"the read model is unavailable: {_orig(e)}") from e
            raise ConnectorFailed(
                f"the read model's tables are not what this version expects ({_orig(e)}); "
                "run `fengqiao readmodel migrate --url URL`"
            ) from e
        except (sa_exc.InterfaceError, sa_exc.TimeoutError) as e:
            raise RetriableError(f"the read model is unavailable: {_orig(e)}") from e
        except sa_exc.DBAPIError as e:
            raise RetriableError(f"the read model failed on {what}: {_orig(e)}") from e
        except (KeyError, TypeError, ValueError) as e:  # a record the case state cannot take
            raise RecordError(f"{what} cannot be applied to case {record.envelope.subject}: {e!r}") from e

    def _resume_from_database(self) -> None:
        """Point the runner's offsets at what this database holds, if they belong to another one.

        The positions that matter are those committed with the rows (readmodel_positions). The
        runner keeps its own in the connector's folder; after a rebuild, or with a new database,
        those are wrong, and reading on from them would leave a gap.
        """
        assert self.engine is not None
        with self.engine.begin() as conn:
            database = store.ReadModel.database_id(conn)
            held = store.ReadModel.positions(conn)
        positions = Positions(self.context.state_dir)
        try:
            if positions.get(DATABASE_KEY) == database:
                return
            positions.delete("offset:")
            for (topic, partition), next_offset in held.items():
                positions.put(f"offset:{topic}:{partition}", str(next_offset))
            positions.put(DATABASE_KEY, database)
            log.info("readmodel.resume_from_database", database=database, partitions=len(held))
        finally:
            positions.close()

    @classmethod
    def conformance(cls, workdir: Path) -> Harness:
        from .harness import ReadModelHarness

        return ReadModelHarness(workdir)


def _schema_problem(e: sa_exc.OperationalError) -> bool:
    """SQLite reports a missing table or column as an OperationalError; no retry mends that."""
    return any(m in _orig(e) for m in ("no such table", "no such column", "has no column named"))


def _orig(e: sa_exc.SQLAlchemyError) -> str:
    orig = getattr(e, "orig", None)
    return str(orig if orig is not None else e).strip().splitlines()[0]


def _safe(url: str) -> str:
    """The URL without its password, for logs and messages."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
