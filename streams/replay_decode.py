"""Replay's decoder: a ledger value straight to the JSON form `fold` keeps (`codec.to_json` of the decoded
record), with the same errors as `Codec.decode`.

fastavro turns every timestamp into a datetime and every date into a date, which fold turns back into
text; replay reads with the writer schema stripped of those logical types (plain longs and ints, a
sixth less decoding) and writes the text itself, along a plan made once per schema. A schema with
anything else (another logical type, a union of several types) or an older writer version (which
needs schema resolution) is read as `Codec.decode` reads it, and said so: fold's `to_json` makes the
same of it as the plans do of the others, which fold keeps as they are (``as_json``).
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from typing import Any

import fastavro

from fengqiao.schemas.catalogue import EventType
from fengqiao.schemas.codec import Codec, named_types
from fengqiao.schemas.framing import FramingError

Record = dict[str, Any]
Convert = Callable[[Any], Any]
Plan = list[tuple[str, Convert]]  # the fields of a record that need writing as text, and how
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
EPOCH_DAY = date(1970, 1, 1).toordinal()
_INSTANTS: dict[int, str] = {}


class _Unplanned(Exception):
    """A schema the plans do not cover: it is read the codec's way."""


def decoder(codec: Codec) -> Callable[[bytes], tuple[EventType, Record, bool]]:
    """``codec.decode``, giving records in fold's JSON form where a plan covers the writer schema:
    (event type, record, whether the record is in JSON form)."""
    read = fastavro.schemaless_reader
    readers: dict[int, tuple[EventType, Any, Any, Plan | None]] = {}
    for schema_id, (ev, writer) in codec._writers.items():
        if writer is not ev.parsed and writer != ev.parsed:  # an older version: resolved, natively
            readers[schema_id] = (ev, writer, ev.parsed, None)
            continue
        try:
            plan = _plan(ev.expanded, named_types(ev.expanded))
            readers[schema_id] = (ev, fastavro.parse_schema(_stripped(ev.expanded)), None, plan)
        except (_Unplanned, RecursionError):  # RecursionError: a type that contains itself
            readers[schema_id] = (ev, writer, None, None)

    def decode(value: bytes) -> tuple[EventType, Record, bool]:
        if len(value) < 5 or value[0] != 0:
            raise FramingError("not a Confluent-framed Avro value")
        ev, writer, reader, plan = readers[int.from_bytes(value[1:5], "big")]
        record = read(BytesIO(value[5:]), writer, reader)
        if plan is None:
            return ev, record, False  # type: ignore[return-value]
        _apply(plan, record)
        return ev, record, True  # type: ignore[return-value]

    return decode


def _stripped(schema: Any) -> Any:
    if isinstance(schema, Mapping):
        return {k: _stripped(v) for k, v in schema.items() if k != "logicalType"}
    if isinstance(schema, list):
        return [_stripped(v) for v in schema]
    return schema


def _plan(record_schema: Mapping[str, Any], named: dict[str, Any]) -> Plan:
    plan: Plan = []
    for field in record_schema["fields"]:
        convert = _converter(field["type"], named)
        if convert is not None:
            plan.append((field["name"], convert))
    return plan


def _converter(schema: Any, named: dict[str, Any]) -> Convert | None:
    """What writes a value of ``schema`` (never None) as fold keeps it; None: it is plain JSON already."""
    if isinstance(schema, str):
        if schema in named:
            return _converter(named[schema], named)
        return _bytes_text if schema in ("bytes", "fixed") else None
    if isinstance(schema, list):
        branches = [b for b in schema if b != "null"]
        if len(branches) != 1:
            raise _Unplanned("a union of several types")
        return _converter(branches[0], named)
    logical = schema.get("logicalType")
    if logical is not None:
        if logical not in _LOGICAL:
            raise _Unplanned(logical)
        return _LOGICAL[logical]
    kind = schema["type"]
    if kind == "record":
        plan = _plan(schema, named)
        return _record_of(plan) if plan else None
    if kind in ("array", "map"):
        inner = _converter(schema["items" if kind == "array" else "values"], named)
        return None if inner is None else (_array_of if kind == "array" else _map_of)(inner)
    if kind in ("bytes", "fixed"):
        return _bytes_text
    if isinstance(kind, (dict, list)):
        return _converter(kind, named)
    return None


def _apply(plan: Plan, record: Record) -> None:
    for name, convert in plan:
        v = record[name]
        if v is not None:
            record[name] = convert(v)


def _instant_text(ms: int) -> str:
    """`to_json` of the instant fastavro would have made of ``ms``."""
    text = _INSTANTS.get(ms)
    if text is None:
        if len(_INSTANTS) > 65536:
            _INSTANTS.clear()
        t = EPOCH + timedelta(milliseconds=ms)
        text = _INSTANTS[ms] = t.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return text


def _date_text(days: int) -> str:
    return date.fromordinal(days + EPOCH_DAY).isoformat()


def _bytes_text(b: bytes) -> str:
    return base64.b64encode(b).decode()


def _record_of(plan: Plan) -> Convert:
    def convert(v: Record) -> Record:
        _apply(plan, v)
        return v

    return convert


def _array_of(inner: Convert) -> Convert:
    return lambda v: [None if x is None else inner(x) for x in v]


def _map_of(inner: Convert) -> Convert:
    return lambda v: {k: None if x is None else inner(x) for k, x in v.items()}


_LOGICAL: dict[str, Convert] = {"timestamp-millis": _instant_text, "date": _date_text}
