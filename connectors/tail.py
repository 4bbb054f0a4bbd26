"""`fengqiao tail`: decoded events with their envelope, as they arrive."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

from fengqiao.endpoints import connect
from fengqiao.infra.broker import GapGuard, open_reader
from fengqiao.schemas.codec import Codec, to_json
from fengqiao.schemas.envelope import Envelope, EnvelopeError
from fengqiao.settings import Settings
from fengqiao.streams import topics as hub_topics


def describe(codec: Codec, msg: Any) -> dict[str, Any]:
    """A consumed record as JSON: topic position, envelope, data — or why it does not decode."""
    rec: dict[str, Any] = {
        "topic": msg.topic,
        "partition": msg.partition,
        "offset": msg.offset,
        "key": (msg.key or b"").decode("utf-8", "replace"),
    }
    try:
        rec["envelope"] = Envelope.from_headers(msg.headers or []).to_json()
    except EnvelopeError as e:
        rec["envelope"] = {}
        rec["error"] = str(e)
    try:
        _, data = codec.decode(msg.value)
        rec["data"] = to_json(data)
    except Exception as e:  # tail shows garbage rather than dying on it
        rec["data"] = None
        rec["error"] = f"does not decode: {e}"
    return rec


async def tail_events(
    settings: Settings,
    topics: list[str] | None,
    show: Callable[[dict[str, Any]], None],
    *,
    from_beginning: bool = False,
    limit: int | None = None,
) -> int:
    ep, codec = await connect(settings)
    names = topics or [hub_topics.workflow_topic(w) for w in codec.catalogue.workflows()] + [
        hub_topics.CASE_UPDATES,
        hub_topics.DEAD_LETTERS,
    ]
    consumer = await open_reader(ep.bootstrap, names, from_beginning=from_beginning, fetch_wait_ms=50)
    n = 0
    guard = GapGuard()  # the embedded broker may leave a record out of a fetch: it is fetched again
    try:
        while limit is None or n < limit:
            for tp, records in (await consumer.getmany(timeout_ms=500)).items():
                records = guard.take(consumer, tp, records)
                for msg in records[: None if limit is None else limit - n]:
                    sid = _sid(msg.value)
                    if sid >= 0 and not codec.knows(sid):
                        with contextlib.suppress(Exception):  # an unknown id is shown as undecodable below
                            await codec.ensure(sid)
                    show(describe(codec, msg))
                    n += 1
                if limit is not None and n >= limit:
                    break
    finally:
        await consumer.stop()
    return n


def _sid(value: bytes | None) -> int:
    return int.from_bytes(value[1:5], "big") if value and len(value) >= 5 else -1
