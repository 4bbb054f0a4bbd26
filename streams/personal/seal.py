"""Sealing the personal fields of a record (字段加密) as it enters the hub, and the sealed form.

Every text field the schemas mark ``"pii": true`` (a string, an optional string, a list of strings)
is replaced by a *sealed value*, still an Avro string, so the schemas, the registry ids and every
reader that passes data through stay as they are::

    fq1:<cipher>:<kind>:<subject>:<key version>:<base64url(nonce || ciphertext || tag)>

``kind`` says how the value is masked for a reader who may not see it (``id``, ``phone``, ``name``,
``addr``, ``text``); ``subject`` is the pseudonymous id of whose key sealed it (`keys.Index`): the
person of a ``Person`` record for that record's fields, the case for the case's other personal
fields. The header is the associated data of the cipher: changing any part of it breaks the value.

Personal fields that are not text (a flag, a number, an enum: ``on_assistance_register``,
``hardship_status``, ``household_size``, ``amount_fen``) stay in clear: the rules read them
(legal aid's means test, mediation's risk levels), and without a name or an ID number beside them
they identify no one (docs/personal-data.md lists them).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fengqiao.schemas.catalogue import Catalogue
from fengqiao.schemas.codec import named_types_of

from .cipher import cipher
from .keys import KeyStore

PREFIX = "fq1:"
PERSON = "fengqiao.common.Person"


def is_sealed(value: object) -> bool:
    return isinstance(value, str) and value.startswith(PREFIX)


@dataclass(frozen=True)
class Sealed:
    """A parsed sealed value."""

    cipher: str
    kind: str
    subject: str
    version: int
    body: bytes
    header: str

    @classmethod
    def parse(cls, value: str) -> Sealed:
        try:
            _, name, kind, subject, version, body = value.split(":", 5)
            pad = "=" * (-len(body) % 4)
            return cls(
                name,
                kind,
                subject,
                int(version),
                base64.urlsafe_b64decode(body + pad),
                value[: -len(body) - 1],
            )
        except (ValueError, TypeError) as e:
            raise ValueError("not a sealed value (fq1:cipher:kind:subject:version:body)") from e


def kind_of(field: str) -> str:
    """How a field's value is masked, from its name."""
    if field in ("id_number", "lawyer_licence_number"):
        return "id"
    if "phone" in field:
        return "phone"
    if field == "name" or field.endswith("_name") or field in ("handed_to", "mediators"):
        return "name"
    if field == "detail":
        return "addr"
    return "text"


# A plan says where a record's text personal fields are: ("record", fullname, [(field, step)]) with
# step ("seal", kind, is_list) or ("into", plan); ("union", [plans]); ("array", plan).
Plan = tuple[Any, ...]


def _text(t: Any) -> str | None:
    """'str' for string / ["null","string"], 'list' for an array of strings, else None."""
    if t == "string":
        return "str"
    if isinstance(t, list):
        kinds = [x for x in t if x != "null"]
        return "str" if kinds == ["string"] else None
    if isinstance(t, dict) and t.get("type") == "array" and t.get("items") == "string":
        return "list"
    if isinstance(t, dict) and t.get("type") == "string":
        return "str"
    return None


def _plan(t: Any, named: Mapping[str, Any], seen: frozenset[str]) -> Plan | None:
    if isinstance(t, str):
        if t in seen or t not in named:
            return None
        t = named[t]
    if isinstance(t, list):
        branches = [p for b in t if (p := _plan(b, named, seen)) is not None]
        return ("union", branches) if branches else None
    if not isinstance(t, dict):
        return None
    if t.get("type") == "array":
        inner = _plan(t["items"], named, seen)
        return ("array", inner) if inner else None
    if t.get("type") != "record":
        return None
    full = t.get("name", "")
    if "." not in full and t.get("namespace"):
        full = f"{t['namespace']}.{full}"
    steps: list[tuple[str, Any]] = []
    for f in t["fields"]:
        shape = _text(f["type"]) if f.get("pii") else None
        if shape is not None:
            steps.append((f["name"], ("seal", kind_of(f["name"]), shape == "list")))
        elif (inner := _plan(f["type"], named, seen | {full})) is not None:
            steps.append((f["name"], ("into", inner)))
    return ("record", full, steps) if steps else None


class Plans:
    """The plan of each event type of the catalogue, made once."""

    def __init__(self, catalogue: Catalogue) -> None:
        self._plans: dict[str, Plan | None] = {}
        for ev in catalogue:
            self._plans[ev.name] = self._plans[ev.fullname] = plan_of(ev)

    def __getitem__(self, event_type: str) -> Plan | None:
        return self._plans.get(event_type)

    def text_fields(self, event_type: str) -> list[str]:
        """The dotted paths of the event's sealed fields (docs, tests)."""
        out: list[str] = []
        _paths(self[event_type], "", out)
        return out


def _paths(plan: Plan | None, at: str, out: list[str]) -> None:
    if plan is None:
        return
    if plan[0] == "union":
        for b in plan[1]:
            _paths(b, at, out)
    elif plan[0] == "array":
        _paths(plan[1], at + "[]", out)
    else:
        for name, step in plan[2]:
            path = f"{at}.{name}".lstrip(".")
            if step[0] == "seal":
                out.append(path + ("[]" if step[2] else ""))
            else:
                _paths(step[1], path, out)


_PLAN_OF: dict[str, Plan | None] = {}


def plan_of(ev: Any) -> Plan | None:
    """The plan of one catalogue event type (cached by its full name)."""
    try:
        return _PLAN_OF[ev.fullname]
    except KeyError:
        plan = _PLAN_OF[ev.fullname] = _plan(dict(ev.expanded), named_types_of(ev.expanded), frozenset())
        return plan


def in_clear_of(ev: Any, record: Mapping[str, Any]) -> list[str]:
    """`in_clear` for a catalogue `EventType` (what the workers ask of every agency record)."""
    plan = plan_of(ev)
    if plan is None:
        return []
    out: list[str] = []
    _visit(plan, record, "", lambda path, v, kind, subj: out.append(path), None)
    return out


def presealed_of(ev: Any, record: Mapping[str, Any]) -> list[str]:
    """Personal text fields that already hold a sealed value: an intake refuses them (only the hub
    seals, and a sender cannot prove the value is what it claims)."""
    plan = plan_of(ev)
    if plan is None:
        return []
    out: list[str] = []
    _visit(plan, record, "", lambda path, v, kind, subj: out.append(path), None, sealed=True)
    return out


def in_clear(plans: Plans, event_type: str, record: Mapping[str, Any]) -> list[str]:
    """The paths of personal text fields that hold a value not sealed (a producer that skipped the
    hub's intake): the worker refuses such a record."""
    out: list[str] = []
    _visit(plans[event_type], record, "", lambda path, v, kind, subj: out.append(path), None)
    return out


def _visit(plan: Plan | None, value: Any, at: str, found: Any, subject: Any, sealed: bool = False) -> None:
    """Calls ``found(path, value, kind, subject)`` for every personal text value not yet sealed
    (with ``sealed``: for every one sealed already)."""
    if plan is None or value is None:
        return
    tag = plan[0]
    if tag == "union":
        for b in plan[1]:
            _visit(b, value, at, found, subject, sealed)
    elif tag == "array" and isinstance(value, list):
        for i, v in enumerate(value):
            _visit(plan[1], v, f"{at}[{i}]", found, subject, sealed)
    elif tag == "record" and isinstance(value, dict):
        here = value if plan[1] == PERSON else subject
        for name, step in plan[2]:
            v = value.get(name)
            path = f"{at}.{name}".lstrip(".")
            if v is None:
                continue
            if step[0] == "into":
                _visit(step[1], v, path, found, here, sealed)
            elif step[2]:
                for i, item in enumerate(v):
                    if isinstance(item, str) and item and is_sealed(item) == sealed:
                        found(f"{path}[{i}]", item, step[1], here)
            elif isinstance(v, str) and v and is_sealed(v) == sealed:
                found(path, v, step[1], here)


class Sealer:
    """Seals a record's personal text fields under its persons' and its case's data keys."""

    def __init__(self, catalogue: Catalogue, keys: KeyStore, cipher_name: str = "aes-256-gcm") -> None:
        self.plans = Plans(catalogue)
        self.keys = keys
        self.cipher = cipher(cipher_name)

    def seal(self, event_type: str, case_id: str, record: dict[str, Any]) -> dict[str, Any]:
        """A copy of ``record`` with every personal text value sealed; values sealed already are kept."""
        plan = self.plans[event_type]
        if plan is None:
            return record
        self.keys.refresh()
        out = _copy(record)
        case_subject = self.keys.index.case(case_id)
        persons: set[str] = set()
        person_of: dict[int, str] = {}
        aliases: dict[str, str] = {}

        def subject_of(person: Mapping[str, Any] | None) -> str:
            if person is None:
                return case_subject
            got = person_of.get(id(person))
            if got is None:
                got = self._person(person, aliases) or case_subject
                person_of[id(person)] = got
                if got != case_subject:
                    persons.add(got)
            return got

        edits: list[tuple[str, str, str, str]] = []  # (path, value, kind, subject)

        def found(path: str, value: str, kind: str, person: Mapping[str, Any] | None) -> None:
            edits.append((path, value, kind, subject_of(person)))

        _visit(plan, out, "", found, None)
        if not edits:
            return out
        self.keys.prepare({e[3] for e in edits}, case_id, persons, aliases)
        _apply(out, {path: self._seal(kind, subject, value) for path, value, kind, subject in edits})
        return out

    def _person(self, person: Mapping[str, Any], aliases: dict[str, str]) -> str | None:
        idx = self.keys.index
        ric = person.get("id_number")
        pid = person.get("person_id")
        by_pid = idx.person(None, pid) if pid else None
        if ric:
            subject = Sealed.parse(ric).subject if is_sealed(ric) else idx.person(ric, None)
            if by_pid and subject:
                aliases[by_pid] = subject  # stored with the keys, in the same transaction
            return subject
        return self.keys.resolve(by_pid) if by_pid else None

    def _seal(self, kind: str, subject: str, value: str) -> str:
        version, key = self.keys.data_key(subject)
        header = f"{PREFIX}{self.cipher.name}:{kind}:{subject}:{version}"
        body = self.cipher.seal(key, value.encode(), header.encode())
        return header + ":" + base64.urlsafe_b64encode(body).rstrip(b"=").decode()


def _copy(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _copy(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_copy(x) for x in v]
    return v


def _apply(record: dict[str, Any], sealed: Mapping[str, str]) -> None:
    """Put each sealed value at its dotted path (``parties[0].name``)."""
    for path, value in sealed.items():
        parts = _split(path)
        target: Any = record
        for p in parts[:-1]:
            target = target[p]
        target[parts[-1]] = value


def _split(path: str) -> list[Any]:
    out: list[Any] = []
    for part in path.split("."):
        while "[" in part:
            head, rest = part.split("[", 1)
            if head:
                out.append(head)
            idx, part = rest.split("]", 1)
            out.append(int(idx))
        if part:
            out.append(part)
    return out


def sealed_subjects(values: Iterable[Any]) -> set[str]:
    """The subjects of the sealed values among ``values`` (a walk of any JSON)."""
    out: set[str] = set()
    stack = list(values)
    while stack:
        v = stack.pop()
        if isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, list):
            stack.extend(v)
        elif is_sealed(v):
            out.add(v.split(":", 4)[3])
    return out
