"""`fengqiao webhooks list-failed|redeliver`: the webhook deliveries that failed, and sending them again.

Both read the webhook sink's own records (``<data dir>/connectors/<name>/webhook.db``), so they
work with the hub and the sink stopped; `redeliver` needs the sink's --config for the endpoints
and secrets (an agency that moved its endpoint gets the failures at the new URL).
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from fengqiao.cli.common import cli_table
from fengqiao.console import fail, out
from fengqiao.schemas.labels import label, section
from fengqiao.settings import Settings

webhooks_app = typer.Typer(
    help="Webhook deliveries 推送: the failed ones, and sending them again.", no_args_is_help=True
)

NameOpt = Annotated[
    str, typer.Option("--name", help="the sink's connector name (its folder under <data dir>/connectors)")
]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="the hub's data folder (default .fengqiao)")]
AgencyOpt = Annotated[
    str | None, typer.Option("--agency", help="only this agency's deliveries (directory id)")
]

_COLOUR = {"delivered": "green", "already": "green", "failed": "red", "no-endpoint": "yellow"}
OUTCOMES = {k: f"[{_COLOUR[k]}]{text}[/]" for k, text in section("webhook_outcomes").items()}


def _view(data_dir: Path | None) -> tuple[Any, Any]:
    """Who sees what of the stored (sealed) payloads, as the sink does: (PersonalView, Protection)."""
    from fengqiao.connectors.personal_view import PersonalView
    from fengqiao.connectors.webhooks.sink import open_protection
    from fengqiao.schemas.catalogue import load
    from fengqiao.streams.workflows import load_context

    s = Settings(**({"data_dir": data_dir} if data_dir is not None else {}))
    protection = open_protection(s, load())
    revealer = protection.revealer if protection is not None else None
    return PersonalView(revealer, load_context(s.deployment).directory), protection


def _state_dir(name: str, data_dir: Path | None) -> Path:
    s = Settings(**({"data_dir": data_dir} if data_dir is not None else {}))
    state = s.data_dir / "connectors" / name
    from fengqiao.connectors.webhooks.state import FILE

    if not (state / FILE).exists():
        raise fail(
            f"no webhook deliveries recorded in {state}: check --name (the name the sink runs under, "
            f"`fengqiao connectors run NAME`) and --data-dir"
        )
    return state


def _config(path: Path) -> Any:
    from fengqiao.cli.connectors import read_config
    from fengqiao.connectors.webhooks.sink import WebhookSink

    return read_config(WebhookSink, path)


@webhooks_app.command("list-failed")
def list_failed(
    agency: AgencyOpt = None,
    resolved: Annotated[bool, typer.Option("--resolved", help="also those delivered since")] = False,
    name: NameOpt = "webhook",
    data_dir: DataDir = None,
) -> None:
    """Deliveries given up on (after every retry, or refused by the receiver), oldest first."""
    from fengqiao.connectors.webhooks.state import DeliveryLog

    log = DeliveryLog(_state_dir(name, data_dir))
    try:
        rows = log.failures(agency=agency, resolved=resolved)
    finally:
        log.close()
    if not rows:
        out.print("没有失败的推送 no failed deliveries")
        return
    t = cli_table("webhook_failures")
    if resolved:
        t.add_column(label("tables", "cli", "webhook_failures", "resolved"))
    for f in rows:
        cells = [f.agency, f.event_id, f.event_type, f.case_id, str(f.attempts), f.failed_at[:19]]
        t.add_row(*cells, f.last_error[:80], *([f.resolved_at or ""] if resolved else []))
    out.print(t)


@webhooks_app.command("redeliver")
def redeliver_cmd(
    config: Annotated[Path, typer.Option("--config", help="the webhook sink's config file (YAML or JSON)")],
    agency: AgencyOpt = None,
    event: Annotated[str | None, typer.Option("--event", help="only this event id")] = None,
    everything: Annotated[bool, typer.Option("--all", help="every open failure")] = False,
    attempts: Annotated[int, typer.Option(min=1, help="POSTs per delivery in this run")] = 3,
    name: NameOpt = "webhook",
    data_dir: DataDir = None,
) -> None:
    """Send failed deliveries again: signed anew, same Fengqiao-Delivery-Id, marked delivered on success."""
    from fengqiao.connectors.sdk import ConnectorFailed
    from fengqiao.connectors.webhooks.sink import redeliver

    if not (agency or event or everything):
        raise fail("choose what to send again: --event ID, --agency AGENCY, or --all")
    cfg = _config(config)
    state = _state_dir(name, data_dir)
    view, protection = _view(data_dir)
    try:
        results = asyncio.run(
            redeliver(cfg, state, agency=agency, event_id=event, attempts=attempts, view=view)
        )
    except ConnectorFailed as e:
        raise fail(str(e)) from None
    finally:
        if protection is not None:
            protection.close()
    if not results:
        out.print("没有待重发的失败推送 no open failures match")
        return
    t = cli_table("redelivery")
    for r in results:
        outcome = OUTCOMES[r.outcome] + (f": {r.error[:80]}" if r.error else "")
        t.add_row(r.agency, r.event_id, r.event_type, r.case_id, str(r.attempts), outcome)
    out.print(t)
    if any(r.outcome not in ("delivered", "already") for r in results):
        raise typer.Exit(1)
