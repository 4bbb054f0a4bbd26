"""A partition's applied offset is written down only once the ledger holds the records below it and
everything their processing wrote; written offsets never go back."""

from __future__ import annotations

from pathlib import Path

from fengqiao.streams.applied import AppliedOffsets

T = "fengqiao.release"


def test_an_offset_is_written_once_the_ledger_holds_the_batch_and_what_it_wrote(tmp_path: Path) -> None:
    a = AppliedOffsets(tmp_path / "applied.db", "g")
    a.pending({(T, 0): 10}, {(T, 0): 9, ("fengqiao.case-updates", 0): 4})
    a.pending({(T, 0): 20}, {(T, 0): 19, ("fengqiao.case-updates", 0): 8})
    assert a.settle({(T, 0): 9}) == 0 and a.get(T, 0) == 0  # the updates are not archived yet
    assert a.settle({(T, 0): 19, ("fengqiao.case-updates", 0): 5}) == 1 and a.get(T, 0) == 10
    assert a.settle({(T, 0): 19, ("fengqiao.case-updates", 0): 8}) == 1 and a.get(T, 0) == 20
    assert not a.has_pending()
    a.close()
    assert AppliedOffsets(tmp_path / "applied.db", "g").get(T, 0) == 20  # it lasts
    assert AppliedOffsets(tmp_path / "applied.db", "other").get(T, 0) == 0  # per consumer group


def test_a_written_offset_never_goes_back(tmp_path: Path) -> None:
    first, second = AppliedOffsets(tmp_path / "a.db", "g"), AppliedOffsets(tmp_path / "a.db", "g")
    first.pending({(T, 1): 50}, {(T, 1): 49})
    first.settle({(T, 1): 49})
    second.pending({(T, 1): 30}, {(T, 1): 29})  # a worker that held the partition earlier, late to settle
    second.settle({(T, 1): 49})
    assert first.get(T, 1) == 50
