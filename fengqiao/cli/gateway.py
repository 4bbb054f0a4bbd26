"""`fengqiao gateway`: the HTTP gateway's API keys (接口密钥) and its OpenAPI document.

The keys live in the data folder (``gateway/keys.db``), so they are managed with the hub running
or not; a revoked or expired key stops working at the gateway's next request.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from fengqiao.cli.common import cli_table
from fengqiao.connectors.gateway.keys import KeyStore, parse_expiry, parse_span
from fengqiao.console import err, fail, out
from fengqiao.schemas.labels import section
from fengqiao.settings import Settings

gateway_app = typer.Typer(
    help="The HTTP gateway 接入网关: agencies' API keys, the OpenAPI document.", no_args_is_help=True
)
keys_app = typer.Typer(help="API keys 接口密钥, one or more per agency.", no_args_is_help=True)
gateway_app.add_typer(keys_app, name="keys")

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="the hub's data folder (default .fengqiao)")]


def _store(data_dir: Path | None) -> tuple[Settings, KeyStore]:
    from fengqiao.connectors.gateway import HttpGateway

    s = Settings(**({"data_dir": data_dir} if data_dir else {}))
    return s, KeyStore(HttpGateway.keys_path(s))


Expires = Annotated[
    str | None,
    typer.Option(
        "--expires",
        help="when the key stops working: 90d, 2w, 12h; a date 2027-03-31 (through that day, 北京时间); "
        "or an ISO instant with its zone. Default: never",
    ),
]


def _expiry(text: str | None, store: KeyStore) -> datetime | None:
    if text is None:
        return None
    try:
        at = parse_expiry(text, store.now())
    except ValueError as e:
        raise fail(f"--expires: {e}") from None
    if at <= store.now():
        raise fail(f"--expires {text}: {at:%Y-%m-%d %H:%M} UTC is already past")
    return at


def _when(at: datetime | None) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC" if at else "never 永不"


@keys_app.command("add")
def keys_add(
    agency_id: Annotated[str, typer.Argument(help="the agency's directory id, e.g. qs-jo-1")],
    expires: Expires = None,
    data_dir: DataDir = None,
) -> None:
    """Make a key for an agency and print it once: it is stored only as a hash."""
    from fengqiao.streams.workflows import load_context

    s, store = _store(data_dir)
    directory = load_context(s.deployment).directory
    if agency_id not in directory:
        raise fail(
            f"机构目录中没有 {agency_id!r} (no agency {agency_id!r} in the directory "
            f"{directory.source}): the ids are in the deployment's agencies.yaml"
        )
    agency = directory.get(agency_id)
    record, key = store.add(agency_id, _expiry(expires, store))
    store.close()
    err.print(
        f"[green]已为 {agency.name} ({agency_id}) 创建密钥 {record.key_id}[/] — key created, "
        f"expires 到期 {_when(record.expires_at)}. "
        "它只显示这一次，请妥善交给该机构 (shown only now: hand it to the agency safely):"
    )
    out.print(key, soft_wrap=True, highlight=False)


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(help="the key to replace, as shown by `keys list`")],
    overlap: Annotated[
        str, typer.Option(help="how long the old key keeps working beside the new one: 7d, 48h")
    ] = "7d",
    expires: Expires = None,
    data_dir: DataDir = None,
) -> None:
    """Rotate 轮换: a new key for the same agency (printed once); the old one expires after --overlap."""
    _, store = _store(data_dir)
    try:
        span = parse_span(overlap)
    except ValueError as e:
        raise fail(f"--overlap: {e}") from None
    at = _expiry(expires, store)
    done = store.rotate(key_id, span, at)
    store.close()
    if done is None:
        raise fail(f"没有密钥 {key_id!r} (no key {key_id!r}): see `fengqiao gateway keys list`")
    old, new, key = done
    err.print(
        f"[green]已为 {old.agency_id} 创建新密钥 {new.key_id}[/] (expires {_when(new.expires_at)}); "
        f"旧密钥 {old.key_id} 于 {_when(old.expires_at)} 失效 (the old key works until then: switch over, "
        "or revoke it sooner). 新密钥只显示这一次 (the new key is shown only now):"
    )
    out.print(key, soft_wrap=True, highlight=False)


_STATUS_ZH = section("api_key_status")


@keys_app.command("list")
def keys_list(data_dir: DataDir = None) -> None:
    """Every key: its id, agency, state, when made, expiring, revoked and last used (never the key).

    Last use is written at most once a minute per key, so it may be up to a minute behind."""
    _, store = _store(data_dir)
    keys, now = store.list(), store.now()
    store.close()
    t = cli_table("api_keys")
    for k in keys:
        t.add_row(
            k.key_id,
            k.agency_id,
            _STATUS_ZH[k.status(now)],
            f"{k.created_at:%Y-%m-%d %H:%M}",
            f"{k.expires_at:%Y-%m-%d %H:%M}" if k.expires_at else "—",
            f"{k.revoked_at:%Y-%m-%d %H:%M}" if k.revoked_at else "",
            f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never 未使用",
        )
    out.print(t if keys else "没有密钥 (no keys yet): `fengqiao gateway keys add AGENCY_ID`")


@keys_app.command("revoke")
def keys_revoke(
    key_id: Annotated[str, typer.Argument(help="the key id shown by `keys list`")],
    data_dir: DataDir = None,
) -> None:
    """Revoke a key: requests with it are refused (401 api-key-revoked) from now on."""
    _, store = _store(data_dir)
    record = store.revoke(key_id)
    store.close()
    if record is None:
        raise fail(f"没有密钥 {key_id!r} (no key {key_id!r}): see `fengqiao gateway keys list`")
    err.print(
        f"[yellow]已吊销 revoked[/] {record.key_id} of {record.agency_id} "
        f"at {record.revoked_at:%Y-%m-%d %H:%M:%S} UTC"
    )


@gateway_app.command("openapi")
def openapi() -> None:
    """Print the gateway's OpenAPI document (docs/openapi.json is this: `... openapi > docs/openapi.json`)."""
    from fengqiao.connectors.gateway.api import openapi_spec

    print(json.dumps(openapi_spec(), indent=2, ensure_ascii=False))
