"""Loading and checking policy files: YAML read, validated (pydantic), cross-checked against the Avro
catalogue, a file that extends another merged with its base (`extends`); the shipped default."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from fengqiao.schemas.catalogue import Catalogue
from fengqiao.schemas.catalogue import load as load_catalogue
from fengqiao.streams.directory import service_types

from .extends import resolve, version_text
from .model import Policy
from .rules import EVENT_REF, SITUATION, PolicyError, _one_of

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"  # streams/policies/
DEFAULT_VERSION = "2026.1"

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 50x faster


def _fmt_loc(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _validation_errors(e: ValidationError, raw: Mapping[str, Any], where: str) -> list[str]:
    errors = []
    rules = raw.get("rules") if isinstance(raw.get("rules"), list) else []
    for err in e.errors():
        loc = tuple(err["loc"])
        msg = str(err["msg"]).removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            msg, loc = f"unknown field {loc[-1]!r}", loc[:-1]
        elif err["type"] == "missing":
            msg, loc = f"{loc[-1]}: required", loc[:-1]
        if len(loc) >= 2 and loc[0] == "rules" and isinstance(loc[1], int):
            item = rules[loc[1]] if loc[1] < len(rules) else None
            rid = item.get("id") if isinstance(item, dict) else None
            who = f"rule {rid}" if rid else f"rules[{loc[1]}]"
            field = _fmt_loc(loc[2:])
        else:
            who, field = "", _fmt_loc(loc)
        name = next((str(x) for x in reversed(loc) if not isinstance(x, int)), "")
        if field and not (name and msg.startswith(name)):
            msg = f"{field}: {msg}"
        errors.append(": ".join(x for x in (where, who, msg) if x))
    return errors


def _check_ref(ref: str, catalogue: Catalogue, what: str, *, situations: bool, fields: bool) -> str | None:
    if situations and SITUATION.match(ref):
        return None
    m = EVENT_REF.match(ref)
    if not m or (m.group("field") and not fields):
        forms = ["EventName"] + ["EventName.field"] * fields + ["situation:slug"] * situations
        return f"{what} {ref!r} is not {' or '.join(forms)}"
    event, field = m.group("event"), m.group("field")
    if event not in catalogue:
        return f"{what} {ref!r}: no event {event} in the catalogue"
    if field and field not in {f["name"] for f in catalogue[event].raw["fields"]}:
        return f"{what} {ref!r}: event {event} has no field {field!r}"
    return None


def cross_check(policy: Policy, catalogue: Catalogue | None = None) -> list[str]:
    """Problems a well-formed policy can still have: duplicate ids, events or fields the catalogue
    does not know, service limits naming missing rules. Empty when there are none."""
    catalogue = catalogue or load_catalogue()
    where = policy.path or f"policy {policy.version}"
    errors: list[str] = []
    seen: set[str] = set()
    for r in policy.rules:
        if r.id in seen:
            errors.append(f"{where}: rule {r.id}: id: duplicate rule id")
        seen.add(r.id)
        refs = [
            ("start", r.start, True, True),
            ("before", r.before, True, True),
            ("on_breach", r.on_breach, False, True),
        ]
        refs += [("fulfilled_by", f, False, False) for f in r.fulfilled_by]
        refs += [("applies_if", k, False, True) for k in r.applies_if]
        for what, ref, situations, fields in refs:
            if ref and (err := _check_ref(ref, catalogue, what, situations=situations, fields=fields)):
                errors.append(f"{where}: rule {r.id}: {err}")
            elif what == "applies_if" and "." not in ref:
                errors.append(f"{where}: rule {r.id}: applies_if {ref!r} must name a field: Event.field")
    for service, limits in policy.services.items():
        if service not in service_types():
            errors.append(f"{where}: services: {_one_of('service', service, service_types())}")
        for step in ("accept", "decide"):
            ref = getattr(limits, step)
            if ref is not None and ref not in seen:
                errors.append(f"{where}: services.{service}.{step}: no rule {ref!r} in this policy")
    if policy.services:
        for service in service_types():
            if service not in policy.services:
                errors.append(f"{where}: services: no limits for service type {service!r}")
    return errors


def _read(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.load(path.read_text(encoding="utf-8"), Loader=_SAFE_LOADER)
    except OSError as e:
        raise PolicyError([f"{path}: cannot read: {e}"]) from e
    except (yaml.YAMLError, ValueError) as e:
        raise PolicyError([f"{path}: not valid YAML: {e}"]) from e
    if not isinstance(raw, dict):
        raise PolicyError([f"{path}: expected a mapping with version, effective_from and rules"])
    return raw


def parse_policy(
    raw: Mapping[str, Any],
    *,
    where: str = "<memory>",
    catalogue: Catalogue | None = None,
    check_catalogue: bool = True,
) -> Policy:
    """Validate a policy from plain data; `PolicyError` lists every problem found."""
    try:
        policy = Policy.model_validate({**raw, "path": where})
    except ValidationError as e:
        raise PolicyError(_validation_errors(e, raw, where)) from None
    if check_catalogue and (errors := cross_check(policy, catalogue)):
        raise PolicyError(errors)
    return policy


def load_policy(path: str | Path, *, catalogue: Catalogue | None = None) -> Policy:
    """Load and validate one policy file; one that extends a version finds it among the shipped
    versions or the ``*.yaml`` beside it."""
    path = Path(path)
    raw = _read(path)
    if "extends" in raw:
        beside = [f for f in sorted(path.parent.glob("*.yaml")) if f.resolve() != path.resolve()]
        # A broken file beside it is its own problem, reported when that file is checked.
        readable = [(f, r) for f in beside if (r := _try_read(f)) is not None]
        raw = resolve(raw, str(path), _known_versions([*readable, (path, raw)]))
    return parse_policy(raw, where=str(path), catalogue=catalogue)


# -- files a version may extend (`extends` merges them) ------------------------------------------------
def _try_read(path: Path) -> dict[str, Any] | None:
    try:
        return _read(path)
    except PolicyError:
        return None


def _known_versions(files: Iterable[tuple[Path, dict[str, Any]]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """version -> (where, raw) of the shipped files and ``files`` (theirs winning), for ``extends``."""

    known: dict[str, tuple[str, dict[str, Any]]] = {}
    for f, raw in [*((f, _read(f)) for f in sorted(POLICY_DIR.glob("*.yaml"))), *files]:
        if "version" in raw:
            known[version_text(raw["version"])] = (str(f), raw)
    return known


@cache
def default_policy() -> Policy:
    """The policy shipped with the hub (``streams/policies/2026.1.yaml``)."""
    return load_policy(POLICY_DIR / f"{DEFAULT_VERSION}.yaml")
