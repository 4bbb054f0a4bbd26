"""Putting events on the log: validated, framed, enveloped, keyed by case, acknowledged by the broker."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaProducer

from fengqiao.schemas.codec import Codec
from fengqiao.schemas.envelope import Envelope

from .topics import topic_for


@dataclass(frozen=True)
class Published:
    event_id: str
    topic: str
    partition: int
    offset: int


class Publisher:
    """``async with Publisher(bootstrap, codec) as p: await p.publish(env, record)``."""

    def __init__(self, bootstrap: str, codec: Codec, **producer_options: Any) -> None:
        self.codec = codec
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
        return topic_for(ev, case_workflow), self.codec.encode(ev.name, record)

    async def publish(
        self, env: Envelope, record: dict[str, Any], case_workflow: str | None = None
    ) -> Published:
        """Returns once the broker has the record (acks=all)."""
        topic, value = self.frame(env, record, case_workflow)
        if env.dataschema is None and self.codec.registry_url:
            env = env.with_(dataschema=self.codec.dataschema(env.type))
        md = await self._producer.send_and_wait(
            topic, value, key=env.subject.encode(), headers=env.to_headers()
        )
        return Published(env.id, topic, md.partition, md.offset)

    async def send_raw(
        self, topic: str, value: bytes, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        await self._producer.send_and_wait(topic, value, key=key, headers=headers)
