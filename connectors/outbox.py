"""A source's outbox (发件箱): each event validated, authorised and durable in the ledger before
`publish` answers; the same event published twice is stored once."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from typing import Any

from aiokafka.errors import KafkaError

from fengqiao import logs
from fengqiao.schemas.codec import to_json
from fengqiao.streams.publisher import NotAcknowledged, Published, Publisher

from .authz import Authorizer, Forbidden
from .cloudevents_json import Refused, parse
from .hub_link import DeadLetters, HubLink, with_retries
from .sdk import (
    ErrorPolicy,
    RecordError,
    RetriableError,
)
from .stores import PositionStore

log = logs.get(__name__)


class Outbox:
    """Where a source puts events: validated, authorised, on the log and in the ledger."""

    def __init__(
        self,
        name: str,
        hub: HubLink,
        policy: ErrorPolicy,
        positions: PositionStore,
        on_taken: Callable[[str], None] | None = None,
    ) -> None:
        self.name = name
        self.on_taken = on_taken
        self.hub = hub
        self.policy = policy
        self.positions = positions
        self.dead_letters = DeadLetters(name, hub)
        self.authorizer = Authorizer(hub.directory, hub.codec.catalogue, hub.case, hub.opening)
        self._publisher: Publisher | None = None

    async def open(self) -> None:
        self._publisher = Publisher(self.hub.bootstrap, self.hub.codec, self.hub.ledger)
        await self._publisher.__aenter__()

    async def close(self) -> None:
        if self._publisher is not None:
            await self._publisher.__aexit__(None, None, None)
            self._publisher = None
        await self.dead_letters.close()

    async def check(self, event: Mapping[str, Any] | str | bytes, *, agency: str | None = None) -> Any:
        """Validate (and, for an agency, authorise) without publishing; returns the accepted event."""
        try:
            accepted = parse(self.hub.codec, event)
        except Refused as r:
            raise RecordError(str(r), "invalid") from r
        if agency is not None:
            try:
                await self.authorizer.check(agency, accepted)
            except Forbidden as f:
                raise RecordError(str(f), "unauthorised") from f
        return accepted

    async def publish(
        self, event: Mapping[str, Any] | str | bytes, *, agency: str | None = None
    ) -> Published:
        """Publish one CloudEvent (structured JSON). Returns once the ledger holds it.

        Raises `RecordError` (the reason names each field or the rule that refused it) and, when
        the hub stays unreachable through the retries, `RetriableError`: send it again later, with
        the same id. An id published before gets the same answer and puts nothing more on the log
        (the connector's positions remember it); the same id with other content is refused.
        """
        accepted = await self.check(event, agency=agency)
        env = accepted.envelope
        key, fp = f"event:{env.source}:{env.id}", _fingerprint(env.type, env.subject, accepted.record)
        done = self.positions.get(key)
        if done is not None:  # published before: the same answer, no second record on the log
            stored = json.loads(done)
            if stored["fp"] != fp:
                raise RecordError(
                    f"id {env.id!r} of {env.source!r} was published before with other content; "
                    "give a new event a new id",
                    "invalid",
                )
            return Published(env.id, stored["topic"], stored["partition"], stored["offset"])
        assert self._publisher is not None, "Outbox.open() first"
        publisher = self._publisher

        async def once() -> Published:
            try:
                return await publisher.publish(env, accepted.record)
            except (KafkaError, NotAcknowledged, OSError) as e:
                raise RetriableError(f"the hub did not take the event: {e}") from e

        published: Published
        published, _ = await with_retries(self.policy, once, what=f"publish {env.id}")
        self.positions.put(
            key,
            json.dumps(
                {
                    "fp": fp,
                    "topic": published.topic,
                    "partition": published.partition,
                    "offset": published.offset,
                }
            ),
        )
        return published

    def took(self, ref: str) -> None:
        """The source is done with one input, ``ref`` (its row, file or message id): published or
        refused, its position saved. Call it last; whoever waits on the source (the conformance
        kit's harness, `SourceHarness.taken`) learns it here, not from the source's own tables."""
        if self.on_taken is not None:
            self.on_taken(str(ref))


def _fingerprint(etype: str, subject: str, record: dict[str, Any]) -> str:
    """What makes two publications the same event: type, case and data (not the sending time)."""
    body = json.dumps([etype, subject, to_json(record)], sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode()).hexdigest()
