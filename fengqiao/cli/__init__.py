"""`fengqiao`: the command line (typer + rich). Staff-facing words are Chinese, integrator-facing English.

This module only builds the app: each command group is a module of this package (`run`, `events`,
`case`, `policy`, `kpi`, `schemas`, `audit`, `readmodel`, `connectors`, `gateway`, `webhooks`,
`templates`, `demo`, `bench`, `person`), and what they share is in `common`, which imports none of them.
"""

from __future__ import annotations

import typer

from fengqiao.cli.audit import audit_app, dead_app, replay
from fengqiao.cli.bench import bench
from fengqiao.cli.case import case_app
from fengqiao.cli.connectors import connectors_app
from fengqiao.cli.demo import demo
from fengqiao.cli.events import publish, tail
from fengqiao.cli.gateway import gateway_app
from fengqiao.cli.kpi import kpi
from fengqiao.cli.person import person_app
from fengqiao.cli.policy import policy_app
from fengqiao.cli.readmodel import readmodel_app
from fengqiao.cli.run import up, worker
from fengqiao.cli.schemas import schemas_app
from fengqiao.cli.templates import templates
from fengqiao.cli.webhooks import webhooks_app

app = typer.Typer(
    name="fengqiao",
    help="Fengqiao Hub 枫桥枢纽: cross-agency handoffs on an event log.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
# Registered in the order the single cli.py did, so `fengqiao --help` lists them as before.
app.add_typer(schemas_app, name="schemas")
app.add_typer(case_app, name="case")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.add_typer(dead_app, name="deadletters")
app.command()(replay)
app.command()(kpi)  # one command for the five workflows: `fengqiao kpi WORKFLOW`
app.add_typer(connectors_app, name="connectors")
app.add_typer(gateway_app, name="gateway")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(readmodel_app, name="readmodel")
app.add_typer(person_app, name="person")
for command in (templates, up, worker, demo, publish, tail, bench):
    app.command()(command)


def main() -> None:
    app()
