"""No 500 from bad input (issue 15): valid events mutated field by field, and raw bodies, at the
gateway in-process. Every answer is a refusal naming the rule and the fields, or a 202 for an event
that is valid (an independent sketch of validity, `plausible`, agrees)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fuzz_rig import BODIES, CE, Case, Rig, examples, gateway, mutated, plausible, refused_with_reason, seeds
from hypothesis import event, given
from hypothesis import strategies as st


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    with gateway(tmp_path_factory.mktemp("fuzz-gateway")) as r:
        yield r


@pytest.fixture(scope="module")
def valid(rig: Rig) -> list[dict[str, Any]]:
    """The seeds the gateway accepts from their own sender (those that may open a case)."""
    good = []
    for e in seeds():
        r = rig.http.post("/v1/events", json=e, headers=rig.auth(e["source"]))
        assert r.status_code in (202, 403), r.text
        if r.status_code == 202:
            good.append(e)
    assert len(good) >= 5, "too few seeds to mutate"
    return good


def judge(rig: Rig, case: Case, status: int, body: Any) -> None:
    event(f"status {status}{' (must refuse)' if case.must_refuse else ''}")
    assert status < 500, (case.what, body)
    if status == 202:
        assert not case.must_refuse, f"accepted although {case.what}"
        assert plausible(case.event), f"accepted an implausible event: {case.what}"
    else:
        refused_with_reason(status, body)


def post(rig: Rig, body: Any, source: Any) -> tuple[int, Any]:
    agency = source if isinstance(source, str) and source in rig.service.hub.directory else "zj-prison-2"
    text = json.dumps(body, ensure_ascii=False).encode("utf-8", "surrogatepass")
    r = rig.http.post("/v1/events", content=text, headers=rig.auth(agency))
    return r.status_code, r.json()


@examples(800)
@given(data=st.data())
def test_a_mutated_event_is_refused_with_a_reason_or_is_valid(
    rig: Rig, valid: list, data: st.DataObject
) -> None:
    case = data.draw(mutated(valid))
    source = case.event.get("source") if isinstance(case.event, dict) else None
    status, body = post(rig, case.event, source)
    judge(rig, case, status, body)
    if status == 400 and body["error"]["rule"] == "invalid-event":
        assert all(f["field"] is not None for f in body["error"]["fields"])


@examples(200)
@given(data=st.data())
def test_a_batch_with_a_mutated_event_is_all_or_nothing(rig: Rig, valid: list, data: st.DataObject) -> None:
    case = data.draw(mutated(valid))
    first = dict(data.draw(st.sampled_from(valid)))
    first["id"] = f"{first['id']}-b{len(rig.publisher.log)}"
    source = case.event.get("source") if isinstance(case.event, dict) else None
    before = len(rig.publisher.log)
    status, body = post(rig, [first, case.event], source)
    judge(rig, case, status, body)
    if status != 202:
        assert len(rig.publisher.log) == before, "a refused batch published something"


@examples(300)
@given(body=BODIES)
def test_raw_bodies_never_get_a_server_error(rig: Rig, body: bytes) -> None:
    r = rig.http.post("/v1/events", content=body, headers=rig.auth("zj-prison-2"))
    assert r.status_code < 500, (body[:80], r.text[:300])
    refused_with_reason(r.status_code, r.json())


@examples(200)
@given(
    case_id=st.text(max_size=300),
    ctype=st.sampled_from([*CE.values(), "application/json; charset=x", "text/plain"]),
)
def test_odd_case_ids_and_headers_never_get_a_server_error(rig: Rig, case_id: str, ctype: str) -> None:
    from urllib.parse import quote

    path = "/v1/cases/" + quote(case_id.encode("utf-8", "surrogatepass"), safe="")
    r = rig.http.get(path, headers=rig.auth("qs-jb"))
    assert r.status_code < 500, (case_id, r.text[:300])
    refused_with_reason(r.status_code, r.json())
    r = rig.http.post("/v1/events", content=b"{}", headers={**rig.auth("qs-jb"), "Content-Type": ctype})
    assert 400 <= r.status_code < 500, r.text


def test_a_hundred_thousand_brackets_are_refused_before_decoding(rig: Rig) -> None:
    r = rig.http.post("/v1/events", content=b"[" * 100_000 + b"]" * 100_000, headers=rig.auth("qs-jb"))
    assert r.status_code == 400 and "deeper than" in r.json()["error"]["fields"][0]["reason"]


def test_bad_input_the_issue_found_is_refused(rig: Rig, valid: list) -> None:
    """The 202s of issue 15, each refused now, naming the field."""
    notice = next(e for e in valid if e["type"] == "ReleaseNoticeIssued")

    def refuses(field: str, change: dict[str, Any], data: dict[str, Any] | None = None) -> None:
        event = {**notice, "id": f"{notice['id']}-{len(rig.publisher.log)}-{field}", **change}
        event = {k: v for k, v in event.items() if v is not None}
        if data is not None:
            event["data"] = {**notice["data"], **data}
        status, body = post(rig, event, notice["source"])
        assert status == 400, (field, body)
        assert field in [f["field"] for f in body["error"]["fields"]], (field, body)

    res = notice["data"]["residence"]
    refuses("data.residence.code", {}, {"residence": {**res, "code": "３３９９０１００１００１"}})
    refuses("data.residence.code", {}, {"residence": {**res, "code": "339901001001\n"}})
    refuses("jurisdiction", {"jurisdiction": "٣٣٩٩٠١"})
    for bad_id in ("a/b", "..", "a..b", "x\x00", "   ", "\u200b", "x" * 129, "ＸＳ-1"):
        refuses("id", {"id": bad_id})
    for bad_case in ("XS/../1", " ", "\u200bXS"):
        refuses("subject", {"subject": bad_case})
        refuses("data.case_id", {"subject": None}, {"case_id": bad_case})
    refuses("specversion", {"specversion": "1.1"})
    refuses("type", {"type": "fengqiao.release.ReleaseNoticeIssued"})
    refuses("data.person.name", {}, {"person": {**notice["data"]["person"], "name": "王\ud800"}})
    refuses(
        "data.person.id_number",
        {},
        {"person": {**notice["data"]["person"], "id_number": "１１010519491231002X"}},
    )
