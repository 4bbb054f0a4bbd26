"""The input rules (准入校验规则): one module for everything an agency can send.

The gateway, `fengqiao publish`, spreadsheets, the CloudEvents JSON intake and records produced
straight to Kafka all call these, so a value refused by one way in is refused by every other.
Each check returns `FieldError`s (the field and the reason, as every refusal names them).

Patterns are ASCII-only (``re.ASCII``, ``[0-9]`` not ``\\d``) and anchored with ``\\Z`` (``$``
also matches before a trailing newline), so full-width digits (１２３) and ``"339901\\n"`` are refused.
docs/publishing.md has the same rules as a table.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Container, Mapping
from dataclasses import dataclass
from typing import Any

MAX_ID = 128  # an event id, case id, agency id or any other id
MAX_TEXT = 8192  # one text value of an event's data
MAX_ATTRIBUTE = 1024  # one CloudEvents attribute
MAX_DEPTH = 32  # JSON nesting of one request (the deepest event type nests 5)
MAX_EVENT_BYTES = 256 * 1024  # one event as JSON text (a line of `fengqiao publish`)
MAX_ITEMS = 10_000  # values in one event (objects, lists, strings, numbers together)

SPECVERSION = "1.0"
DIVISION_RE = re.compile(r"(?:[0-9]{6}|[0-9]{9}|[0-9]{12})\Z", re.ASCII)
AGENCY_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,127}\Z", re.ASCII)
# Event ids, case ids, correlation ids: letters, digits and . _ : - ; no '/', space or '..'.
SAFE_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}\Z", re.ASCII)
# A reference to something the hub named (a handoff id is case/step/n): '/' too, twice as long.
REF_ID_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:/-]{0,255}\Z", re.ASCII)
ATTRIBUTE_NAME_RE = re.compile(r"[a-z0-9]{1,20}\Z", re.ASCII)  # CloudEvents 1.0 attribute names
INSTANT_RE = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}"
    r"([T ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]{1,9})?)?(Z|z|[+-][0-9]{2}:[0-9]{2})?)?\Z",
    re.ASCII,
)
# Never in any text: C0/C1 controls but tab, newline and carriage return, DEL, lone surrogates
# (they cannot be written as UTF-8) and the bidirectional overrides (they make text read falsely).
_BAD_TEXT = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")
# In attributes, ids and field names not even those three.
_BAD_ATTR = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\u202a-\u202e\u2066-\u2069]")

_REQUIRED = ("specversion", "id", "source", "type")
_TEXT_ATTRIBUTES = frozenset(
    {"specversion", "id", "source", "type", "subject", "time", "datacontenttype", "dataschema"}
    | {"correlationid", "causationid", "jurisdiction", "policyversion"}
)
_ID_ATTRIBUTES = ("id", "correlationid", "causationid")


@dataclass(frozen=True)
class FieldError:
    path: str
    reason: str

    def __str__(self) -> str:
        return f"{self.path or '(record)'}: {self.reason}"


class Invalid(ValueError):
    """Input refused by these rules; ``errors`` names each field."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(map(str, errors)))


def show(value: Any, limit: int = 40) -> str:
    """A value as a refusal quotes it: escaped (a control or surrogate is shown, never sent), short."""
    if not isinstance(value, str):
        text = json.dumps(value, ensure_ascii=True, default=str)
        return text if len(text) <= limit else text[:limit] + "…"
    text = value if len(value) <= limit else value[:limit] + "…"
    return ascii(text) if _BAD_ATTR.search(text) or not text.isprintable() else repr(text)


def quote(value: Any, limit: int = 80) -> str:
    """A value as JSON for a refusal: Chinese as it is, a lone surrogate escaped, cut short."""
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
        if _BAD_ATTR.search(text):
            text = json.dumps(value, ensure_ascii=True, default=str)
    except (ValueError, RecursionError):
        return type_of(value)
    return text if len(text) <= limit else text[:limit] + "…"


def type_of(value: Any) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, (int, float)):
        return "a number"
    return {dict: "an object", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )


# -- text, ids, codes ---------------------------------------------------------------------------
def text_error(path: str, value: str, *, limit: int = MAX_TEXT, attribute: bool = False) -> FieldError | None:
    """Why a text value is refused: a control character, a lone surrogate, or too long."""
    bad = (_BAD_ATTR if attribute else _BAD_TEXT).search(value)
    if bad is not None:
        ch = bad.group()
        what = "a lone surrogate" if "\ud800" <= ch <= "\udfff" else "a control character"
        return FieldError(path, f"holds {what} (U+{ord(ch):04X}) at position {bad.start()}")
    if len(value) > limit:
        return FieldError(path, f"is {len(value)} characters long; at most {limit}")
    return None


def id_error(path: str, value: Any, *, agency: bool = False, ref: bool = False) -> FieldError | None:
    """Why ``value`` is not an id: ASCII letters, digits and ``. _ : -``, first a letter or digit, at
    most 128, no ``..``. An agency id: lower case, digits, ``_ -``. A reference (``ref``, e.g. a
    handoff id the hub made): ``/`` too, at most 256, no ``//``."""
    if not isinstance(value, str):
        return FieldError(path, f"expected a string, got {type_of(value)}")
    if not value.strip():
        return FieldError(path, "is empty or only whitespace")
    longest = 2 * MAX_ID if ref else MAX_ID
    if len(value) > longest:
        return FieldError(path, f"is {len(value)} characters long; an id has at most {longest}")
    pattern = AGENCY_ID_RE if agency else REF_ID_RE if ref else SAFE_ID_RE
    if pattern.match(value) and ".." not in value and "//" not in value:
        return None
    allowed = (
        "lower-case ASCII letters, digits, _ and -"
        if agency
        else f"ASCII letters, digits, . _ :{' /' if ref else ''} and -"
    )
    return FieldError(path, f"{show(value)} is not an id: use {allowed}, starting with a letter or digit")


def is_division(value: Any) -> bool:
    return isinstance(value, str) and DIVISION_RE.match(value) is not None


def division_error(path: str, value: Any) -> FieldError | None:
    """Why ``value`` is not a division code (行政区划代码: 6, 9 or 12 ASCII digits)."""
    if is_division(value):
        return None
    return FieldError(path, f"{show(value)} is not a division code (6, 9 or 12 digits 0-9)")


def division_reason(value: str) -> str | None:
    """The codec's ``fengqiao.check: division-code`` (the spreadsheets translate this very text)."""
    return None if DIVISION_RE.match(value) else "an administrative division code has 6, 9 or 12 digits"


def ric_reason(value: str) -> str | None:
    """The form of a resident id number before stdnum's checks: stdnum itself takes ``１``, a space
    or a small x, and the value would be kept as sent."""
    if _RIC_CHARS.match(value):
        return None
    return "not a valid resident identity card number (The number has an invalid format.)"


_RIC_CHARS = re.compile(r"[0-9]*X?\Z", re.ASCII)


# -- JSON text, before decoding -------------------------------------------------------------------
_STRINGS = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_PAIRS = re.compile(rb"\[\]|\{\}")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")


def depth_error(raw: bytes, *, max_depth: int = MAX_DEPTH) -> FieldError | None:
    """Why JSON text nests too deep, found BEFORE decoding it: the decoder (and every walk after it)
    recurses, and ``[[[[...`` a hundred thousand deep would reach Python's recursion limit."""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return None
    # Strings out first (a bracket in a string does not nest), then strike innermost pairs: each
    # pass takes one level off, so brackets left after max_depth passes nest deeper than that.
    left = _STRINGS.sub(b"", raw).translate(None, _NOT_BRACKETS)
    if re.search(rb"[\[{]{%d}" % (max_depth + 1), left):  # the usual attack, [[[[..., in one pass
        return _too_deep(max_depth)
    for _ in range(max_depth):
        if not left:
            return None
        left = _PAIRS.sub(b"", left)
    if not left:
        return None
    return _too_deep(max_depth)


def _too_deep(max_depth: int) -> FieldError:
    return FieldError("", f"JSON nested deeper than {max_depth} levels (or brackets that do not match)")


def decode(raw: bytes | str, *, limit: int = MAX_EVENT_BYTES, max_depth: int = MAX_DEPTH) -> Any:
    """JSON text decoded, after its size and depth are checked; raises `Invalid` naming the reason."""
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else bytes(raw)
    if len(data) > limit:
        raise Invalid([FieldError("", f"the JSON is {len(data)} bytes; at most {limit}")])
    if (e := depth_error(data, max_depth=max_depth)) is not None:
        raise Invalid([e])
    try:
        return json.loads(data, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise Invalid([FieldError("", f"not JSON: {e.msg} at line {e.lineno} column {e.colno}")]) from e
    except UnicodeDecodeError as e:
        raise Invalid([FieldError("", f"not UTF-8 text at byte {e.start}")]) from e
    except (ValueError, RecursionError) as e:  # an integer of more than 4300 digits, say
        raise Invalid([FieldError("", f"not JSON the hub takes: {str(e)[:120]}")]) from e


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


# -- decoded values ---------------------------------------------------------------------------------
def tree_errors(
    value: Any,
    path: str = "",
    *,
    max_depth: int = MAX_DEPTH,
    max_items: int = MAX_ITEMS,
    decoded: bool = False,
) -> list[FieldError]:
    """Every text of a decoded JSON value (keys too) by `text_error`, every number finite, nesting
    and size bounded. Iterative: a value built in memory (a spreadsheet row, a dict handed to the
    intake) may nest as deep as it likes without reaching the recursion limit here. ``decoded``: a
    record read from Avro, whose instants, dates and bytes are not JSON and need no check."""
    errors: list[FieldError] = []
    stack: list[tuple[str, Any, int]] = [(path, value, 0)]
    seen = 0
    while stack:
        p, v, depth = stack.pop()
        seen += 1
        if seen > max_items:
            return [*errors, FieldError(path, f"holds more than {max_items} values")]
        if depth > max_depth:
            return [*errors, FieldError(p, f"nested deeper than {max_depth} levels")]
        if isinstance(v, str):
            if (e := text_error(p, v)) is not None:
                errors.append(e)
        elif isinstance(v, dict):
            for k, x in v.items():
                if not isinstance(k, str):
                    errors.append(FieldError(p, f"a field name is {type_of(k)}; names are text"))
                    continue
                if (e := text_error(p, k, limit=64, attribute=True)) is not None:
                    errors.append(FieldError(p, f"field name {show(k)} {e.reason}"))
                    continue
                stack.append((f"{p}.{k}".lstrip("."), x, depth + 1))
        elif isinstance(v, list):
            stack.extend((f"{p}[{i}]", x, depth + 1) for i, x in enumerate(v))
        elif isinstance(v, float) and not math.isfinite(v):
            errors.append(FieldError(p, "is not a finite number"))
        elif not decoded and not isinstance(v, (int, float)) and v is not None:  # bool is an int
            errors.append(FieldError(p, f"{type(v).__name__} is not a JSON value"))
    errors.sort(key=lambda e: e.path)
    return errors


def envelope_errors(obj: Mapping[str, Any], short_names: Container[str]) -> list[FieldError]:
    """The CloudEvents attributes of a structured event, before the SDK or the codec sees them.

    ``short_names``: the catalogue's event type names (``ReleaseNoticeIssued``, not the Avro full
    name ``fengqiao.release.ReleaseNoticeIssued``: an event type has one name on the way in).
    """
    errors: list[FieldError] = []
    for attr, v in obj.items():
        if attr in ("data", "data_base64"):
            continue
        if not isinstance(attr, str) or not ATTRIBUTE_NAME_RE.match(attr):
            errors.append(
                FieldError(show(attr), "not a CloudEvents attribute name (a-z and 0-9, at most 20)")
            )
        elif v is None:
            continue  # absent (a required one is named below)
        elif attr in _TEXT_ATTRIBUTES and not isinstance(v, str):
            errors.append(FieldError(attr, f"expected a string, got {type_of(v)}"))
        elif not isinstance(v, (str, int)):  # an extension: string, integer or boolean (CloudEvents 1.0)
            errors.append(FieldError(attr, f"an attribute is a string, integer or boolean, not {type_of(v)}"))
        elif isinstance(v, str) and (e := text_error(attr, v, limit=MAX_ATTRIBUTE, attribute=True)):
            errors.append(e)
    if errors:
        return errors
    errors = [FieldError(a, "required CloudEvents attribute is missing") for a in _REQUIRED if not obj.get(a)]
    if errors:
        return errors
    if obj["specversion"] != SPECVERSION:
        errors.append(
            FieldError("specversion", f"{show(obj['specversion'])}: the hub speaks CloudEvents 1.0")
        )
    errors += [e for a in _ID_ATTRIBUTES if obj.get(a) is not None and (e := id_error(a, obj[a]))]
    if (e := id_error("source", obj["source"], agency=True)) is not None:
        errors.append(e)
    if obj.get("subject") is not None and (e := id_error("subject", obj["subject"])) is not None:
        errors.append(e)
    if obj["type"] not in short_names:
        errors.append(
            FieldError(
                "type", f"unknown event type {show(obj['type'])}; see docs/events.md for the catalogue"
            )
        )
    if obj.get("jurisdiction") is not None and (e := division_error("jurisdiction", obj["jurisdiction"])):
        errors.append(e)
    if obj.get("time") is not None and not INSTANT_RE.match(obj["time"]):
        errors.append(FieldError("time", f"{show(obj['time'])} is not an RFC 3339 instant"))
    ctype = obj.get("datacontenttype")
    if ctype is not None and ctype.split(";")[0].strip().lower() != "application/json":
        errors.append(FieldError("datacontenttype", f"{show(ctype)}: an event's data is application/json"))
    if "data_base64" in obj:
        errors.append(FieldError("data_base64", "send data as a JSON object, not base64"))
    return errors


def id_errors_in(record: Any, path: str = "data") -> list[FieldError]:
    """Every ``*_id`` text of a record (case, handoff, person, agency and event ids) as an id."""
    errors: list[FieldError] = []
    stack: list[tuple[str, Any]] = [(path, record)]
    while stack:
        p, v = stack.pop()
        if isinstance(v, dict):
            for k, x in v.items():
                kp = f"{p}.{k}"
                if isinstance(x, str) and k.endswith("_id"):
                    kind = {"case_id": {}, "agency_id": {"agency": True}}.get(k, {"ref": True})
                    if (e := id_error(kp, x, **kind)) is not None:
                        errors.append(e)
                elif isinstance(x, (dict, list)):
                    stack.append((kp, x))
        elif isinstance(v, list):
            stack.extend((f"{p}[{i}]", x) for i, x in enumerate(v))
    errors.sort(key=lambda e: e.path)
    return errors


def record_errors(env: Any, record: Any) -> list[FieldError]:
    """An agency's record read from Kafka (it may have been produced straight there, past every
    other way in): its envelope's ids and codes and its data's text, by the same rules. Workers and
    replay ask of every record, so a quick pass comes first and the slow one only names the fields."""
    if _quick_ok(env, record):
        return []
    errors = [
        e
        for a in ("id", "subject", "correlationid", "causationid")
        if getattr(env, a) is not None and (e := id_error(f"ce_{a}", getattr(env, a)))
    ]
    if (e := id_error("ce_source", env.source, agency=True)) is not None:
        errors.append(e)
    if env.jurisdiction is not None and (e := division_error("ce_jurisdiction", env.jurisdiction)):
        errors.append(e)
    return errors or tree_errors(record, "data", decoded=True) or id_errors_in(record)


def _quick_ok(env: Any, record: Any) -> bool:
    """True when `record_errors` would find nothing (False: it may, so it looks)."""
    ids = [env.id, env.subject, env.correlationid, env.causationid]
    for v in ids:
        if v is not None and (not _SAFE(v) or ".." in v):
            return False
    if not _AGENCY(env.source) or (env.jurisdiction is not None and not _DIVISION(env.jurisdiction)):
        return False
    texts: list[str] = []
    if not _collect(record, texts, 0):
        return False
    return not texts or (max(map(len, texts)) <= MAX_TEXT and _BAD_TEXT.search("\t".join(texts)) is None)


def _collect(v: Any, texts: list[str], depth: int) -> bool:
    """Gather the record's texts into ``texts``; False at an id that is not one, or too deep."""
    if depth > MAX_DEPTH:
        return False
    if type(v) is dict:
        for k, x in v.items():
            if type(x) is str:
                if k[-3:] == "_id":
                    ok = _AGENCY(x) if k == "agency_id" else _SAFE(x) if k == "case_id" else _REF(x)
                    if not ok or ".." in x or "//" in x:
                        return False
                texts.append(x)
            elif type(x) in (dict, list) and not _collect(x, texts, depth + 1):
                return False
    elif type(v) is list:
        for x in v:
            if type(x) is str:
                texts.append(x)
            elif type(x) in (dict, list) and not _collect(x, texts, depth + 1):
                return False
    return True


_SAFE, _AGENCY, _REF, _DIVISION = SAFE_ID_RE.match, AGENCY_ID_RE.match, REF_ID_RE.match, DIVISION_RE.match
