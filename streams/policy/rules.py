"""The versioned policy (政策版本): every deadline and escalation rule, as data.

Pure: reads YAML files, validates them (pydantic, plus cross-checks against the Avro catalogue)
and answers questions; no Kafka, no Faust.

A policy file (``streams/policies/<version>.yaml``) has a ``version``, the date it takes effect
(``effective_from``, a day in Asia/Shanghai), ``applies_to`` (``new_cases``, the default: a case
keeps the version it was opened under; or ``all_open_cases``), its ``sources`` and its ``rules``.
Each rule says what starts the clock, how long it runs on which clock, who is obliged, what the
hub emits on breach, whom it escalates to, and the legal source with its confidence (L, P, U; see
the comment at the top of the default file). `PolicySet` holds several versions: a new case gets
the newest one in effect, an open case keeps its own (DESIGN principle 4).

A file may instead *extend* another version (``extends: "2026.1"``): it then lists only what it
changes — its own ``version`` and ``effective_from``, and the rules it overrides (by id, field by
field) or adds; everything else is the base's (`streams/policy_extends.py`). Whether a version
holds every rule the workflows ask for is checked in `streams/policy_complete.py`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, date, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from fengqiao.schemas.catalogue import AVRO_DIR, Catalogue
from fengqiao.schemas.catalogue import load as load_catalogue
from fengqiao.streams.calendar import CLOCK_KINDS, WorkingCalendar, due, local_date, start_of_day
from fengqiao.streams.directory import KNOWN_ROLES, agency_types, service_types

POLICY_DIR = Path(__file__).resolve().parent.parent / "policies"
DEFAULT_VERSION = "2026.1"
WORKFLOWS = ("release", "mediation", "corrections", "legal_aid", "services")
CONFIDENCE = {
    "L": "read in the law or rule itself",
    "P": "local or provincial practice",
    "U": "widely believed, not confirmed in a source",
}
RELATIONS = ("superior", "originator")
RULE_ID = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$")
EVENT_REF = re.compile(r"^(?P<event>[A-Z][A-Za-z0-9]*)(\.(?P<field>[a-z][a-z0-9_]*))?$")
SITUATION = re.compile(r"^situation:[a-z][a-z0-9_]*$")

_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available: 50x faster
SHOW_COLUMNS = (
    "id",
    "中文",
    "English",
    "clock",
    "length",
    "start",
    "on breach",
    "escalate to",
    "source",
    "confidence",
)


class PolicyError(ValueError):
    """A policy file is invalid; ``errors`` lists each problem naming the file, the rule and the field."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = errors
        super().__init__("\n".join(errors))


def _one_of(field: str, value: Any, allowed: Iterable[str]) -> ValueError:
    return ValueError(f"{field} {value!r} is not one of {', '.join(allowed)}")


class Selector(BaseModel):
    """Which agency: an agency type with an optional role (``judicial_bureau:corrections_agency``),
    or a relation: ``superior`` (the obliged agency's parent), ``originator`` (the agency that
    referred, commissioned or decided the case). Written as a string in the file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    type: str | None = None
    role: str | None = None
    relation: Literal["superior", "originator"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _parse(cls, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        text = value.strip()
        if text in RELATIONS:
            return {"relation": text}
        atype, _, role = text.partition(":")
        if atype not in agency_types():
            raise ValueError(
                f"agency {text!r} is not an agency type ({', '.join(agency_types())}), "
                f"TYPE:ROLE, or one of {', '.join(RELATIONS)}"
            )
        if role and role not in KNOWN_ROLES | set(service_types()):
            raise ValueError(f"agency {text!r}: role {role!r} is not one of {', '.join(sorted(KNOWN_ROLES))}")
        return {"type": atype, "role": role or None}

    def __str__(self) -> str:
        if self.relation:
            return self.relation
        return f"{self.type}:{self.role}" if self.role else str(self.type)


def _listify(value: Any) -> Any:
    if value is None:
        return []
    return [value] if isinstance(value, str) else value


class Extension(BaseModel):
    """How a limit may be extended (延长): by how much, if the source says, and on what condition."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    length: int | None = Field(default=None, ge=1)
    condition_zh: str
    condition_en: str


class Rule(BaseModel):
    """One deadline rule (期限规则), or an exemption (``kind: exemption``, no clock)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    workflow: str
    kind: Literal["deadline", "exemption"] = "deadline"
    title_zh: str = Field(min_length=1)
    title_en: str = Field(min_length=1)
    start: str
    applies_if: dict[str, Any] = Field(default_factory=dict)
    clock: str | None = None
    length: int | None = Field(default=None, ge=0)
    unit: Literal["day", "month", "year"] = "day"
    before: str | None = None
    roll_over_holidays: bool = False
    obliged: list[Selector] = Field(default_factory=list)
    fulfilled_by: list[str] = Field(default_factory=list)
    fulfilment: Literal["any", "all", "each_obliged"] = "any"
    on_breach: str | None = None
    escalate_to: list[Selector] = Field(default_factory=list)
    inform: list[Selector] = Field(default_factory=list)
    extension: Extension | None = None
    source: str = Field(min_length=1)
    confidence: str
    notes: str | None = None

    @field_validator("id")
    @classmethod
    def _id(cls, v: str) -> str:
        if not RULE_ID.match(v):
            raise ValueError(f"id {v!r} is not a dotted lower-case slug like release.acknowledge")
        return v

    @field_validator("workflow")
    @classmethod
    def _workflow(cls, v: str) -> str:
        if v not in WORKFLOWS:
            raise _one_of("workflow", v, WORKFLOWS)
        return v

    @field_validator("clock")
    @classmethod
    def _clock(cls, v: str | None) -> str | None:
        if v is not None and v not in CLOCK_KINDS:
            raise _one_of("clock", v, CLOCK_KINDS)
        return v

    @field_validator("confidence")
    @classmethod
    def _confidence(cls, v: str) -> str:
        if v not in CONFIDENCE:
            raise _one_of("confidence", v, CONFIDENCE)
        return v

    @field_validator("obliged", "escalate_to", "inform", "fulfilled_by", mode="before")
    @classmethod
    def _lists(cls, v: Any) -> Any:
        return _listify(v)

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.id.split(".")[0] != self.workflow:
            raise ValueError(f"id: {self.id!r} must start with its workflow '{self.workflow}.'")
        if self.kind == "exemption":
            if self.clock is not None or self.length is not None:
                raise ValueError("clock: an exemption has no clock and no length")
            return self
        if self.clock is None:
            raise ValueError(f"clock: required, one of {', '.join(CLOCK_KINDS)}")
        if self.length is None:
            raise ValueError("length: required")
        if self.clock == "before_event" and not self.before:
            raise ValueError("before: a before_event clock needs the event or field it counts back from")
        if self.clock != "before_event" and self.before:
            raise ValueError(f"before: only a before_event clock counts back, not {self.clock}")
        if self.unit != "day" and self.clock not in ("calendar_days", "before_event"):
            raise ValueError(f"unit: {self.unit} goes with calendar_days or before_event, not {self.clock}")
        if any(s.relation == "superior" for s in self.obliged):
            raise ValueError("obliged: 'superior' is an escalation target, not an obliged agency")
        return self

    # -- computing ---------------------------------------------------------------------------
    def due(
        self,
        start: date | datetime | None,
        calendar: WorkingCalendar | None = None,
        *,
        before: date | datetime | None = None,
    ) -> datetime:
        """The instant (UTC) this rule's limit runs out for a clock started at ``start``."""
        if self.kind == "exemption" or self.clock is None or self.length is None:
            raise ValueError(f"rule {self.id} is an exemption, not a deadline")
        return due(
            self.clock,
            self.length,
            start,
            calendar,
            before=before,
            unit=self.unit,
            roll_over_holidays=self.roll_over_holidays,
        )

    def length_text(self) -> str:
        """The length as shown to people: ``3``, ``1 month``, ``5 years``, ``45 (+15)``."""
        if self.length is None:
            return "—"
        text = str(self.length)
        if self.unit != "day":
            text += f" {self.unit}{'s' * (self.length != 1)}"
        if self.extension:
            text += f" (+{self.extension.length})" if self.extension.length else " (extendable)"
        return text


class RiskRule(BaseModel):
    """A risk rule on a dispute's ``RiskSignals`` (风险研判): it holds when ANY flag is set, or a count
    or the amount reaches its threshold."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    flags: list[str] = Field(default_factory=list)
    party_count_at_least: int | None = Field(default=None, ge=1)
    repeated_calls_at_least: int | None = Field(default=None, ge=1)
    amount_fen_at_least: int | None = Field(default=None, ge=0)

    @field_validator("flags")
    @classmethod
    def _flags(cls, v: list[str]) -> list[str]:
        allowed = _risk_flags()
        for f in v:
            if f not in allowed:
                raise _one_of("flag", f, allowed)
        return v

    def reasons(self, risk: Mapping[str, Any], amount_fen: int | None = None) -> list[str]:
        """Why the rule holds for these signals, one entry per reason; empty when it does not."""
        reasons = [f for f in self.flags if risk.get(f)]
        if (
            self.party_count_at_least is not None
            and (risk.get("party_count") or 0) >= self.party_count_at_least
        ):
            reasons.append(f"party_count {risk.get('party_count')} >= {self.party_count_at_least}")
        if (
            self.repeated_calls_at_least is not None
            and (risk.get("repeated_calls") or 0) >= self.repeated_calls_at_least
        ):
            reasons.append(f"repeated_calls {risk.get('repeated_calls')} >= {self.repeated_calls_at_least}")
        if self.amount_fen_at_least is not None and (amount_fen or 0) >= self.amount_fen_at_least:
            reasons.append(f"amount_fen {amount_fen} >= {self.amount_fen_at_least}")
        return reasons


class JointSessionRisk(RiskRule):
    """When a dispute goes to a joint session (一庭两所): any flag set, or a count or amount reached."""

    flags: list[str] = Field(default_factory=lambda: ["violence", "threats", "weapons"])


class TownshipRule(RiskRule):
    """When the township (the judicial office's own committee) mediates rather than the village
    committee ("大事不出镇"): a door listed, or the risk rule holds."""

    doors: list[str] = Field(default_factory=list)

    @field_validator("doors")
    @classmethod
    def _doors(cls, v: list[str]) -> list[str]:
        allowed = _enum_symbols("common/DisputeDoor.avsc")
        for d in v:
            if d not in allowed:
                raise _one_of("door", d, allowed)
        return v

    def township_reasons(
        self, door: str, risk: Mapping[str, Any], amount_fen: int | None = None
    ) -> list[str]:
        return ([f"door {door}"] if door in self.doors else []) + self.reasons(risk, amount_fen)


class PoliceAlertRule(RiskRule):
    """When the hub itself flags a risk of the dispute turning criminal (民转刑) and alerts the police."""

    level: str = "high"

    @field_validator("level")
    @classmethod
    def _level(cls, v: str) -> str:
        allowed = _enum_symbols("mediation/EscalationRiskFlagged.avsc", "level")
        if v not in allowed:
            raise _one_of("level", v, allowed)
        return v


class MediationRisk(BaseModel):
    """The mediation risk rules (风险研判) of the policy: the level a dispute is mediated at, and when
    the hub alerts the police of its own accord."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    joint_session: JointSessionRisk
    township: TownshipRule | None = None
    police_alert: PoliceAlertRule | None = None
    confidence: str = "P"
    source: str = "policy"

    def joint_session_reasons(self, risk: Mapping[str, Any], amount_fen: int | None = None) -> list[str]:
        """Why a dispute with these ``RiskSignals`` needs a joint session; empty when it does not."""
        return self.joint_session.reasons(risk, amount_fen)

    def level(
        self, door: str, risk: Mapping[str, Any], amount_fen: int | None, village: str | None
    ) -> tuple[str, list[str]]:
        """(MediationLevel, reasons): joint when the joint-session rule holds; township when the township
        rule holds or the dispute names no village; else the village committee of ``village``."""
        if reasons := self.joint_session_reasons(risk, amount_fen):
            return "joint", reasons
        if self.township and (reasons := self.township.township_reasons(door, risk, amount_fen)):
            return "township", reasons
        if not village:
            return "township", ["no village named"]
        return "village", [f"小事不出村 village {village}"]

    def police_alert_reasons(self, risk: Mapping[str, Any], amount_fen: int | None = None) -> list[str]:
        """Why the hub itself flags a 民转刑 risk; empty when no rule of the policy holds."""
        return self.police_alert.reasons(risk, amount_fen) if self.police_alert else []


class ServiceLimits(BaseModel):
    """The body that takes a service type and the rules timing its acceptance and decision."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    body: Selector
    accept: str | None = None
    decide: str | None = None


class Source(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    ref: str
    zh: str
    en: str


class Policy(BaseModel):
    """One version of the policy (政策版本)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(pattern=r"^[0-9A-Za-z][0-9A-Za-z._-]*$")
    effective_from: date | datetime
    applies_to: Literal["new_cases", "all_open_cases"] = "new_cases"
    title_zh: str | None = None
    title_en: str | None = None
    sources: list[Source] = Field(default_factory=list)
    rules: list[Rule]
    mediation_risk: MediationRisk | None = None
    services: dict[str, ServiceLimits] = Field(default_factory=dict)
    path: str | None = Field(default=None, exclude=True)

    @field_validator("effective_from")
    @classmethod
    def _aware(cls, v: date | datetime) -> date | datetime:
        if isinstance(v, datetime) and v.utcoffset() is None:
            raise ValueError("effective_from: an instant needs a time zone (or give a date)")
        return v

    @property
    def effective_at(self) -> datetime:
        """The instant (UTC) it takes effect: a date means 00:00 Asia/Shanghai of that day."""
        if isinstance(self.effective_from, datetime):
            return self.effective_from.astimezone(UTC)
        return start_of_day(self.effective_from)

    def rule(self, rule_id: str) -> Rule:
        """The rule with this id; KeyError naming the version if there is none."""
        found = _rule_index(self).get(rule_id)
        if found is None:
            raise KeyError(f"policy {self.version} has no rule {rule_id!r}")
        return found

    def rule_ids(self) -> list[str]:
        return [r.id for r in self.rules]

    def rules_for(self, workflow: str) -> list[Rule]:
        return [r for r in self.rules if r.workflow == workflow]

    def deadline(
        self,
        rule_id: str,
        start: date | datetime | None,
        calendar: WorkingCalendar | None = None,
        *,
        before: date | datetime | None = None,
    ) -> dict[str, Any]:
        """The ``fengqiao.common.Deadline`` record for a rule started at ``start``.

        ``length`` is in units of the clock; for a rule counted in months or years it is the number
        of calendar days the limit actually spans, so the record stays exact.
        """
        r = self.rule(rule_id)
        at = r.due(start, calendar, before=before)
        length = r.length or 0
        if r.unit != "day":  # months and years: the days actually spanned
            last = local_date(at) - timedelta(days=1)
            anchor = before if r.clock == "before_event" else start
            if anchor is None:
                raise ValueError(f"rule {r.id}: no start")
            length = abs((local_date(anchor) - last).days)
        return {
            "due": at,
            "rule_id": r.id,
            "policy_version": self.version,
            "clock": r.clock,
            "length": length,
            "source": r.source,
        }


_RULES: dict[int, tuple[Policy, int, dict[str, Rule]]] = {}  # id(policy) -> (policy, rule count, index)


def _rule_index(policy: Policy) -> dict[str, Rule]:
    """The policy's rules by id, the first of an id winning (as a scan would): built once per policy,
    since the engine asks for rules tens of times per event."""
    hit = _RULES.get(id(policy))
    if hit is None or hit[0] is not policy or hit[1] != len(policy.rules):
        index: dict[str, Rule] = {}
        for r in policy.rules:
            index.setdefault(r.id, r)
        hit = _RULES[id(policy)] = (policy, len(policy.rules), index)
    return hit[2]


def _sort_key(p: Policy) -> tuple[datetime, tuple[Any, ...]]:
    parts = re.split(r"[.\-_]", p.version)
    return p.effective_at, tuple((0, int(x)) if x.isdigit() else (1, x) for x in parts)


class PolicySet:
    """Several policy versions: a new case gets the newest in effect, an open case keeps its own."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        self._by_version: dict[str, Policy] = {}
        for p in policies:
            if p.version in self._by_version:
                raise PolicyError(
                    [
                        f"{p.path or '<memory>'}: version {p.version} is already loaded from "
                        f"{self._by_version[p.version].path or '<memory>'}"
                    ]
                )
            self._by_version[p.version] = p
        self._ordered = sorted(self._by_version.values(), key=_sort_key)
        # (effective instant, sort key, policy), oldest first: computed once, asked on every event.
        self._keyed = [(p.effective_at, _sort_key(p), p) for p in self._ordered]
        self._key_of = {p.version: key for _, key, p in self._keyed}

    @classmethod
    def load(cls, *paths: str | Path) -> PolicySet:
        """Policies from files, or from every ``*.yaml`` in folders."""
        files: list[Path] = []
        for p in map(Path, paths):
            files.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [p])
        read = [(f, _read(f)) for f in files]
        from ..policy_extends import resolve  # it imports this module

        known = _known_versions(read)
        return cls(parse_policy(resolve(raw, str(f), known), where=str(f)) for f, raw in read)

    def get(self, version: str) -> Policy:
        try:
            return self._by_version[version]
        except KeyError:
            raise KeyError(f"no policy version {version!r}; loaded: {', '.join(self.versions())}") from None

    def versions(self) -> list[str]:
        """Versions, oldest first (by effective_from, then version)."""
        return [p.version for p in self._ordered]

    def __contains__(self, version: object) -> bool:
        return version in self._by_version

    def __iter__(self) -> Iterator[Policy]:
        return iter(self._ordered)

    def __len__(self) -> int:
        return len(self._ordered)

    @property
    def latest(self) -> Policy:
        return self._ordered[-1]

    def for_new_case(self, at: datetime) -> Policy:
        """The version a case opened at ``at`` (aware) is governed by: the newest one in effect."""
        if at.utcoffset() is None:
            raise ValueError("at must be an aware instant")
        in_effect = [p for when, _, p in self._keyed if when <= at]
        if not in_effect:
            raise PolicyError(
                [
                    f"no policy version is in effect at {at.isoformat()}; "
                    f"the first takes effect {self._ordered[0].effective_at.isoformat()}"
                ]
            )
        return in_effect[-1]

    def for_open_case(self, opened_under: str, at: datetime) -> Policy:
        """The version that governs an open case at ``at``: its own, unless a newer version in effect
        says ``applies_to: all_open_cases`` (then the newest such one)."""
        own = self.get(opened_under)
        own_key = self._key_of[own.version]
        newer = [
            p
            for when, key, p in self._keyed
            if when <= at and key > own_key and p.applies_to == "all_open_cases"
        ]
        return newer[-1] if newer else own


# -- loading and checking ------------------------------------------------------------------------------
@cache
def _risk_flags() -> tuple[str, ...]:
    import json

    schema = json.loads((AVRO_DIR / "common" / "RiskSignals.avsc").read_text(encoding="utf-8"))
    return tuple(f["name"] for f in schema["fields"] if f["type"] == "boolean")


@cache
def _enum_symbols(path: str, field: str | None = None) -> tuple[str, ...]:
    """The symbols of an enum schema file, or of the enum ``field`` of a record schema file."""
    import json

    schema = json.loads((AVRO_DIR / path).read_text(encoding="utf-8"))
    if field is not None:
        schema = next(f["type"] for f in schema["fields"] if f["name"] == field)
    return tuple(schema["symbols"])


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
        from ..policy_extends import resolve  # it imports this module

        beside = [f for f in sorted(path.parent.glob("*.yaml")) if f.resolve() != path.resolve()]
        # A broken file beside it is its own problem, reported when that file is checked.
        readable = [(f, r) for f in beside if (r := _try_read(f)) is not None]
        raw = resolve(raw, str(path), _known_versions([*readable, (path, raw)]))
    return parse_policy(raw, where=str(path), catalogue=catalogue)


def check(path: str | Path, *, complete: bool = True) -> list[str]:
    """Every problem of a policy file, for ``fengqiao policy check FILE``; empty when it is valid.

    With ``complete``, a valid file must also hold every rule of every registered workflow."""
    try:
        policy = load_policy(path)
    except PolicyError as e:
        return e.errors
    if not complete:
        return []
    from fengqiao.streams.policy_complete import missing_rules  # imports the workflows, which import us

    return missing_rules(policy)


# -- files a version may extend (streams/policy_extends.py merges them) -------------------------------
def _try_read(path: Path) -> dict[str, Any] | None:
    try:
        return _read(path)
    except PolicyError:
        return None


def _known_versions(files: Iterable[tuple[Path, dict[str, Any]]]) -> dict[str, tuple[str, dict[str, Any]]]:
    """version -> (where, raw) of the shipped files and ``files`` (theirs winning), for ``extends``."""
    from ..policy_extends import version_text

    known: dict[str, tuple[str, dict[str, Any]]] = {}
    for f, raw in [*((f, _read(f)) for f in sorted(POLICY_DIR.glob("*.yaml"))), *files]:
        if "version" in raw:
            known[version_text(raw["version"])] = (str(f), raw)
    return known


@cache
def default_policy() -> Policy:
    """The policy shipped with the hub (``streams/policies/2026.1.yaml``)."""
    return load_policy(POLICY_DIR / f"{DEFAULT_VERSION}.yaml")


def default_policy_set() -> PolicySet:
    """Every policy version shipped with the hub."""
    return PolicySet.load(POLICY_DIR)


# -- showing -------------------------------------------------------------------------------------------
def show_rows(policy: Policy) -> list[dict[str, str]]:
    """One row per rule for ``fengqiao policy show``, keyed by `SHOW_COLUMNS`."""
    rows = []
    for r in policy.rules:
        clock = r.clock or "—"
        if r.clock == "before_event":
            clock = f"before_event ({r.before})"
        rows.append(
            dict(
                zip(
                    SHOW_COLUMNS,
                    (
                        r.id,
                        r.title_zh,
                        r.title_en,
                        clock,
                        r.length_text(),
                        r.start,
                        r.on_breach or "—",
                        ", ".join(map(str, r.escalate_to)) or "—",
                        r.source,
                        r.confidence,
                    ),
                    strict=True,
                )
            )
        )
    return rows
