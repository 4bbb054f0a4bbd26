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
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from fengqiao.schemas.catalogue import Catalogue
from fengqiao.schemas.codec import from_json as _from_json_schema
from fengqiao.schemas.codec import to_json
from fengqiao.schemas.envelope import HUB_SOURCE, Envelope, format_time, parse_time

from .calendar import CalendarNotCovered, WorkingCalendar
from .directory import Agency, Directory, to_ref
from .policy import Policy, PolicySet, Rule, Selector

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


@dataclass(frozen=True)
class Step:
    """One handoff of a workflow. Its clock, obliged agency and escalation come from ``rule``."""

    name: str
    rule: str | None  # policy rule id; None: a request without a legal clock
    task_zh: str  # what the obliged agency must do, as staff read it
    opened_by: tuple[str, ...] = ()  # default: the event the rule's clock starts on
    acknowledged_by: tuple[str, ...] = ()  # receipt (回执)
    fulfilled_by: tuple[str, ...] = ()  # disposition; default: the rule's fulfilled_by
    obliged: tuple[str, ...] = ()  # agency selectors for a step without a rule
    announce: str | None = None  # the workflow's own hub event announcing the handoff
    informed: tuple[str, ...] = ()  # agencies told of the assignment (selectors)


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

    def step(self, name: str) -> Step:
        return next(s for s in self.steps if s.name == name)


@dataclass
class Context:
    """What deciding needs besides the case: the directory, the policies, the calendar, the schemas."""

    directory: Directory
    policies: PolicySet
    calendar: WorkingCalendar
    catalogue: Catalogue
    workflows: dict[str, Workflow]


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
    if env.type in HANDOFF_EVENTS:
        _fold_handoff(case, env.type, rec)
    elif env.source == HUB_SOURCE:
        _fold_hub_event(case, env.type, rec)
    else:
        wf = _REGISTRY.get(workflow)
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
        if h["state"] == "assigned":
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
        h.setdefault("reassigned_from", []).append(r["from_agency"])
        h.pop("missing", None)  # the new office owes everything again
    elif etype == "HandoffCancelled":
        h.update(state="cancelled", cancelled_reason=r["reason"])


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
    out["handoffs"] = {k: {**v, "escalated_to": list(v["escalated_to"])} for k, v in case["handoffs"].items()}
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
        version = case["policy_version"]
        # A case keeps the version it was opened under, unless a newer one says it applies to open cases.
        self.policy: Policy = (
            ctx.policies.for_open_case(version, now) if version else ctx.policies.for_new_case(now)
        )

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
            self.case, _ = fold(self.case, prior[0], prior[1], self.wf.name)
            return
        self.case, applied = fold(self.case, env, record, self.wf.name)
        if applied:
            self.decisions.append((env, record))

    def rule(self, step: Step) -> Rule | None:
        return self.policy.rule(step.rule) if step.rule else None

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

    # -- routing --------------------------------------------------------------------------------------
    def resolve(
        self, selectors: Iterable[Selector | str], obliged: dict[str, Any] | None = None
    ) -> list[Agency]:
        code = self.wf.division(self.case)
        out: list[Agency] = []
        for sel in selectors:
            sel = sel if isinstance(sel, Selector) else Selector.model_validate(sel)
            agency: Agency | None = None
            if sel.relation == "superior" and obliged:
                agency = self.ctx.directory.superior(obliged["agency_id"])
            elif sel.relation == "originator":
                first = self.case["events"][0]["source"] if self.case["events"] else None
                agency = _get(self.ctx.directory, first)
            elif sel.type and code:
                agency = self.ctx.directory.route(sel.type, code, sel.role)
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
            rule = self.rule(step)
            opened_by = step.opened_by or ((rule.start.split(".")[0],) if rule else ())
            if env.type not in opened_by or not self.applies(rule):
                continue
            if any(h["step"] == step.name for h in open_handoffs(self.case)):
                continue  # a corrected or re-sent opening event: the open handoff stands
            selectors = rule.obliged if rule else [Selector.model_validate(s) for s in step.obliged]
            agencies = self.resolve(selectors)
            if not agencies:
                self.routing_failed(step, selectors)
                continue
            for agency in agencies:
                self.assign(step, rule, agency, env, record)

    def applies(self, rule: Rule | None) -> bool:
        if rule is None:
            return True
        return all(fact(self.case, path) == want for path, want in rule.applies_if.items())

    def assign(
        self, step: Step, rule: Rule | None, agency: Agency, env: Envelope, record: dict[str, Any]
    ) -> None:
        n = sum(1 for h in self.case["handoffs"].values() if h["step"] == step.name)
        hid = f"{self.case['case_id']}/{step.name}/{n + 1}"
        deadline = None
        if rule is not None:
            try:
                deadline = self.deadline(rule, env, record)
            except CalendarNotCovered as e:
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
                    key=f"{hid}/calendar",
                )
        obliged = to_ref(agency)
        informed = [to_ref(a) for a in self.resolve(step.informed)]
        h = {"id": hid, "step": step.name, "obliged": obliged, "task": step.task_zh, "deadline": deadline}
        self.emit(
            "HandoffAssigned",
            {
                **self.base(h),
                "informed": informed,
                "routed_for": {"code": self.wf.division(self.case) or "", "name": None},
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

    def _needs_deadline(self, etype: str) -> bool:
        field = next(
            (f for f in self.ctx.catalogue[etype].expanded["fields"] if f["name"] == "deadline"), None
        )
        return field is not None and not (isinstance(field["type"], list) and "null" in field["type"])

    def fulfilling(self, h: dict[str, Any]) -> tuple[str, ...]:
        """The events that fulfil a handoff: derived from step and rule, never stored, so replay agrees."""
        step = self.wf.step(h["step"])
        rule = self.rule(step)
        events = step.fulfilled_by or (tuple(rule.fulfilled_by) if rule else ())
        if not rule or len(rule.obliged) < 2:
            return events
        # One rule obliging several agencies ("reported AND registered"): each is held to its own events.
        kind = h["obliged"]["agency_type"]
        return tuple(e for e in events if kind in self.ctx.catalogue[e].publishers) or events

    def deadline(self, rule: Rule, env: Envelope, record: dict[str, Any]) -> dict[str, Any] | None:
        start: Any = self.now  # a clock on the hub's own decision starts when the hub decides
        etype, _, fname = rule.start.partition(".")
        if fname:
            start = _instant_or_date(fact(self.case, rule.start) if etype != env.type else record.get(fname))
        elif etype == env.type and env.source != HUB_SOURCE:
            start = env.time
        before = _instant_or_date(fact(self.case, rule.before)) if rule.before else None
        if rule.clock is None or (rule.clock == "before_event" and before is None) or start is None:
            return None
        return to_json(self.policy.deadline(rule.id, start, self.ctx.calendar, before=before))

    def routing_failed(self, step: Step, selectors: Iterable[Selector]) -> None:
        code = self.wf.division(self.case) or ""
        bureau = self.ctx.directory.county_bureau(code) if code else None
        wanted = next((s.type for s in selectors if s.type), "judicial_office")
        self.emit(
            "RoutingFailed",
            {
                "handoff_id": None,
                "workflow": self.wf.name,
                "step": step.name,
                "wanted_agency_type": wanted,
                "division": {"code": code or "000000", "name": None},
                "addressed_to": to_ref(bureau) if bureau else None,
                "task": step.task_zh,
                "reason": f"no {wanted} in the directory covers division {code or '(none)'}",
                "policy_version": self.policy.version,
                "caused_by_event_id": self.cause_id,
                "failed_at": self.now,
            },
            key=f"route/{step.name}",
        )

    # -- progress --------------------------------------------------------------------------------------
    def progress(self, env: Envelope) -> None:
        for h in open_handoffs(self.case):
            if env.type in self.wf.step(h["step"]).acknowledged_by and not h["acknowledged_at"]:
                self.emit(
                    "HandoffAcknowledged",
                    {
                        **self.base(h),
                        "by_event_id": env.id,
                        "by_event_type": env.type,
                        "acknowledged_at": env.time,
                    },
                    key=h["id"],
                )
            if env.type in self.fulfilling(h):
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

    def reroute(self, env: Envelope, record: dict[str, Any]) -> None:
        new_code = self.wf.rerouted_by[env.type](record)
        for h in open_handoffs(self.case):
            step = self.wf.step(h["step"])
            rule = self.rule(step)
            selectors = rule.obliged if rule else [Selector.model_validate(s) for s in step.obliged]
            wanted = {s.type for s in selectors if s.type}
            if h["obliged"]["agency_type"] not in wanted or not new_code:
                continue
            target = self.ctx.directory.route(h["obliged"]["agency_type"], new_code)
            if target is None or target.id == h["obliged"]["agency_id"]:
                if target is None:
                    self.routing_failed(step, selectors)
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
            if h["overdue_at"] or not h.get("deadline") or parse_time(h["deadline"]["due"]) > self.now:
                continue
            step = self.wf.step(h["step"])
            rule = self.rule(step)
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
                self.emit(
                    rule.on_breach,
                    {
                        **self.base(h),
                        "responsible": h["obliged"],
                        "alerted": alerted,
                        **self.wf.extra(self.case, h, rule.on_breach, self.policy),
                        "detected_at": self.now,
                    },
                    key=f"{stamp}/breach",
                )
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
        if e.type in wf.rerouted_by:
            d.reroute(e, r)
        d.progress(e)
        d.open_steps(e, r)
        if e.type in wf.closed_by:
            d.close(e)
    return Outcome(d.case, decisions=d.decisions)


def tick(case: Case, ctx: Context, now: datetime) -> list[Decision]:
    """The timer: every passed deadline becomes decisions, with ids stable across timer passes."""
    if not any(h.get("deadline") and not h["overdue_at"] for h in open_handoffs(case)):
        return []
    wf = ctx.workflows[case["workflow"]]
    d = _Decider(case, wf, ctx, now, f"timer/{case['case_id']}")
    d.overdue()
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
    typed = _from_json_schema(schema, to_json(out), "", errors, {})
    if errors:
        raise ValueError(f"{schema['name']}: " + "; ".join(map(str, errors)))
    return typed
