"""`fengqiao kpi ...`: the KPIs the agencies report on, from the running hub's cases."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Annotated, Any

import typer
from rich.console import Console

from fengqiao.cli.common import BrokerOpt, RegistryOpt, all_cases, settings
from fengqiao.console import date_range, out

kpi_app = typer.Typer(help="KPIs the agencies report on 考核指标.", no_args_is_help=True)


# Options of every `fengqiao kpi` command (also --agency, --broker, --registry); services counts requests.
CasesFrom = Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD, cases opened on or after")]
CasesTo = Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD, cases opened on or before")]
RequestsFrom = Annotated[str | None, typer.Option("--from", help="YYYY-MM-DD, requests received on or after")]
RequestsTo = Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD, requests received on or before")]
NamingAgency = Annotated[str | None, typer.Option(help="only cases that name this agency")]
AsJson = Annotated[bool, typer.Option("--json")]


@kpi_app.command("release")
def kpi_release(
    since: CasesFrom = None,
    until: CasesTo = None,
    agency: Annotated[str | None, typer.Option(help="only cases this agency had a handoff in")] = None,
    as_json: AsJson = False,
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Release hand-over KPIs 安置帮教衔接指标, from the cases' state, with the counts behind each rate."""
    from fengqiao.reporting.kpi.release import release_kpis, render_release

    _show_kpis("release", release_kpis, render_release, since, until, agency, as_json, broker, registry)


@kpi_app.command("mediation")
def kpi_mediation(
    since: CasesFrom = None,
    until: CasesTo = None,
    agency: NamingAgency = None,
    as_json: AsJson = False,
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Mediation KPIs 矛盾纠纷调解指标, overall, by door and by lead agency, with the counts behind each."""
    from fengqiao.reporting.kpi.mediation import mediation_kpis, render_mediation

    _show_kpis("mediation", mediation_kpis, render_mediation, since, until, agency, as_json, broker, registry)


@kpi_app.command("legal-aid")
def kpi_legal_aid(
    since: CasesFrom = None,
    until: CasesTo = None,
    agency: NamingAgency = None,
    as_json: AsJson = False,
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Legal aid KPIs 法律援助指标: days to assignment, decisions within 7 days, grant rate for eligible
    applicants, overall and by route (notice or application), with the counts behind each."""
    from fengqiao.reporting.kpi.legal_aid import legal_aid_kpis, render_legal_aid

    _show_kpis("legal_aid", legal_aid_kpis, render_legal_aid, since, until, agency, as_json, broker, registry)


@kpi_app.command("corrections")
def kpi_corrections(
    since: CasesFrom = None,
    until: CasesTo = None,
    agency: NamingAgency = None,
    as_json: AsJson = False,
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """Community corrections KPIs 社区矫正指标: on-time reporting, absconders, investigations on time."""
    from fengqiao.reporting.kpi.corrections import corrections_kpis, render_corrections

    _show_kpis(
        "corrections", corrections_kpis, render_corrections, since, until, agency, as_json, broker, registry
    )


@kpi_app.command("services")
def kpi_services(
    since: RequestsFrom = None,
    until: RequestsTo = None,
    agency: Annotated[str | None, typer.Option(help="only requests that name this agency")] = None,
    as_json: AsJson = False,
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
) -> None:
    """一所六站点 KPIs 法律服务办结指标: closure rate, median days to close, overdue share by body."""
    from fengqiao.reporting.kpi.services import render_services, services_kpis

    _show_kpis("services", services_kpis, render_services, since, until, agency, as_json, broker, registry)


def _show_kpis(
    workflow: str,
    compute: Callable[..., dict[str, Any]],
    render: Callable[[dict[str, Any], Console], None],
    since: str | None,
    until: str | None,
    agency: str | None,
    as_json: bool,
    broker: str | None,
    registry: str | None,
) -> None:
    """What every `fengqiao kpi` command does: the workflow's cases from the running hub, its KPIs over
    the period and agency asked for, printed as JSON or as tables."""
    start, end = date_range(since, until)
    cases = all_cases(settings(broker, registry), workflow)
    kpis = compute(cases, start=start, end=end, agency=agency)
    if as_json:
        print(json.dumps(kpis, ensure_ascii=False, indent=2, default=str))
    else:
        render(kpis, out)
