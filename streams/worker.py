"""One worker process: ``python -m fengqiao.streams.worker --bootstrap H:P --registry URL``.

`fengqiao up` starts these; on a real cluster an operator starts N of them (``fengqiao worker``)
and they split the partitions of every workflow topic between them.
"""

from __future__ import annotations

import argparse
import logging
import sys

import faust

from fengqiao import logs
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.registry import RegistryClient
from fengqiao.settings import Settings

from .acceptance import require_sealed
from .app import create_app
from .clock import from_setting
from .personal.protection import index
from .workflows import load_context, with_indexed_registers


def build_codec(registry_url: str) -> Codec:
    """Register (or look up) every catalogue schema before the first record is read."""
    client = RegistryClient(registry_url)
    catalogue = load()
    ids = client.register_catalogue_sync(catalogue)
    return Codec(catalogue, ids, fetch_schema=client.get_schema, registry_url=registry_url)


def run(bootstrap: str, registry_url: str, web_port: int, settings: Settings | None = None) -> None:
    settings = settings or Settings()
    logs.configure(settings.log_level)
    codec = build_codec(registry_url)
    ctx = load_context(settings.deployment)
    require_sealed(settings.protect_personal)
    if settings.protect_personal:  # a sealed ID number is looked up in a register by its pseudonym
        ctx = with_indexed_registers(ctx, index(settings))
    app = create_app(settings, bootstrap, codec, ctx, web_port=web_port, clock=from_setting(settings.clock))
    worker = faust.Worker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False)
    # Faust and aiokafka build a debug record per message otherwise (about a tenth of the worker's time).
    for name in ("", "faust", "aiokafka", "mode"):
        logging.getLogger(name).setLevel(logging.WARNING)
    worker.execute_from_commandline()


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="fengqiao-worker", description=__doc__)
    p.add_argument("--bootstrap", required=True, help="host:port[,host:port] of the broker")
    p.add_argument("--registry", required=True, help="schema registry URL")
    p.add_argument("--web-port", type=int, default=6066)
    a = p.parse_args(argv)
    try:
        run(a.bootstrap, a.registry, a.web_port)
    except KeyboardInterrupt:
        sys.exit(130)


if __name__ == "__main__":
    main()
