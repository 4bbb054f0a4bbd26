"""A record the broker leaves out of a fetch is fetched again, not skipped; a gap that is still there
after one refetch is a real one and is passed."""

from __future__ import annotations

from types import SimpleNamespace

from aiokafka import TopicPartition

from fengqiao.infra.broker import GapGuard

TP = TopicPartition("fengqiao.release", 0)


def _recs(*offsets: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(offset=o) for o in offsets]


def test_records_after_a_gap_wait_for_the_refetch() -> None:
    g = GapGuard()
    g.expect(TP, 10)
    ok, back = g.admit(TP, _recs(10, 11, 13, 14))
    assert [m.offset for m in ok] == [10, 11] and back == 12
    ok, back = g.admit(TP, _recs(12, 13, 14))  # the refetch brings the missing record
    assert [m.offset for m in ok] == [12, 13, 14] and back is None


def test_a_gap_still_there_after_a_refetch_is_passed() -> None:
    g = GapGuard()
    g.expect(TP, 0)
    assert g.admit(TP, _recs(0, 2))[1] == 1
    ok, back = g.admit(TP, _recs(2, 3))
    assert [m.offset for m in ok] == [2, 3] and back is None


def test_what_was_processed_is_not_given_again_and_the_first_record_sets_the_start() -> None:
    g = GapGuard()
    g.expect(TP, None)
    assert [m.offset for m in g.admit(TP, _recs(40, 41))[0]] == [40, 41]
    assert [m.offset for m in g.admit(TP, _recs(40, 41, 42))[0]] == [42]  # a position reset overlaps
