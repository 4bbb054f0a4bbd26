"""``ce_dataschema`` is a stable URN, the same after a restart on another port (issue 15, item 6)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec, parse_schema_urn
from fengqiao.schemas.registry import RegistryClient, RegistryStore, serve
from fengqiao.schemas.registry import stop as stop_registry


async def _codec_of_a_fresh_registry(db: Path) -> tuple[str, Codec]:
    """A registry on a random port over ``db`` (as the hub starts it), and a codec from it."""
    server, url = await serve(RegistryStore(str(db)))
    try:
        client = RegistryClient(url)
        catalogue = load()
        ids = await client.register_catalogue(catalogue)
        await client.aclose()
        return url, Codec(catalogue, ids, registry_url=url)
    finally:
        await stop_registry(server)


def test_dataschema_survives_a_restart_of_the_registry_on_another_port(tmp_path: Path) -> None:
    db = tmp_path / "registry.db"
    url1, first = asyncio.run(_codec_of_a_fresh_registry(db))
    url2, second = asyncio.run(_codec_of_a_fresh_registry(db))
    for etype in ("ReleaseNoticeIssued", "HandoffAssigned", "DeadLetter", "CaseUpdated"):
        a, b = first.dataschema(etype), second.dataschema(etype)
        assert a == b and a is not None
        assert url1 not in a and url2 not in a and "127.0.0.1" not in a
        subject, schema_id = parse_schema_urn(a) or ("", -1)
        assert subject == first.catalogue[etype].fullname and schema_id == first.schema_id(etype)
    assert a.startswith("urn:fengqiao:schema:fengqiao.")


def test_no_dataschema_without_registry_ids_and_old_links_are_not_urns() -> None:
    catalogue = load()
    assert Codec(catalogue, {}).dataschema("ReleaseNoticeIssued") is None
    assert parse_schema_urn("http://127.0.0.1:40123/schemas/ids/7") is None
    assert parse_schema_urn("urn:fengqiao:schema:fengqiao.release.X:x") is None
