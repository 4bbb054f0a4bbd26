"""The hub's clock: the system's, or one that tests move (a file holding an instant).

The timer that turns passed deadlines into events reads this clock, live and in tests alike; a
scenario test writes a new instant to the file and a month of deadlines passes in a second.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    return datetime.now(UTC)


class FileClock:
    """``file:/path``: the instant written in the file (RFC 3339); the system's until it exists."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def __call__(self) -> datetime:
        try:
            text = self.path.read_text().strip()
        except FileNotFoundError:
            return system_clock()
        t = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return t if t.tzinfo else t.replace(tzinfo=UTC)

    def set(self, t: datetime) -> None:
        tmp = self.path.with_suffix(".tmp")
        tmp.write_text(t.astimezone(UTC).isoformat())
        tmp.replace(self.path)  # atomic: the worker never reads half an instant


def from_setting(spec: str) -> Clock:
    """``system`` or ``file:/path/to/now``."""
    if spec == "system":
        return system_clock
    if spec.startswith("file:"):
        return FileClock(spec[5:])
    raise ValueError(f"clock {spec!r}: use 'system' or 'file:/path'")
