"""`fengqiao publish`: CloudEvents JSON lines in, each good line on the log, each bad one explained."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fengqiao.endpoints import connect
from fengqiao.schemas.codec import Codec, FieldError
from fengqiao.settings import Settings
from fengqiao.streams.ledger import Ledger
from fengqiao.streams.publisher import Published, Publisher

from .cloudevents_json import Refused, parse


@dataclass
class Report:
    accepted: int = 0
    refused: int = 0


async def publish_lines(
    settings: Settings,
    lines: Iterable[str],
    on_accept: Callable[[int, Published], object] = lambda n, p: None,
    on_refuse: Callable[[int, list[FieldError]], object] = lambda n, e: None,
) -> Report:
    """Publish every valid line (1-based numbers in callbacks); a bad line never stops the good ones."""
    ep, codec = await connect(settings)
    report = Report()
    ledger = Ledger(ep.ledger) if ep.ledger else None  # "accepted" = in the ledger (docs/durability.md)
    try:
        await _publish(ep.bootstrap, codec, ledger, lines, report, on_accept, on_refuse)
    finally:
        if ledger is not None:
            ledger.close()
    return report


async def _publish(
    bootstrap: str,
    codec: Codec,
    ledger: Ledger | None,
    lines: Iterable[str],
    report: Report,
    on_accept: Callable[[int, Published], object],
    on_refuse: Callable[[int, list[FieldError]], object],
) -> None:
    async with Publisher(bootstrap, codec, ledger) as pub:
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                acc = parse(codec, line)
            except Refused as r:
                report.refused += 1
                on_refuse(n, r.errors)
                continue
            published = await pub.publish(acc.envelope, acc.record)
            report.accepted += 1
            on_accept(n, published)
