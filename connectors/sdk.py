"""The connector SDK (连接器): how a system the hub does not know joins it, without touching the core.

A *source* brings an outside system's facts in (`Source.run` hands each one to its `Outbox`); a
*sink* feeds the hub's events out (`Sink.write`, one record at a time, in log order per case).
Both are async, configured by a pydantic model, found through the ``fengqiao.connectors`` entry
point group, and run by `fengqiao connectors run NAME --config FILE` (see ``runtime.py``).

Errors follow the Kafka Connect convention: a `RetriableError` is retried with exponential
backoff and jitter; once the retries are spent, or at once for a `RecordError`, the record goes to
the dead letters with its context (``errors.tolerance: all``, the default) or the connector stops
(``errors.tolerance: none``). docs/integrators.md walks through writing one.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from fengqiao.schemas.envelope import Envelope

from .retry import full_jitter

if TYPE_CHECKING:
    from .conformance import Harness
    from .runtime import Outbox


class ErrorPolicy(BaseModel):
    """What to do with a record that fails (Kafka Connect's ``errors.*``)."""

    model_config = ConfigDict(extra="forbid")

    tolerance: Literal["none", "all"] = Field(
        default="all", description="all: dead-letter a failing record and go on; none: stop the connector"
    )
    retries: int = Field(default=5, ge=0, description="retries of a retriable failure before giving up")
    backoff_initial_s: float = Field(
        default=0.5, gt=0, description="ceiling of the first retry delay (full jitter: 0 up to it)"
    )
    backoff_max_s: float = Field(default=60.0, gt=0, description="cap on every retry delay")

    def delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter before retry ``attempt`` (1-based): see `retry.py`."""
        return full_jitter(attempt, self.backoff_initial_s, self.backoff_max_s)


class ConnectorConfig(BaseModel):
    """Base of every connector's configuration; unknown keys are refused, naming the key."""

    model_config = ConfigDict(extra="forbid")

    errors: ErrorPolicy = Field(default_factory=ErrorPolicy)
    start: Literal["earliest", "latest"] = Field(
        default="earliest",
        description="where a sink begins when it has no position yet: earliest = the whole log (a new "
        "read model), latest = what comes from now on (a new webhook endpoint); sources ignore it",
    )


C = TypeVar("C", bound=ConnectorConfig)


class ConnectorError(Exception):
    """Base of the errors a connector raises about one record."""


class RetriableError(ConnectorError):
    """A transient failure (downstream down, timeout): the runtime retries with backoff."""


class RecordError(ConnectorError):
    """This record can never succeed as it is: dead letter it (or stop, with tolerance none).

    ``kind`` is a DeadLetterKind symbol: ``invalid``, ``unauthorised``, ``undecodable`` or
    ``handler_failed``.
    """

    def __init__(self, reason: str, kind: str = "invalid", attempts: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.attempts = attempts  # a connector retrying on its own says how often it tried


class ConnectorFailed(RuntimeError):
    """The connector stopped: a record failed with ``errors.tolerance: none``, or start failed."""


@dataclass
class Health:
    """What `health()` reports: ``status`` and counters such as written, retried, dead_lettered."""

    status: Literal["starting", "running", "degraded", "stopped", "failed"] = "starting"
    detail: str = ""
    counters: dict[str, int] = field(default_factory=dict)

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] = self.counters.get(name, 0) + n


@dataclass(frozen=True)
class SinkRecord:
    """One decoded hub record as a sink sees it: where it sits on the log, its envelope and data."""

    topic: str
    partition: int
    offset: int
    key: str  # the case id
    envelope: Envelope
    record: dict[str, Any]  # the Avro record, decoded
    value: bytes  # the original bytes, for the dead letters
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def type(self) -> str:
        return self.envelope.type

    @property
    def event_id(self) -> str:
        return self.envelope.id


@dataclass
class ConnectorContext:
    """What the runtime gives a connector: its name, a folder of its own, the hub's settings."""

    name: str
    state_dir: Path  # the connector's own files (positions, delivery records): data_dir/connectors/NAME
    settings: Any  # fengqiao.settings.Settings
    hub: Any = None  # runtime.HubLink: the running hub's broker, codec, ledger, directory and cases
    instance: Any = None  # the running connector (set by runtime.run_connector)
    runner: Any = None  # runtime.SinkRunner of a sink, once running (the conformance kit reads it)
    on_taken: Callable[[str], None] | None = None  # told of each `Outbox.took` (the kit's harness listens)


class Connector(ABC, Generic[C]):
    """Base of sources and sinks: configuration, lifecycle (start, stop, health)."""

    kind: ClassVar[Literal["source", "sink"]]
    Config: ClassVar[type[ConnectorConfig]] = ConnectorConfig
    summary: ClassVar[str] = ""  # one line for `fengqiao connectors list`

    def __init__(self, config: C, context: ConnectorContext) -> None:
        self.config = config
        self.context = context
        self._health = Health()

    async def start(self) -> None:
        """Open connections and files; raise `ConnectorFailed` with the reason if it cannot."""

    async def stop(self) -> None:
        """Release what `start` took. Called once, also after a failure."""

    def health(self) -> Health:
        return self._health

    @classmethod
    def conformance(cls, workdir: Path) -> Harness:
        """The harness the conformance kit drives this connector with (see conformance.py)."""
        raise NotImplementedError(f"{cls.__name__} has no conformance harness")

    @classmethod
    def parse_config(cls, raw: Mapping[str, Any]) -> ConnectorConfig:
        return cls.Config.model_validate(dict(raw))


class Source(Connector[C]):
    """Brings events in. `run` hands each one to ``outbox.publish`` and returns when stopped.

    ``outbox.publish`` answers only once the event is durable (in the ledger) and raises
    `RecordError` for an event the hub refuses, naming each field; the source tells its sender.
    Positions the source must not read twice go in ``outbox.positions`` after the publish; then
    ``outbox.took(ref)`` says the source is done with that input (published or refused), which is
    what a sender, or the conformance kit's harness, waits for.
    """

    kind = "source"
    # What the source publishes, for the conformance kit (and readers): the agency it speaks for by
    # default (a directory id) and its event types. Empty types: a generic intake (the gateway),
    # which the kit feeds the demo prison's release notices.
    agency: ClassVar[str | None] = None
    event_types: ClassVar[tuple[str, ...]] = ()

    @abstractmethod
    async def run(self, outbox: Outbox) -> None: ...


class Sink(Connector[C]):
    """Feeds hub records out, one `write` at a time, in log order per partition (so per case)."""

    kind = "sink"

    @abstractmethod
    def topics(self) -> list[str]:
        """The hub topics to read (see fengqiao.streams.topics)."""

    def wants(self, record: SinkRecord) -> bool:
        """Skip what this sink does not deliver; skipped records are not retried or dead-lettered."""
        return True

    @abstractmethod
    async def write(self, record: SinkRecord) -> None:
        """Deliver one record. Must be idempotent: after a crash a record may come again."""
