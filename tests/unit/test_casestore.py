"""The worker's case store keeps the most recently used cases as objects and the rest compressed; what
goes in comes out equal, whichever part it sits in, and nothing is lost or kept twice."""

from __future__ import annotations

from fengqiao.streams import casestore
from fengqiao.streams.casestore import CaseStore


def _case(n: int) -> dict:
    return {
        "case_id": f"XS-2026-{n:05d}",
        "workflow": "release",
        "version": n % 7,
        "events": [
            {"id": f"e-{n}-{i}", "type": "ReleaseNoticeIssued", "source": "zj-prison-2"} for i in range(5)
        ],
        "facts": {"ReleaseNoticeIssued": {"person": {"name": "张三", "id_number": None}, "n": n}},
        "handoffs": {f"h-{n}": {"state": "assigned", "deadline": {"due": "2026-12-05T00:00:00Z"}}},
    }


def test_cases_come_back_equal_from_hot_cold_and_untrained_parts(monkeypatch) -> None:
    monkeypatch.setattr(casestore, "TRAIN_ON", 50)
    store = CaseStore(hot=10)
    cases = {f"k{n}".encode(): _case(n) for n in range(300)}
    for key, case in cases.items():
        store[key] = case
    assert len(store) == 300
    assert len(store.hot) == 10 and store.cold, "the least recently used went cold, compressed"
    assert sorted(c["case_id"] for c in store.values()) == sorted(c["case_id"] for c in cases.values())
    for key, case in cases.items():
        assert store.get(key) == case
    assert len(store) == 300 and len(store.hot) == 10
    assert store.pop(b"k3") == cases[b"k3"] and b"k3" not in store and len(store) == 299
    assert store.get(b"missing") is None


def test_a_cold_case_written_again_holds_the_new_version() -> None:
    store = CaseStore(hot=1)
    store[b"a"] = _case(1)
    store[b"b"] = _case(2)  # a goes cold (not yet trained: pickled only)
    newer = {**_case(1), "version": 99}
    store[b"a"] = newer
    assert store.get(b"a") == newer and len(store) == 2


def test_hot_zero_keeps_every_case_as_objects() -> None:
    store = CaseStore(hot=0)
    for n in range(100):
        store[str(n).encode()] = _case(n)
    assert len(store.hot) == 100 and not store.cold
