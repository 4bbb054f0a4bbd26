"""The engine's vocabulary: a workflow declared as data (`Workflow`, `Step`, `Reaction`, `Alert`),
what deciding needs besides the case (`Context`), the shapes passed around (`Case`, `Decision`,
`Known`), the handoff event types and states, and the registry through which `fold` knows which events
open and close each workflow's cases. It imports nothing of the engine's at run time (`View` only for
type checking), so every other module of the engine can import it."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from fengqiao.schemas.catalogue import Catalogue
from fengqiao.schemas.envelope import Envelope

from ..calendar import WorkingCalendar
from ..directory import Directory
from ..policy import Policy, PolicySet
from ..registers import Register

if TYPE_CHECKING:
    from .view import View

Case = dict[str, Any]
Decision = tuple[Envelope, dict[str, Any]]
Known = Callable[[str], Decision | None]  # a decision already on the log, by event id
_NS = uuid.UUID("6f1d0c1e-9b7a-4d1e-8f3a-2c4b5d6e7f80")

HANDOFF_EVENTS = (
    "HandoffAssigned",
    "HandoffAcknowledged",
    "HandoffFulfilled",
    "HandoffOverdue",
    "HandoffEscalated",
    "HandoffReassigned",
    "HandoffCancelled",
)
OPEN_STATES = ("assigned", "acknowledged", "overdue", "escalated")
RECEIPT = "HandoffAcknowledged"  # a rule starting here runs from the handoff's own receipt (回执)


@dataclass(frozen=True)
class Step:
    """One handoff of a workflow. Its clock, obliged agency and escalation come from ``rule``."""

    name: str
    # Policy rule id; several: the first whose applies_if holds; None: a request without a legal clock.
    rule: str | tuple[str, ...] | None
    task_zh: str  # what the obliged agency must do, as staff read it
    opened_by: tuple[str, ...] = ()  # default: the event the rule's clock starts on
    acknowledged_by: tuple[str, ...] = ()  # receipt (回执)
    fulfilled_by: tuple[str, ...] = ()  # disposition; default: the rule's fulfilled_by
    obliged: tuple[str, ...] = ()  # agency selectors for a step without a rule
    announce: str | None = None  # the workflow's own hub event announcing the handoff
    informed: tuple[str, ...] = ()  # agencies told of the assignment (selectors)
    receipt_rule: str | None = None  # times the receipt while it is owed, where its applies_if holds
    obliged_from: str | None = None  # a field of the opening event naming the obliged agency (AgencyRef)
    receipt_from_obliged: bool = False  # only the obliged agency's own event is its receipt
    supersede: bool = False  # opened again: the open handoff is cancelled, a new one opened
    cancelled_by: tuple[str, ...] = ()  # events that make an open handoff of the step moot
    extended_by: tuple[str, ...] = ()  # agency events extending its deadline, where the rule allows
    # Facts that must hold for the step to open, as a rule's applies_if: for a step without a rule.
    applies_if: dict[str, Any] = field(default_factory=dict)

    @property
    def rules(self) -> tuple[str, ...]:
        return () if self.rule is None else (self.rule,) if isinstance(self.rule, str) else self.rule


@dataclass(frozen=True)
class Alert:
    """Raised at once, without a deadline, when one of ``raised_by`` (an agency's event or the hub's
    own) reaches the case: ``announce`` goes to the agencies ``rule``'s inform list names — or to the
    agency the raising event names in ``to_field`` — carrying the raising event's fields by name."""

    rule: str
    raised_by: tuple[str, ...]
    announce: str
    to_field: str | None = None


@dataclass(frozen=True)
class Reaction:
    """A decision of the workflow's own (``emits``, a hub event), taken when one of ``on`` reaches the
    case, or when a rule whose ``on_breach`` is ``emits`` passes its deadline. ``build`` reads the
    case and the policy through a `View` and returns the record, or None when nothing is to be decided."""

    emits: str
    on: tuple[str, ...]
    build: Callable[[View], dict[str, Any] | None]


@dataclass(frozen=True)
class Workflow:
    """A workflow as data: which events open and close a case, where it is, and its steps."""

    name: str
    title_zh: str
    opened_by: tuple[str, ...]
    closed_by: tuple[str, ...]
    division: Callable[[Case], str | None]  # the division code the case is routed by
    steps: tuple[Step, ...]
    rerouted_by: dict[str, Callable[[dict[str, Any]], str | None]] = field(default_factory=dict)
    reassign_announce: str | None = None  # e.g. ReleaseHandoffReassigned
    # Fields of the workflow's own hub events that the case's facts do not hold by name.
    extra: Callable[[Case, dict[str, Any], str, Policy], dict[str, Any]] = lambda case, h, etype, policy: {}
    reactions: tuple[Reaction, ...] = ()
    alerts: tuple[Alert, ...] = ()
    extension_announce: str | None = None  # the hub event recording a deadline moved by an extension
    # Rules the workflow's own decisions (reactions, extra) ask the policy for by id, beside its steps'
    # and alerts': so a policy version can be checked complete before any case needs them.
    rules_used: tuple[str, ...] = ()

    def step(self, name: str) -> Step:
        found = self._memo("steps", self._steps_by_name).get(name)
        return found if found is not None else next(s for s in self.steps if s.name == name)

    def triggers(self) -> frozenset[str]:
        """Event types that cause decisions when the hub itself decides them (decisions chain)."""
        return self._memo("triggers", self._triggers)

    # A workflow is immutable, and these are asked on every event: each is computed once and kept on
    # the instance, outside the dataclass fields (so equality, repr and replace are unchanged).
    def _memo(self, key: str, compute: Callable[[], Any]) -> Any:
        memo = self.__dict__.get("_computed")
        if memo is None:
            memo = {}
            object.__setattr__(self, "_computed", memo)
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    def _steps_by_name(self) -> dict[str, Step]:
        by_name: dict[str, Step] = {}
        for s in self.steps:
            by_name.setdefault(s.name, s)  # the first of a name, as a scan finds it
        return by_name

    def _triggers(self) -> frozenset[str]:
        found = set(self.closed_by)
        for s in self.steps:
            found |= {*s.opened_by, *s.cancelled_by}
        for r in self.reactions:
            found |= set(r.on)
        for a in self.alerts:
            found |= set(a.raised_by)
        return frozenset(found)


@dataclass
class Context:
    """What deciding needs besides the case: the directory, the policies, the calendar, the schemas,
    and the reference registers the deployment keeps (`streams/registers.py`)."""

    directory: Directory
    policies: PolicySet
    calendar: WorkingCalendar
    catalogue: Catalogue
    workflows: dict[str, Workflow]
    registers: Mapping[str, Register] = field(default_factory=dict)


_REGISTRY: dict[str, Workflow] = {}


def register(wf: Workflow) -> Workflow:
    """Make a workflow known to `fold` (which events open and close its cases)."""
    _REGISTRY[wf.name] = wf
    return wf
