"""Small pure helpers of deciding: an agency looked up without failing on an unknown id, an instant or
a date read from JSON, the arithmetic of a deadline extension (`_extended`, tested on its own) and a
decision's record completed from the case's facts and checked against its schema. None of them needs
the decider, so they are kept out of its already long module."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from fengqiao.schemas.codec import from_json as _from_json_schema
from fengqiao.schemas.codec import named_types_of, to_json
from fengqiao.schemas.coerce import FAIL, typer
from fengqiao.schemas.envelope import parse_time

from ..calendar import WorkingCalendar, end_of_day, local_date
from ..calendar import due as clock_due
from ..directory import Agency, Directory
from ..policy import Rule
from .model import Case
from .state import instant


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
    return {**d, "due": instant(d["due"]) if isinstance(d["due"], str) else d["due"]}


_FIELDS: dict[int, tuple[Any, frozenset[str]]] = {}  # id(schema) -> (schema, its field names)


def _complete(schema: dict[str, Any], record: dict[str, Any], case: Case) -> dict[str, Any]:
    """Fill a decision's missing fields from the case's facts by name, then check it like any input.

    The workflows' own hub events repeat what the agencies need (the person, the prison, the
    release date); taking them from the case by field name keeps the declarations short.
    """
    names = _FIELDS.get(id(schema))
    if names is None or names[0] is not schema:
        names = _FIELDS[id(schema)] = (schema, frozenset(f["name"] for f in schema["fields"]))
    if record.keys() == names[1]:  # every field given, none else: typed as it is (the usual case)
        typed = typer(schema)(record)
        if typed is not FAIL:
            return typed
    out: dict[str, Any] = {}
    newest_first: list[Any] | None = None
    for f in schema["fields"]:
        name = f["name"]
        if name in record:
            out[name] = record[name]
            continue
        if newest_first is None:
            newest_first = list(reversed(case["facts"].values()))
        for rec in newest_first:
            if isinstance(rec, dict) and name in rec:
                out[name] = rec[name]
                break
    typed = typer(schema)(out)  # the compiled fast path: the same record, or FAIL when unsure
    if typed is not FAIL:
        return typed
    errors: list[Any] = []
    typed = _from_json_schema(schema, to_json(out), "", errors, named_types_of(schema))
    if errors:
        raise ValueError(f"{schema['name']}: " + "; ".join(map(str, errors)))
    return typed
