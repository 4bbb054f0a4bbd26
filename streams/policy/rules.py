"""A policy's rules: `Rule` (one deadline, or an exemption), the agency `Selector` it names, how a
limit may be extended, and `PolicyError`, which every check of a policy raises."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from fengqiao.streams.calendar import CLOCK_KINDS, WorkingCalendar, due
from fengqiao.streams.directory import KNOWN_ROLES, agency_types, service_types

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
