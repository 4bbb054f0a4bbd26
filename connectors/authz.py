"""Who may publish what (最小权限, DESIGN principle 9): one check for every source that speaks for an agency.

An agency may publish an event when every rule below holds, in this order; a refusal names the
first rule that fails (docs/gateway.md has the same table for auditors):

* ``agency-known``: the agency is in the directory (机构目录);
* ``source-is-agency``: the event's ``source`` is the agency's own id — no one speaks for another;
* ``event-type-allowed``: the agency's type is among the event type's ``fengqiao.publishers``;
* ``own-jurisdiction``: for an open case, the agency is a party to it or every place of the case
  lies in its area; for a case not yet open, the event names at least one place;
* ``every-place``: every division code the event names (any field, and the envelope's
  ``jurisdiction``) lies in the agency's area (管辖区域), in a grant of the directory for this
  event type and field (streams/grants.py), or within a place the open case already has.

A case's parties and places are fixed by the event that opened it and by the hub's own decisions
(routing, handoffs, alerts) — never by an agency naming itself, or a place, in a later event. So
naming oneself in the opening event gives nothing: the opening event is judged on its places alone.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from fengqiao.schemas.catalogue import Catalogue
from fengqiao.schemas.envelope import HUB_SOURCE
from fengqiao.streams.directory import DIVISION_RE, Agency, Directory
from fengqiao.streams.engine import mappings
from fengqiao.streams.grants import ENVELOPE_FIELD

CaseLookup = Callable[[str], Awaitable[dict[str, Any] | None]]


class Forbidden(Exception):
    """Refused by ``rule``; ``reason`` says what the publisher can do about it."""

    def __init__(self, rule: str, reason: str) -> None:
        super().__init__(f"{rule}: {reason}")
        self.rule = rule
        self.reason = reason


def divisions(obj: Any) -> list[str]:
    """Division codes named anywhere in a record or case (``{"code": "339901001001", ...}``)."""
    return [
        d["code"] for d in mappings(obj) if isinstance(d.get("code"), str) and DIVISION_RE.match(d["code"])
    ]


def parties(obj: Any) -> set[str]:
    """Agency ids named anywhere in a record or case (``AgencyRef``) and the sources of its events."""
    found = {d["agency_id"] for d in mappings(obj) if isinstance(d.get("agency_id"), str)}
    if isinstance(obj, dict):
        found |= {e["source"] for e in obj.get("events", ()) if isinstance(e, dict) and "source" in e}
    return found


def places(record: Any, jurisdiction: str | None) -> Iterator[tuple[str, Any]]:
    """(top-level field, code) of every place an event names: each ``Division`` (the only records
    with a ``code``), at any depth, and the envelope's ``jurisdiction``."""
    if isinstance(record, dict):
        for name, value in record.items():
            for m in mappings(value):
                if "code" in m:
                    yield name, m["code"]
    if jurisdiction is not None:
        yield ENVELOPE_FIELD, jurisdiction


def in_area(agency: Agency, code: str) -> bool:
    return any(code.startswith(j) for j in agency.jurisdiction)


def near(code: str, known: set[str]) -> bool:
    """``code`` is one of the case's places, inside one, or the township or county around one."""
    return any(code.startswith(k) or k.startswith(code) for k in known)


class Authorizer:
    """The rules above over a directory, a catalogue and a way to look a case up (the workers)."""

    def __init__(
        self,
        directory: Directory,
        catalogue: Catalogue,
        lookup: CaseLookup,
        opening: frozenset[str] | None = None,
    ) -> None:
        self.directory = directory
        self.catalogue = catalogue
        self.lookup = lookup
        self.opening = opening  # event types that open a case; None: any

    def opens(self, event_type: str) -> bool:
        return self.opening is None or event_type in self.opening

    def agency(self, agency_id: str) -> Agency:
        if agency_id not in self.directory:
            raise Forbidden("agency-known", f"{agency_id!r} is not in the agency directory")
        return self.directory.get(agency_id)

    # -- what a case is fixed by: its opening event and the hub's decisions ------------------------
    def fixed(self, case: dict[str, Any]) -> list[Any]:
        """The parts of a case that say who its parties are and where it lies: the hub's handoffs and
        decisions (their facts), and the opening event's facts (the newest record of its type)."""
        facts = case.get("facts") or {}
        types = {
            e.get("type")
            for e in case.get("events") or ()
            if isinstance(e, dict) and e.get("source") == HUB_SOURCE
        }
        opener = self.opener(case)
        if opener is not None:
            types.add(opener.get("type"))
        return [case.get("handoffs") or {}, *(facts.get(t) for t in sorted(map(str, types)))]

    def opener(self, case: dict[str, Any]) -> dict[str, Any] | None:
        """The case's ``events`` entry of the agency event that opened it."""
        return next(
            (
                e
                for e in case.get("events") or ()
                if isinstance(e, dict) and e.get("source") != HUB_SOURCE and self.opens(str(e.get("type")))
            ),
            None,
        )

    def case_parties(self, case: dict[str, Any]) -> set[str]:
        """The agency that opened the case, those its opening event names and those the hub named."""
        opener = self.opener(case)
        found = {d["agency_id"] for d in mappings(self.fixed(case)) if isinstance(d.get("agency_id"), str)}
        return found | ({opener["source"]} if opener else set())

    def case_places(self, case: dict[str, Any]) -> list[str]:
        return sorted({c for c in divisions(self.fixed(case))})

    # -- the check ------------------------------------------------------------------------------
    async def check(self, agency_id: str, accepted: Any) -> None:
        """Raise `Forbidden` unless ``agency_id`` may publish ``accepted`` (a cloudevents_json.Accepted)."""
        env, record = accepted.envelope, accepted.record
        self.sender(agency_id, env)  # before the case look-up: no worker asked for a plain refusal
        self.judge(agency_id, env, record, await self.lookup(env.subject))

    def judge(self, agency_id: str, env: Any, record: dict[str, Any], case: dict[str, Any] | None) -> None:
        """Every rule, without I/O, given the case as it stands (None: no such case): what a worker
        holding the case could run for records produced straight to Kafka."""
        agency = self.sender(agency_id, env)
        self.where(agency, env, record, case)

    def sender(self, agency_id: str, env: Any) -> Agency:
        """``agency-known``, ``source-is-agency``, ``event-type-allowed``."""
        agency = self.agency(agency_id)
        if env.source != agency.id:
            raise Forbidden(
                "source-is-agency", f"source is {env.source!r}; your key publishes as {agency.id!r} only"
            )
        ev = self.catalogue[env.type]
        if ev.direction != "in" or agency.type not in ev.publishers:
            allowed = ", ".join(ev.publishers) if ev.direction == "in" else "the hub itself"
            raise Forbidden(
                "event-type-allowed",
                f"a {agency.type} may not publish {env.type}; it is published by {allowed}",
            )
        return agency

    def where(self, agency: Agency, env: Any, record: dict[str, Any], case: dict[str, Any] | None) -> None:
        """``own-jurisdiction`` and ``every-place``."""
        named = list(places(record, env.jurisdiction))
        known: set[str] = set()
        if case is not None and case.get("opened_at") is not None:
            known = set(self.case_places(case))
            self.check_case(agency, env.type, env.subject, case, known)
        elif not named:
            raise Forbidden(
                "own-jurisdiction",
                f"case {env.subject} is not open and the event names no place to judge it by",
            )
        grants = self.directory.grants_for(agency, env.type)
        for field_name, code in named:
            if not isinstance(code, str) or not DIVISION_RE.match(code):
                raise Forbidden("every-place", f"{field_name}: {code!r} is not a division code")
            if in_area(agency, code) or near(code, known) or any(g.covers(field_name, code) for g in grants):
                continue
            raise Forbidden(
                "every-place",
                f"{field_name} names division {code}, outside {agency.id}'s jurisdiction "
                f"({', '.join(agency.jurisdiction)}){' and its grants' if grants else ''}"
                f"{' and the places of the case' if known else ''}",
            )

    def check_case(
        self, agency: Agency, event_type: str, case_id: str, case: dict[str, Any], where: set[str]
    ) -> None:
        """``own-jurisdiction`` for an open case: a party, or the whole case lies in the agency's area."""
        if agency.id in self.case_parties(case):
            return
        if not where:
            raise Forbidden(
                "own-jurisdiction", f"case {case_id} names no place and {agency.id} is not a party to it"
            )
        grants = [g for g in self.directory.grants_for(agency, event_type) if not g.fields]
        outside = sorted(
            c for c in where if not in_area(agency, c) and not any(g.covers(None, c) for g in grants)
        )
        if outside:
            raise Forbidden(
                "own-jurisdiction",
                f"case {case_id} is in division {', '.join(outside)}, outside {agency.id}'s jurisdiction "
                f"({', '.join(agency.jurisdiction)}), and {agency.id} is not a party to it",
            )
