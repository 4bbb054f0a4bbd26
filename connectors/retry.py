"""The one retry policy of every sender (重试策略): capped exponential backoff with full jitter.

As AWS's "Exponential Backoff and Jitter" describes: before retry *n* wait a uniform random time in
``[0, min(cap, base × 2^(n−1))]``. Full jitter (rather than a floor at half the ceiling) spreads
the retries of many senders that failed together, so a receiver coming back up is not hit by them
all at once. The connector runtime (`sdk.ErrorPolicy`) and the webhook sink both use it.
"""

from __future__ import annotations

import random
from collections.abc import Callable


def ceiling(attempt: int, base_s: float, cap_s: float) -> float:
    """The largest delay before retry ``attempt`` (1-based): ``min(cap_s, base_s × 2^(attempt−1))``."""
    if attempt < 1:
        raise ValueError(f"attempt counts from 1, not {attempt}")
    # 2.0**1024 raises OverflowError; past 2^64 every real base is over its cap anyway.
    return min(cap_s, base_s * 2.0 ** min(attempt - 1, 64))


def full_jitter(
    attempt: int, base_s: float, cap_s: float, rand: Callable[[], float] = random.random
) -> float:
    """The delay before retry ``attempt`` (1-based): uniform in ``[0, ceiling(attempt, base_s, cap_s)]``."""
    return rand() * ceiling(attempt, base_s, cap_s)
