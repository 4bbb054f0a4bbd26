"""`fengqiao case show`: a case's state and events, asked of the worker that holds it."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from fengqiao.cli.common import BrokerOpt, RegistryOpt, endpoints, settings
from fengqiao.cli.personal import ReasonOpt, RevealOpt, viewer
from fengqiao.console import fail, out
from fengqiao.reporting.case import render_case

case_app = typer.Typer(help="Cases 案件.", no_args_is_help=True)


@case_app.command("show")
def case_show(
    case_id: str,
    broker: BrokerOpt = None,
    registry: RegistryOpt = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    reveal: RevealOpt = False,
    reason: ReasonOpt = None,
) -> None:
    """A case's current state and its events 案件当前状态 (personal fields masked unless --reveal)."""
    import httpx

    s = settings(broker, registry)
    if reveal and not (reason or "").strip():
        raise fail("--reveal 须注明事由 --reason (a reveal needs a reason; it goes in the read log)")
    ep = endpoints(s)
    if not ep.workers:
        raise fail("no worker address known; run this next to `fengqiao up`")
    for worker in ep.workers:  # the worker holding the case's partition answers; the others say 421
        try:
            r = httpx.get(f"{worker}/cases/{case_id}/", timeout=10)
        except httpx.HTTPError as e:
            raise fail(f"worker at {worker} did not answer: {e}") from None
        if r.status_code != 421:
            break
    if r.status_code in (404, 421):
        raise fail(f"未找到案件 no case {case_id!r}", 1)
    r.raise_for_status()
    view, protection = viewer(s, "cli:case show", reveal, reason)
    try:
        case = view(r.json(), case_id=case_id)
    finally:
        if protection is not None:
            protection.close()
    if as_json:
        print(json.dumps(case, ensure_ascii=False, indent=2))
        return
    render_case(case, out)
