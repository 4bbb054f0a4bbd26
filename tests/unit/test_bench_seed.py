"""The seeded folder of `fengqiao bench --cases N --load ledger` is what the hub would hold: its case store
equals a replay of its ledger, its ledger verifies, and every partition's snapshot names the ledger's head."""

from __future__ import annotations

from pathlib import Path

from fengqiao.bench.seed import seed
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.registry import RegistryStore
from fengqiao.settings import Settings
from fengqiao.streams.casestore import CaseStore, code_fingerprint
from fengqiao.streams.crypto import load_or_create_key
from fengqiao.streams.ledger import Ledger
from fengqiao.streams.replay import replay_ledger


def test_seeded_store_is_the_replay_of_its_ledger(tmp_path: Path) -> None:
    s = Settings().model_copy(update={"data_dir": tmp_path})
    seeded = seed(s, 100, procs=2, say=lambda _: None)
    assert seeded["cases"] == 100 and seeded["events"] > seeded["cases"]

    store = RegistryStore(str(tmp_path / "registry.db"))
    catalogue = load()
    codec = Codec(catalogue, {ev.fullname: store.register(ev.fullname, ev.schema_str()) for ev in catalogue})
    ledger = Ledger(s.ledger_url, load_or_create_key(s.key_file))
    try:
        assert ledger.verify().ok
        replayed = replay_ledger(ledger, codec)
        cases = CaseStore(s.data_dir / "cases" / f"{s.app_id}.cases")
        stored: dict[str, dict] = {}
        heads = ledger.positions()
        for db in sorted(cases.folder.glob("*.db")):
            topic, _, partition = db.stem.rpartition(".")
            part = cases.open((topic, int(partition)))
            snap = part.snapshot()
            assert snap is not None and snap.code == code_fingerprint()
            assert snap.next_offset == heads[(topic, int(partition))] + 1
            assert snap.ledger_hash == ledger.hash_at(topic, int(partition), snap.next_offset - 1)
            stored.update({c["case_id"]: c for c in part.cases()})
        cases.close()
    finally:
        ledger.close()
    assert len(stored) == 100
    assert stored == replayed
