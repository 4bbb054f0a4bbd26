"""Events the conformance kit feeds a source: of the connector's own types, from its own agency.

Built from the catalogue's samples (schemas/samples.py), then made publishable for the agency the
connector speaks for: the agency as ``source`` and in every agency reference, every place (each
division, and the envelope's ``jurisdiction``) inside the agency's own area from the directory —
the hub refuses places outside it (connectors/authz.py, rule every-place) — and dates and instants
brought to now, so time rules see a fresh fact.
"""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from typing import Any

from fengqiao.scenario import demo_events
from fengqiao.schemas.catalogue import Catalogue
from fengqiao.schemas.codec import to_json
from fengqiao.schemas.samples import sample_event
from fengqiao.streams.directory import Agency, Directory, to_ref


class NotPublishable(ValueError):
    """The connector declares something its agency cannot publish: says what to change."""


def release_notices(n: int, run: str) -> list[dict[str, Any]]:
    """``n`` release notices from the demo prison, for cases ``KIT-<run>-NNN``, issued now."""
    now = datetime.now(UTC)
    base = next(e for e in demo_events(1, now=now) if e["type"] == "ReleaseNoticeIssued")
    shift = now - datetime.fromisoformat(base["time"])  # the demo's notice lies weeks back: bring it to now
    out = []
    for i in range(n):
        case = f"KIT-{run}-{i:03d}"
        e = copy.deepcopy(base)
        e.update(id=f"{case}-01", subject=case, time=now.isoformat())
        data = e["data"]
        data["case_id"] = case
        release = date.fromisoformat(data["expected_release_date"]) + timedelta(days=shift.days)
        data["expected_release_date"] = release.isoformat()
        out.append(e)
    return out


def home(directory: Directory, agency: Agency) -> str:
    """The most precise division of the directory inside the agency's area (a village over a
    county): precise places satisfy every routing and area rule at once."""
    inside = [c for c in directory.divisions if any(c.startswith(j) for j in agency.jurisdiction)]
    return max(inside, key=lambda c: (len(c), c)) if inside else agency.jurisdiction[0]


def check_declaration(catalogue: Catalogue, directory: Directory, agency_id: str, types: list[str]) -> None:
    """Raise `NotPublishable` naming the declaration at fault (not the hub, not the ledger)."""
    if agency_id not in directory:
        raise NotPublishable(
            f"the connector's agency {agency_id!r} is not in the hub's agency directory; "
            "set `agency` on the source (or its harness) to a directory id"
        )
    agency = directory.get(agency_id)
    for t in types:
        if t not in catalogue:
            raise NotPublishable(f"the connector declares event type {t!r}, which is not in the catalogue")
        ev = catalogue[t]
        if ev.direction != "in" or agency.type not in ev.publishers:
            who = ", ".join(ev.publishers) or "the hub only"
            raise NotPublishable(
                f"the connector declares {t}, but its agency {agency_id} is a {agency.type} and {t} "
                f"is published by {who}: fix `event_types` or `agency`"
            )


def generate(
    catalogue: Catalogue, directory: Directory, agency_id: str, event_type: str, case_id: str, seed: int = 0
) -> dict[str, Any]:
    """One valid structured CloudEvent (JSON dict) of ``event_type`` for a new case."""
    agency = directory.get(agency_id)
    place = home(directory, agency)
    division = {"code": place, "name": directory.division_name(place)}
    hints = {
        "fengqiao.common.AgencyRef": lambda _field: to_ref(agency),
        "fengqiao.common.Division": lambda _field: dict(division),
    }
    record = sample_event(catalogue[event_type], case_id, seed=seed, hints=hints)
    now = datetime.now(UTC)
    data = to_json(_fresh(record, now))
    _relocate(data, place)
    return {
        "specversion": "1.0",
        "id": f"{case_id}-{event_type}",
        "source": agency.id,
        "type": event_type,
        "subject": case_id,
        "time": now.isoformat(),
        "jurisdiction": place,
        "data": data,
    }


def break_one(catalogue: Catalogue, event: dict[str, Any]) -> str:
    """Make ``event`` invalid in one field the hub checks; returns that field's name.

    A resident ID number where the type has one (what an integrator most often gets wrong),
    else the envelope's ``jurisdiction``.
    """
    path = _ric_path(catalogue[event["type"]].expanded)
    if path:
        target = event["data"]
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = "123456"
        return path[-1]
    event["jurisdiction"] = "12345"
    return "jurisdiction"


def _ric_path(schema: Any, seen: int = 0) -> list[str] | None:
    """Field names down to the first resident ID field (``fengqiao.check: cn.ric``) of a record."""
    if isinstance(schema, list):
        return next((p for s in schema if (p := _ric_path(s, seen)) is not None), None)
    if not isinstance(schema, dict) or seen > 8:
        return None
    if schema.get("type") == "record":
        for f in schema["fields"]:
            if f.get("fengqiao.check") == "cn.ric":
                return [f["name"]]
            t = f["type"]
            if (isinstance(t, dict) and t.get("type") == "record") or isinstance(t, list):
                sub = _ric_path(t, seen + 1)
                if sub is not None:
                    return [f["name"], *sub]
    return None


def _fresh(value: Any, now: datetime) -> Any:
    """Sample instants become now, sample dates two weeks ahead (an expected release, a deadline)."""
    if isinstance(value, datetime):
        return now
    if isinstance(value, date):
        return (now + timedelta(days=14)).date()
    if isinstance(value, dict):
        return {k: _fresh(v, now) for k, v in value.items()}
    if isinstance(value, list):
        return [_fresh(v, now) for v in value]
    return value


def _relocate(value: Any, place: str) -> None:
    """Division codes the samples filled in directly (``fengqiao.check: division-code``) → ``place``."""
    if isinstance(value, dict):
        if isinstance(value.get("code"), str) and value["code"].isdigit():
            value["code"] = place
        for v in value.values():
            _relocate(v, place)
    elif isinstance(value, list):
        for v in value:
            _relocate(v, place)
