"""Encode and decode events: JSON in, Avro (Confluent-framed) on the wire, Python records inside.

Validation names every bad field with its path and a reason the publisher can act on, and
applies the semantic checks the schemas ask for (``fengqiao.check``). Schema ids come from the
registry ahead of time and are cached, so the hot path never waits on HTTP.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

import fastavro
from stdnum.cn import ric
from stdnum.exceptions import ValidationError as StdnumError

from .catalogue import Catalogue, EventType
from .framing import frame, unframe
from .validation import FieldError, division_reason, quote, ric_reason

SHANGHAI = ZoneInfo("Asia/Shanghai")
_INT_RANGE = {"int": (-(2**31), 2**31 - 1), "long": (-(2**63), 2**63 - 1)}


class ValidationFailed(ValueError):
    """One or more fields are wrong; ``errors`` lists each with its path."""

    def __init__(self, event: str, errors: list[FieldError]) -> None:
        self.event = event
        self.errors = errors
        super().__init__(f"{event}: " + "; ".join(map(str, errors)))


class UnknownSchema(LookupError):
    def __init__(self, schema_id: int) -> None:
        self.schema_id = schema_id
        super().__init__(f"schema id {schema_id} is not known to this hub's registry")


def _check(kind: str, value: Any) -> str | None:
    """Semantic check named by a schema's ``fengqiao.check``; returns the reason it fails."""
    if isinstance(value, str):
        # A sealed personal value (streams/personal/seal.py) was checked in clear before the hub
        # sealed it; the intake refuses a sealed value it did not make (cloudevents_json.parse).
        return None if value.startswith("fq1:") else _check_text(kind, value)
    return None  # a value of another type is refused as such already


@lru_cache(maxsize=1 << 16)
def _check_text(kind: str, value: str) -> str | None:
    # The same resident ID and division codes come back on every event of a case; the checks are
    # pure, so each is run once (python-stdnum's is slow).
    return _check_uncached(kind, value)


def _check_uncached(kind: str, value: Any) -> str | None:
    if kind == "cn.ric":
        if (form := ric_reason(value)) is not None:
            return form
        try:
            ric.validate(value)
        except StdnumError as e:
            return f"not a valid resident identity card number ({e.message})"
        except (KeyError, LookupError):  # python-stdnum's place lookup: a region code it does not list
            return f"not a valid resident identity card number (region code {value[:6]} is unknown)"
    elif kind == "division-code":
        return division_reason(value)
    return None


def _type_name(schema: Any) -> str:
    if isinstance(schema, dict):
        return schema.get("logicalType") or schema.get("name") or schema["type"]
    if isinstance(schema, list):
        return " or ".join(_type_name(s) for s in schema)
    return str(schema)


def _parse_instant(value: Any) -> datetime:
    if isinstance(value, datetime):
        t = value
    elif isinstance(value, str):
        t = datetime.fromisoformat(value.replace("Z", "+00:00"))
    else:
        raise ValueError
    # A local time without an offset is read as Beijing time, the agencies' own clock.
    return (t if t.tzinfo else t.replace(tzinfo=SHANGHAI)).astimezone(UTC)


def named_types(schema: Any, found: dict[str, Any] | None = None) -> dict[str, Any]:
    """Every named type (record, enum, fixed) a schema defines, by name and full name.

    `from_json` needs them all up front: a type defined inside an optional field or an array that
    the value leaves empty may be referenced by name further on.
    """
    found = {} if found is None else found
    if isinstance(schema, list):
        for branch in schema:
            named_types(branch, found)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed") and "name" in schema:
            found[schema["name"]] = schema
            if schema.get("namespace"):
                found[f"{schema['namespace']}.{schema['name']}"] = schema
        for f in schema.get("fields", ()):
            named_types(f["type"], found)
        for key in ("items", "values"):
            if key in schema:
                named_types(schema[key], found)
        if isinstance(schema.get("type"), (dict, list)):
            named_types(schema["type"], found)
    return found


_NAMED: dict[int, tuple[Any, dict[str, Any]]] = {}  # id(schema) -> (schema, its named types)


def named_types_of(schema: Any) -> dict[str, Any]:
    """`named_types` of a schema the catalogue keeps for good (computed once; a fresh copy each call,
    since `from_json` adds to it)."""
    hit = _NAMED.get(id(schema))
    if hit is None or hit[0] is not schema:
        hit = _NAMED[id(schema)] = (schema, named_types(schema))
    return dict(hit[1])


def from_json(schema: Any, value: Any, path: str, errors: list[FieldError], named: dict[str, Any]) -> Any:
    """Convert a JSON value to what fastavro writes, collecting every error instead of stopping."""
    if isinstance(schema, str) and schema in named:
        schema = named[schema]
    if isinstance(schema, list):  # union: plain JSON value, first branch that accepts it
        if value is None and "null" in schema:
            return None
        for branch in (s for s in schema if s != "null"):
            trial: list[FieldError] = []
            out = from_json(branch, value, path, trial, named)
            if not trial:
                return out
            if len(schema) == 2:  # ["null", X]: X's own reason is the useful one
                errors.extend(trial)
                return None
        errors.append(FieldError(path, f"expected {_type_name(schema)}, got {quote(value)}"))
        return None
    t = schema["type"] if isinstance(schema, dict) else schema
    if isinstance(schema, dict) and "name" in schema and t in ("record", "enum", "fixed"):
        named[schema["name"]] = schema
        if schema.get("namespace"):
            named[f"{schema['namespace']}.{schema['name']}"] = schema
    logical = schema.get("logicalType") if isinstance(schema, dict) else None

    def bad(expected: str) -> None:
        errors.append(FieldError(path, f"expected {expected}, got {quote(value)}"))

    if t == "record":
        if not isinstance(value, dict):
            bad(f"an object ({schema['name']})")
            return None
        out: dict[str, Any] = {}
        known = {f["name"] for f in schema["fields"]}
        for extra in sorted(set(value) - known):
            errors.append(
                FieldError(
                    f"{path}.{extra}".lstrip("."), f"unknown field; {schema['name']} has no such field"
                )
            )
        for f in schema["fields"]:
            fp = f"{path}.{f['name']}".lstrip(".")
            if f["name"] in value:
                out[f["name"]] = from_json(f["type"], value[f["name"]], fp, errors, named)
                reason = _check(f["fengqiao.check"], out[f["name"]]) if "fengqiao.check" in f else None
                if reason:
                    errors.append(FieldError(fp, reason))
            elif "default" in f:
                out[f["name"]] = f["default"]
            else:
                errors.append(FieldError(fp, "required field is missing"))
        return out
    if t == "enum":
        if value not in schema["symbols"]:
            bad("one of " + ", ".join(schema["symbols"]))
        return value
    if t == "array":
        if not isinstance(value, list):
            bad("a list")
            return []
        return [from_json(schema["items"], v, f"{path}[{i}]", errors, named) for i, v in enumerate(value)]
    if t == "map":
        if not isinstance(value, dict):
            bad("an object")
            return {}
        return {k: from_json(schema["values"], v, f"{path}.{k}", errors, named) for k, v in value.items()}
    if logical == "date":
        try:
            return value if isinstance(value, date) else date.fromisoformat(value)
        except (TypeError, ValueError):
            bad("a date YYYY-MM-DD")
            return None
    if logical in ("timestamp-millis", "timestamp-micros"):
        try:
            return _parse_instant(value)
        except (TypeError, ValueError):
            bad("an RFC 3339 instant, e.g. 2026-12-01T09:30:00+08:00")
            return None
    if t in ("int", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            bad(f"an integer ({t})")
        elif not _INT_RANGE[t][0] <= value <= _INT_RANGE[t][1]:
            bad(f"an integer within the {t} range")
        return value
    if t in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            bad("a number")
            return None
        return float(value)
    if t == "string":
        if not isinstance(value, str):
            bad("a string")
        return value
    if t == "boolean":
        if not isinstance(value, bool):
            bad("true or false")
        return value
    if t == "null":
        if value is not None:
            bad("null")
        return None
    if t in ("bytes", "fixed"):
        try:
            return base64.b64decode(value, validate=True)
        except (TypeError, ValueError):
            bad("base64 text")
            return None
    if isinstance(t, (dict, list)):
        return from_json(t, value, path, errors, named)
    errors.append(FieldError(path, f"schema type {t!r} is not supported"))
    return None


def check_record(schema: Any, value: Any, path: str = "") -> list[FieldError]:
    """The semantic checks on an already-typed record (e.g. one decoded from Kafka). A plan of where
    the checks are is made once per schema, so the parts of a record without one are not walked."""
    hit = _PLANS.get(id(schema))
    if hit is None or hit[0] is not schema:
        hit = _PLANS[id(schema)] = (schema, _plan(schema, named_types_of(schema), frozenset()))
    errors: list[FieldError] = []
    if hit[1] is not None:
        _run(hit[1], value, path, errors)
    return errors


_PLANS: dict[int, tuple[Any, Any]] = {}  # id(schema) -> (schema, its plan or None: no check in it)


def _plan(schema: Any, named: dict[str, Any], inside: frozenset[int]) -> Any:
    """("record", [(field, check kind, inner plan)]), ("union", [plans]), ("array", plan), or None."""
    if isinstance(schema, str):
        schema = named.get(schema)
    if isinstance(schema, list):
        branches = [p for b in schema if (p := _plan(b, named, inside)) is not None]
        return ("union", branches) if branches else None
    if not isinstance(schema, dict) or id(schema) in inside:
        return None
    t = schema.get("type")
    if t == "record":
        fields = []
        for f in schema["fields"]:
            inner = _plan(f["type"], named, inside | {id(schema)})
            if f.get("fengqiao.check") or inner is not None:
                fields.append((f["name"], f.get("fengqiao.check"), inner))
        return ("record", fields) if fields else None
    if t == "array":
        inner = _plan(schema["items"], named, inside)
        return ("array", inner) if inner is not None else None
    if isinstance(t, (dict, list)) or t in named:
        return _plan(t, named, inside)
    return None


def _run(plan: Any, value: Any, path: str, errors: list[FieldError]) -> None:
    tag, body = plan
    if tag == "record" and isinstance(value, dict):
        for name, kind, inner in body:
            v = value.get(name)
            fp = f"{path}.{name}".lstrip(".")
            reason = _check(kind, v) if kind else None
            if reason:
                errors.append(FieldError(fp, reason))
            if inner is not None and v is not None:
                _run(inner, v, fp, errors)
    elif tag == "union":
        for branch in body:
            _run(branch, value, path, errors)
    elif tag == "array" and isinstance(value, list):
        for i, v in enumerate(value):
            _run(body, v, f"{path}[{i}]", errors)


_PLAIN = frozenset({str, int, bool, float, type(None)})
_INSTANTS: dict[datetime, str] = {}


def to_json(value: Any) -> Any:
    """A decoded record as plain JSON: instants in RFC 3339 (UTC), dates ISO, bytes base64."""
    t = type(value)
    if t in _PLAIN:  # most values, by their exact type first: this runs on every record folded
        return value
    if t is dict:  # a copy, then only the values that are not plain JSON: most are
        out = value.copy()
        for k, v in value.items():
            if type(v) not in _PLAIN:
                out[k] = to_json(v)
        return out
    if t is list:
        items = value.copy()
        for i, v in enumerate(value):
            if type(v) not in _PLAIN:
                items[i] = to_json(v)
        return items
    if t is datetime and value.tzinfo is UTC:  # the same few instants recur on every record
        text = _INSTANTS.get(value)
        if text is None:
            if len(_INSTANTS) > 4096:
                _INSTANTS.clear()
            text = _INSTANTS[value] = (
                value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
            )
        return text
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(value)).decode()
    return value


SCHEMA_URN = "urn:fengqiao:schema:"


def schema_urn(subject: str, schema_id: int) -> str:
    """``urn:fengqiao:schema:<subject>:<id>``: the registry subject (the event's Avro full name) and the
    global schema id of the record's frame; any registry of the deployment resolves it as
    ``GET /schemas/ids/<id>`` (or ``/subjects/<subject>/...``), whatever its address."""
    return f"{SCHEMA_URN}{subject}:{schema_id}"


def parse_schema_urn(urn: str) -> tuple[str, int] | None:
    """(subject, schema id) of a `schema_urn`; None for anything else (e.g. an old http:// link)."""
    if not urn.startswith(SCHEMA_URN):
        return None
    subject, _, sid = urn.removeprefix(SCHEMA_URN).rpartition(":")
    return (subject, int(sid)) if subject and sid.isdigit() else None


class Codec:
    """Frames records of the catalogue with the schema ids the registry gave them."""

    def __init__(
        self,
        catalogue: Catalogue,
        ids: Mapping[str, int],
        fetch_schema: Callable[[int], Awaitable[str]] | None = None,
        registry_url: str | None = None,
    ) -> None:
        self.catalogue = catalogue
        self.registry_url = registry_url
        self._id_of = {ev.fullname: ids[ev.fullname] for ev in catalogue if ev.fullname in ids}
        self._writers: dict[int, tuple[EventType, Any]] = {
            i: (catalogue[name], catalogue[name].parsed) for name, i in self._id_of.items()
        }
        self._fetch = fetch_schema
        # Seals personal fields on the way in (streams/personal): set by the hub's processes, so
        # every `Publisher` over this codec seals, whichever entry point built it.
        self.sealer: Any = None

    def schema_id(self, event_type: str) -> int:
        ev = self.catalogue[event_type]
        try:
            return self._id_of[ev.fullname]
        except KeyError:
            raise UnknownSchema(-1) from None

    def dataschema(self, event_type: str) -> str | None:
        """The record's ``ce_dataschema``: `schema_urn`, once the ids come from a registry (None before).

        Not the registry's URL: the embedded registry listens on a random port, so a link would be
        dead after a restart, while the record stays on the log for ever (docs/events.md).
        """
        if not self.registry_url:
            return None
        return schema_urn(self.catalogue[event_type].fullname, self.schema_id(event_type))

    def from_json(self, event_type: str, data: Any) -> dict[str, Any]:
        """A JSON object made into a record of ``event_type``; raises ValidationFailed naming each field."""
        ev = self.catalogue[event_type]
        errors: list[FieldError] = []
        record = from_json(ev.expanded, data, "", errors, named_types_of(ev.expanded))
        if errors:
            raise ValidationFailed(ev.name, errors)
        return record

    def encode(self, event_type: str, record: Mapping[str, Any]) -> bytes:
        ev = self.catalogue[event_type]
        buf = io.BytesIO()
        try:
            fastavro.schemaless_writer(buf, ev.parsed, record)
        except (ValueError, TypeError, KeyError, AttributeError) as e:
            raise ValidationFailed(ev.name, [FieldError("", f"cannot be written as Avro: {e}")]) from e
        return frame(self.schema_id(ev.name), buf.getvalue())

    def decode(self, data: bytes) -> tuple[EventType, dict[str, Any]]:
        """Raises FramingError, UnknownSchema (call ``ensure`` first) or a fastavro error."""
        schema_id, body = unframe(data)
        try:
            ev, writer = self._writers[schema_id]
        except KeyError:
            raise UnknownSchema(schema_id) from None
        record = fastavro.schemaless_reader(io.BytesIO(body), writer, ev.parsed)
        return ev, record  # type: ignore[return-value]

    def knows(self, schema_id: int) -> bool:
        return schema_id in self._writers

    async def ensure(self, schema_id: int) -> bool:
        """Fetch a writer schema we have not seen (another version of a catalogue event).

        False when the registry has no such id or it is not an event of this catalogue; any other
        registry failure propagates, so an outage is never mistaken for a bad record.
        """
        if schema_id in self._writers:
            return True
        if self._fetch is None:
            return False
        try:
            text = await self._fetch(schema_id)
        except Exception as e:
            if getattr(e, "status", None) == 404:
                return False
            raise
        writer_json = json.loads(text)
        full = writer_json.get("name", "")
        if "." not in full and writer_json.get("namespace"):
            full = f"{writer_json['namespace']}.{full}"
        if full not in self.catalogue:
            return False
        self._writers[schema_id] = (self.catalogue[full], fastavro.parse_schema(writer_json))
        return True


def plain_codec() -> Codec:
    """A codec with schema ids numbered in catalogue order (no registry needed)."""
    from fengqiao.schemas.catalogue import load

    catalogue = load()
    return Codec(catalogue, {ev.fullname: i for i, ev in enumerate(catalogue, 1)})
