"""Webhooks and personal fields: each agency's body opened or masked for it at send time, signed as
sent, clear deliveries in the read log; a failure keeps the sealed payload, redelivery reveals anew."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from fengqiao.connectors.personal_view import PersonalView
from fengqiao.connectors.sdk import ConnectorContext, RecordError, SinkRecord
from fengqiao.connectors.webhooks.harness import WebhookHarness
from fengqiao.connectors.webhooks.sink import WebhookSink, redeliver
from fengqiao.connectors.webhooks.state import DeliveryLog
from fengqiao.scenario import demo_events
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.envelope import HUB_SOURCE, Envelope
from fengqiao.schemas.samples import sample_event
from fengqiao.settings import Settings
from fengqiao.streams.personal.access import ReadLog
from fengqiao.streams.personal.protection import Protection
from fengqiao.streams.workflows import load_context

CAT = load()
NOTICE = demo_events(1)[0]
PERSON = NOTICE["data"]["person"]


def ref(agency_id: str) -> dict[str, object]:
    return {"agency_id": agency_id, "agency_type": "judicial_office", "name": None}


async def test_clear_for_the_office_masked_for_the_petition_office_failure_kept_sealed(
    tmp_path: Path,
) -> None:
    settings = Settings(data_dir=tmp_path)
    p = Protection.from_settings(settings, CAT, read_log=False)
    person = p.sealer.seal(NOTICE["type"], "C-1", NOTICE["data"])["person"]
    p.close()
    directory = load_context().directory
    assert directory.sees_personal("qs-jo-1") and not directory.sees_personal("qs-xf")
    harness = WebhookHarness(agencies=("qs-jo-1", "qs-xf"))
    await harness.open()
    hub = SimpleNamespace(codec=SimpleNamespace(catalogue=CAT), directory=directory, case=None)
    state = tmp_path / "state"
    config = WebhookSink.parse_config(harness.config())
    sink = WebhookSink(config, ConnectorContext("webhook", state, settings, hub))
    try:
        await sink.start()
        rec = sample_event(CAT["HandoffAssigned"], "C-1")
        rec.update(obliged=ref("qs-jo-1"), informed=[ref("qs-xf")], person=person)
        env = Envelope.new("HandoffAssigned", "C-1", HUB_SOURCE)
        harness.fail_agency("qs-xf")
        with pytest.raises(RecordError):
            await sink.write(SinkRecord("t", 0, 0, "C-1", env, rec, b""))
        (got,) = harness.taken("qs-jo-1")
        assert got.body["data"]["person"]["name"] == PERSON["name"]
        assert got.body["data"]["person"]["id_number"] == PERSON["id_number"]
        assert harness.bad_signatures == []  # signed over the body sent, not the stored one
        (read,) = ReadLog(settings.ledger_url).reads(agency="qs-jo-1")
        assert read.entry == "webhook" and read.case_id == "C-1"

        log = DeliveryLog(state)
        (failure,) = log.failures(agency="qs-xf")
        log.close()
        stored = failure.payload.decode()
        assert PERSON["name"] not in stored and PERSON["id_number"] not in stored and "fq1:" in stored

        harness.heal()
        view = PersonalView(sink._protection.revealer, directory)
        (again,) = await redeliver(config, state, agency="qs-xf", view=view)
        assert again.outcome == "delivered", again
        (masked,) = harness.taken("qs-xf")
        text = str(masked.body)
        assert PERSON["name"] not in text and PERSON["id_number"] not in text
        assert (
            masked.body["data"]["person"]["id_number"]
            == PERSON["id_number"][:4] + "*" * 10 + PERSON["id_number"][-4:]
        )
        assert list(ReadLog(settings.ledger_url).reads(agency="qs-xf")) == []
        assert harness.bad_signatures == []
    finally:
        await sink.stop()
        await harness.close()
