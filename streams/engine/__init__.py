"""The handoff engine (移交引擎): one engine, every workflow declared as data over it.

A *handoff* is an obligation of one agency to act on a case by a deadline: assigned →
acknowledged (回执) → fulfilled (处置), or overdue → escalated / reassigned / cancelled. A workflow
(`streams/workflows/*.py`) declares its steps: the event that opens each handoff, the policy rule
that gives its clock, its obliged agency and escalation targets, the events that acknowledge and
fulfil it. The policy file holds every number; the engine holds no workflow's rules.

Three pure functions, no I/O:

* `fold(case, env, record)` applies one event — an agency's fact or the hub's own decision — to
  the case. Replay of the log is `fold` alone: it reads decisions back and never re-decides. `fold`
  returns a new case and leaves the old one untouched (copy on write: they share what the event does
  not change); ``copy=False`` changes the case in place, for a caller that owns it (replay).
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

# Layout, each module importing at run time only those before it (the others for type checking only):
# `model` (the vocabulary and the registry), `state` (the case and its reads), `helpers`, `folding`
# (`fold`), `lookup` (what a view asks of the decider), `view` (`View`), `decide` (`_Decider`), `live`
# (`handle`), `timer` (`tick`). Every name other code imports — private ones the tests use included —
# is re-exported here.

from .decide import _Decider, _uuid5
from .folding import _alert, _copy, _due, _fold_extension, _fold_handoff, _fold_hub_event, fold
from .helpers import _complete, _deadline_in, _extended, _extension_room, _get, _instant_or_date
from .live import Outcome, _held_env, _held_record, handle
from .model import (
    _NS,
    _REGISTRY,
    HANDOFF_EVENTS,
    OPEN_STATES,
    RECEIPT,
    Alert,
    Case,
    Context,
    Decision,
    Known,
    Reaction,
    Step,
    Workflow,
    register,
)
from .state import fact, mappings, new_case, next_due, open_handoffs, pending, status
from .timer import tick
from .view import View

__all__ = [
    "HANDOFF_EVENTS",
    "OPEN_STATES",
    "RECEIPT",
    "_NS",
    "_REGISTRY",
    "Alert",
    "Case",
    "Context",
    "Decision",
    "Known",
    "Outcome",
    "Reaction",
    "Step",
    "View",
    "Workflow",
    "_Decider",
    "_alert",
    "_complete",
    "_copy",
    "_deadline_in",
    "_due",
    "_extended",
    "_extension_room",
    "_fold_extension",
    "_fold_handoff",
    "_fold_hub_event",
    "_get",
    "_held_env",
    "_held_record",
    "_instant_or_date",
    "_uuid5",
    "fact",
    "fold",
    "handle",
    "mappings",
    "new_case",
    "next_due",
    "open_handoffs",
    "pending",
    "register",
    "status",
    "tick",
]
