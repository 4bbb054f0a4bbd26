"""The worker's gauges: open and overdue handoffs kept as cases change, consumer lag, at scrape time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aiokafka import TopicPartition
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fengqiao.streams.casestore import CaseStore
from fengqiao.streams.engine.state import new_case
from fengqiao.streams.processor import PartitionState
from fengqiao.streams.worker_metrics import TALLY, HandoffTally, WorkerCollector, handoff_keys

PART = ("fengqiao.release", 0)


def case(*states: str) -> dict[str, Any]:
    c = new_case("C-1", "release")
    for n, state in enumerate(states):
        c["handoffs"][f"h{n}"] = {"state": state, "obliged": {"agency_id": "qs-jo-1"}}
    return c


class FakeConsumer:
    def highwater(self, tp: TopicPartition) -> int | None:
        return 10 if tp.partition == 0 else None


class FakeProcessor:
    def __init__(self) -> None:
        self.handoffs = HandoffTally()
        self.consumer = FakeConsumer()
        self.parts = {
            TopicPartition(*PART): PartitionState(done=6),
            TopicPartition(PART[0], 1): PartitionState(),
        }


def scrape(processor: FakeProcessor) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    registry = CollectorRegistry()
    collector = WorkerCollector()
    collector.watch(processor)  # type: ignore[arg-type]
    registry.register(collector)
    text = generate_latest(registry).decode()
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_handoffs_follow_the_case_and_lag_is_per_partition() -> None:
    p = FakeProcessor()
    first = case("assigned")
    p.handoffs.change(PART, handoff_keys(None), first)
    later = case("overdue", "fulfilled", "acknowledged")
    p.handoffs.change(PART, handoff_keys(first), later)
    got = scrape(p)
    labels = (("agency", "qs-jo-1"), ("workflow", "release"))
    assert got[("fengqiao_handoffs_open", labels)] == 2  # the fulfilled one is closed
    assert got[("fengqiao_handoffs_overdue", labels)] == 1
    assert got[("fengqiao_consumer_lag", (("partition", "0"), ("topic", PART[0])))] == 3
    assert not any(name == "fengqiao_consumer_lag" and ("partition", "1") in lb for name, lb in got)
    p.handoffs.drop(PART)  # the partition went to another worker
    assert ("fengqiao_handoffs_open", labels) not in scrape(p)
    p.handoffs.load(PART, [later, case("escalated")])
    assert scrape(p)[("fengqiao_handoffs_overdue", labels)] == 2


def test_a_tally_goes_with_the_snapshot_and_comes_back(tmp_path: Path) -> None:
    tally = HandoffTally()
    tally.load(PART, [case("assigned", "overdue"), case("fulfilled")])
    store = CaseStore(tmp_path)
    store.open(PART)
    store.put("C-1", PART, case("assigned", "overdue"), None, fresh=True)
    seal = store.seal({PART: 5}, {}, {PART: {TALLY: tally.dump(PART)}})
    store.write(seal, {PART: None}, "code")
    store.close()
    again = HandoffTally()
    again.restore(PART, CaseStore(tmp_path).open(PART).meta(TALLY) or b"")
    assert (
        again.totals()
        == tally.totals()
        == {("release", "qs-jo-1", False): 1, ("release", "qs-jo-1", True): 1}
    )
