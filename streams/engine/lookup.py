"""`Lookup`: what a `View` asks of the decider that made it — the context, routing, the next handoff
id, and the one decision a view may cause, a routing failure. `view` depends on this protocol and
`decide` implements it, so neither module needs the other's name (the decider builds views)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

from ..directory import Agency
from ..policy import Selector
from .model import Context


class Lookup(Protocol):
    """The decider as a `View` sees it (`decide._Decider` is the implementation)."""

    ctx: Context

    def resolve(
        self,
        selectors: Iterable[Selector | str],
        obliged: dict[str, Any] | None = None,
        service: str | None = None,
    ) -> list[Agency]:
        """The agencies the selectors route to for the case's division, without duplicates."""
        ...

    def next_handoff_id(self, step: str) -> str: ...

    def routing_failed(self, step: str, task: str, selectors: Iterable[Selector]) -> None:
        """No agency covers the case's division for ``selectors``: tell the county bureau."""
        ...
