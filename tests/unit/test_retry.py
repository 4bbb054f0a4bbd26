"""The one retry policy (connectors/retry.py): capped exponential backoff with full jitter."""

from __future__ import annotations

import pytest

from fengqiao.connectors import retry
from fengqiao.connectors.sdk import ErrorPolicy


@pytest.mark.parametrize(
    ("attempt", "ceiling"), [(1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0), (5, 4.0), (9, 4.0), (10_000, 4.0)]
)
def test_the_ceiling_doubles_up_to_the_cap(attempt: int, ceiling: float) -> None:
    assert retry.ceiling(attempt, 0.5, 4.0) == ceiling


@pytest.mark.parametrize("attempt", [1, 2, 3, 4, 9, 10_000])
def test_full_jitter_spans_zero_to_the_ceiling(attempt: int) -> None:
    top = retry.ceiling(attempt, 0.5, 4.0)
    assert retry.full_jitter(attempt, 0.5, 4.0, rand=lambda: 0.0) == 0.0  # no floor: full jitter
    assert retry.full_jitter(attempt, 0.5, 4.0, rand=lambda: 1.0) == top
    delays = [retry.full_jitter(attempt, 0.5, 4.0) for _ in range(500)]
    assert all(0 <= d <= top for d in delays)
    assert min(delays) < top / 4 and max(delays) > 3 * top / 4  # spread over the whole range


def test_attempts_count_from_one() -> None:
    with pytest.raises(ValueError, match="from 1"):
        retry.ceiling(0, 0.5, 4.0)


def test_the_connector_runtime_uses_it() -> None:
    """`ErrorPolicy.delay` drew from [ceiling/2, ceiling] before; now it is the same full jitter."""
    policy = ErrorPolicy(backoff_initial_s=1.0, backoff_max_s=8.0)
    delays = [policy.delay(3) for _ in range(500)]
    assert all(0 <= d <= 4.0 for d in delays) and min(delays) < 1.0
