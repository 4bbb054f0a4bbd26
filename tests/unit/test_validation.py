"""The input rules (schemas/validation.py), rule by rule: what docs/publishing.md's table says."""

from __future__ import annotations

import json

import pytest

from fengqiao.schemas.validation import (
    MAX_DEPTH,
    Invalid,
    decode,
    depth_error,
    division_error,
    envelope_errors,
    id_error,
    text_error,
    tree_errors,
)

NAMES = {"ReleaseNoticeIssued"}


@pytest.mark.parametrize("code", ["339901", "339901001", "339901001001"])
def test_a_division_code_is_6_9_or_12_ascii_digits(code: str) -> None:
    assert division_error("c", code) is None


@pytest.mark.parametrize(
    "code", ["３３９９０１", "٣٣٩٩٠١", "339901\n", "3399010", "", " 339901", "33990１", 339901, None]
)
def test_anything_else_is_not(code: object) -> None:
    assert division_error("c", code) is not None


@pytest.mark.parametrize("good", ["XS-2026-0001", "a", "urn:uuid:1f6c", "x.y_z", "A" * 128])
def test_ids(good: str) -> None:
    assert id_error("id", good) is None


@pytest.mark.parametrize(
    "bad",
    [
        "",
        " ",
        "\t",
        "\u200b",
        "\u3000",
        "a/b",
        "..",
        "a..b",
        "../etc",
        "x\x00",
        "x\n",
        "-x",
        "Ｘ",
        "A" * 129,
        7,
    ],
)
def test_not_ids(bad: object) -> None:
    e = id_error("id", bad)
    assert e is not None and e.path == "id" and e.reason


def test_agency_ids_are_lower_case_and_references_may_hold_a_slash() -> None:
    assert id_error("source", "qs-jo-1", agency=True) is None
    assert id_error("source", "QS-JO-1", agency=True) is not None
    assert id_error("h", "XS-1/release.acknowledge/1", ref=True) is None
    assert id_error("h", "XS-1//x", ref=True) is not None and id_error("h", "XS/../x", ref=True) is not None


@pytest.mark.parametrize("ch", ["\x00", "\x07", "\x1b", "\x7f", "\x85", "\ud800", "\udfff", "\u202e"])
def test_no_control_character_or_lone_surrogate_in_text(ch: str) -> None:
    e = text_error("data.name", f"王{ch}五")
    assert e is not None and f"U+{ord(ch):04X}" in e.reason


def test_text_may_hold_lines_and_tabs_but_attributes_may_not() -> None:
    assert text_error("data.note", "一\n二\t三\r") is None
    assert text_error("id", "a\nb", attribute=True) is not None
    assert text_error("data.note", "长" * 9000) is not None


def test_depth_is_checked_before_decoding() -> None:
    ok = "[" * MAX_DEPTH + "]" * MAX_DEPTH
    assert depth_error(ok.encode()) is None and decode(ok) is not None
    assert depth_error(("[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)).encode()) is not None
    # Brackets inside strings do not nest, escaped quotes do not end a string.
    assert depth_error(json.dumps({"a": "[" * 1000 + '\\"' + "{" * 1000}).encode()) is None
    with pytest.raises(Invalid, match="deeper than"):
        decode(b"[" * 1_000_000, limit=1 << 21)
    with pytest.raises(Invalid, match="deeper than"):
        decode(b'{"a":' * 100_000 + b"1" + b"}" * 100_000, limit=1 << 21)


@pytest.mark.parametrize("raw", [b"NaN", b"[Infinity]", b"1" * 5000, b"\xff", b"{", b"[1e400]"])
def test_json_the_hub_does_not_take(raw: bytes) -> None:
    try:
        value = decode(raw)
    except Invalid as e:
        assert e.errors[0].reason
    else:
        assert tree_errors(value)  # 1e400 decodes to infinity: refused as not finite


def test_a_deep_value_built_in_memory_is_refused_without_recursion() -> None:
    v: object = "x"
    for _ in range(100_000):
        v = [v]
    assert "deeper than" in tree_errors({"data": v})[0].reason


def test_the_envelope() -> None:
    good = {"specversion": "1.0", "id": "E-1", "source": "qs-jo-1", "type": "ReleaseNoticeIssued"}
    assert envelope_errors(good, NAMES) == []

    def fields(**change: object) -> list[str]:
        return [e.path for e in envelope_errors({**good, **change}, NAMES)]

    assert fields(specversion="1.1") == ["specversion"]
    assert fields(specversion=1.0) == ["specversion"]
    assert fields(type="fengqiao.release.ReleaseNoticeIssued") == ["type"]
    assert fields(id=["E-1"]) == ["id"]
    assert fields(subject={"a": 1}) == ["subject"]
    assert fields(jurisdiction="３３９９０１") == ["jurisdiction"]
    assert fields(time="2026-10-21T13:54:46+00:00\n") == ["time"]
    assert fields(datacontenttype="text/xml") == ["datacontenttype"]
    assert fields(traceparent="00-abc") == []  # an extension is allowed, as CloudEvents says
    assert fields(Bad_Name="x") == ["'Bad_Name'"]


def test_a_null_optional_attribute_is_absent_and_spreadsheets_read_the_reasons_in_chinese() -> None:
    from fengqiao.connectors.cloudevents_json import parse
    from fengqiao.connectors.spreadsheet.rows import reason_zh
    from fengqiao.scenario import demo_events
    from fengqiao.schemas.catalogue import load
    from fengqiao.schemas.codec import Codec

    event = {**demo_events(1)[0], "subject": None, "correlationid": None}
    assert parse(Codec(load(), {}), event).envelope.subject == event["data"]["case_id"]
    assert reason_zh(text_error("x", "a\x00b").reason).startswith("含有不可见的控制字符")  # type: ignore[union-attr]
    assert reason_zh(id_error("id", "a/b").reason).startswith("编号格式不正确")  # type: ignore[union-attr]
