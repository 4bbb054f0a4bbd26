"""Personal data protection, as a newcomer reads it (docs/personal-data.md): what is sealed, how a
reader sees it, what is logged, what the rules still find."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import throwaway_sealer

from fengqiao.connectors.cloudevents_json import Refused, parse
from fengqiao.scenario import demo_events
from fengqiao.schemas.catalogue import load
from fengqiao.schemas.codec import Codec, plain_codec
from fengqiao.schemas.samples import sample_event
from fengqiao.settings import Settings
from fengqiao.streams.personal.access import ReadLog
from fengqiao.streams.personal.protection import Protection
from fengqiao.streams.personal.reveal import ERASED, UNREADABLE, Reader, Revealer, mask
from fengqiao.streams.personal.seal import PREFIX, Plans, Sealed, in_clear
from fengqiao.streams.registers import Register

CAT = load()
READER = Reader("qs-jo-1", "test")


@pytest.fixture
def protection(tmp_path: Path) -> Protection:
    p = Protection.from_settings(Settings(data_dir=tmp_path), CAT)
    yield p
    p.close()


def notice(case_id: str = "XS-1") -> dict:
    ev = next(e for e in demo_events(1) if e["type"] == "ReleaseNoticeIssued")
    return plain_codec().from_json("ReleaseNoticeIssued", {**ev["data"], "case_id": case_id})


def test_every_text_field_marked_pii_is_sealed_and_nothing_else() -> None:
    plans = Plans(CAT)
    assert plans.text_fields("ReleaseNoticeIssued") == ["person.name", "person.id_number", "person.phone"]
    assert "parties[].id_number" in plans.text_fields("DisputeRegistered")
    assert "mediators[]" in plans.text_fields("MediationSessionHeld")
    # Flags, numbers and enums stay in clear: the rules read them (legal aid's means test).
    assert not any("on_assistance_register" in f for f in plans.text_fields("LegalAidApplied"))
    for ev in CAT:  # a sample of every event, sealed, has nothing personal left in clear
        record = sample_event(ev, "C-1")
        sealed = throwaway_sealer(CAT).seal(ev.name, "C-1", record) if plans[ev.name] else record
        assert in_clear(plans, ev.name, sealed) == [], ev.name


def test_a_sealed_value_names_its_cipher_kind_person_and_key_version(protection: Protection) -> None:
    sealed = protection.sealer.seal("ReleaseNoticeIssued", "XS-1", notice())
    s = Sealed.parse(sealed["person"]["id_number"])
    assert sealed["person"]["id_number"].startswith(PREFIX)
    assert (s.cipher, s.kind, s.version) == ("aes-256-gcm", "id", 1)
    assert s.subject == protection.keys.index.person(notice()["person"]["id_number"], None)
    again = protection.sealer.seal("ReleaseNoticeIssued", "XS-1", notice())
    assert again["person"]["name"] != sealed["person"]["name"]  # a fresh nonce per field
    assert sealed["person"]["person_id"] == notice()["person"]["person_id"]  # a pseudonym, not sealed


def test_a_reader_sees_clear_or_masked_and_only_clear_reads_are_logged(protection: Protection) -> None:
    plain = notice()
    sealed = protection.sealer.seal("ReleaseNoticeIssued", "XS-1", plain)
    assert protection.reveal(sealed, READER, clear=True)["person"] == plain["person"]
    masked = protection.reveal(sealed, Reader("qs-xf", "test"), clear=False)["person"]
    ric = plain["person"]["id_number"]
    assert masked["id_number"] == ric[:4] + "*" * 10 + ric[-4:]
    assert masked["phone"] == plain["person"]["phone"][:3] + "****" + plain["person"]["phone"][-4:]
    assert protection.read_log is not None
    [read] = list(protection.read_log.reads())
    assert (read.agency, read.entry, read.case_id) == ("qs-jo-1", "test", "XS-1")
    assert read.fields == ("person.id_number", "person.name", "person.phone")


def test_an_altered_sealed_value_does_not_open_and_an_erased_one_says_so(protection: Protection) -> None:
    sealed = protection.sealer.seal("ReleaseNoticeIssued", "XS-1", notice())
    name = sealed["person"]["name"]
    moved = name.replace(":name:", ":text:")  # the header is authenticated with the value
    assert protection.reveal({"v": moved}, READER, clear=True)["v"] == UNREADABLE
    protection.keys.erase(Sealed.parse(name).subject)
    assert protection.reveal({"v": name}, READER, clear=True)["v"] == ERASED


def test_masks() -> None:
    assert mask("id", "33010219850312004X") == "3301**********004X"
    assert mask("phone", "13812345678") == "138****5678"
    assert mask("name", "张三") == "张*" and mask("text", "住在东溪村") == "***"


def test_without_keys_every_sealed_value_is_masked(protection: Protection) -> None:
    sealed = protection.sealer.seal("ReleaseNoticeIssued", "XS-1", notice())
    assert Revealer(None).reveal(sealed, READER, clear=True)["person"]["name"] == "***"


def test_the_read_log_names_a_row_altered_removed_or_cut_off(tmp_path: Path) -> None:
    log = ReadLog(f"sqlite:///{tmp_path / 'l.db'}")
    for i in range(3):
        log.record(agency="qs-jo-1", entry="test", case_id=f"C{i}", persons=["pA"], fields=["person.name"])
    assert log.verify() == []
    with log._engine.begin() as c:
        c.exec_driver_sql("UPDATE personal_reads SET agency = 'qs-xf' WHERE id = 2")
    assert [(p.read_id, "altered" in p.what) for p in log.verify()] == [(2, True)]
    with log._engine.begin() as c:
        c.exec_driver_sql("UPDATE personal_reads SET agency = 'qs-jo-1' WHERE id = 2")
        c.exec_driver_sql("DELETE FROM personal_reads WHERE id = 3")
    assert [p.read_id for p in log.verify()] == [2]  # the head names a last row that is gone
    log.close()


def test_a_register_finds_a_sealed_id_number_by_its_pseudonym(protection: Protection) -> None:
    ric = notice()["person"]["id_number"]
    reg = Register("assistance", "id_number", {ric: {"status": "low_income"}}, "d" * 64)
    sealed = protection.sealer.seal("ReleaseNoticeIssued", "XS-1", notice())["person"]["id_number"]
    assert reg.get(sealed) is None  # not indexed: nothing to find it by
    assert reg.indexed(protection.keys.index).get(sealed) == {"status": "low_income"}


def test_an_intake_refuses_a_value_already_sealed() -> None:
    codec = Codec(CAT, {})
    event = next(e for e in demo_events(1) if e["type"] == "ReleaseNoticeIssued")
    event["data"]["person"]["name"] = "fq1:aes-256-gcm:name:pX:1:AAAA"
    with pytest.raises(Refused) as r:
        parse(codec, event)
    assert [e.path for e in r.value.errors] == ["data.person.name"]


def test_the_gm_suite_seals_with_sm4(tmp_path: Path) -> None:
    p = Protection.from_settings(Settings(data_dir=tmp_path, crypto_suite="gm"), CAT)
    try:
        sealed = p.sealer.seal("ReleaseNoticeIssued", "XS-1", notice())
        assert Sealed.parse(sealed["person"]["name"]).cipher == "sm4-gcm"
        assert p.reveal(sealed, READER, clear=True)["person"] == notice()["person"]
    finally:
        p.close()


def test_an_id_number_of_a_region_the_code_list_lacks_is_refused_with_a_reason() -> None:
    """python-stdnum raised KeyError for it, which the gateway answered with a 500."""
    from fengqiao.schemas.codec import _check
    from fengqiao.schemas.samples import sample_ric

    assert "region code 339901 is unknown" in (_check("cn.ric", sample_ric(5, "339901")) or "")
    assert _check("cn.ric", sample_ric(5)) is None
