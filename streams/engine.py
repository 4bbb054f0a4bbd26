"""The handoff engine (移交引擎): one engine, every workflow declared as data over it.

A *handoff* is an obligation of one agency to act on a case by a deadline: assigned →
acknowledged (回执) → fulfilled (处置), or overdue → escalated / reassigned / cancelled. A workflow
(`streams/workflows/*.py`) declares its steps: the event that opens each handoff, the policy rule
that gives its clock, its obliged agency and escalation targets, the events that acknowledge and
fulfil it. The policy file holds every number; the engine holds no workflow's rules.

Three pure functions, no I/O:

* `fold(case, env, record)` applies one event — an agency's fact or the hub's own decision — to
  the case. Replay of the log is `fold` alone: it reads decisions back and never re-decides.
* `handle(case, env, record, ctx, now)` is the live path: fold the fact, decide, fold the decisions.
* `tick(case, ctx, now)` turns passed deadlines into decisions (`HandoffOverdue`, the rule's
  breach event such as `PickupMissed`, `HandoffEscalated`).

Decision ids are derived from what caused them (uuid5), so a redelivered event or a second timer
firing produces the same ids, and `fold` ignores an id it has seen: nothing is applied twice.

Order: an event for a case whose opening event has not arrived is *held* on the case and decided
when the opening event comes (the case shows it as held meanwhile). Any other order is legal and
handled by the rules themselves: e.g. `PersonReleased` before `ReleaseNoticeAcknowledged` opens the
release-day handoffs while the acknowledgement handoff stays open, and goes overdue if it must.

Besides steps, a workflow may declare, all as data the engine runs the same way for every workflow:

* *reactions*: its own decisions (a hub event) on an event or on a rule's breach — e.g. mediation's
  assignment to a level by the policy's risk rules; a decision may in turn open steps, raise alerts,
  cause further reactions or close the case (decisions chain, each id derived from its cause);
* *alerts*: raised at once, no deadline, to the agencies a rule's ``inform`` names (or the agency the
  raising event names), whatever the case's stage — e.g. 民转刑 risk to the police station;
* per step: several rules, the first whose ``applies_if`` holds; a receipt clock (``receipt_rule``)
  and a clock that starts at the receipt (a rule starting at ``HandoffAcknowledged``); the obliged
  agency named by the opening event; several obliged agencies each fulfilling with its own event
  (``fulfilment: each_obliged``); deadlines moved by an agency's event where the rule allows an
  extension (the workflow's ``extension_announce`` records the move and its reason); a step without a
  rule opened only where its own ``applies_if`` holds (e.g. custody only after a revocation);
* reference data: a reaction may consult a register the deployment keeps (`View.register`, e.g. civil
  affairs' assistance register); its decision carries what it found, so replay never looks again.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from fengqiao.schemas.catalogue import Catalogue
from fengqiao.schemas.codec import from_json as _from_json_schema
from fengqiao.schemas.codec import named_types, to_json
from fengqiao.schemas.envelope import HUB_SOURCE, Envelope, format_time, parse_time

from .calendar import CalendarNotCovered, WorkingCalendar, end_of_day, local_date
from .calendar import due as clock_due
from .directory import Agency, Directory, to_ref
from .policy import Policy, PolicySet, Rule, Selector
from .registers import Register

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

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)

    def triggers(self) -> frozenset[str]:
        """Event types that cause decisions when the hub itself decides them (decisions chain)."""
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


# -- state ------------------------------------------------------------------------------------------
def new_case(case_id: str, workflow: str) -> Case:
    return {
        "case_id": case_id,
        "workflow": workflow,
        "status": "awaiting_opening",
        "version": 0,
        "policy_version": None,
        "opened_at": None,
        "updated_at": None,
        "closed_at": None,
        "events": [],
        "facts": {},
        "held": [],
        "handoffs": {},
        "breaches": [],
        "alerts": [],
    }


def fact(case: Case, path: str) -> Any:
    """``EventType.field`` (or ``EventType``) from the newest such event on the case, JSON form."""
    etype, _, fname = path.partition(".")
    rec = case["facts"].get(etype)
    if rec is None or not fname:
        return rec
    for part in fname.split("."):
        rec = rec.get(part) if isinstance(rec, dict) else None
    return rec


def open_handoffs(case: Case) -> list[dict[str, Any]]:
    return [h for h in case["handoffs"].values() if h["state"] in OPEN_STATES]


# -- fold: the only way state changes ------------------------------------------------------------------
def fold(case: Case | None, env: Envelope, record: dict[str, Any], workflow: str) -> tuple[Case, bool]:
    """Apply one event; returns (case, applied). An event id seen before changes nothing."""
    case = _copy(case) if case else new_case(env.subject, workflow)
    if any(e["id"] == env.id for e in case["events"]):
        return case, False
    rec = to_json(record)
    # The timeline is kept in (time, id) order, not arrival order: the hub's decisions reach the log a
    # moment after the agency events that follow them, so arrival order differs between the live path
    # and a replay of the log, while the set of events — and so this order — does not.
    entry = {"id": env.id, "type": env.type, "source": env.source, "time": format_time(env.time)}
    bisect.insort(case["events"], entry, key=lambda e: (e["time"], e["id"]))
    case["version"] += 1
    case["updated_at"] = max(case["updated_at"] or "", entry["time"])
    wf = _REGISTRY.get(workflow)
    if env.type in HANDOFF_EVENTS:
        _fold_handoff(case, env.type, rec)
    elif wf is not None and env.type == wf.extension_announce:
        _fold_extension(case, rec)
    elif env.source == HUB_SOURCE:
        _fold_hub_event(case, env.type, rec)
        if wf is not None and env.type in wf.closed_by and not case["closed_at"]:
            case["closed_at"] = format_time(env.time)  # the workflow's own decision ends the case
    else:
        case["facts"][env.type] = rec
        if case["opened_at"] is None and wf is not None and env.type not in wf.opened_by:
            case["held"].append({"id": env.id, "type": env.type})  # decided once the case opens
        elif case["opened_at"] is None:
            case["opened_at"] = format_time(env.time)
            case["held"] = []  # `handle` decides them now, in their order
        if wf is not None and env.type in wf.closed_by:
            case["closed_at"] = format_time(env.time)
    if env.policyversion and not case["policy_version"]:
        case["policy_version"] = env.policyversion
    case["status"] = status(case)
    return case, True


_REGISTRY: dict[str, Workflow] = {}


def register(wf: Workflow) -> Workflow:
    """Make a workflow known to `fold` (which events open and close its cases)."""
    _REGISTRY[wf.name] = wf
    return wf


def _fold_handoff(case: Case, etype: str, r: dict[str, Any]) -> None:
    hid = r["handoff_id"]
    h = case["handoffs"].get(hid)
    if etype == "HandoffAssigned":
        case["handoffs"][hid] = {
            "id": hid,
            "step": r["step"],
            "rule_id": (r.get("deadline") or {}).get("rule_id"),
            "obliged": r["obliged"],
            "task": r["task"],
            "state": "assigned",
            "deadline": r.get("deadline"),
            "assigned_at": r["assigned_at"],
            "acknowledged_at": None,
            "fulfilled_at": None,
            "fulfilled_by": None,
            "late": None,
            "overdue_at": None,
            "escalated_to": [],
            "informed": r.get("informed", []),
            "routed_for": (r.get("routed_for") or {}).get("code"),
        }
        case["policy_version"] = case["policy_version"] or r["policy_version"]
        return
    if etype in ("HandoffOverdue", "HandoffEscalated") and h is not None and _due(h) != _due(r):
        # A timer finding about a deadline the handoff no longer has (it was re-routed meanwhile): the
        # escalation still happened and is kept, the state is not touched — so whichever order the
        # finding and the re-routing reach the log in, the case comes out the same.
        if etype == "HandoffEscalated":
            h["escalated_to"].append(r["escalated_to"])
        return
    if h is None:  # an engine event for a handoff this case never had: keep it visible, change nothing
        _alert(case, {"type": etype, "handoff_id": hid, "problem": "unknown handoff"})
        return
    if etype == "HandoffAcknowledged":
        h["acknowledged_at"] = r["acknowledged_at"]
        if _due(r) != _due(h):
            # The receipt started the next clock (a receipt rule gave way to the step's own rule): the
            # receipt's lateness stays on record, the handoff owes its disposition by the new deadline —
            # or by none yet, when the next clock waits on a date no event has given (no deadline).
            if h["overdue_at"]:
                h["receipt_overdue_at"] = h["overdue_at"]
            rule_id = (r.get("deadline") or {}).get("rule_id") or h["rule_id"]
            h.update(deadline=r.get("deadline"), rule_id=rule_id, overdue_at=None)
            h.pop("missing", None)
            if h["state"] in OPEN_STATES:
                h["state"] = "acknowledged"
        elif h["state"] == "assigned":
            h["state"] = "acknowledged"
    elif etype == "HandoffFulfilled":
        h.update(
            state="fulfilled", fulfilled_at=r["fulfilled_at"], fulfilled_by=r["by_event_type"], late=r["late"]
        )
    elif etype == "HandoffOverdue":
        h["overdue_at"] = r["detected_at"]
        h["missing"] = r["missing"]
        if h["state"] in ("assigned", "acknowledged"):
            h["state"] = "overdue"
    elif etype == "HandoffEscalated":
        h["escalated_to"].append(r["escalated_to"])
        if h["state"] in OPEN_STATES:
            h["state"] = "escalated"
    elif etype == "HandoffReassigned":
        h.update(
            obliged=r["to_agency"],
            deadline=r.get("deadline"),
            state="assigned",
            overdue_at=None,
            acknowledged_at=None,
        )
        if (r.get("deadline") or {}).get("rule_id"):
            h["rule_id"] = r["deadline"]["rule_id"]
        h["reassigned_from"] = [*h.get("reassigned_from", []), r["from_agency"]]
        h.pop("missing", None)  # the new office owes everything again
    elif etype == "HandoffCancelled":
        h.update(state="cancelled", cancelled_reason=r["reason"])


def _fold_extension(case: Case, r: dict[str, Any]) -> None:
    """A deadline moved by an extension (延长): the new deadline, with the old one and the reason kept."""
    h = case["handoffs"].get(r["handoff_id"])
    if h is None:
        _alert(case, {"type": "extension", "handoff_id": r["handoff_id"], "problem": "unknown handoff"})
        return
    moved = {
        "from": (r.get("previous_deadline") or {}).get("due"),
        "to": _due(r),
        "reason": r["reason"],
        "by_event_id": r.get("by_event_id"),
        "extended_at": r.get("extended_at"),
    }
    h.update(deadline=r["deadline"], extensions=[*h.get("extensions", []), moved])


def _due(d: dict[str, Any]) -> str | None:
    return (d.get("deadline") or {}).get("due")


def _alert(case: Case, alert: dict[str, Any]) -> None:
    """Alerts are kept in (instant, type) order, so findings folded in either order give one list."""
    bisect.insort(
        case["alerts"],
        alert,
        key=lambda a: (a.get("detected_at") or a.get("failed_at") or "", a["type"], repr(a)),
    )


def _fold_hub_event(case: Case, etype: str, r: dict[str, Any]) -> None:
    """The workflows' own hub events: alerts and flags; the handoff state is in the engine events."""
    if "alerted" in r or etype in ("RoutingFailed", "DeadlineNotComputable"):
        _alert(
            case,
            {"type": etype, **{k: r[k] for k in ("detected_at", "failed_at", "reason", "alerted") if k in r}},
        )
    rule = (r.get("deadline") or {}).get("rule_id")
    if "alerted" in r and rule and rule not in case["breaches"]:  # a rule's breach event (PickupMissed, ...)
        bisect.insort(case["breaches"], rule)
    if r.get("notice_late"):
        case.setdefault("flags", {})["notice_late"] = True
    case["facts"][etype] = r


def _copy(case: Case) -> Case:
    out = dict(case)
    out["events"] = list(case["events"])
    out["facts"] = dict(case["facts"])
    out["held"] = list(case["held"])
    out["handoffs"] = {
        k: {n: list(x) if isinstance(x, list) else x for n, x in v.items()}
        for k, v in case["handoffs"].items()
    }
    out["breaches"] = list(case["breaches"])
    out["alerts"] = list(case["alerts"])
    if "flags" in case:
        out["flags"] = dict(case["flags"])
    return out


# -- deciding ----------------------------------------------------------------------------------------------
@dataclass
class Outcome:
    case: Case
    duplicate: bool = False
    decisions: list[Decision] = field(default_factory=list)


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
    _decider: _Decider = field(repr=False)

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


class _Decider:
    """Collects the decisions one event (or one timer pass) causes, folding each as it is made."""

    def __init__(
        self,
        case: Case,
        wf: Workflow,
        ctx: Context,
        now: datetime,
        cause: Envelope | str,
        known: Known | None = None,
    ) -> None:
        self.case, self.wf, self.ctx, self.now = case, wf, ctx, now
        self.known = known
        self.cause_id = cause.id if isinstance(cause, Envelope) else cause
        self.decisions: list[Decision] = []
        self.chained: list[Decision] = []  # decisions that cause further decisions, decided in `drain`
        version = case["policy_version"]
        # A case keeps the version it was opened under, unless a newer one says it applies to open cases.
        self.policy: Policy = (
            ctx.policies.for_open_case(version, now) if version else ctx.policies.for_new_case(now)
        )
        known_rules = set(self.policy.rule_ids())
        self.triggers = wf.triggers() | {  # and the steps opened where their rule's clock starts
            self.policy.rule(rid).start.split(".")[0]
            for s in wf.steps
            if not s.opened_by
            for rid in s.rules
            if rid in known_rules
        }

    # Every decision goes through here: a stable id, the envelope, a complete record, folded at once.
    def emit(self, etype: str, record: dict[str, Any], key: str) -> None:
        ev = self.ctx.catalogue[etype]
        record = _complete(ev.expanded, {**record, "case_id": self.case["case_id"]}, self.case)
        eid = str(uuid.uuid5(_NS, f"{self.cause_id}/{key}/{etype}"))
        env = Envelope(
            id=eid,
            source=HUB_SOURCE,
            type=etype,
            subject=self.case["case_id"],
            time=self.now,
            correlationid=self.case["case_id"],
            causationid=self.cause_id,
            jurisdiction=self.wf.division(self.case),
            policyversion=self.policy.version,
        )
        prior = self.known(eid) if self.known else None
        if prior is not None:  # decided before (its record is on the log): read it back, never re-decide
            self.case, applied = fold(self.case, prior[0], prior[1], self.wf.name)
            env, record = prior
        else:
            self.case, applied = fold(self.case, env, record, self.wf.name)
            if applied:
                self.decisions.append((env, record))
        if applied and etype in self.triggers:
            self.chained.append((env, record))

    # -- one event's consequences ------------------------------------------------------------------------
    def react(self, env: Envelope, record: dict[str, Any]) -> None:
        """Everything an event (an agency's, or the hub's own decision) causes, in a fixed order."""
        if env.type in self.wf.rerouted_by:
            self.reroute(env, record)
        self.progress(env)
        self.extend(env, record)
        self.moot(env)
        self.raise_alerts(env, record)
        self.run_reactions(env, record)
        self.open_steps(env, record)
        if env.type in self.wf.closed_by:
            self.close(env)

    def drain(self) -> None:
        """Decide what the decisions made so far cause in turn, each caused by the decision itself."""
        cause, n = self.cause_id, 0
        while self.chained:
            n += 1
            if n > 1000:
                raise RuntimeError(
                    f"{self.wf.name}: decisions keep causing decisions on {self.case['case_id']}"
                )
            env, record = self.chained.pop(0)
            self.cause_id = env.id
            self.react(env, record)
        self.cause_id = cause

    # -- rules -------------------------------------------------------------------------------------------
    def step_rule(self, step: Step, *, opening: bool = False) -> Rule | None:
        """The rule a step's handoff runs under: the first of its rules whose applies_if holds. Once open,
        a step with one rule keeps it, whatever the facts say since."""
        ids = step.rules
        if not ids:
            return None
        if len(ids) == 1 and not opening:
            return self.policy.rule(ids[0])
        for rid in ids:
            if self.applies(rule := self.policy.rule(rid)):
                return rule
        return None if opening else self.policy.rule(ids[0])

    def handoff_rule(self, h: dict[str, Any]) -> Rule | None:
        """The rule the handoff owes its disposition under."""
        step = self.wf.step(h["step"])
        if len(step.rules) > 1 and h.get("rule_id") in step.rules:
            return self.policy.rule(h["rule_id"])
        return self.step_rule(step)

    def clock_rule(self, h: dict[str, Any]) -> Rule | None:
        """The rule that set the handoff's running deadline (a receipt rule until the receipt)."""
        rid = (h.get("deadline") or {}).get("rule_id")
        if rid:
            try:
                return self.policy.rule(rid)
            except KeyError:  # a newer version for open cases dropped it: hold to the step's own rule
                pass
        return self.handoff_rule(h)

    def receipt_rule(self, step: Step) -> Rule | None:
        if not step.receipt_rule:
            return None
        rule = self.policy.rule(step.receipt_rule)
        return rule if self.applies(rule) else None

    def applies(self, rule: Rule | None) -> bool:
        """Every applies_if holds: a field equal to the value, or one of a list of values."""
        return rule is None or self.holds(rule.applies_if)

    def holds(self, conditions: dict[str, Any]) -> bool:
        return all(
            fact(self.case, path) in want if isinstance(want, list) else fact(self.case, path) == want
            for path, want in conditions.items()
        )

    def base(self, h: dict[str, Any]) -> dict[str, Any]:
        return {
            "handoff_id": h["id"],
            "workflow": self.wf.name,
            "step": h["step"],
            "obliged": h["obliged"],
            "task": h["task"],
            "deadline": _deadline_in(h.get("deadline")),
            "policy_version": self.policy.version,
            "caused_by_event_id": self.cause_id,
        }

    def next_handoff_id(self, step: str) -> str:
        n = sum(1 for h in self.case["handoffs"].values() if h["step"] == step)
        return f"{self.case['case_id']}/{step}/{n + 1}"

    # -- routing --------------------------------------------------------------------------------------
    def resolve(
        self,
        selectors: Iterable[Selector | str],
        obliged: dict[str, Any] | None = None,
        service: str | None = None,
    ) -> list[Agency]:
        code = self.wf.division(self.case)
        out: list[Agency] = []
        for sel in selectors:
            sel = sel if isinstance(sel, Selector) else Selector.model_validate(sel)
            agency: Agency | None = None
            if sel.relation == "superior" and obliged:
                agency = self.ctx.directory.superior(obliged["agency_id"])
            elif sel.relation == "originator":  # the first agency to publish to the case
                first = next((e["source"] for e in self.case["events"] if e["source"] != HUB_SOURCE), None)
                agency = _get(self.ctx.directory, first)
            elif sel.type and code:
                agency = self.ctx.directory.route(sel.type, code, sel.role, service=service)
            if agency is None and sel.relation == "superior" and code:
                agency = self.ctx.directory.county_bureau(
                    code
                )  # an agency without a parent: the county bureau
            if agency is not None and agency not in out:
                out.append(agency)
        return out

    # -- opening -----------------------------------------------------------------------------------------
    def open_steps(self, env: Envelope, record: dict[str, Any]) -> None:
        for step in self.wf.steps:
            rule = self.step_rule(step, opening=True)
            opened_by = step.opened_by or ((rule.start.split(".")[0],) if rule else ())
            if env.type not in opened_by or (step.rules and rule is None) or not self.holds(step.applies_if):
                continue
            standing = [h for h in open_handoffs(self.case) if h["step"] == step.name]
            if standing and not step.supersede:
                continue  # a corrected or re-sent opening event: the open handoff stands
            for h in standing:
                self.emit(
                    "HandoffCancelled",
                    {**self.base(h), "reason": f"superseded by {env.type}", "cancelled_at": self.now},
                    key=h["id"],
                )
            selectors = rule.obliged if rule else [Selector.model_validate(s) for s in step.obliged]
            agencies = self.named(record, step.obliged_from) or self.resolve(selectors)
            if not agencies:
                self.routing_failed(step.name, step.task_zh, selectors)
                continue
            for agency in agencies:
                self.assign(step, rule, agency, env, record)

    def named(self, record: dict[str, Any], field: str | None) -> list[Agency]:
        """The agency a field of the event names (an AgencyRef), if the directory knows it."""
        ref = record.get(field) if field else None
        agency = _get(self.ctx.directory, ref.get("agency_id")) if isinstance(ref, dict) else None
        return [agency] if agency else []

    def assign(
        self, step: Step, rule: Rule | None, agency: Agency, env: Envelope, record: dict[str, Any]
    ) -> None:
        hid = self.next_handoff_id(step.name)
        deadline = None
        clock = self.receipt_rule(step) or rule  # a receipt owed first is timed by its own rule
        if clock is not None:
            try:
                deadline = self.deadline(clock, env, record)
            except CalendarNotCovered as e:
                self.calendar_not_covered(hid, step, clock, e)
        obliged = to_ref(agency)
        informed = [to_ref(a) for a in self.resolve(step.informed)]
        h = {"id": hid, "step": step.name, "obliged": obliged, "task": step.task_zh, "deadline": deadline}
        self.emit(
            "HandoffAssigned",
            {
                **self.base(h),
                "informed": informed,
                # A case that names no place (the agency named by the opening event) was routed for none.
                "routed_for": {"code": code, "name": None} if (code := self.wf.division(self.case)) else None,
                "assigned_at": self.now,
            },
            key=hid,
        )
        # The workflow's own announcement needs a deadline; without one (calendar not covered) the
        # generic HandoffAssigned above and DeadlineNotComputable to the bureau carry the case.
        if step.announce and (deadline is not None or not self._needs_deadline(step.announce)):
            self.emit(
                step.announce,
                {
                    **self.base(self.case["handoffs"][hid]),
                    "informed": informed,
                    **self.wf.extra(self.case, self.case["handoffs"][hid], step.announce, self.policy),
                    "assigned_at": self.now,
                    "requested_at": self.now,
                },
                key=f"{hid}/announce",
            )

    def calendar_not_covered(
        self, hid: str, step: Step, rule: Rule, e: CalendarNotCovered, key: str = "calendar"
    ) -> None:
        bureau = self.ctx.directory.county_bureau(self.wf.division(self.case) or "")
        self.emit(
            "DeadlineNotComputable",
            {
                "handoff_id": hid,
                "workflow": self.wf.name,
                "step": step.name,
                "rule_id": rule.id,
                "reason": f"the working-day calendar does not cover {e.year} and no override is "
                f"configured; add the State Council's {e.year} arrangement to the override file",
                "year": e.year,
                "addressed_to": to_ref(bureau) if bureau else None,
                "policy_version": self.policy.version,
                "caused_by_event_id": self.cause_id,
                "detected_at": self.now,
            },
            key=f"{hid}/{key}",
        )

    def _needs_deadline(self, etype: str) -> bool:
        field = next(
            (f for f in self.ctx.catalogue[etype].expanded["fields"] if f["name"] == "deadline"), None
        )
        return field is not None and not (isinstance(field["type"], list) and "null" in field["type"])

    def fulfilling(self, h: dict[str, Any]) -> tuple[str, ...]:
        """The events that fulfil a handoff: derived from step and rule, never stored, so replay agrees."""
        step = self.wf.step(h["step"])
        rule = self.handoff_rule(h)
        events = step.fulfilled_by or (tuple(rule.fulfilled_by) if rule else ())
        if not rule or len(rule.obliged) < 2:
            return events
        # One rule obliging several agencies ("reported AND registered"): each is held to its own events.
        kind = h["obliged"]["agency_type"]
        return tuple(e for e in events if kind in self.ctx.catalogue[e].publishers) or events

    def fulfils(self, h: dict[str, Any], env: Envelope) -> bool:
        if env.type not in self.fulfilling(h):
            return False
        rule = self.handoff_rule(h)
        # each_obliged: every obliged agency answers for itself (e.g. each member of a joint session).
        return rule is None or rule.fulfilment != "each_obliged" or env.source == h["obliged"]["agency_id"]

    def deadline(
        self, rule: Rule, env: Envelope, record: dict[str, Any], *, receipt_at: datetime | None = None
    ) -> dict[str, Any] | None:
        start: Any = self.now  # a clock on the hub's own decision starts when the hub decides
        etype, _, fname = rule.start.partition(".")
        if etype == RECEIPT:  # runs from the handoff's own receipt: no deadline until it comes
            start = receipt_at
        elif fname:
            start = _instant_or_date(fact(self.case, rule.start) if etype != env.type else record.get(fname))
        elif etype == env.type and env.source != HUB_SOURCE:
            start = env.time
        before = _instant_or_date(fact(self.case, rule.before)) if rule.before else None
        if rule.clock is None or (rule.clock == "before_event" and before is None) or start is None:
            return None
        return to_json(self.policy.deadline(rule.id, start, self.ctx.calendar, before=before))

    def routing_failed(self, step: str, task: str, selectors: Iterable[Selector]) -> None:
        code = self.wf.division(self.case) or ""
        bureau = self.ctx.directory.county_bureau(code) if code else None
        wanted = next((s.type for s in selectors if s.type), "judicial_office")
        self.emit(
            "RoutingFailed",
            {
                "handoff_id": None,
                "workflow": self.wf.name,
                "step": step,
                "wanted_agency_type": wanted,
                "division": {"code": code or "000000", "name": None},
                "addressed_to": to_ref(bureau) if bureau else None,
                "task": task,
                "reason": f"no {wanted} in the directory covers division {code or '(none)'}",
                "policy_version": self.policy.version,
                "caused_by_event_id": self.cause_id,
                "failed_at": self.now,
            },
            key=f"route/{step}",
        )

    # -- progress --------------------------------------------------------------------------------------
    def progress(self, env: Envelope) -> None:
        for h in open_handoffs(self.case):
            step = self.wf.step(h["step"])
            own = not step.receipt_from_obliged or env.source == h["obliged"]["agency_id"]
            if env.type in step.acknowledged_by and not h["acknowledged_at"] and own:
                self.emit(
                    "HandoffAcknowledged",
                    {
                        **self.base(h),
                        "deadline": _deadline_in(self.after_receipt(h, env)),
                        "by_event_id": env.id,
                        "by_event_type": env.type,
                        "acknowledged_at": env.time,
                    },
                    key=h["id"],
                )
                h = self.case["handoffs"][h["id"]]
            if self.fulfils(h, env):
                due = parse_time(h["deadline"]["due"]) if h.get("deadline") else None
                self.emit(
                    "HandoffFulfilled",
                    {
                        **self.base(h),
                        "by_event_id": env.id,
                        "by_event_type": env.type,
                        "fulfilled_at": env.time,
                        "late": bool(due and env.time > due),
                    },
                    key=h["id"],
                )

    def after_receipt(self, h: dict[str, Any], env: Envelope) -> dict[str, Any] | None:
        """The deadline that runs once the receipt is in: the step's own clock when it starts at the
        receipt, or takes over from a receipt rule (none while that clock waits on a date no event has
        given yet); else the one already running."""
        rule = self.handoff_rule(h)
        receipt_rule = self.wf.step(h["step"]).receipt_rule
        running = (h.get("deadline") or {}).get("rule_id")
        if rule is None or not (rule.start.startswith(RECEIPT) or (receipt_rule and running == receipt_rule)):
            return h.get("deadline")
        try:
            following = self.deadline(rule, env, {}, receipt_at=env.time)
            if following is None and receipt_rule and running == receipt_rule:
                return None  # the receipt met the receipt clock; the next has no date yet (none kept)
            return following or h.get("deadline")
        except CalendarNotCovered as e:
            self.calendar_not_covered(h["id"], self.wf.step(h["step"]), rule, e, key=f"receipt/{rule.id}")
            return h.get("deadline")

    def extend(self, env: Envelope, record: dict[str, Any]) -> None:
        """An agency's event extends the open handoffs of the steps it may extend (the parties' consent
        to more time), where their running rule allows an extension: the workflow's extension event
        records the new deadline and the reason. A deadline that has passed is not moved: its breach stands.

        The extending event says by how much in ``extension_days`` (units of the rule's clock) or until
        which day in ``extended_until``; else the rule's own extension length applies."""
        if not self.wf.extension_announce:
            return
        for h in open_handoffs(self.case):
            step = self.wf.step(h["step"])
            if env.type not in step.extended_by or not h.get("deadline") or h["overdue_at"]:
                continue
            if record.get("handoff_id") and record["handoff_id"] != h["id"]:
                continue
            rule = self.clock_rule(h)
            if rule is None or rule.extension is None:
                continue  # the rule allows no extension: the deadline stands
            try:
                moved = _extended(h["deadline"], rule, record, self.ctx.calendar)
            except CalendarNotCovered as e:
                self.calendar_not_covered(h["id"], step, rule, e, key=f"extension/{env.id}")
                continue
            if moved is None:
                continue
            deadline, days = moved
            self.emit(
                self.wf.extension_announce,
                {
                    **self.base(h),
                    "deadline": _deadline_in(deadline),
                    "previous_deadline": _deadline_in(h["deadline"]),
                    "extension_days": days,
                    "reason": record.get("reason") or rule.extension.condition_zh,
                    "informed": [to_ref(a) for a in self.resolve(rule.inform)],
                    "by_event_id": env.id,
                    "extended_at": self.now,
                },
                key=h["id"],
            )

    def moot(self, env: Envelope) -> None:
        for h in open_handoffs(self.case):
            if env.type in self.wf.step(h["step"]).cancelled_by:
                self.emit(
                    "HandoffCancelled",
                    {**self.base(h), "reason": f"no longer needed: {env.type}", "cancelled_at": self.now},
                    key=h["id"],
                )

    def raise_alerts(self, env: Envelope, record: dict[str, Any]) -> None:
        for alert in self.wf.alerts:
            if env.type not in alert.raised_by:
                continue
            rule = self.policy.rule(alert.rule)
            targets = self.named(record, alert.to_field) or self.resolve(rule.inform)
            if not targets:
                self.routing_failed(alert.rule, rule.title_zh, rule.inform)
                continue
            self.emit(
                alert.announce,
                {
                    **{k: v for k, v in record.items() if k != "case_id"},  # the raising event's own fields
                    "alerted": [to_ref(a) for a in targets],
                    "rule_id": rule.id,
                    "reason": f"{rule.title_zh} ({rule.source})",
                    "policy_version": self.policy.version,
                    "caused_by_event_id": env.id,
                    "detected_at": self.now,
                },
                key=f"alert/{alert.rule}",
            )

    def run_reactions(self, env: Envelope, record: dict[str, Any]) -> None:
        for reaction in self.wf.reactions:
            if env.type in reaction.on and (built := reaction.build(self.view(env, record))) is not None:
                self.emit(reaction.emits, {**self.provenance(), **built}, key=f"react/{reaction.emits}")

    def provenance(self) -> dict[str, Any]:
        return {"policy_version": self.policy.version, "caused_by_event_id": self.cause_id}

    def view(
        self, env: Envelope | None, record: dict[str, Any], handoff: dict[str, Any] | None = None
    ) -> View:
        return View(self.case, env, record, self.policy, self.now, handoff, self)

    def reroute(self, env: Envelope, record: dict[str, Any]) -> None:
        new_code = self.wf.rerouted_by[env.type](record)
        for h in open_handoffs(self.case):
            step = self.wf.step(h["step"])
            rule = self.handoff_rule(h)
            selectors = rule.obliged if rule else [Selector.model_validate(s) for s in step.obliged]
            # The selector the obliged agency was routed by: its type, and its role where it has one
            # (a county's corrections agency, not the county bureau itself).
            current = _get(self.ctx.directory, h["obliged"]["agency_id"])
            sel = next(
                (
                    s
                    for s in selectors
                    if s.type == h["obliged"]["agency_type"]
                    and (not s.role or (current is not None and s.role in current.roles))
                ),
                None,
            )
            if sel is None or sel.type is None or not new_code:
                continue
            target = self.ctx.directory.route(sel.type, new_code, sel.role)
            if target is None or target.id == h["obliged"]["agency_id"]:
                if target is None:
                    self.routing_failed(step.name, step.task_zh, selectors)
                continue
            # A clock that starts with the hub's assignment starts again for the new office.
            fresh = rule is not None and rule.start.split(".")[0] in (step.announce, "HandoffAssigned")
            deadline = h.get("deadline")
            if fresh and rule is not None:
                try:
                    deadline = to_json(self.policy.deadline(rule.id, self.now, self.ctx.calendar))
                except CalendarNotCovered:
                    deadline = None
            moved = {**h, "deadline": deadline}
            self.emit(
                "HandoffReassigned",
                {
                    **self.base(moved),
                    "from_agency": h["obliged"],
                    "to_agency": to_ref(target),
                    "reason": f"{env.type}: {new_code}",
                    "reassigned_at": self.now,
                },
                key=h["id"],
            )
            if self.wf.reassign_announce and step.announce:  # the step agencies were told of by name
                self.emit(
                    self.wf.reassign_announce,
                    {
                        **self.base(self.case["handoffs"][h["id"]]),
                        "from_agency": h["obliged"],
                        "to_agency": to_ref(target),
                        "reason": f"{env.type}: {new_code}",
                        **self.wf.extra(
                            self.case, self.case["handoffs"][h["id"]], self.wf.reassign_announce, self.policy
                        ),
                        "reassigned_at": self.now,
                    },
                    key=f"{h['id']}/announce",
                )

    def close(self, env: Envelope) -> None:
        for h in open_handoffs(self.case):
            self.emit(
                "HandoffCancelled",
                {**self.base(h), "reason": f"case closed by {env.type}", "cancelled_at": self.now},
                key=h["id"],
            )

    # -- deadlines ----------------------------------------------------------------------------------------
    def overdue(self) -> None:
        for h in open_handoffs(self.case):
            h = self.case["handoffs"][h["id"]]  # as the decisions so far left it
            if (
                h["state"] not in OPEN_STATES
                or h["overdue_at"]
                or not h.get("deadline")
                or parse_time(h["deadline"]["due"]) > self.now
            ):
                continue
            step = self.wf.step(h["step"])
            rule = self.clock_rule(h)
            stamp = f"{h['id']}@{h['deadline']['due']}"  # a re-routed handoff's new deadline gets new ids
            missing = "receipt" if step.acknowledged_by and not h["acknowledged_at"] else "disposition"
            self.emit(
                "HandoffOverdue", {**self.base(h), "missing": missing, "detected_at": self.now}, key=stamp
            )
            targets = self.resolve(rule.escalate_to, h["obliged"]) if rule else []
            alerted = [to_ref(a) for a in targets]
            if (
                rule
                and rule.on_breach
                and rule.on_breach != "HandoffOverdue"
                and "." not in rule.on_breach
                and rule.id not in self.case["breaches"]
            ):
                breach: dict[str, Any] | None = {
                    **self.base(h),
                    "responsible": h["obliged"],
                    "alerted": alerted,
                    **self.wf.extra(self.case, h, rule.on_breach, self.policy),
                    "detected_at": self.now,
                }
                own = next((r for r in self.wf.reactions if r.emits == rule.on_breach), None)
                if own is not None:  # the workflow builds its own breach decision (e.g. DisputeEscalated)
                    built = own.build(self.view(None, {}, handoff=h))
                    breach = None if built is None else {**self.base(h), **built}
                if breach is not None:
                    self.emit(rule.on_breach, breach, key=f"{stamp}/breach")
            for level, target in enumerate(targets, 1):
                self.emit(
                    "HandoffEscalated",
                    {
                        **self.base(h),
                        "escalated_to": to_ref(target),
                        "level": level,
                        "reason": f"{rule.id if rule else h['step']}: deadline {h['deadline']['due']} passed",
                        "new_deadline": None,
                        "escalated_at": self.now,
                    },
                    key=f"{stamp}/{target.id}",
                )


def handle(
    case: Case | None,
    env: Envelope,
    record: dict[str, Any],
    ctx: Context,
    now: datetime,
    known: Known | None = None,
) -> Outcome:
    """Live: fold an agency's event, decide what it causes, fold those decisions.

    ``known`` looks a decision up on the log by its id: a worker catching up after a restart passes
    it, so a decision made before the restart is read back with its original instant and deadline
    instead of being made again (decision ids derive from their cause, so the lookup finds it).
    """
    wf = ctx.workflows[ctx.catalogue[env.type].workflow] if ctx.catalogue[env.type].workflow != "*" else None
    if wf is None:
        wf = ctx.workflows[(case or {}).get("workflow", "")]
    held = {h["id"] for h in (case or {}).get("held", [])}
    folded, applied = fold(case, env, record, wf.name)
    if not applied:
        return Outcome(folded, duplicate=True)
    if env.source == HUB_SOURCE or folded["opened_at"] is None:
        return Outcome(folded)  # a decision read back, or held until the case opens
    todo: list[tuple[Envelope, dict[str, Any]]] = [(env, record)]
    if held and not folded["held"]:  # this event opened the case: decide what was held, in order
        todo += [(_held_env(folded, e), _held_record(folded, e)) for e in folded["events"] if e["id"] in held]
    d = _Decider(folded, wf, ctx, now, env, known)
    for e, r in todo:
        d.cause_id = e.id
        d.react(e, r)
        d.drain()
    return Outcome(d.case, decisions=d.decisions)


def tick(case: Case, ctx: Context, now: datetime) -> list[Decision]:
    """The timer: every passed deadline becomes decisions, with ids stable across timer passes."""
    if not any(h.get("deadline") and not h["overdue_at"] for h in open_handoffs(case)):
        return []
    wf = ctx.workflows[case["workflow"]]
    d = _Decider(case, wf, ctx, now, f"timer/{case['case_id']}")
    d.overdue()
    d.drain()
    return d.decisions


def status(case: Case) -> str:
    if case["closed_at"]:
        return "closed"
    if case["opened_at"] is None:
        return "awaiting_opening"
    if any(h["state"] in ("overdue", "escalated") for h in case["handoffs"].values()):
        return "overdue"
    return "open"


# -- helpers ---------------------------------------------------------------------------------------------
def _held_record(case: Case, e: dict[str, Any]) -> dict[str, Any]:
    return case["facts"].get(e["type"], {})  # the newest of its type: held events are decided on their facts


def _held_env(case: Case, e: dict[str, Any]) -> Envelope:
    return Envelope(
        id=e["id"], source=e["source"], type=e["type"], subject=case["case_id"], time=parse_time(e["time"])
    )


def _get(directory: Directory, agency_id: str | None) -> Agency | None:
    try:
        return directory.get(agency_id) if agency_id else None
    except KeyError:
        return None


def _instant_or_date(v: Any) -> datetime | date | None:
    if v is None or isinstance(v, (datetime, date)):
        return v
    if isinstance(v, str) and len(v) == 10:
        return date.fromisoformat(v)
    return parse_time(v) if isinstance(v, str) else None


def _extended(
    deadline: dict[str, Any], rule: Rule, record: dict[str, Any], calendar: WorkingCalendar
) -> tuple[dict[str, Any], int | None] | None:
    """(moved deadline, days) for an extension of ``extension_days`` (units of the rule's clock, counted
    from the last day of the running period) or until ``extended_until``; None if it moves nothing.
    Where the rule's extension says by how much (e.g. an award: "不得超过十五日"), that is the most it
    moves, all extensions together."""
    old = parse_time(deadline["due"]) if isinstance(deadline["due"], str) else deadline["due"]
    last = local_date(old - timedelta(microseconds=1))  # the running period's last day
    until = _instant_or_date(record.get("extended_until"))
    days = record.get("extension_days") or (rule.extension.length if rule.extension else None)
    if until is not None:
        until = local_date(until)
        new, days = end_of_day(until), (until - last).days if rule.clock == "calendar_days" else None
    elif days and rule.clock == "hours":
        new = old + timedelta(hours=days)
    elif days and rule.clock in ("calendar_days", "working_days"):
        new = clock_due(rule.clock, days, last, calendar)
    else:
        return None
    if new <= old:
        return None
    room = _extension_room(deadline, rule)
    if room is not None:
        if room <= 0:
            return None  # the rule's whole extension is used up
        hours = rule.clock == "hours"
        most = old + timedelta(hours=room) if hours else clock_due(rule.clock, room, last, calendar)
        if new > most:
            new, days = most, room
    return {**deadline, "due": new, "length": deadline["length"] + (days or 0)}, days


def _extension_room(deadline: dict[str, Any], rule: Rule) -> int | None:
    """How much further the rule lets this deadline be extended (units of its clock); None: no limit."""
    if rule.extension is None or rule.extension.length is None or rule.length is None or rule.unit != "day":
        return None
    return rule.length + rule.extension.length - deadline["length"]


def _deadline_in(d: dict[str, Any] | None) -> dict[str, Any] | None:
    if not d:
        return None
    return {**d, "due": parse_time(d["due"]) if isinstance(d["due"], str) else d["due"]}


def _complete(schema: dict[str, Any], record: dict[str, Any], case: Case) -> dict[str, Any]:
    """Fill a decision's missing fields from the case's facts by name, then check it like any input.

    The workflows' own hub events repeat what the agencies need (the person, the prison, the
    release date); taking them from the case by field name keeps the declarations short.
    """
    out: dict[str, Any] = {}
    for f in schema["fields"]:
        name = f["name"]
        if name in record:
            out[name] = record[name]
            continue
        for rec in reversed(list(case["facts"].values())):
            if isinstance(rec, dict) and name in rec:
                out[name] = rec[name]
                break
    errors: list[Any] = []
    typed = _from_json_schema(schema, to_json(out), "", errors, named_types(schema))
    if errors:
        raise ValueError(f"{schema['name']}: " + "; ".join(map(str, errors)))
    return typed
