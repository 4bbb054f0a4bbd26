"""`fengqiao policy show | check`: the versioned deadline policy's rules, and checking a policy file."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from fengqiao.console import err, fail, out

policy_app = typer.Typer(help="The versioned deadline policy 期限政策.", no_args_is_help=True)


@policy_app.command("show")
def policy_show(
    version: Annotated[str | None, typer.Option(help="policy version; default: the newest")] = None,
    workflow: Annotated[str | None, typer.Option(help="only this workflow's rules")] = None,
    deployment: Annotated[Path | None, typer.Option(help="deployment folder with policies/")] = None,
) -> None:
    """Every rule: what starts the clock, how long, on breach, escalation, source and confidence."""
    from fengqiao.streams.policy import SHOW_COLUMNS, PolicyError, show_rows
    from fengqiao.streams.workflows import load_context

    try:
        policies = load_context(deployment).policies
        policy = policies.get(version) if version else policies.latest
    except (PolicyError, KeyError) as e:
        raise fail(str(e)) from None
    t = Table(title=f"政策 {policy.version}: {policy.title_zh} / {policy.title_en}", show_lines=True)
    for c in SHOW_COLUMNS:
        t.add_column(c, no_wrap=c in ("id", "clock", "length", "confidence"))
    for row in show_rows(policy):
        if workflow and not row["id"].startswith(f"{workflow}."):
            continue
        t.add_row(*(row[c] for c in SHOW_COLUMNS))
    Console(width=max(out.width, 220)).print(t)  # ten columns of bilingual text need the room
    out.print(
        "confidence: L = in the law itself 法律原文; P = local practice 地方做法; U = unconfirmed 待核实"
    )


@policy_app.command("check")
def policy_check(file: Annotated[Path, typer.Argument(help="a policy YAML file")]) -> None:
    """Validate a policy file; each problem names the rule and the field, or the workflow, step and
    rule id a version lacks."""
    from fengqiao.streams.policy_complete import check

    if not file.exists():
        raise fail(f"no such file: {file}")
    problems = check(file)
    for p in problems:
        err.print(f"[red]✗[/] {p}", highlight=False)
    if any(" has no rule " in p for p in problems):
        err.print(
            '缺少规则：请补全，或用 extends: "2026.1" 继承已有版本、只写要改的规则 '
            "(add the missing rules, or extend a version and list only the rules you change)"
        )
    if problems:
        raise fail(f"{len(problems)} problem(s) in {file}", 1)
    out.print(f"[green]✓[/] {file} is a valid policy")
