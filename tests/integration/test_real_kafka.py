"""The same code path against Apache Kafka, started with testcontainers where a Docker engine exists."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from fengqiao.connectors.cloudevents_json import parse
from fengqiao.hub import Hub
from fengqiao.scenario import demo_events
from fengqiao.settings import Settings
from fengqiao.streams import topics
from fengqiao.streams.publisher import Publisher

pytestmark = [pytest.mark.integration, pytest.mark.docker]


def _docker_engine() -> str | None:
    """None when a Docker engine answers, else why not (the client alone is not enough)."""
    try:
        import docker

        docker.from_env(timeout=3).ping()
    except Exception as e:  # no socket, no daemon, no permission: all mean "skip"
        return f"no Docker engine: {type(e).__name__}: {e}"
    return None


@pytest.mark.skipif(_docker_engine() is not None, reason=str(_docker_engine()))
def test_hub_on_apache_kafka(tmp_path: Path) -> None:
    from helpers import collect
    from testcontainers.kafka import KafkaContainer

    with KafkaContainer() as kafka:
        settings = Settings(
            broker=f"kafka://{kafka.get_bootstrap_server()}",
            data_dir=tmp_path,
            session_timeout_s=10.0,
            rebalance_timeout_s=10.0,
        )

        async def go() -> list:
            async with Hub(settings) as hub:
                assert hub.codec is not None and hub.broker is None  # nothing embedded was started
                acc = parse(hub.codec, json.loads(json.dumps(demo_events(1)[0])))
                async with Publisher(hub.bootstrap, hub.codec) as pub:
                    await pub.publish(acc.envelope, acc.record)
                return await collect(
                    hub.bootstrap, topics.CASE_UPDATES, lambda m: m.key == acc.envelope.subject.encode()
                )

        assert len(asyncio.run(go())) == 1
