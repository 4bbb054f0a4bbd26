"""`View`: what a workflow's own decision (a `Reaction`) may read — the case, its cause, the policy,
the instant, the directory and the deployment's registers — without reaching into the decider that
makes the decisions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from fengqiao.schemas.codec import to_json
from fengqiao.schemas.envelope import Envelope

from ..calendar import CalendarNotCovered
from ..directory import to_ref
from ..policy import Policy, Selector
from ..registers import Register
from .helpers import _get
from .lookup import Lookup
from .model import Case
from .state import fact


@dataclass
class View:
    """What a workflow's own decision (`Reaction`) may look at: the case as it stands, the event that
    caused the decision (or, on a breach, the handoff whose deadline passed), the policy in force,
    the instant, and the directory through a few lookups. Read-only: decisions are returned, not made."""

    case: Case
    event: Envelope | None
    record: dict[str, Any]
    policy: Policy
    now: datetime
    handoff: dict[str, Any] | None
    _decider: Lookup = field(repr=False)  # the decider that made the view (`decide._Decider`)

    def fact(self, path: str) -> Any:
        return fact(self.case, path)

    def route(self, selector: str, service: str | None = None) -> dict[str, Any] | None:
        """The AgencyRef a selector (``police_station``, ``judicial_bureau:legal_aid_centre``) routes to
        for the case's division; with ``service``, only an agency providing that service type (一所六站点:
        the notary office for ``notary``)."""
        found = self._decider.resolve([selector], service=service)
        return to_ref(found[0]) if found else None

    def agency(self, agency_id: str | None) -> dict[str, Any] | None:
        found = _get(self._decider.ctx.directory, agency_id)
        return to_ref(found) if found else None

    def superior(self, agency_id: str) -> dict[str, Any] | None:
        """The agency's parent in the directory (上级), else the county bureau of the case's division."""
        found = self._decider.resolve(["superior"], {"agency_id": agency_id})
        return to_ref(found[0]) if found else None

    def next_handoff_id(self, step: str) -> str:
        return self._decider.next_handoff_id(step)

    def deadline(self, rule_id: str, start: date | datetime) -> dict[str, Any] | None:
        """A rule's deadline from ``start`` (JSON form), None when the calendar does not cover it."""
        try:
            return to_json(self.policy.deadline(rule_id, start, self._decider.ctx.calendar))
        except CalendarNotCovered:
            return None

    def routing_failed(self, step: str, task: str, wanted: str) -> None:
        """No agency of type ``wanted`` covers the case's division: the county bureau is told."""
        self._decider.routing_failed(step, task, [Selector.model_validate(wanted)])

    def register(self, name: str) -> Register | None:
        """A reference register of the deployment (e.g. civil affairs' assistance register), or None.
        A decision that consults one must carry what it found: replay reads the decision back and
        never looks again (and a worker catching up reads it from the log, see `handle`)."""
        return self._decider.ctx.registers.get(name)
