"""The KPIs the agencies report on: one `KpiDefinition` per workflow (its module) over one engine.

`KPIS` names them by workflow, in the order `fengqiao kpi` lists them; `engine.compute` and
`engine.render` work for any of them.
"""

from __future__ import annotations

from .corrections import CORRECTIONS
from .engine import KpiDefinition, compute, render
from .legal_aid import LEGAL_AID
from .mediation import MEDIATION
from .release import RELEASE
from .services import SERVICES

__all__ = ["KPIS", "KpiDefinition", "compute", "render"]

KPIS: dict[str, KpiDefinition] = {
    d.workflow: d for d in (RELEASE, MEDIATION, CORRECTIONS, LEGAL_AID, SERVICES)
}
