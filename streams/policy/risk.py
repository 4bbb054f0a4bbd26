"""The mediation risk rules (风险研判) of a policy: on a dispute's ``RiskSignals``, the level it is
mediated at (village, township, joint session) and when the hub alerts the police (民转刑). Flags,
doors and levels are checked against the Avro catalogue's own symbols."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from fengqiao.schemas.catalogue import AVRO_DIR

from .rules import _one_of


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
