"""The CLI's views of personal fields (`fengqiao case show`, `fengqiao tail`): masked by default,
in clear with --reveal and a reason, that read in the read log as the operator's."""

from __future__ import annotations

from pathlib import Path

import pytest
import typer

from fengqiao.cli.personal import viewer
from fengqiao.scenario import demo_events
from fengqiao.schemas.catalogue import load
from fengqiao.settings import Settings
from fengqiao.streams.personal.access import ReadLog
from fengqiao.streams.personal.protection import Protection

NOTICE = demo_events(1)[0]
CASE = NOTICE["subject"]
PERSON = NOTICE["data"]["person"]


def sealed_case(settings: Settings) -> dict[str, object]:
    p = Protection.from_settings(settings, load(), read_log=False)
    try:
        return {
            "case_id": CASE,
            "facts": {NOTICE["type"]: p.sealer.seal(NOTICE["type"], CASE, NOTICE["data"])},
        }
    finally:
        p.close()


def test_masked_by_default_clear_with_a_reason_and_logged(tmp_path: Path) -> None:
    s = Settings(data_dir=tmp_path)
    case = sealed_case(s)
    view, protection = viewer(s, "cli:case show", False, None)
    masked = str(view(case, case_id=CASE))
    protection.close()
    assert PERSON["name"] not in masked and PERSON["id_number"] not in masked
    assert PERSON["id_number"][:4] + "*" * 10 + PERSON["id_number"][-4:] in masked
    assert list(ReadLog(s.ledger_url).reads(agency="operator")) == []

    view, protection = viewer(s, "cli:case show", True, "复核释放衔接 review")
    shown = view(case, case_id=CASE)["facts"][NOTICE["type"]]["person"]
    protection.close()
    assert shown["name"] == PERSON["name"] and shown["id_number"] == PERSON["id_number"]
    (read,) = ReadLog(s.ledger_url).reads(agency="operator")
    assert (read.entry, read.case_id, read.key_id) == ("cli:case show", CASE, "reason: 复核释放衔接 review")


def test_reveal_needs_a_reason(tmp_path: Path) -> None:
    with pytest.raises(typer.Exit):
        viewer(Settings(data_dir=tmp_path), "cli:tail", True, "  ")
