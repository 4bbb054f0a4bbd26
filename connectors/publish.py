"""`fengqiao publish`: CloudEvents JSON lines in, each good line on the log, each bad one explained."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from fengqiao.hub import connect
from fengqiao.schemas.codec import FieldError
from fengqiao.settings import Settings
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
    async with Publisher(ep.bootstrap, codec) as pub:
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
    return report
