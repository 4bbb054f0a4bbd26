"""Grants (授权): places outside an agency's own area where the directory lets it publish.

An agency's jurisdiction (管辖区域) both routes handoffs to it and bounds where it may publish
(connectors/authz.py). Some legitimate work names places outside that area: a prison releases
people to residences anywhere in the province, a court orders community corrections where the
person lives, a corrections agency moves a person to another county (变更执行地). A grant says so
explicitly, in the directory file, without making the agency a routing target there::

    grants:
      - agency: zj-prison-2            # one agency ...
        # agency_type: prison          # ... or every agency of a type (exactly one of the two)
        events: [ReleaseNoticeIssued]  # optional: event types (default: all its type publishes)
        fields: [residence]            # optional: top-level fields (and `jurisdiction`, the
                                       # envelope's) whose places the grant covers; default: all
        places: ["33"]                 # division codes or prefixes: 2 (province), 4 (prefecture),
                                       # 6, 9 or 12 digits
        why: 浙江省第二监狱 releases people to their residences anywhere in the province

`check` validates grants when the directory loads: the agency or type exists, each event is an
agency event its type may publish, each field is one of those events', each place is all ASCII digits.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

PLACE_RE = re.compile(r"\d{2}|\d{4}|\d{6}|\d{9}|\d{12}", re.ASCII)
ENVELOPE_FIELD = "jurisdiction"  # the CloudEvents extension attribute: a place the event names too
KEYS = {"agency", "agency_type", "events", "fields", "places", "why"}


@dataclass(frozen=True)
class Grant:
    """One grant: ``who`` (an agency id or, with ``by_type``, an agency type) may name ``places``."""

    who: str
    by_type: bool
    places: tuple[str, ...]
    why: str
    events: tuple[str, ...] = ()  # empty: every event its type may publish
    fields: tuple[str, ...] = ()  # empty: every field

    def applies(self, agency_id: str, agency_type: str, event_type: str) -> bool:
        if (agency_type if self.by_type else agency_id) != self.who:
            return False
        return not self.events or event_type in self.events

    def covers(self, field_name: str | None, code: str) -> bool:
        """``code`` named in ``field_name`` (None: the case's place, not a field) is granted."""
        if self.fields and field_name not in self.fields:
            return False
        return any(code.startswith(p) for p in self.places)

    def label(self) -> str:
        return f"grant to {'type ' if self.by_type else ''}{self.who} ({', '.join(self.places)})"


class GrantError(ValueError):
    """A grant that cannot work; the message names the grant and the field."""


def check(rows: Any, agencies: Mapping[str, str], source: str, types: tuple[str, ...]) -> tuple[Grant, ...]:
    """Validated grants of a directory file; ``agencies`` maps agency id to type, ``types`` are the
    catalogue's agency types (given by the directory, which this module must not import)."""
    from fengqiao.schemas.catalogue import load  # late: the directory loads without it otherwise

    if rows is None:
        return ()
    if not isinstance(rows, list):
        raise GrantError(f"{source}: grants: expected a list")
    catalogue = load()
    grants = []
    for i, row in enumerate(rows):

        def bad(field_name: str, msg: str, i: int = i) -> GrantError:
            return GrantError(f"{source}: grant #{i + 1}: field {field_name!r}: {msg}")

        if not isinstance(row, Mapping):
            raise GrantError(f"{source}: grant #{i + 1}: expected a mapping")
        if unknown := set(row) - KEYS:
            raise bad(sorted(map(str, unknown))[0], "unknown field")
        if ("agency" in row) == ("agency_type" in row):
            raise bad("agency", "give exactly one of 'agency' and 'agency_type'")
        by_type = "agency_type" in row
        who = row["agency_type"] if by_type else row["agency"]
        if by_type and who not in types:
            raise bad("agency_type", f"unknown agency type {who!r}")
        if not by_type and who not in agencies:
            raise bad("agency", f"no agency {who!r} in the directory")
        atype = who if by_type else agencies[who]
        events = _strings(row.get("events"), bad, "events")
        for name in events:
            ev = catalogue.events.get(name)  # the catalogue's names only, not Avro full names
            if ev is None or ev.direction != "in":
                raise bad("events", f"{name!r} is not an agency event of the catalogue")
            if atype not in ev.publishers:
                raise bad("events", f"a {atype} may not publish {name} at all; a grant cannot change that")
        fields = _strings(row.get("fields"), bad, "fields")
        known = _field_names(catalogue, events, atype)
        for name in fields:
            if name not in known:
                raise bad("fields", f"{name!r} is not a field of the granted events")
        places = _strings(row.get("places"), bad, "places")
        if not places:
            raise bad("places", "at least one place is required")
        for p in places:
            if not PLACE_RE.fullmatch(p):
                raise bad("places", f"{p!r} is not a division code or prefix (2, 4, 6, 9 or 12 digits)")
        why = row.get("why")
        if not isinstance(why, str) or not why.strip():
            raise bad("why", "say why the grant is needed (an auditor reads it)")
        grants.append(Grant(str(who), by_type, tuple(places), why.strip(), tuple(events), tuple(fields)))
    return tuple(grants)


def _strings(value: Any, bad: Any, field_name: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str | int) for v in value):
        raise bad(field_name, "expected a list of strings")
    return [str(v) for v in value]


def _field_names(catalogue: Any, events: Iterable[str], atype: str) -> set[str]:
    """Top-level fields of the granted events (of every event the type publishes when none)."""
    chosen = set(events) or {ev.name for ev in catalogue if ev.direction == "in" and atype in ev.publishers}
    names = {ENVELOPE_FIELD}
    for ev in catalogue:
        if ev.name in chosen:
            names |= {f["name"] for f in ev.expanded["fields"]}
    return names
