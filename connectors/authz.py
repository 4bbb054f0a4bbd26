"""Who may publish what (最小权限, DESIGN principle 9): one check for every source that speaks for an agency.

An agency may publish an event when every rule below holds; a refusal names the rule:

* ``agency-known``: the agency is in the directory (机构目录);
* ``source-is-agency``: the event's ``source`` is the agency's own id — no one speaks for another;
* ``event-type-allowed``: the agency's type is among the event type's ``fengqiao.publishers``;
* ``own-jurisdiction``: the case lies in the agency's jurisdiction (管辖区域: the case's division
  code starts with one of the agency's codes), or the agency is a party to it (named in the case,
  or has published to it before; for a new case, named in the event that opens it) — a prison
  releases people into other counties.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fengqiao.schemas.catalogue import Catalogue
from fengqiao.streams.directory import DIVISION_RE, Agency, Directory
from fengqiao.streams.engine import mappings

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


class Authorizer:
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

    async def check(self, agency_id: str, accepted: Any) -> None:
        """Raise `Forbidden` unless ``agency_id`` may publish ``accepted`` (a cloudevents_json.Accepted)."""
        env, record = accepted.envelope, accepted.record
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
        case = await self.lookup(env.subject)
        # A party of an open case is whoever the case names. Naming oneself in an event counts only
        # in the event that opens the case (a prison's release notice names the prison): an event
        # for a case not yet open would otherwise make its sender a party once the case opens.
        if case is not None and agency.id in parties(case):
            return
        if case is None and self.opens(env.type) and agency.id in parties(record):
            return
        codes = divisions(case) if case is not None else []
        codes = codes or divisions(record) or ([env.jurisdiction] if env.jurisdiction else [])
        if not codes:
            raise Forbidden(
                "own-jurisdiction",
                f"case {env.subject} names no place and {agency.id} is not a party to it",
            )
        code = max(codes, key=len)  # the most precise place the case names
        if not any(code.startswith(j) for j in agency.jurisdiction):
            raise Forbidden(
                "own-jurisdiction",
                f"case {env.subject} is in division {code}, outside {agency.id}'s jurisdiction "
                f"({', '.join(agency.jurisdiction)})",
            )
