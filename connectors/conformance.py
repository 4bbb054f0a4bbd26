"""The conformance kit (一致性测试): one standard suite every connector must pass.

`fengqiao connectors test NAME` drives the connector through its *harness* — a small class the
connector ships (``Connector.conformance(workdir)``) that plays the outside system: for a source
it puts events where the source reads them (a file, an HTTP POST); for a sink it is the
downstream, able to fail, to be slow, and to say what it received. A source's harness learns
that the source took an input from the source itself: the source calls ``outbox.took(ref)``, the
harness awaits ``self.taken(ref)`` (never the runtime's private positions).

The suite, against a real hub:

* ``start-stop``: a clean start and stop, health "running" then "stopped";
* ``redelivery``: the same input twice gives one event (source), or a record read again after a
  crash gives one effect downstream (sink);
* ``dead-letter``: a failing record is refused with its context (the sender is told, or it is on
  the dead-letter topic naming the connector) and the records after it still go through;
* ``backpressure``: a sink under a slow downstream holds a bounded number of records; a source
  answers its sender only once the event is durable (in the ledger);
* ``restart``: stopped in the middle of a stream and started again, no event is lost.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any


class Harness(ABC):
    """Plays the outside system for the kit. ``config()`` is the connector's configuration."""

    state_dir: Path | None = None  # the connector's own folder (positions.db), set by the kit

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """The connector configuration (as in its --config file) wired to this harness."""

    async def open(self) -> None:  # noqa: B027 (an optional hook)
        """Start the outside system (an HTTP receiver, a folder)."""

    async def close(self) -> None:  # noqa: B027 (an optional hook)
        """Stop it."""


class SourceHarness(Harness):
    """For a source: put events where it reads them, and read back what it told the sender."""

    # The agency the kit's events come from: this, else the source's own ``agency``, else the demo
    # prison. Their types are the source's ``event_types``. Events may get ids of the source's own:
    # the kit counts each case's events in the ledger.
    agency: str | None = None

    def note_taken(self, ref: str) -> None:
        """Called (by the kit, through the runtime) for each ``outbox.took(ref)`` of the source."""
        self._taken = getattr(self, "_taken", set())
        self._taken.add(ref)

    async def taken(self, ref: str, timeout: float = 60.0) -> None:
        """Until the source has reported ``outbox.took(ref)``: what `feed` waits for."""
        deadline = time.monotonic() + timeout
        while ref not in getattr(self, "_taken", set()):
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the source did not report taking {ref!r} in {timeout:.0f}s: does it call "
                    "outbox.took(ref) once it has published or refused each input?"
                )
            await asyncio.sleep(0.02)

    @abstractmethod
    async def feed(self, events: list[dict[str, Any]]) -> None:
        """Hand these CloudEvents (structured JSON dicts) to the source as its outside system would.

        Returns once the source has answered for each (an HTTP response, a file fully read).
        """

    @abstractmethod
    async def feed_invalid(self, event: dict[str, Any]) -> None:
        """Hand one event the hub must refuse (the kit breaks one field of it)."""

    @abstractmethod
    async def refusals(self) -> list[str]:
        """What the source told its senders about refused input (response bodies, rejects rows)."""


class SinkHarness(Harness):
    """For a sink: the downstream. It can fail, be slow, and say what it received."""

    @abstractmethod
    async def received(self) -> list[str]:
        """Event ids the downstream has taken, in order of receipt, repeats included."""

    @abstractmethod
    def fail_next(self, n: int) -> None:
        """Make the next ``n`` deliveries fail transiently (the sink must retry them)."""

    @abstractmethod
    def fail_case(self, case_id: str) -> None:
        """Make every delivery for this case fail (the sink must dead-letter them and go on)."""

    @abstractmethod
    def slow(self, seconds: float) -> None:
        """Make each delivery take this long (0: normal)."""

    def cases(self) -> list[str]:
        """Case ids the downstream has taken something for (default: none tracked)."""
        return []
