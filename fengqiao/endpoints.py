"""Where a running hub is (`Endpoints`, from flags or the runtime file `fengqiao up` writes) and
`connect` for the commands and connectors that talk to it. Apart from the hub supervisor, so that a
connector can find the hub without importing the module that starts connectors."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field

from fengqiao.infra.broker import BrokerError, parse_broker_url
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.registry import RegistryClient
from fengqiao.settings import Settings
from fengqiao.streams.personal.protection import attach


class HubError(RuntimeError):
    """The hub cannot start or be found; the message says what to do."""


@dataclass
class Endpoints:
    """Where a hub's broker and registry are, as the other commands need them."""

    bootstrap: str
    registry: str
    workers: list[str] = field(default_factory=list)  # worker web URLs
    ledger: str | None = None  # the ledger's URL: "accepted" waits until a record is in it
    gateway: str | None = None  # the HTTP gateway's URL, where agency systems POST events

    @classmethod
    def resolve(cls, settings: Settings) -> Endpoints:
        """Flags/env first, then the runtime file of a hub started with `fengqiao up` here."""
        rt = settings.runtime_file
        running = json.loads(rt.read_text()) if rt.exists() else None
        if settings.broker:
            registry = settings.registry or (running or {}).get("registry")
            if not registry:
                raise HubError("with --broker, also give --registry (the schema registry URL)")
            try:
                bootstrap = parse_broker_url(settings.broker)
            except BrokerError as e:
                raise HubError(str(e)) from None
            running = running or {}
            return cls(
                bootstrap, registry, running.get("workers", []), running.get("ledger"), running.get("gateway")
            )
        if running is None:
            raise HubError(
                f"no hub is running here ({rt} not found): start one with `fengqiao up`, "
                "or pass --broker kafka://HOST:PORT and --registry URL"
            )
        if running.get("pid") and not _alive(running["pid"]):
            raise HubError(
                f"the hub that wrote {rt} (pid {running['pid']}) is gone: start it with `fengqiao up`"
            )
        return cls(
            running["bootstrap"],
            settings.registry or running["registry"],
            running.get("workers", []),
            running.get("ledger"),
            running.get("gateway"),
        )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def connect(settings: Settings) -> tuple[Endpoints, Codec]:
    """For commands that talk to a running hub: where it is, and a codec with its schema ids."""
    ep = Endpoints.resolve(settings)
    client = RegistryClient(ep.registry)
    catalogue = load()
    ids = await client.register_catalogue(catalogue)
    codec = Codec(catalogue, ids, fetch_schema=client.get_schema, registry_url=ep.registry)
    attach(codec, settings)
    return ep, codec
