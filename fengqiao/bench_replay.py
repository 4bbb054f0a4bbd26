"""`fengqiao bench --replay`: replay from the ledger through the workflow core, next to the ledger's raw
read rate measured in the same run (reading and counting the very same records, nothing else).

The ledger is built first, in a temporary folder, by running release cases through the live engine
(agency events and the hub's decisions, timers included) — a realistic log, not one event type.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec
from fengqiao.schemas.registry import RegistryStore
from fengqiao.schemas.samples import sample_event
from fengqiao.streams import engine, topics
from fengqiao.streams.crypto import Sha256Ed25519
from fengqiao.streams.ledger import Ledger, LedgerRecord
from fengqiao.streams.replay import ledger_records, replay
from fengqiao.streams.workflows import load_context

SCRIPT = [
    ("ReleaseNoticeIssued", "zj-prison-2", 0),
    ("ReleaseNoticeAcknowledged", "qs-jo-1", 1),
    ("PickupPlanned", "qs-jo-1", 20),
    ("PersonReleased", "zj-prison-2", 40),
    ("PersonReceived", "qs-jo-1", 40.1),
    ("PersonReported", "qs-jo-1", 43),
    ("HouseholdRegistered", "qs-ps-1", 45),
]


def bench_codec() -> Codec:
    """A codec whose schema ids come from a registry store, as the hub's do."""
    catalogue = load()
    store = RegistryStore(":memory:")
    return Codec(catalogue, {ev.fullname: store.register(ev.fullname, ev.schema_str()) for ev in catalogue})


def build_ledger(ledger: Ledger, codec: Codec, n_events: int, say: Any) -> int:
    """Run release cases through the engine until about ``n_events`` records; store them as the log."""
    from fengqiao.scenario import stamp_instants
    from fengqiao.schemas.envelope import Envelope

    ctx = load_context()
    catalogue = ctx.catalogue
    topic = topics.workflow_topic("release")
    offsets = [0, 0, 0, 0]
    batch: list[LedgerRecord] = []
    written = 0
    t0 = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)
    case_no = 0
    while written + len(batch) < n_events:
        case_no += 1
        case_id = f"BENCH-{case_no:06d}"
        partition = case_no % 4
        case = None
        start = t0 + timedelta(minutes=case_no)
        for etype, source, days in SCRIPT:
            t = start + timedelta(days=days)
            record = sample_event(catalogue[etype], case_id, seed=case_no)
            stamp_instants(catalogue[etype].expanded, record, t)
            if etype == "ReleaseNoticeIssued":
                record.update(
                    key_person=case_no % 3 == 0,
                    expected_release_date=(start + timedelta(days=40)).date(),
                    residence={"code": "339901001001", "name": None},
                )
            env = Envelope.new(etype, case_id, source=source, time=t)
            out = engine.handle(case, env, record, ctx, t)
            case = out.case
            for e, r in [(env, record), *out.decisions]:
                batch.append(
                    LedgerRecord.from_kafka(
                        topic,
                        partition,
                        offsets[partition],
                        case_id.encode(),
                        codec.encode(e.type, r),
                        tuple(e.to_headers()),
                        int(t.timestamp() * 1000),
                        t,
                    )
                )
                offsets[partition] += 1
        if len(batch) >= 5000:
            written += ledger.append(batch)
            batch = []
            say(f"built {written} records…")
    if batch:
        written += ledger.append(batch)
    return written


def run_replay_bench(n_events: int, progress: Console | None = None) -> dict[str, Any]:
    def say(msg: str) -> None:
        if progress:
            progress.print(f"[dim]{msg}[/]")

    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(f"sqlite:///{Path(tmp) / 'ledger.db'}", Sha256Ed25519.generate())
        codec = bench_codec()
        total = build_ledger(ledger, codec, n_events, say)
        catalogue = codec.catalogue
        say(f"raw ledger read of {total} records…")
        started = time.perf_counter()
        raw = sum(1 for _ in ledger_records(ledger, catalogue))
        raw_s = time.perf_counter() - started
        say("replay through the workflow core…")
        started = time.perf_counter()
        cases = replay(ledger_records(ledger, catalogue), codec)
        replay_s = time.perf_counter() - started
        ledger.close()
    return {
        "records": total,
        "cases": len(cases),
        "raw": {"seconds": round(raw_s, 3), "records_per_s": round(raw / raw_s, 1)},
        "replay": {"seconds": round(replay_s, 3), "events_per_s": round(total / replay_s, 1)},
        "ratio": round((total / replay_s) / (raw / raw_s), 3),
    }


def render(result: dict[str, Any], console: Console) -> None:
    t = Table(title=f"fengqiao bench --replay — {result['records']} ledger records, {result['cases']} cases")
    for col in ("path", "seconds", "records/s"):
        t.add_column(col, justify="right" if col != "path" else "left")
    t.add_row(
        "replay (decode + fold)", str(result["replay"]["seconds"]), f"{result['replay']['events_per_s']:,.0f}"
    )
    t.add_row("raw ledger read", str(result["raw"]["seconds"]), f"{result['raw']['records_per_s']:,.0f}")
    console.print(t)
    console.print(f"replay / raw read ratio: [bold]{result['ratio']:.2f}[/]")
