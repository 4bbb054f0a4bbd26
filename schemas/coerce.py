"""A fast path for `from_json(schema, to_json(value))` on records the hub builds itself.

The engine completes every decision it makes by passing it through `to_json` and `from_json`, so a
decision is typed and checked exactly like an agency's event. That walk re-reads the schema for every
value. `typer(schema)` compiles the schema once into nested closures that give the same result for
the values they know, and `FAIL` for anything else: unexpected types, a value the check refuses, a
missing field, bytes. The caller then takes the slow path, which returns the same record or names
every error as before — so a value is either converted exactly as before or not at all.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Any

from .codec import _INT_RANGE, _check, _parse_instant, named_types

FAIL: Any = object()  # "not sure": the caller takes the slow path
Typer = Callable[[Any], Any]

_TYPERS: dict[int, tuple[Any, Typer]] = {}  # id(schema) -> (schema, its typer)
_INSTANTS: dict[datetime, datetime] = {}  # a UTC instant -> itself to the millisecond


def typer(schema: Any) -> Typer:
    """The compiled converter of a top-level schema the caller keeps for good (compiled once)."""
    hit = _TYPERS.get(id(schema))
    if hit is None or hit[0] is not schema:
        named = named_types(schema)
        fn = _compile(schema, named, {}) if _unambiguous(schema, named) else _never
        hit = _TYPERS[id(schema)] = (schema, fn)
    return hit[1]


def _never(value: Any) -> Any:
    return FAIL


def _unambiguous(schema: Any, named: dict[str, Any]) -> bool:
    """Each name defined once: `from_json` resolves names as it meets them, the compiler up front."""
    seen: dict[str, Any] = {}

    def walk(s: Any) -> bool:
        if isinstance(s, list):
            return all(walk(b) for b in s)
        if not isinstance(s, dict):
            return True
        if s.get("type") in ("record", "enum", "fixed") and "name" in s:
            for key in filter(None, (s["name"], s.get("namespace") and f"{s['namespace']}.{s['name']}")):
                if seen.setdefault(key, s) is not s:
                    return False
        return (
            all(walk(f["type"]) for f in s.get("fields", ()))
            and all(walk(s[k]) for k in ("items", "values") if k in s)
            and (walk(s["type"]) if isinstance(s.get("type"), (dict, list)) else True)
        )

    return walk(schema)


def _compile(schema: Any, named: dict[str, Any], memo: dict[int, Typer]) -> Typer:
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, dict) and id(schema) in memo:
        return memo[id(schema)]
    if isinstance(schema, list):
        return _union(schema, named, memo)
    t = schema["type"] if isinstance(schema, dict) else schema
    logical = schema.get("logicalType") if isinstance(schema, dict) else None
    if t == "record":
        return _record(schema, named, memo)
    if t == "enum":
        symbols = frozenset(schema["symbols"])
        return lambda v: v if type(v) is str and v in symbols else FAIL
    if t == "array":
        return _array(_compile(schema["items"], named, memo))
    if t == "map":
        return _map(_compile(schema["values"], named, memo))
    if logical == "date":
        return _date
    if logical in ("timestamp-millis", "timestamp-micros"):
        return _instant
    if t in ("int", "long"):
        lo, hi = _INT_RANGE[t]
        return lambda v: v if type(v) is int and lo <= v <= hi else FAIL
    if t in ("float", "double"):
        return lambda v: float(v) if type(v) in (int, float) else FAIL
    if t == "string":
        return lambda v: v if isinstance(v, str) else FAIL
    if t == "boolean":
        return lambda v: v if v is True or v is False else FAIL
    if t == "null":
        return lambda v: None if v is None else FAIL
    if isinstance(t, (dict, list)):
        return _compile(t, named, memo)
    return _never  # bytes, fixed, an unknown type: the slow path decides


def _union(schema: list[Any], named: dict[str, Any], memo: dict[int, Typer]) -> Typer:
    nullable = "null" in schema
    branches = [b for b in schema if b != "null"]
    # Only the first branch: `from_json` takes the first branch that accepts, and a FAIL here does
    # not prove that branch would refuse.
    first = _compile(branches[0], named, memo) if branches else _never

    def union(v: Any) -> Any:
        if v is None and nullable:
            return None
        return first(v)

    return union


def _record(schema: dict[str, Any], named: dict[str, Any], memo: dict[int, Typer]) -> Typer:
    """A record's typer, generated as straight-line Python (one block per field): a record is typed
    for every decision, and a loop over field descriptions cost twice as much."""
    cell: list[Typer] = []
    memo[id(schema)] = lambda v: cell[0](v)  # a record inside itself calls through this
    env: dict[str, Any] = {"FAIL": FAIL, "_check": _check, "str": str}
    env["KNOWN"] = frozenset(f["name"] for f in schema["fields"])
    lines = [
        "def record(v):",
        "    if type(v) is not dict or not KNOWN.issuperset(v):",
        "        return FAIL",
        "    out = {}",
    ]
    for i, f in enumerate(schema["fields"]):
        name, ftype = repr(f["name"]), f["type"]
        branches = [b for b in ftype if b != "null"] if isinstance(ftype, list) else []
        if isinstance(ftype, list) and "null" in ftype and branches:  # ["null", X]: None, else X's typer
            env[f"T{i}"] = _compile(branches[0], named, memo)
            cond = " and ".join(["x is not None", *_not_as_is(_as_is(branches[0], named))])
        else:
            env[f"T{i}"] = _compile(ftype, named, memo)
            cond = " and ".join(_not_as_is(_as_is(ftype, named)))
        lines += [f"    if {name} in v:", f"        x = v[{name}]"]
        call = [f"x = T{i}(x)", "if x is FAIL:", "    return FAIL"]
        if cond:
            lines += [f"        if {cond}:", *(f"            {c}" for c in call)]
        else:
            lines += [f"        {c}" for c in call]
        if f.get("fengqiao.check") is not None:
            env[f"C{i}"] = f["fengqiao.check"]
            lines += [f"        if _check(C{i}, x) is not None:", "            return FAIL"]
        lines += [f"        out[{name}] = x", "    else:"]
        if "default" in f:
            env[f"D{i}"] = f["default"]
            lines.append(f"        out[{name}] = D{i}")
        else:
            lines.append("        return FAIL")
    lines.append("    return out")
    exec("\n".join(lines), env)  # the source: built above, field names written with repr()
    record: Typer = env["record"]
    cell.append(record)
    memo[id(schema)] = record
    return record


def _not_as_is(types: frozenset[type]) -> list[str]:
    """Conditions, in generated code, that ``x`` is none of the types kept as they are."""
    out = []
    for t in types:
        if t is type(None):
            out.append("x is not None")
        elif t is bool:
            out.append("x is not True and x is not False")
        else:
            out.append(f"type(x) is not {t.__name__}")
    return out


_PLAIN = {"string": str, "boolean": bool, "null": type(None)}


def _as_is(schema: Any, named: dict[str, Any]) -> frozenset[type]:
    """The exact types a node's typer returns unchanged, unchecked (so the record need not call it)."""
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        first = _as_is(branches[0], named) if branches else frozenset()
        return first | {type(None)} if "null" in schema else first
    if isinstance(schema, str):
        return frozenset({_PLAIN[schema]}) if schema in _PLAIN and schema not in named else frozenset()
    t, logical = schema.get("type"), schema.get("logicalType")
    if isinstance(t, str) and t in _PLAIN and logical not in _NOT_PLAIN and t not in named:
        return frozenset({_PLAIN[t]})
    return frozenset()


_NOT_PLAIN = ("date", "timestamp-millis", "timestamp-micros")


def _array(item: Typer) -> Typer:
    def array(v: Any) -> Any:
        if type(v) is not list:
            return FAIL
        out = [item(x) for x in v]
        return FAIL if any(x is FAIL for x in out) else out

    return array


def _map(value: Typer) -> Typer:
    def mapping(v: Any) -> Any:
        if type(v) is not dict:
            return FAIL
        out = {k: value(x) for k, x in v.items()}
        return FAIL if any(x is FAIL for x in out.values()) else out

    return mapping


def _date(v: Any) -> Any:
    if type(v) is date:
        return v
    if type(v) is str:
        try:
            return date.fromisoformat(v)
        except ValueError:
            return FAIL
    return FAIL


def _instant(v: Any) -> Any:
    # `to_json` writes an aware instant in UTC to the millisecond, `from_json` reads that back.
    if type(v) is datetime and v.tzinfo is UTC:  # the decision's instant recurs: converted once
        u = _INSTANTS.get(v)
        if u is None:
            if len(_INSTANTS) > 4096:
                _INSTANTS.clear()
            u = _INSTANTS[v] = v.replace(microsecond=v.microsecond // 1000 * 1000, fold=0)
        return u
    if type(v) is datetime and v.utcoffset() is not None:
        u = v.astimezone(UTC)
        return u.replace(microsecond=u.microsecond // 1000 * 1000, fold=0)
    if type(v) is str:
        try:
            return _parse_instant(v)
        except ValueError:
            return FAIL
    return FAIL
