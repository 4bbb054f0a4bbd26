"""`fengqiao bench`'s cost of sealing personal data (个人信息, issue 17): the intake's sealing timed on
the very workload the hubs take, and on next to off with the derived figure that counts the intake.
No timing is asserted: only what the figures are made of."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from rich.console import Console

from fengqiao.bench.live import (
    PERSONAL_TARGET,
    personal_figures,
    render,
    seal_cost,
    wire_workload,
    workload_events,
)
from fengqiao.schemas.codec import plain_codec
from fengqiao.settings import Settings
from fengqiao.streams.personal.protection import Protection
from fengqiao.streams.personal.seal import in_clear


def test_seal_cost_seals_the_workload_with_a_key_store_of_its_own(tmp_path: Path) -> None:
    codec = plain_codec()
    events = workload_events(codec, 200)
    before = [dict(record) for _, record in events]
    settings = Settings().model_copy(update={"data_dir": tmp_path / "hub", "personal_keys": "sqlite://"})
    seal = seal_cost(settings, codec.catalogue, events, tmp_path / "seal")
    assert seal["events"] == 200
    assert 0 < seal["events_with_personal_text"] <= 200
    assert seal["fields_sealed"] >= seal["events_with_personal_text"]
    assert set(seal) >= {
        "us_per_event",
        "wall_us_per_event",
        "events_per_cpu_s",
        "cpu_seconds",
        "keys_cached_us_per_event",
    }
    # Its own key store in the folder it was given (not the hub's, not the URL in the settings).
    assert (tmp_path / "seal" / "personal" / "keys.db").is_file()
    assert not (tmp_path / "hub").exists()
    # The workload is left in clear for the hub that takes it so.
    assert [record for _, record in events] == before


def test_the_workload_is_sealed_only_for_a_codec_that_seals(tmp_path: Path) -> None:
    codec = plain_codec()
    events = workload_events(codec, 100)
    protection = Protection.from_settings(
        Settings().model_copy(update={"data_dir": tmp_path}), codec.catalogue, read_log=False
    )
    try:
        clear = wire_workload(codec, 100, events)
        codec.sealer = protection.sealer
        sealed = wire_workload(codec, 100, events)
    finally:
        codec.sealer = None
        protection.close()
    assert [w.id for w in clear] == [w.id for w in sealed] == [env.id for env, _ in events]
    plans = protection.sealer.plans

    def clear_fields(work: list) -> int:
        return sum(
            len(in_clear(plans, ev.name, record)) for ev, record in map(codec.decode, (w.value for w in work))
        )

    assert clear_fields(clear) > 0 and clear_fields(sealed) == 0


def _run(events_per_s: float, per_cpu_s: float) -> dict:
    return {"events": 10, "delivered": 10, "seconds": 1.0, "events_per_s": events_per_s,
            "worker_events_per_cpu_s": per_cpu_s}  # fmt: skip


def test_personal_figures_ratio_and_the_derived_figure_with_the_intake() -> None:
    seal = {"events": 10, "events_with_personal_text": 8, "fields_sealed": 20, "us_per_event": 100.0,
            "wall_us_per_event": 150.0, "events_per_cpu_s": 10_000.0, "cpu_seconds": 0.001}  # fmt: skip
    p = personal_figures(_run(900.0, 1800.0), _run(1000.0, 2000.0), seal)
    assert p["target"] == PERSONAL_TARGET
    assert p["ratio"] == 0.9 and p["met"] is True
    assert p["worker_cpu_ratio"] == 0.9
    # 1 / (1/900 + 100 µs) = 825.7/s: the intake's sealing in series with the rest.
    assert p["on_with_intake_events_per_s"] == pytest.approx(1 / (1 / 900 + 100e-6), abs=0.1)
    assert p["ratio_with_intake"] == pytest.approx(0.826, abs=0.001)
    assert p["met_with_intake"] is False
    assert p["off"]["events_per_s"] == 1000.0 and p["seal"] is seal


def test_render_prints_on_next_to_off_and_says_what_each_includes() -> None:
    seal = {"events": 10, "events_with_personal_text": 8, "fields_sealed": 20, "us_per_event": 100.0,
            "wall_us_per_event": 150.0, "events_per_cpu_s": 10_000.0, "cpu_seconds": 0.001}  # fmt: skip
    hub = {**_run(900.0, 1800.0), "p50_ms": 1.0, "p99_ms": 2.0}
    off = {**_run(1000.0, 2000.0), "p50_ms": 1.0, "p99_ms": 2.0}
    result = {
        "mode": "live",
        "broker": "embedded",
        "events": 10,
        "hub": hub,
        "raw": _run(50_000.0, 0.0),
        "ratio": 0.018,
        "personal": personal_figures(hub, off, seal),
        "bench_seconds": 20.0,
    }
    buf = io.StringIO()
    render(result, Console(file=buf, width=200, no_color=True))
    text = buf.getvalue()
    assert "personal in clear" in text and "personal sealed" in text
    assert "on / off: 0.900" in text
    assert "100.0 µs" in text and "derived" in text
    assert "not the intake's sealing" in text and "protect_personal off" in text
    assert "bench time: 20 s" in text
