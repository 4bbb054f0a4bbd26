"""Personal data on the real broker (issue 17): sealed end to end, opened only by the key store, and
erased for ever by `fengqiao person erase` — with the ledger still verifying and replay still working.

The person of these tests has a name and an ID number no other test uses, so a search of every file
the hub wrote and of every record on its topics finds them only if this hub leaked them.
"""

from __future__ import annotations

import asyncio
import subprocess
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from helpers import release_event, run_cli

from fengqiao.hub import Hub
from fengqiao.schemas.samples import sample_ric
from fengqiao.settings import Settings
from fengqiao.streams import topics
from fengqiao.streams.personal.reveal import ERASED, Reader
from fengqiao.streams.publisher import Publisher

NAME = "欧阳删除测"
RIC = sample_ric(777_777)
PHONE = "13912340777"
CASE = "ERASE-1"


def _case(hub: Hub, case_id: str) -> dict | None:
    r = httpx.get(f"{hub.endpoints.workers[0]}/cases/{case_id}/", follow_redirects=True, timeout=30)
    return r.json() if r.status_code == 200 else None


def _wait(hub: Hub, case_id: str, until: object, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        case = _case(hub, case_id)
        if case is not None and until(case):  # type: ignore[operator]
            return case
        time.sleep(0.1)  # polling the worker's view: the condition ends the wait
    pytest.fail(f"{case_id} did not reach the expected state: {_case(hub, case_id)}")


async def _every_value(bootstrap: str) -> list[bytes]:
    """Every record's key, value and headers on every hub topic, from the beginning."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        parts = [
            TopicPartition(t, p)
            for t in await consumer.topics()
            if t.startswith(topics.PREFIX)
            for p in consumer.partitions_for_topic(t) or ()
        ]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        out: list[bytes] = []
        while [tp for tp in parts if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=1000)
            for msgs in batch.values():
                for m in msgs:
                    out += [m.key or b"", m.value or b"", *(v for _, v in m.headers)]
        return out
    finally:
        await consumer.stop()


def _files_holding(folder: Path, needles: list[bytes]) -> list[str]:
    """Files under ``folder`` holding any needle, searched by grep in another process: opening and
    closing the hub's SQLite files in the hub's own process (this test's) would drop the POSIX locks
    SQLite holds on them, and break the running hub."""
    found = []
    for n in needles:
        r = subprocess.run(["grep", "-rlaF", n, str(folder)], capture_output=True, timeout=120)
        assert r.returncode in (0, 1), r.stderr
        found += [f"{line.decode()} holds {n!r}" for line in r.stdout.splitlines()]
    return found


def test_personal_fields_travel_sealed_and_erasure_leaves_no_plaintext(
    hub: Hub, hub_settings: Settings
) -> None:
    t = datetime.now(UTC) - timedelta(days=1)
    env, record = release_event("ReleaseNoticeIssued", CASE, t, "zj-prison-2")
    record["person"] = {"person_id": "P-ERASE-1", "name": NAME, "id_number": RIC, "phone": PHONE}

    async def send() -> None:
        assert hub.codec is not None
        async with Publisher(hub.bootstrap, hub.codec, hub.ledger) as pub:
            await pub.publish(env, record)

    asyncio.run(send())
    case = _wait(hub, CASE, lambda c: "ReleaseNoticeIssued" in c["facts"])
    person = case["facts"]["ReleaseNoticeIssued"]["person"]
    assert all(person[f].startswith("fq1:") for f in ("name", "id_number", "phone")), person
    assert person["person_id"] == "P-ERASE-1"  # the pseudonymous id is not sealed
    assert hub.protection is not None
    opened = hub.protection.reveal(person, Reader("test", "test"), clear=True)
    assert (opened["name"], opened["id_number"], opened["phone"]) == (NAME, RIC, PHONE)
    masked = hub.protection.reveal(person, Reader("test", "test"), clear=False)
    assert masked["id_number"] == RIC[:4] + "*" * 10 + RIC[-4:] and masked["name"] == NAME[0] + "****"

    needles = [NAME.encode(), RIC.encode(), PHONE.encode()]
    assert _files_holding(hub_settings.data_dir, needles) == []  # sealed before it left the intake
    assert _files_holding(hub_settings.data_dir, [b"fq1:aes-256-gcm:name:"])  # the search does find

    r = run_cli(
        hub_settings.data_dir,
        "person", "erase", RIC,
        "--reason", "测试：保存期限届满",
        "--by", "测试员 青山县司法局",
        "--basis", "retention-expired",
        "--include-open", "--yes",
    )  # fmt: skip
    assert r.returncode == 0, r.stderr + r.stdout
    assert "已删除" in r.stdout

    case = _wait(hub, CASE, lambda c: "PersonErased" in c["facts"])
    erased = case["facts"]["PersonErased"]
    assert erased["erased_by"] == "测试员 青山县司法局" and erased["basis"] == "retention-expired"
    assert erased["keys_destroyed"] == 1  # the person's (a notice has no field of the case's own)
    after = hub.protection.reveal(case, Reader("test", "test"), clear=True)
    p = after["facts"]["ReleaseNoticeIssued"]["person"]
    assert (p["name"], p["id_number"], p["phone"]) == (ERASED, ERASED, ERASED)

    assert _files_holding(hub_settings.data_dir, needles) == []
    values = asyncio.run(_every_value(hub.bootstrap))
    assert values and not [n for n in needles for v in values if n in v]

    verify = run_cli(hub_settings.data_dir, "audit", "verify")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    replay = run_cli(hub_settings.data_dir, "replay")
    assert replay.returncode == 0 and CASE in replay.stdout, replay.stdout + replay.stderr


def test_an_erasure_without_a_reason_or_basis_is_refused(hub: Hub, hub_settings: Settings) -> None:
    r = run_cli(
        hub_settings.data_dir, "person", "erase", sample_ric(1),
        "--reason", "x", "--by", "y", "--basis", "because", "--yes",
    )  # fmt: skip
    assert r.returncode == 2 and "unknown --basis" in r.stderr
    unknown = sample_ric(424_242)
    r = run_cli(
        hub_settings.data_dir, "person", "erase", unknown,
        "--reason", "x", "--by", "y", "--basis", "retention-expired", "--yes",
    )  # fmt: skip
    assert r.returncode == 2 and "没有此人的个人信息" in r.stderr
