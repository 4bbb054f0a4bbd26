"""The workflows, one module each, declared over the handoff engine (`streams/engine/`).

A workflow without a module yet is recorded, not run: its cases keep their events and facts, but
no handoffs are opened for it.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from fengqiao.schemas.catalogue import Catalogue, load

from ..calendar import WorkingCalendar
from ..directory import DEMO_DIR, Directory, load_demo
from ..engine import Context, Workflow, register
from ..policy import PolicySet, default_policy_set
from ..registers import load_registers
from .corrections import CORRECTIONS
from .legal_aid import LEGAL_AID
from .mediation import MEDIATION
from .release import RELEASE
from .services import SERVICES_WORKFLOW

DECLARED: tuple[Workflow, ...] = (RELEASE, MEDIATION, SERVICES_WORKFLOW, CORRECTIONS, LEGAL_AID)


def _recorded_only(name: str, catalogue: Catalogue) -> Workflow:
    ins = tuple(e.name for e in catalogue if e.workflow == name and e.direction == "in")
    return register(
        Workflow(name=name, title_zh=name, opened_by=ins, closed_by=(), division=lambda c: None, steps=())
    )


def all_workflows(catalogue: Catalogue | None = None) -> dict[str, Workflow]:
    catalogue = catalogue or load()
    out = {wf.name: wf for wf in DECLARED}
    for name in catalogue.workflows():
        if name not in out:
            out[name] = _recorded_only(name, catalogue)
    return out


def with_indexed_registers(ctx: Context, index: Any) -> Context:
    """The context with registers that also find an entry by a sealed key's pseudonym."""
    return dataclasses.replace(ctx, registers={n: r.indexed(index) for n, r in ctx.registers.items()})


def load_context(deployment: Path | None = None) -> Context:
    """Directory, policies and calendar of a deployment folder (the demo county when None).

    A deployment folder holds ``agencies.yaml`` (or ``.csv``), optionally ``policies/*.yaml``
    (versions added to those shipped with the hub), ``calendar-overrides.yaml`` and ``registers/``
    (reference registers such as civil affairs' assistance register, `streams/registers.py`).
    """
    catalogue = load()
    if deployment is None:
        directory, policies, overrides = load_demo(), default_policy_set(), None
    else:
        directory = Directory.load(deployment)
        extra = sorted((deployment / "policies").glob("*.yaml")) if (deployment / "policies").is_dir() else []
        policies = (
            PolicySet([*default_policy_set(), *PolicySet.load(*extra)]) if extra else default_policy_set()
        )
        cal = deployment / "calendar-overrides.yaml"
        overrides = cal if cal.exists() else None
    return Context(
        directory=directory,
        policies=policies,
        calendar=WorkingCalendar(overrides),
        catalogue=catalogue,
        workflows=all_workflows(catalogue),
        registers=load_registers(deployment or DEMO_DIR),
    )
