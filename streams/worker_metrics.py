"""The worker's gauges, computed at scrape time from what the case processor already keeps.

Open and overdue handoffs are tallied per partition as cases change (`HandoffTally.change`, two short
walks over one case's handoffs per record), so a scrape sums a few small counters and decodes no
case. Each snapshot stores its partition's tally (casestore's meta), so a partition that starts from
its snapshot takes the tally back without decoding its cases (~90 µs each); only a snapshot written
before this existed is counted once from the store. One rebuilt from the ledger is counted by the
folds themselves. Consumer lag is the high watermark
the last fetch saw minus the next offset to apply, per held partition.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

from prometheus_client.core import REGISTRY, GaugeMetricFamily
from prometheus_client.registry import Collector

from . import engine
from .casestore import Part

if TYPE_CHECKING:
    from .processor import CaseProcessor

Key = tuple[str, str, bool]  # workflow, obliged agency, overdue
TALLY = "handoff_tally"  # the key of a partition's tally in its snapshot (casestore's meta)
_LATE = frozenset({"overdue", "escalated"})


def handoff_keys(case: engine.Case | None) -> list[Key]:
    """One key per open handoff of ``case`` (none for no case)."""
    if case is None:
        return []
    workflow = case.get("workflow") or "-"
    return [
        (workflow, (h.get("obliged") or {}).get("agency_id") or "-", h["state"] in _LATE)
        for h in engine.open_handoffs(case)
    ]


class HandoffTally:
    """Open handoffs per partition, by (workflow, agency, overdue)."""

    def __init__(self) -> None:
        self.parts: dict[Part, Counter[Key]] = {}

    def change(self, part: Part, before: list[Key], after: engine.Case) -> None:
        now = handoff_keys(after)
        if now == before:  # most records change no handoff
            return
        tally = self.parts.setdefault(part, Counter())
        tally.subtract(before)
        tally.update(now)

    def load(self, part: Part, cases: Iterable[engine.Case]) -> None:
        """A partition's count from its stored cases (once, when it starts from a snapshot)."""
        tally: Counter[Key] = Counter()
        for case in cases:
            tally.update(handoff_keys(case))
        self.parts[part] = tally

    def dump(self, part: Part) -> bytes:
        """The partition's tally, stored with its snapshot."""
        rows = [[w, a, late, n] for (w, a, late), n in (self.parts.get(part) or {}).items() if n]
        return json.dumps(rows).encode()

    def restore(self, part: Part, blob: bytes) -> None:
        self.parts[part] = Counter({(w, a, bool(late)): int(n) for w, a, late, n in json.loads(blob)})

    def drop(self, part: Part) -> None:
        self.parts.pop(part, None)

    def totals(self) -> Counter[Key]:
        out: Counter[Key] = Counter()
        for tally in list(self.parts.values()):
            out.update(tally)
        return out


class WorkerCollector(Collector):
    """Registered once per process; `watch` points it at the worker's processor."""

    def __init__(self) -> None:
        self.processor: CaseProcessor | None = None

    def watch(self, processor: CaseProcessor) -> None:
        self.processor = processor

    def collect(self) -> Iterator[Any]:
        p = self.processor
        if p is None:
            return
        open_ = GaugeMetricFamily(
            "fengqiao_handoffs_open", "Open handoffs of this worker's cases", labels=["workflow", "agency"]
        )
        overdue = GaugeMetricFamily(
            "fengqiao_handoffs_overdue",
            "Open handoffs found overdue (or escalated) of this worker's cases",
            labels=["workflow", "agency"],
        )
        by_agency: Counter[tuple[str, str]] = Counter()
        late: Counter[tuple[str, str]] = Counter()
        for (workflow, agency, is_late), n in p.handoffs.totals().items():
            by_agency[(workflow, agency)] += n
            if is_late:
                late[(workflow, agency)] += n
        for labels, n in sorted(by_agency.items()):
            open_.add_metric(list(labels), n)
            overdue.add_metric(list(labels), late[labels])
        lag = GaugeMetricFamily(
            "fengqiao_consumer_lag",
            "Records on the partition not yet applied (high watermark of the last fetch minus next offset)",
            labels=["topic", "partition"],
        )
        consumer = p.consumer
        for tp, state in sorted(p.parts.items()):
            high = consumer.highwater(tp) if consumer is not None else None
            if high is not None:
                lag.add_metric([tp.topic, str(tp.partition)], max(high - state.done - 1, 0))
        yield from (open_, overdue, lag)


COLLECTOR = WorkerCollector()
REGISTRY.register(COLLECTOR)
