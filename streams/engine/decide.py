"""`_Decider`: the decisions one event or one timer pass causes — handoffs opened, acknowledged,
fulfilled, extended, made moot, re-routed, cancelled or found overdue and escalated; alerts raised; the
workflow's own reactions run — each with an id derived from its cause and folded as it is made, and
the decisions those cause in turn (`drain`). `handle` and `tick` drive it. It implements
`lookup.Lookup`, what the views it builds for a workflow's reactions may ask of it.

One module although it is over 500 lines: `_Decider` is one state machine (the case, the policy in
force, the cause, the decisions so far) whose methods call one another in both directions — every
decision goes through `emit`, which folds it and may chain it back through `react` into every other
method — so mixins over several files would scatter one object without making any part readable
alone."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime
from operator import countOf, itemgetter
from typing import Any

from fengqiao.schemas.codec import to_json
from fengqiao.schemas.envelope import HUB_SOURCE, Envelope

from ..calendar import CalendarNotCovered
from ..directory import Agency, to_ref
from ..policy import Policy, Rule, Selector
from .folding import SHARED, fold_shared
from .helpers import _complete, _deadline_in, _extended, _get, _instant_or_date
from .model import _NS, OPEN_STATES, RECEIPT, Case, Context, Decision, Known, Step, Workflow
from .state import fact, instant, open_handoffs
from .view import View

Plan = tuple[frozenset[str], tuple[tuple[Step, frozenset[str] | None], ...]]


_PLANS: dict[tuple[int, int], tuple[Workflow, Policy, Plan]] = {}
_NS_BYTES = _NS.bytes
_STEP = itemgetter("step")


def _plan(wf: Workflow, policy: Policy) -> Plan:
    """What a workflow under a policy version decides on, worked out once per pair: the event types
    that cause decisions when the hub decides them, and each step with the events that may open it
    (None where a rule of the step is missing from the policy: the step is then looked at as before,
    and the missing rule fails as it always did)."""
    hit = _PLANS.get((id(wf), id(policy)))
    if hit is not None and hit[0] is wf and hit[1] is policy:
        return hit[2]
    known_rules = set(policy.rule_ids())
    triggers = wf.triggers() | {  # and the steps opened where their rule's clock starts
        policy.rule(rid).start.split(".")[0]
        for s in wf.steps
        if not s.opened_by
        for rid in s.rules
        if rid in known_rules
    }
    openers: list[tuple[Step, frozenset[str] | None]] = []
    for step in wf.steps:
        if not all(rid in known_rules for rid in step.rules):
            openers.append((step, None))
        elif step.opened_by:
            openers.append((step, frozenset(step.opened_by)))
        else:
            openers.append((step, frozenset(policy.rule(rid).start.split(".")[0] for rid in step.rules)))
    plan = (frozenset(triggers), tuple(openers))
    _PLANS[(id(wf), id(policy))] = (wf, policy, plan)
    return plan


def _uuid5(name: str) -> str:
    """``str(uuid.uuid5(_NS, name))``, without building a UUID object (a decision id per decision)."""
    h = bytearray(hashlib.sha1(_NS_BYTES + name.encode()).digest()[:16])
    h[6] = (h[6] & 0x0F) | 0x50  # version 5
    h[8] = (h[8] & 0x3F) | 0x80  # RFC 4122 variant
    x = h.hex()
    return f"{x[:8]}-{x[8:12]}-{x[12:16]}-{x[16:20]}-{x[20:]}"


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
        shared: set[str] | None = None,
    ) -> None:
        self.case, self.wf, self.ctx, self.now = case, wf, ctx, now
        # What of the case is still the caller's (see `fold_shared`): all of it unless told otherwise;
        # each decision folds into the decider's own case, copying only what the caller still holds.
        self.shared = set(SHARED) if shared is None else shared
        self.known = known
        self.cause_id = cause.id if isinstance(cause, Envelope) else cause
        self.decisions: list[Decision] = []
        self.chained: list[Decision] = []  # decisions that cause further decisions, decided in `drain`
        version = case["policy_version"]
        # A case keeps the version it was opened under, unless a newer one says it applies to open cases.
        self.policy: Policy = (
            ctx.policies.for_open_case(version, now) if version else ctx.policies.for_new_case(now)
        )
        self.triggers, self.openers = _plan(wf, self.policy)

    # Every decision goes through here: a stable id, the envelope, a complete record, folded at once.
    def emit(self, etype: str, record: dict[str, Any], key: str) -> None:
        ev = self.ctx.catalogue[etype]
        record = _complete(ev.expanded, {**record, "case_id": self.case["case_id"]}, self.case)
        eid = _uuid5(f"{self.cause_id}/{key}/{etype}")
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
            self.case, applied = fold_shared(self.case, prior[0], prior[1], self.wf.name, self.shared)
            env, record = prior
        else:
            self.case, applied = fold_shared(self.case, env, record, self.wf.name, self.shared)
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
        n = countOf(map(_STEP, self.case["handoffs"].values()), step)  # counted in C
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
        for step, opening_events in self.openers:
            if opening_events is not None and env.type not in opening_events:
                continue  # no rule of the step could make this event open it
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
                due = instant(h["deadline"]["due"]) if h.get("deadline") else None
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
                or instant(h["deadline"]["due"]) > self.now
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
