"""Who a hub record is addressed to (送达对象): pure functions, no I/O.

* A hub decision (``fengqiao.direction: hub``, published by the hub itself) is addressed to every
  agency it names as an ``AgencyRef``, wherever in the record: the obliged agency, the superior it
  was escalated to, the agencies informed or alerted, both ends of a reassignment, the prison of a
  release hand-over, the members of a joint mediation, the agencies of a pick-up team... The
  schemas put an agency in a decision only because it must act or know, so naming is addressing.
* ``CaseUpdated`` is addressed to the case's *parties*: the agencies that published to the case or
  are named in any of its records. One update does not say who they are; the case does
  (`case_parties`). So is ``PersonErased``: every agency that received the person's data must erase
  its own copies (PIPL art. 47).
* An agency's own fact is addressed to no one: its publisher has it already, and the others learn
  of it through the decisions and case updates it causes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fengqiao.schemas.envelope import HUB_SOURCE
from fengqiao.streams.engine import mappings

CASE_UPDATED = "CaseUpdated"
TO_CASE_PARTIES = frozenset({CASE_UPDATED, "PersonErased"})
NOT_DELIVERED = frozenset({"DeadLetter"})  # the hub's own plumbing, for operators, not agencies


@dataclass(frozen=True)
class Addressed:
    """The agencies a record goes to; ``case_parties``: to the case's parties (look them up)."""

    agencies: tuple[str, ...] = ()
    case_parties: bool = False

    def __bool__(self) -> bool:
        return bool(self.agencies) or self.case_parties


def agencies_named(record: Any) -> tuple[str, ...]:
    """Agency ids of every ``AgencyRef`` in a record, in the order they appear, each once."""
    found = (d["agency_id"] for d in mappings(record) if isinstance(d.get("agency_id"), str))
    return tuple(dict.fromkeys(found))


def addressed(event_type: str, direction: str, source: str, record: Mapping[str, Any]) -> Addressed:
    """Who ``record`` (an event of ``event_type`` from ``source``) is addressed to."""
    if direction != "hub" or source != HUB_SOURCE or event_type in NOT_DELIVERED:
        return Addressed()  # an agency's fact (or a forged decision): no one's to receive
    if event_type in TO_CASE_PARTIES:
        return Addressed(case_parties=True)
    return Addressed(agencies_named(record))


def case_parties(case: Mapping[str, Any]) -> tuple[str, ...]:
    """The parties of a case as the hub holds it (``GET /cases/{id}`` of a worker), sorted.

    Every agency named anywhere in the case (handoffs, alerts, facts) and the publisher of each of
    its events, the hub itself aside.
    """
    named = set(agencies_named(case))
    named |= {
        e["source"]
        for e in case.get("events", ())
        if isinstance(e, Mapping) and isinstance(e.get("source"), str)
    }
    named.discard(HUB_SOURCE)
    return tuple(sorted(named))
