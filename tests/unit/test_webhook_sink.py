"""The webhook sink without a broker: records handed to `write`, a real local HTTP receiver."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from fengqiao.connectors.sdk import ConnectorContext, ConnectorFailed, RecordError, RetriableError, SinkRecord
from fengqiao.connectors.webhooks.delivery import delivery_id
from fengqiao.connectors.webhooks.harness import WebhookHarness
from fengqiao.connectors.webhooks.sink import WebhookSink, redeliver
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.envelope import HUB_SOURCE, Envelope
from fengqiao.schemas.samples import sample_event

CAT = load()


def ref(agency_id: str) -> dict[str, Any]:
    return {"agency_id": agency_id, "agency_type": "judicial_office", "name": None}


def record(etype: str, case_id: str = "C-1", source: str = HUB_SOURCE, **fields: Any) -> SinkRecord:
    rec = sample_event(CAT[etype], case_id)
    rec.update(fields)
    env = Envelope.new(etype, case_id, source)
    return SinkRecord("t", 0, 0, case_id, env, rec, b"")


def assigned(case_id: str = "C-1", *agencies: str) -> SinkRecord:
    obliged, *informed = agencies or ("qs-jo-1", "qs-jb")
    return record("HandoffAssigned", case_id, obliged=ref(obliged), informed=[ref(a) for a in informed])


class Cases:
    """A fake of the hub's case lookup: the case's parties as the worker holds them."""

    def __init__(self) -> None:
        self.cases: dict[str, dict[str, Any]] = {}
        self.calls: list[str] = []

    def put(self, case_id: str, version: int, *sources: str) -> None:
        events = [{"id": f"e{i}", "source": s} for i, s in enumerate(sources)]
        self.cases[case_id] = {"case_id": case_id, "version": version, "events": events}

    async def __call__(self, case_id: str) -> dict[str, Any] | None:
        self.calls.append(case_id)
        return self.cases.get(case_id)


@pytest.fixture
async def harness() -> AsyncIterator[WebhookHarness]:
    h = WebhookHarness()
    await h.open()
    yield h
    await h.close()


@pytest.fixture
def cases() -> Cases:
    return Cases()


class Sinks:
    def __init__(self, harness: WebhookHarness, state: Path, cases: Cases) -> None:
        self.harness, self.state, self.cases = harness, state, cases
        self.open: list[WebhookSink] = []

    async def start(self, **overrides: Any) -> WebhookSink:
        config = WebhookSink.parse_config({**self.harness.config(), **overrides})
        sink = WebhookSink(config, ConnectorContext("webhook", self.state, None), case_lookup=self.cases)  # type: ignore[arg-type]
        await sink.start()
        self.open.append(sink)
        return sink


@pytest.fixture
async def sinks(harness: WebhookHarness, tmp_path: Path, cases: Cases) -> AsyncIterator[Sinks]:
    s = Sinks(harness, tmp_path / "state", cases)
    yield s
    for sink in s.open:
        await sink.stop()


async def test_each_addressed_agency_gets_the_decision_once_even_after_a_restart(
    sinks: Sinks, harness: WebhookHarness
) -> None:
    sink = await sinks.start()
    rec = assigned("C-1", "qs-jo-1", "qs-jb", "qs-ps-1")  # qs-ps-1 has no endpoint here
    await sink.write(rec)
    await sink.write(rec)  # read again: recorded as delivered, not sent again
    await sink.stop()
    again = await sinks.start()
    await again.write(rec)
    assert sorted((r.agency, r.event_id) for r in harness.log) == [
        ("qs-jb", rec.event_id),
        ("qs-jo-1", rec.event_id),
    ]
    assert harness.bad_signatures == []
    body = harness.log[0].body
    assert body["type"] == "HandoffAssigned" and body["data"]["obliged"]["agency_id"] == "qs-jo-1"


async def test_what_the_sink_wants(sinks: Sinks) -> None:
    sink = await sinks.start()
    assert sink.wants(assigned("C-1", "qs-jo-1"))
    assert not sink.wants(assigned("C-1", "qs-jo-2", "qs-ps-1"))  # no endpoint for either
    assert not sink.wants(record("ReleaseNoticeIssued", source="zj-prison-2"))  # an agency's own fact
    assert sink.wants(record("CaseUpdated"))
    quiet = await sinks.start(case_updates=False)
    assert not quiet.wants(record("CaseUpdated"))
    assert "fengqiao.case-updates" in sink.topics() and "fengqiao.case-updates" not in quiet.topics()
    assert "fengqiao.release" in sink.topics()


async def test_a_failing_agency_does_not_hold_back_the_others_and_its_failure_is_kept(
    sinks: Sinks, harness: WebhookHarness
) -> None:
    sink = await sinks.start()
    harness.fail_agency("qs-jo-1")
    rec = assigned("C-2", "qs-jo-1", "qs-jb")
    with pytest.raises(RecordError) as e:
        await sink.write(rec)
    assert e.value.kind == "handler_failed"
    assert "qs-jo-1 after 4 attempts: HTTP 500" in e.value.reason and rec.event_id in e.value.reason
    assert [(r.agency, r.event_id) for r in harness.log] == [("qs-jb", rec.event_id)]
    [failure] = sink.deliveries.failures()
    assert (failure.agency, failure.event_id, failure.attempts) == ("qs-jo-1", rec.event_id, 4)
    assert failure.payload and b'"HandoffAssigned"' in failure.payload
    assert sink.health().counters["retried"] == 3 and sink.health().counters["delivered"] == 1

    harness.heal()
    results = await redeliver(sink.config, sinks.state)
    assert [(r.agency, r.outcome, r.attempts) for r in results] == [("qs-jo-1", "delivered", 5)]
    got = harness.taken("qs-jo-1")[0]
    assert got.attempt == 5 and got.delivery_id == delivery_id("qs-jo-1", rec.event_id)
    assert sink.deliveries.failures() == [] and sink.deliveries.is_delivered("qs-jo-1", rec.event_id)
    assert await redeliver(sink.config, sinks.state) == []  # nothing open any more
    await sink.write(rec)  # and the record read again sends nothing
    assert len(harness.log) == 2


async def test_a_refusal_is_recorded_after_one_attempt(sinks: Sinks, harness: WebhookHarness) -> None:
    sink = await sinks.start()
    harness.fail_agency("qs-jb", status=410)
    with pytest.raises(RecordError, match="qs-jb refused: HTTP 410"):
        await sink.write(assigned("C-3", "qs-jb"))
    assert [s for _, _, s in harness.attempts] == [410]
    assert sink.deliveries.failures()[0].attempts == 1


async def test_a_case_update_goes_to_the_case_parties_looked_up_once_per_version(
    sinks: Sinks, harness: WebhookHarness, cases: Cases
) -> None:
    sink = await sinks.start()
    cases.put("C-4", 3, "zj-prison-2", "qs-jo-1")
    first = record("CaseUpdated", "C-4", version=2)
    await sink.write(first)
    second = record("CaseUpdated", "C-4", version=3)
    await sink.write(second)  # the parties known as of version 3 already: no second look-up
    assert cases.calls == ["C-4"]
    assert [(r.agency, r.event_id) for r in harness.log] == [
        ("qs-jo-1", first.event_id),
        ("qs-jo-1", second.event_id),
    ]
    cases.put("C-4", 4, "zj-prison-2", "qs-jo-1", "qs-jb")
    third = record("CaseUpdated", "C-4", version=4)
    await sink.write(third)
    assert {r.agency for r in harness.taken() if r.event_id == third.event_id} == {"qs-jo-1", "qs-jb"}


async def test_a_case_update_waits_for_the_hub_to_catch_up(sinks: Sinks, cases: Cases) -> None:
    sink = await sinks.start()
    cases.put("C-5", 1, "qs-jo-1")
    with pytest.raises(RetriableError, match="behind its update to version 2"):
        await sink.write(record("CaseUpdated", "C-5", version=2))
    with pytest.raises(RetriableError):
        await sink.write(record("CaseUpdated", "C-unknown", version=1))


async def test_start_refuses_what_cannot_work(
    sinks: Sinks, harness: WebhookHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ConnectorFailed, match="no endpoints configured"):
        await sinks.start(endpoints=[])
    url = harness.url("qs-jo-1")
    monkeypatch.delenv("QS_JO_1_SECRET", raising=False)
    with pytest.raises(ConnectorFailed, match="environment variable QS_JO_1_SECRET is not set"):
        await sinks.start(endpoints=[{"agency": "qs-jo-1", "url": url, "secret_env": "QS_JO_1_SECRET"}])
    monkeypatch.setenv("QS_JO_1_SECRET", "short")
    with pytest.raises(ConnectorFailed, match="a key of 5 bytes; use at least 16"):
        await sinks.start(endpoints=[{"agency": "qs-jo-1", "url": url, "secret_env": "QS_JO_1_SECRET"}])
    monkeypatch.setenv("QS_JO_1_SECRET", harness.secrets["qs-jo-1"])
    sink = await sinks.start(endpoints=[{"agency": "qs-jo-1", "url": url, "secret_env": "QS_JO_1_SECRET"}])
    await sink.write(assigned("C-6", "qs-jo-1"))
    assert harness.bad_signatures == [] and len(harness.log) == 1


@pytest.mark.parametrize(
    ("endpoints", "message"),
    [
        ([{"agency": "a", "url": "http://x/h", "secret": "s" * 16, "secret_env": "E"}], "exactly one of"),
        ([{"agency": "a", "url": "http://x/h"}], "exactly one of"),
        ([{"agency": "a", "url": "ftp://x/h", "secret": "s" * 16}], "http:// or https://"),
        ([{"agency": "a", "url": "http://x/h", "secret": "s" * 16}] * 2, "agency a has two endpoints"),
        ([{"agency": "a", "url": "http://x/h", "secret": "s" * 16, "token": 1}], "Extra inputs"),
    ],
)
def test_a_bad_config_is_refused_naming_what_to_fix(endpoints: list[Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        WebhookSink.parse_config({"endpoints": endpoints})


async def test_redeliver_keeps_a_failure_open_when_the_config_cannot_send_it(
    sinks: Sinks, harness: WebhookHarness, monkeypatch: pytest.MonkeyPatch
) -> None:
    sink = await sinks.start()
    harness.fail_agency("qs-jo-1", status=404)
    rec = assigned("C-7", "qs-jo-1")
    with pytest.raises(RecordError):
        await sink.write(rec)
    harness.heal()
    only_jb = WebhookSink.parse_config(
        {
            **harness.config(),
            "endpoints": [e for e in harness.config()["endpoints"] if e["agency"] == "qs-jb"],
        }
    )
    [r] = await redeliver(only_jb, sinks.state)
    assert (r.outcome, r.error) == ("no-endpoint", "no endpoint for this agency in the config")
    monkeypatch.delenv("NOT_SET_SECRET", raising=False)
    unset = WebhookSink.parse_config(
        {"endpoints": [{"agency": "qs-jo-1", "url": harness.url("qs-jo-1"), "secret_env": "NOT_SET_SECRET"}]}
    )
    [r] = await redeliver(unset, sinks.state)
    assert r.outcome == "failed" and "NOT_SET_SECRET is not set" in r.error
    assert [f.event_id for f in sink.deliveries.failures()] == [rec.event_id]
    assert harness.taken("qs-jo-1") == []
    [r] = await redeliver(sink.config, sinks.state, agency="qs-jo-1")
    assert r.outcome == "delivered" and len(harness.taken("qs-jo-1")) == 1


async def test_over_http_each_delivery_verifies_with_the_standard_webhooks_library(
    sinks: Sinks, harness: WebhookHarness
) -> None:
    """Through the real sink and a real HTTP receiver, while rotating and with the old header on."""
    from standardwebhooks import Webhook

    from fengqiao.connectors.webhooks.signature import new_secret

    old = {a: new_secret() for a in harness.secrets}
    sink = await sinks.start(
        endpoints=[
            {"agency": a, "url": harness.url(a), "secret": s, "previous_secret": old[a]}
            | {"legacy_signature": True}
            for a, s in harness.secrets.items()
        ]
    )
    rec = assigned("C-1", "qs-jo-1", "qs-jb")
    await sink.write(rec)
    assert harness.bad_signatures == [] and len(harness.log) == 2
    for r in harness.log:
        assert r.headers["webhook-id"] == delivery_id(r.agency, rec.event_id) == r.delivery_id
        assert Webhook(harness.secrets[r.agency]).verify(r.raw, r.headers)["id"] == rec.event_id
        assert Webhook(old[r.agency]).verify(r.raw, r.headers)["id"] == rec.event_id
        assert r.headers["fengqiao-signature"].startswith(f"t={r.signed_at},v1=")
