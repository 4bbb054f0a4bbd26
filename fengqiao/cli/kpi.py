"""`fengqiao kpi WORKFLOW`: the KPIs the agencies report on, from the running hub's cases.

One command for the five workflows: each one's KPIs are a definition (`fengqiao.reporting.kpi`)
over the same engine, so the options, the JSON and the tables are the same for all.
"""

from __future__ import annotations

import json
from typing import Annotated

import typer

from fengqiao.cli.common import BrokerOpt, RegistryOpt, all_cases, settings
from fengqiao.console import date_range, fail, out


def kpi(
    workflow: Annotated[
        str | None,
        typer.Argument(
            help="release, mediation, corrections, legal_aid (or legal-aid) or services", show_default=False
        ),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--from", help="YYYY-MM-DD, cases opened (services: requests received) on or after"),
    ] = None,
    until: Annotated[
        str | None,
        typer.Option("--to", help="YYYY-MM-DD, cases opened (services: requests received) on or before"),
    ] = None,
    agency: Annotated[
        str | None,
        typer.Option(
            help="only cases involving this agency (release: obliged by a handoff, or a fact's office)"
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """KPIs 考核指标 of one workflow over a period, overall and by door, agency, route or service, with
    the counts behind each rate: the cases come from the running hub's workers."""
    from fengqiao.reporting.kpi import KPIS, compute, render

    name = (workflow or "").replace("-", "_")  # `legal-aid`, as the command was once spelt, still works
    if name not in KPIS:
        asked = f"unknown workflow {workflow!r}" if workflow else "which workflow?"
        raise fail(f"{asked}: `fengqiao kpi WORKFLOW`, WORKFLOW one of {', '.join(KPIS)}")
    definition = KPIS[name]
    start, end = date_range(since, until)
    cases = all_cases(settings(broker, registry), definition.workflow)
    kpis = compute(definition, cases, start=start, end=end, agency=agency)
    if as_json:
        print(json.dumps(kpis, ensure_ascii=False, indent=2, default=str))
    else:
        render(definition, kpis, out)
