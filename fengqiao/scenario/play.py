"""The benchmarks' workload: the demo's mix of the five workflows, scaled to as many cases as asked.

`make demo` plays a scripted county (`fengqiao.scenario`): release, mediation, corrections, legal
aid and service cases in fixed proportions, each a realistic sequence of agency events whose times
lie in the past, so their deadlines pass and the timer fires. The benchmarks play that same script
``copies`` times over, each copy with its own case and event ids, interleaved in publishing order
(copy-major within each scripted step), so many cases are open at once as in a real county.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from math import ceil
from typing import Any

from fengqiao.connectors.cloudevents_json import parse
from fengqiao.scenario import demo_events
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.envelope import Envelope

Event = tuple[Envelope, dict[str, Any]]


@dataclass(frozen=True)
class Template:
    """The demo's events, validated once; ``cases`` distinct cases, ``len(events)`` events."""

    events: list[Event]
    cases: int

    @property
    def events_per_case(self) -> float:
        return len(self.events) / self.cases

    def copies_for(self, *, cases: int | None = None, events: int | None = None) -> int:
        """How many copies of the script give at least ``cases`` cases (or ``events`` events)."""
        if cases is not None:
            return max(1, ceil(cases / self.cases))
        return max(1, ceil((events or 0) / len(self.events)))


def template(codec: Codec, *, now: datetime | None = None) -> Template:
    """The demo's script (two cases per workflow and every variant, as `make demo` plays it)."""
    script = demo_events(2, now=now or datetime.now(UTC), catalogue=codec.catalogue)
    accepted = [parse(codec, e) for e in script]
    events = [(a.envelope, a.record) for a in accepted]
    return Template(events, len({env.subject for env, _ in events}))


def copy_of(event: Event, n: int) -> Event:
    """Copy ``n`` of a scripted event: its case id and event id get the copy's number."""
    env, record = event
    subject = f"{env.subject}-{n:07d}"
    return (
        env.with_(id=f"{env.id}-{n:07d}", subject=subject, correlationid=subject),
        {**record, "case_id": subject},
    )


def play(tpl: Template, copies: int) -> Iterator[Event]:
    """Every scripted event in publishing order, each step for every copy before the next step."""
    for event in tpl.events:
        for n in range(copies):
            yield copy_of(event, n)


def demo_mix(codec: Codec, *, cases: int | None = None, events: int | None = None) -> list[Event]:
    """At least ``cases`` cases (or ``events`` events) of the demo's mix, in publishing order."""
    tpl = template(codec)
    return list(play(tpl, tpl.copies_for(cases=cases, events=events)))
