"""Putting events on the log: validated, framed, enveloped, keyed by case, confirmed by the ledger."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from fengqiao.schemas.codec import Codec
from fengqiao.schemas.envelope import Envelope

from .ledger import Ledger
from .topics import topic_for


@dataclass(frozen=True)
class Published:
    event_id: str
    topic: str
    partition: int
    offset: int


class NotAcknowledged(RuntimeError):
    """The broker took the record but the ledger did not confirm it in time: retry with the same id."""


class Publisher:
    """``async with Publisher(bootstrap, codec, ledger) as p: await p.publish(env, record)``.

    With a ledger, `publish` returns only once the archiver has stored the record there: that is
    what "accepted" means (docs/durability.md). Without one it returns when the broker has it.
    """

    def __init__(
        self,
        bootstrap: str,
        codec: Codec,
        ledger: Ledger | None = None,
        confirm_timeout: float = 15.0,
        **producer_options: Any,
    ) -> None:
        self.codec = codec
        self.ledger = ledger
        self.confirm_timeout = confirm_timeout
        self._producer = AIOKafkaProducer(
            bootstrap_servers=bootstrap, acks="all", linger_ms=1, **producer_options
        )

    async def __aenter__(self) -> Publisher:
        await self._producer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._producer.stop()

    def frame(
        self, env: Envelope, record: dict[str, Any], case_workflow: str | None = None
    ) -> tuple[str, bytes]:
        ev = self.codec.catalogue[env.type]
        if self.codec.sealer is not None:  # personal fields sealed per person before they leave
            record = self.codec.sealer.seal(ev.name, env.subject, record)
        return topic_for(ev, case_workflow), self.codec.encode(ev.name, record)

    async def publish(
        self, env: Envelope, record: dict[str, Any], case_workflow: str | None = None
    ) -> Published:
        """Returns once the record is on the broker (acks=all) and, with a ledger, in the ledger."""
        topic, value = self.frame(env, record, case_workflow)
        if env.dataschema is None and self.codec.registry_url:
            env = env.with_(dataschema=self.codec.dataschema(env.type))
        md = await self._producer.send_and_wait(
            topic, value, key=env.subject.encode(), headers=env.to_headers()
        )
        if self.ledger is not None:
            await self._confirmed(topic, md.partition, md.offset, env.id)
        return Published(env.id, topic, md.partition, md.offset)

    async def _confirmed(self, topic: str, partition: int, offset: int, event_id: str) -> None:
        assert self.ledger is not None
        deadline = time.monotonic() + self.confirm_timeout
        while not await asyncio.to_thread(self.ledger.has, topic, partition, offset):
            if time.monotonic() > deadline:
                raise NotAcknowledged(
                    f"event {event_id} reached the broker ({topic}/{partition}@{offset}) but the ledger did "
                    f"not confirm it in {self.confirm_timeout:.0f}s; publish it again with the same id "
                    "(the hub applies an id once)"
                )
            await asyncio.sleep(0.01)  # the archiver may be another process: the ledger is polled

    async def send_raw(
        self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        await self._producer.send_and_wait(topic, value, key=key, headers=headers)
