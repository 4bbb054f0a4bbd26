"""Plausible sample records for any catalogue schema: for benchmarks, docs and tests."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

# A valid resident ID number (check digit correct), used wherever a schema asks for one.
SAMPLE_RIC = "11010519491231002X"


def sample_ric(n: int, division: str = "110105") -> str:
    """The ``n``-th of many distinct valid resident ID numbers (a birth day and a sequence from ``n``)."""
    from datetime import timedelta

    from stdnum.cn import ric

    born = date(1960, 1, 1) + timedelta(days=(n // 500) % 15000)
    body = f"{division}{born:%Y%m%d}{n % 500 * 2 + 1:03d}"  # odd sequence: a man; the hub does not care
    return body + ric.calc_check_digit(body + "0")


Hints = dict[str, Callable[[str], Any]]  # named type's full name -> value for a field of that name


def sample(
    schema: Any,
    named: dict[str, Any] | None = None,
    *,
    field: str = "",
    seed: int = 0,
    hints: Hints | None = None,
) -> Any:
    """A value of ``schema``; optional fields take their non-null branch, so every field is exercised.

    ``hints`` supply realistic values for named types (a person, an agency) by field name.
    """
    named = {} if named is None else named
    hints = hints or {}
    if isinstance(schema, str) and schema in named:
        if schema in hints:
            return hints[schema](field)
        schema = named[schema]
    if isinstance(schema, list):
        branch = next((s for s in schema if s != "null"), "null")
        return sample(branch, named, field=field, seed=seed, hints=hints)
    t = schema["type"] if isinstance(schema, dict) else schema
    if isinstance(schema, dict) and t in ("record", "enum", "fixed"):
        full = f"{schema['namespace']}.{schema['name']}" if schema.get("namespace") else schema["name"]
        named[schema["name"]] = named[full] = schema
        if full in hints:
            return hints[full](field)
    if isinstance(t, (dict, list)):
        return sample(t, named, field=field, seed=seed, hints=hints)
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if t == "record":
        out = {}
        for f in schema["fields"]:
            check = f.get("fengqiao.check")
            if check == "cn.ric":
                out[f["name"]] = SAMPLE_RIC
            elif check == "division-code":
                out[f["name"]] = "330602001001"
            else:
                out[f["name"]] = sample(f["type"], named, field=f["name"], seed=seed, hints=hints)
        return out
    if t == "enum":
        return schema["symbols"][seed % len(schema["symbols"])]
    if t == "array":
        return [sample(schema["items"], named, field=field, seed=seed, hints=hints)]
    if t == "map":
        return {"k": sample(schema["values"], named, field=field, seed=seed, hints=hints)}
    if logical == "date":
        return date(2026, 12, 1)
    if logical in ("timestamp-millis", "timestamp-micros"):
        return datetime(2026, 12, 1, 1, 30, tzinfo=UTC)
    return {
        "int": 1 + seed,
        "long": 1 + seed,
        "float": 1.5,
        "double": 1.5,
        "boolean": True,
        "null": None,
        "string": f"{field or 'text'}-{seed}",
        "bytes": b"\x00\x01",
        "fixed": b"\x00" * schema.get("size", 1) if isinstance(schema, dict) else b"",
    }[t]


def sample_event(event: Any, case_id: str, seed: int = 0, hints: Hints | None = None) -> dict[str, Any]:
    """A sample record of a catalogue ``EventType`` for ``case_id``."""
    record = sample(dict(event.expanded), seed=seed, hints=hints)
    record["case_id"] = case_id
    return record
