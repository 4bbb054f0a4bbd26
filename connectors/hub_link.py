"""What a connector sees of the running hub (`HubLink`), its dead letters, its positions and the one
retry loop every connector's error policy runs."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from aiokafka import AIOKafkaProducer

from fengqiao import logs
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.envelope import Envelope
from fengqiao.streams import topics
from fengqiao.streams.directory import Directory
from fengqiao.streams.ledger import Ledger

from .sdk import (
    ErrorPolicy,
    RetriableError,
)

log = logs.get(__name__)


class Positions:
    """A connector's durable positions (key → value) in ``state_dir/positions.db``."""

    def __init__(self, state_dir: Path) -> None:
        state_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(state_dir / "positions.db", check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("CREATE TABLE IF NOT EXISTS positions (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        self._lock = threading.Lock()

    def get(self, key: str) -> str | None:
        with self._lock:
            row = self._db.execute("SELECT value FROM positions WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, value: str) -> None:
        with self._lock:
            self._db.execute("INSERT OR REPLACE INTO positions (key, value) VALUES (?, ?)", (key, value))

    def delete(self, prefix: str = "") -> None:
        with self._lock:
            # Not LIKE: it ignores ASCII case and reads % and _ as wildcards, deleting more than the prefix.
            self._db.execute("DELETE FROM positions WHERE substr(key, 1, ?) = ?", (len(prefix), prefix))

    def close(self) -> None:
        with self._lock:
            self._db.close()


@dataclass
class HubLink:
    """The running hub as a connector sees it."""

    bootstrap: str
    codec: Codec
    ledger_url: str | None
    workers: list[str]
    directory: Directory
    opening: frozenset[str] = frozenset()  # event types that open a case (Workflow.opened_by)
    _ledger: Ledger | None = field(default=None, repr=False)

    @property
    def ledger(self) -> Ledger | None:
        if self._ledger is None and self.ledger_url:
            self._ledger = Ledger(self.ledger_url)
        return self._ledger

    async def case(self, case_id: str) -> dict[str, Any] | None:
        """A case's state from the worker that owns it (any worker forwards to the owner)."""
        async with httpx.AsyncClient(timeout=5.0) as http:
            for url in self.workers:
                with contextlib.suppress(httpx.HTTPError):
                    r = await http.get(f"{url}/cases/{case_id}/")
                    if r.status_code == 200:
                        return r.json()  # type: ignore[no-any-return]
                    if r.status_code == 404:
                        return None
        raise RetriableError("no worker answered for the case; is the hub running?")

    def close(self) -> None:
        if self._ledger is not None:
            self._ledger.close()
            self._ledger = None

    @classmethod
    def build(
        cls, bootstrap: str, codec: Codec, ledger_url: str | None, workers: list[str], deployment: Any
    ) -> HubLink:
        """With the deployment's directory and workflows (the demo county when None)."""
        from fengqiao.streams.workflows import load_context

        ctx = load_context(deployment)
        opening = frozenset(e for wf in ctx.workflows.values() for e in wf.opened_by)
        return cls(bootstrap, codec, ledger_url, workers, ctx.directory, opening)

    @classmethod
    async def connect(cls, settings: Any) -> HubLink:
        """For a connector run next to a hub started with `fengqiao up` (or --broker/--registry)."""
        from fengqiao.endpoints import connect

        ep, codec = await connect(settings)
        return cls.build(ep.bootstrap, codec, ep.ledger, ep.workers, settings.deployment)


class DeadLetters:
    """Puts a failed record on the hub's dead-letter topic with the connector's error context."""

    def __init__(self, name: str, hub: HubLink) -> None:
        self.name = name
        self.hub = hub
        self._producer: AIOKafkaProducer | None = None

    async def send(
        self,
        reason: str,
        kind: str,
        *,
        case_id: str = "",
        topic: str | None = None,
        partition: int = -1,
        offset: int = -1,
        key: bytes | None = None,
        value: bytes | None = None,
        headers: Mapping[str, bytes] | None = None,
        attempts: int = 1,
    ) -> None:
        if self._producer is None:
            self._producer = AIOKafkaProducer(bootstrap_servers=self.hub.bootstrap, acks="all")
            await self._producer.start()
        codec = self.hub.codec
        record = {
            "case_id": case_id,
            "reason": f"[{self.name}] {reason}",
            "error_kind": kind,
            "source_topic": topic or f"connector:{self.name}",
            "source_partition": partition,
            "source_offset": offset,
            "original_key": key,
            "original_value": value,
            "original_headers": dict(headers or {}),
            "failed_at": datetime.now(UTC),
        }
        env = Envelope.new("DeadLetter", case_id or "-", dataschema=codec.dataschema("DeadLetter"))
        context = [  # Kafka Connect's error context headers, so any Kafka tool shows who failed and why
            ("__connect.errors.connector.name", self.name.encode()),
            ("__connect.errors.attempts", str(attempts).encode()),
            ("__connect.errors.exception.message", reason.encode()),
        ]
        await self._producer.send_and_wait(
            topics.DEAD_LETTERS,
            codec.encode("DeadLetter", record),
            key=(case_id or "-").encode(),
            headers=env.to_headers() + context,
        )
        log.warning("connector.dead_lettered", connector=self.name, kind=kind, reason=reason, case_id=case_id)

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


async def with_retries(policy: ErrorPolicy, attempt_once: Any, *, what: str) -> tuple[Any, int]:
    """Call ``attempt_once()`` until it succeeds, retrying `RetriableError` with backoff.

    Returns (result, attempts). Raises the last `RetriableError` once the retries are spent.
    """
    attempt = 0
    while True:
        attempt += 1
        try:
            return await attempt_once(), attempt
        except RetriableError as e:
            if attempt > policy.retries:
                raise
            delay = policy.delay(attempt)
            log.info("connector.retry", what=what, attempt=attempt, delay_s=round(delay, 2), error=str(e))
            await asyncio.sleep(delay)
