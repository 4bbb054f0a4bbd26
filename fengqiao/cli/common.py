"""What the command groups share: settings from the options, the running hub's addresses, a
coroutine run with the hub's errors as refusals, and the data folder's ledger and codec.

A module of its own so that every group imports it and none imports another group (no circle).
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from fengqiao import logs
from fengqiao.console import fail
from fengqiao.schemas.labels import section
from fengqiao.settings import Settings

BrokerOpt = Annotated[
    str | None,
    typer.Option(
        "--broker",
        help="kafka://host:port[,host:port]; default: embedded",
        envvar="FENGQIAO_BROKER",
        show_default=False,
    ),
]

RegistryOpt = Annotated[
    str | None,
    typer.Option(
        "--registry", help="external schema registry URL", envvar="FENGQIAO_REGISTRY", show_default=False
    ),
]
DataDir = Annotated[Path | None, typer.Option("--data-dir", help="the hub's data folder (default .fengqiao)")]
LedgerOpt = Annotated[
    str | None, typer.Option("--ledger", help="ledger URL (default: SQLite in the data folder)")
]


def settings(broker: str | None = None, registry: str | None = None, **kw: Any) -> Settings:
    s = Settings(**{k: v for k, v in {"broker": broker, "registry": registry, **kw}.items() if v is not None})
    logs.configure(s.log_level)
    return s


def endpoints(s: Settings) -> Any:
    """Where the running hub is, or a message saying how to start one."""
    from fengqiao.hub import Endpoints, HubError

    try:
        return Endpoints.resolve(s)
    except HubError as e:
        raise fail(str(e)) from None


def run_coro(coro: Any) -> Any:
    from fengqiao.hub import HubError
    from fengqiao.infra.broker import BrokerError
    from fengqiao.schemas.registry import RegistryError

    try:
        return asyncio.run(coro)
    except (HubError, BrokerError, RegistryError) as e:
        raise fail(str(e)) from None


def all_cases(s: Settings, workflow: str) -> list[dict[str, Any]]:
    """Every case of a workflow, from every worker (each holds the cases of its partitions)."""
    import httpx

    ep = endpoints(s)
    cases: dict[str, dict[str, Any]] = {}
    for w in ep.workers:
        try:
            r = httpx.get(f"{w}/cases/", params={"workflow": workflow}, timeout=30, follow_redirects=True)
            r.raise_for_status()
        except httpx.HTTPError as e:
            raise fail(f"worker at {w} did not answer: {e}") from None
        cases.update({c["case_id"]: c for c in r.json()})
    return list(cases.values())


# -- the data folder, read directly (auditors' and read-model commands work with the hub stopped) ------
def data_settings(data_dir: Path | None, ledger: str | None = None) -> Settings:
    """Settings for a data folder (and a ledger URL), quiet logs: an auditor's commands print reports."""
    s = Settings(**{k: v for k, v in {"data_dir": data_dir, "ledger": ledger}.items() if v is not None})
    logs.configure("WARNING")
    return s


def open_ledger(s: Settings) -> Any:
    from fengqiao.streams.crypto import load_key
    from fengqiao.streams.ledger import Ledger, LedgerSuiteError

    if s.ledger is None and not (s.data_dir / "ledger.db").exists():
        raise fail(
            f"no ledger in {s.data_dir}: run the hub (`fengqiao up` or `fengqiao demo`) first, "
            "or pass --data-dir / --ledger"
        )
    # The key file says which suite signs (an auditor's copy has none: the ledger's record then decides).
    suite = load_key(s.key_file) if s.key_file.exists() else None
    try:
        return Ledger(s.ledger_url, suite)
    except LedgerSuiteError as e:
        raise fail(f"{e} (the key in {s.key_file} is a {e.given} key)") from None


def open_codec(s: Settings) -> Any:
    """A decoder for every schema id in the hub's registry store (its own registry)."""
    from fengqiao.schemas.registry import RegistryStore
    from fengqiao.streams.replay import codec_from_schemas

    path = s.data_dir / "registry.db"
    if not path.exists():
        raise fail(f"no schema registry store in {s.data_dir} (registry.db): decoding needs the schemas")
    store = RegistryStore(str(path))

    def schemas() -> Iterator[tuple[int, str]]:
        seen: set[int] = set()
        for subject in store.subjects():
            for version in store.versions(subject):
                v = store.get_version(subject, version)
                if v.id not in seen:
                    seen.add(v.id)
                    yield v.id, v.schema

    return codec_from_schemas(schemas())


def cli_table(name: str, **options: Any) -> Table:
    """An empty rich table of a command's, titled and headed from ``tables.cli.<name>`` in the label
    catalogue; ``options`` (a title built at run time, say) win over the catalogue's."""
    spec = section("tables", "cli", name)
    return Table(*spec["columns"], **({"title": spec.get("title")} | options))
