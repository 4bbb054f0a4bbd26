"""`Policy`: one version of the policy (政策版本) — when it takes effect, to which cases, its sources,
its rules (indexed by id), its mediation risk rules and its service limits."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fengqiao.streams.calendar import WorkingCalendar, local_date, start_of_day

from .risk import MediationRisk
from .rules import Rule, Selector


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
