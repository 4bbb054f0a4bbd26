"""The agency directory: loading (YAML, CSV) with clear errors, longest-prefix routing, superiors."""

from __future__ import annotations

from pathlib import Path

import pytest

from fengqiao.streams.directory import Agency, Directory, DirectoryError, load_demo, to_ref

SCENARIO_IDS = [
    "qs-court",
    "qs-tribunal-1",
    "qs-ps-1",
    "qs-jo-1",
    "qs-jb",
    "qs-ca",
    "qs-proc",
    "qs-xf",
    "qs-notary",
    "zj-prison-2",
]


@pytest.fixture(scope="module")
def demo() -> Directory:
    return load_demo()


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_demo_directory_has_the_agencies_of_the_issue(demo: Directory) -> None:
    for aid in SCENARIO_IDS:
        assert aid in demo
    assert [a.id for a in demo.children("qs-court")] == ["qs-tribunal-1", "qs-tribunal-2"]
    assert [a.id for a in demo.children("qs-psb")] == ["qs-ps-1", "qs-ps-2", "qs-ps-3", "qs-ps-4"]
    assert [a.id for a in demo.of_type("judicial_office") if a.parent == "qs-jb"] == [
        f"qs-jo-{i}" for i in range(1, 7)
    ]
    assert demo.get("qs-jb-corrections").roles == ("corrections_agency",)
    assert demo.get("qs-jb-legalaid").roles == ("legal_aid_centre",)
    services = {s for a in demo.of_type("service_body") for s in a.services}
    assert services == {
        "notary",
        "arbitration",
        "reconsideration",
        "enforcement_feedback",
        "legislative_opinion",
    }
    assert demo.ambiguities() == []
    assert demo.division_name("339901001001") == "东溪村"


def test_every_township_of_qingshan_has_its_office_station_and_tribunal(demo: Directory) -> None:
    for t in range(1, 7):
        code = f"339901{t:03d}001"
        assert demo.route("judicial_office", code).id == f"qs-jo-{t}"
        assert demo.route("police_station", code) is not None
        assert demo.route("tribunal", code).id == ("qs-tribunal-1" if t <= 3 else "qs-tribunal-2")
        assert demo.route("court", code).id == "qs-court"


def test_longest_prefix_wins(demo: Directory) -> None:
    # 白石镇 (339901002) is qs-ps-1's, but its village 梅溪村 (…002004) is listed under qs-ps-2.
    assert demo.route("police_station", "339901002003").id == "qs-ps-1"
    assert demo.route("police_station", "339901002004").id == "qs-ps-2"
    assert [a.id for a in demo.candidates("police_station", "339901002004")] == ["qs-ps-2", "qs-ps-1"]
    # A township code itself routes to the township's office; a county code to no office.
    assert demo.route("judicial_office", "339901004").id == "qs-jo-4"
    assert demo.route("judicial_office", "339901") is None


def test_roles_and_services(demo: Directory) -> None:
    village = "339901005002"
    assert demo.route("judicial_bureau", village).id == "qs-jb"  # the role-less bureau first
    assert demo.route("judicial_bureau", village, "corrections_agency").id == "qs-jb-corrections"
    assert demo.route("judicial_bureau", village, "legal_aid_centre").id == "qs-jb-legalaid"
    assert demo.route("service_body", village, service="notary").id == "qs-notary"
    assert demo.route("service_body", village, service="arbitration").id == "qs-arb"
    # 白云县 has a corrections agency but no legal aid centre in the demo.
    assert demo.route("judicial_bureau", "339902001002", "corrections_agency").id == "by-jb-corrections"
    assert demo.route("judicial_bureau", "339902001002", "legal_aid_centre") is None


def test_other_county_and_uncovered_codes(demo: Directory) -> None:
    assert demo.route("judicial_office", "339902002001").id == "by-jo-2"
    assert demo.route("police_station", "339902002001").id == "by-ps-1"
    assert demo.route("judicial_office", "339903001001") is None  # no such county in the directory
    assert demo.county_bureau("339901006003").id == "qs-jb"
    assert demo.county_bureau("339902002001").id == "by-jb"
    assert demo.county_bureau("339903001001") is None
    with pytest.raises(ValueError, match="division code"):
        demo.route("judicial_office", "33990100")
    with pytest.raises(ValueError, match="unknown agency type"):
        demo.route("judicial_offce", "339901001")


def test_superior_get_and_ref(demo: Directory) -> None:
    assert demo.superior("qs-jo-3").id == "qs-jb"
    assert demo.superior("qs-tribunal-2").id == "qs-court"
    assert demo.superior("qs-ps-4").id == "qs-psb"
    assert demo.superior("qs-jb") is None
    with pytest.raises(KeyError, match="qs-nope"):
        demo.get("qs-nope")
    assert to_ref(demo.get("qs-jo-1")) == {
        "agency_id": "qs-jo-1",
        "agency_type": "judicial_office",
        "name": "青山镇司法所",
    }


def test_ties_are_broken_by_id(tmp_path: Path) -> None:
    d = Directory.from_records(
        [
            {"id": "b-office", "type": "judicial_office", "name": "乙", "jurisdiction": ["339901001"]},
            {"id": "a-office", "type": "judicial_office", "name": "甲", "jurisdiction": ["339901001"]},
        ]
    )
    assert d.route("judicial_office", "339901001001").id == "a-office"
    assert d.ambiguities() == ["a-office and b-office both cover 339901001 as judicial_office"]


def test_csv_directory(tmp_path: Path) -> None:
    write(
        tmp_path,
        "agencies.csv",
        "id,type,name,parent,jurisdiction,roles\n"
        "x-jb,judicial_bureau,某县司法局,,339901,\n"
        "x-jb-c,judicial_bureau,某县社区矫正管理局,x-jb,339901,corrections_agency\n"
        "x-jo,judicial_office,某镇司法所,x-jb,339901001;339901002001,\n",
    )
    d = Directory.load(tmp_path)
    assert d.get("x-jo") == Agency(
        id="x-jo",
        type="judicial_office",
        name="某镇司法所",
        parent="x-jb",
        jurisdiction=("339901001", "339901002001"),
    )
    assert d.route("judicial_office", "339901002001").id == "x-jo"
    assert d.route("judicial_bureau", "339901002001", "corrections_agency").id == "x-jb-c"
    assert d.superior("x-jb-c").id == "x-jb"


@pytest.mark.parametrize(
    ("agencies", "message"),
    [
        (
            "- {id: a, type: judicial_offce, name: 甲, jurisdiction: ['339901001']}",
            r"agency a: field 'type': unknown agency type 'judicial_offce'",
        ),
        (
            "- {id: a, type: court, name: 甲, jurisdiction: ['339901']}\n"
            "- {id: a, type: court, name: 乙, jurisdiction: ['339902']}",
            r"agency a: field 'id': duplicate id",
        ),
        (
            "- {id: a, type: tribunal, name: 甲, parent: qs-court, jurisdiction: ['339901001']}",
            r"agency a: field 'parent': parent 'qs-court' not found",
        ),
        (
            "- {id: a, type: judicial_office, name: 甲, jurisdiction: ['3399010011']}",
            r"agency a: field 'jurisdiction': '3399010011' is not a division code",
        ),
        (
            "- {id: a, type: judicial_office, name: 甲, jurisdiction: ['33990A']}",
            r"agency a: field 'jurisdiction': '33990A' is not a division code",
        ),
        (
            "- {id: a, type: judicial_office, name: 甲, jurisdiction: []}",
            r"agency a: field 'jurisdiction': at least one division code",
        ),
        (
            "- {id: a, type: judicial_bureau, name: 甲, jurisdiction: ['339901'], roles: [corrections]}",
            r"agency a: field 'roles': unknown role 'corrections'",
        ),
        (
            "- {id: a, type: service_body, name: 甲, jurisdiction: ['339901'], services: [notarize]}",
            r"agency a: field 'services': unknown service type 'notarize'",
        ),
        ("- {id: a, type: court, jurisdiction: ['339901']}", r"agency a: field 'name'"),
        (
            "- {id: a, type: court, name: 甲, jurisdictoin: ['339901']}",
            r"agency a: field 'jurisdictoin': unknown",
        ),
        ("- {type: court, name: 甲, jurisdiction: ['339901']}", r"agency #1: field 'id'"),
        (
            "- {id: a, type: court, name: 甲, parent: b, jurisdiction: ['339901']}\n"
            "- {id: b, type: court, name: 乙, parent: a, jurisdiction: ['339901']}",
            r"loops",
        ),
    ],
)
def test_errors_name_the_file_the_agency_and_the_field(tmp_path: Path, agencies: str, message: str) -> None:
    text = "agencies:\n" + "\n".join("  " + line for line in agencies.splitlines())
    path = write(tmp_path, "agencies.yaml", text)
    with pytest.raises(DirectoryError, match=message) as e:
        Directory.load(path)
    assert str(path) in str(e.value)


def test_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(DirectoryError, match=r"no agencies\.yaml"):
        Directory.load(tmp_path)
    write(tmp_path, "agencies.yaml", "agencies: []\n")
    write(tmp_path, "agencies.csv", "id,type,name,parent,jurisdiction,roles\n")
    with pytest.raises(DirectoryError, match="several directory files"):
        Directory.load(tmp_path)
    bad = write(tmp_path, "x.yaml", "agencies: [\n")
    with pytest.raises(DirectoryError, match="not valid YAML"):
        Directory.load(bad)
    csv = tmp_path / "sub"
    csv.mkdir()
    write(csv, "agencies.csv", "id,type,name\n")
    with pytest.raises(DirectoryError, match="missing column"):
        Directory.load(csv)
