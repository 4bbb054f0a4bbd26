"""The agency directory (机构目录): who is who, who is whose superior, and who covers which place.

Pure: it reads one YAML or CSV file and answers questions; no Kafka, no Faust.

Every agency has an id, a type (an ``AgencyType`` symbol of the Avro catalogue), a Chinese name,
a parent (its superior, 上级机关) and a jurisdiction (管辖区域): administrative division codes of
6 (county, 县级), 9 (township, 乡镇级) or 12 digits (village, 村级). Some agencies carry
``roles`` (the county judicial bureau's community corrections agency, 社区矫正机构, and legal aid
centre, 法律援助中心) and service bodies carry ``services`` (一所六站点 service types).

Routing (`Directory.route`) picks, among agencies of the wanted type (and role or service), the
one whose jurisdiction has the **longest prefix match** with the division code: a 12-digit village
entry beats a 9-digit township entry, which beats a 6-digit county entry. Ties (two agencies
matching with equally long codes) are broken deterministically: when no role is asked for, an
agency without roles (the bureau itself) comes before one with roles (its corrections agency);
then the smaller agency id wins (plain string order). A directory should not have such ties;
`Directory.ambiguities` lists them.

File format (``agencies.yaml``)::

    divisions:            # optional: names of division codes, for display
      "339901": 青山县
    agencies:
      - id: qs-jb
        type: judicial_bureau
        name: 青山县司法局
        parent: null
        jurisdiction: ["339901"]
        roles: []         # optional
        services: []      # optional, service bodies only
    grants:               # optional: places outside an agency's area where it may publish
      - {agency: zj-prison-2, events: [ReleaseNoticeIssued], fields: [residence], places: ["33"],
         why: releases people to residences anywhere in the province}

(`streams/grants.py` says what a grant holds and how it is checked.)

or ``agencies.csv`` with the columns ``id,type,name,parent,jurisdiction,roles`` (and optionally
``services``); lists inside a cell are separated by semicolons.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from fengqiao.schemas.catalogue import AVRO_DIR
from fengqiao.schemas.validation import AGENCY_ID_RE as ID_RE
from fengqiao.schemas.validation import DIVISION_RE

from .grants import Grant, GrantError
from .grants import check as check_grants
from .personal.readers import ClearReaders, ReadersError

# The directory's codes and ids follow the input rules (ASCII digits, anchored at \Z).
FILE_NAMES = ("agencies.yaml", "agencies.yml", "agencies.csv")
DEMO_DIR = Path(__file__).resolve().parent.parent / "infra" / "deployments" / "demo"

# Roles an agency may carry inside its type (部门职能).
KNOWN_ROLES: frozenset[str] = frozenset({"corrections_agency", "legal_aid_centre"})


def _enum_symbols(name: str) -> tuple[str, ...]:
    return tuple(json.loads((AVRO_DIR / "common" / f"{name}.avsc").read_text(encoding="utf-8"))["symbols"])


@cache
def agency_types() -> tuple[str, ...]:
    """The ``AgencyType`` symbols (机构类型) of the catalogue."""
    return _enum_symbols("AgencyType")


@cache
def service_types() -> tuple[str, ...]:
    """The ``ServiceType`` symbols (一所六站点) of the catalogue."""
    return _enum_symbols("ServiceType")


class DirectoryError(ValueError):
    """The directory file is malformed; the message names the file, the agency and the field."""


def check_division_code(code: str) -> str | None:
    """Why ``code`` is not a division code (行政区划代码), or None if it is one."""
    if not isinstance(code, str) or not DIVISION_RE.match(code):
        return f"{code!r} is not a division code (6, 9 or 12 digits)"
    return None


@dataclass(frozen=True)
class Agency:
    """One agency (机构) of the directory."""

    id: str
    type: str
    name: str
    parent: str | None = None
    jurisdiction: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    services: tuple[str, ...] = ()

    def covers(self, code: str) -> int:
        """Length of the longest jurisdiction code that is a prefix of ``code`` (0: not covered)."""
        return max((len(j) for j in self.jurisdiction if code.startswith(j)), default=0)


def to_ref(agency: Agency) -> dict[str, Any]:
    """The ``fengqiao.common.AgencyRef`` record of an agency."""
    return {"agency_id": agency.id, "agency_type": agency.type, "name": agency.name}


@dataclass
class Directory:
    """All agencies of a deployment, indexed by id, with routing by place."""

    agencies: dict[str, Agency]
    divisions: dict[str, str] = field(default_factory=dict)
    source: str = "<memory>"
    grants: tuple[Grant, ...] = ()
    personal: ClearReaders = field(default_factory=ClearReaders)

    # -- loading ---------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path) -> Directory:
        """Load ``agencies.yaml`` (or ``.yml``, or ``agencies.csv``) from a folder, or one such file."""
        path = Path(path)
        if path.is_dir():
            found = [path / n for n in FILE_NAMES if (path / n).is_file()]
            if not found:
                raise DirectoryError(f"{path}: no {' or '.join(FILE_NAMES)} in this folder")
            if len(found) > 1:
                raise DirectoryError(
                    f"{path}: several directory files ({', '.join(f.name for f in found)}); keep one"
                )
            path = found[0]
        if not path.is_file():
            raise DirectoryError(f"{path}: no such file")
        grants: Any = None
        personal: Any = None
        if path.suffix.lower() == ".csv":
            rows, divisions = _read_csv(path), {}
        elif path.suffix.lower() in (".yaml", ".yml"):
            rows, divisions, grants, personal = _read_yaml(path)
        else:
            raise DirectoryError(f"{path}: a directory file is .yaml, .yml or .csv")
        return cls.from_records(rows, divisions=divisions, source=str(path), grants=grants, personal=personal)

    @classmethod
    def from_records(
        cls,
        rows: Iterable[Mapping[str, Any]],
        *,
        divisions: Mapping[Any, Any] | None = None,
        source: str = "<memory>",
        grants: Any = None,
        personal: Any = None,
    ) -> Directory:
        """Build and validate a directory from plain dicts (one per agency)."""
        agencies: dict[str, Agency] = {}
        for i, row in enumerate(rows):
            agency = _agency(row, i, source)
            if agency.id in agencies:
                raise DirectoryError(f"{source}: agency {agency.id}: field 'id': duplicate id")
            agencies[agency.id] = agency
        for a in agencies.values():
            if a.parent is not None and a.parent not in agencies:
                raise DirectoryError(
                    f"{source}: agency {a.id}: field 'parent': parent {a.parent!r} not found"
                )
        for a in agencies.values():  # no cycles in the chain of superiors
            seen, cur = {a.id}, a.parent
            while cur is not None:
                if cur in seen:
                    raise DirectoryError(
                        f"{source}: agency {a.id}: field 'parent': the chain of parents loops"
                    )
                seen.add(cur)
                cur = agencies[cur].parent
        names: dict[str, str] = {}
        for code, name in (divisions or {}).items():
            code = str(code)
            if err := check_division_code(code):
                raise DirectoryError(f"{source}: divisions: {err}")
            names[code] = str(name)
        try:
            checked = check_grants(grants, {a.id: a.type for a in agencies.values()}, source, agency_types())
        except GrantError as e:
            raise DirectoryError(str(e)) from e
        try:
            readers = ClearReaders.parse(personal, source, agency_types(), set(agencies))
        except ReadersError as e:
            raise DirectoryError(str(e)) from e
        return cls(agencies=agencies, divisions=names, source=source, grants=checked, personal=readers)

    def sees_personal(self, agency_id: str) -> bool:
        """The agency sees personal fields in clear where it may read the case (``personal_data``)."""
        a = self.agencies.get(agency_id)
        return a is not None and self.personal.sees(a.id, a.type, a.roles)

    # -- lookups -----------------------------------------------------------------------------
    def get(self, agency_id: str) -> Agency:
        """The agency with this id; KeyError naming the id if there is none."""
        try:
            return self.agencies[agency_id]
        except KeyError:
            raise KeyError(f"no agency {agency_id!r} in the directory {self.source}") from None

    def __contains__(self, agency_id: object) -> bool:
        return agency_id in self.agencies

    def __iter__(self) -> Iterator[Agency]:
        return iter(self.agencies.values())

    def __len__(self) -> int:
        return len(self.agencies)

    def superior(self, agency_id: str) -> Agency | None:
        """The parent (上级) of an agency, or None at the top of the directory."""
        parent = self.get(agency_id).parent
        return None if parent is None else self.agencies[parent]

    def children(self, agency_id: str) -> list[Agency]:
        """Agencies whose parent is ``agency_id``, by id."""
        return sorted((a for a in self if a.parent == agency_id), key=lambda a: a.id)

    def of_type(self, agency_type: str) -> list[Agency]:
        """Agencies of one type, by id."""
        return sorted((a for a in self if a.type == agency_type), key=lambda a: a.id)

    def grants_for(self, agency: Agency, event_type: str) -> list[Grant]:
        """The grants that let ``agency`` name places outside its area in an ``event_type``."""
        return [g for g in self.grants if g.applies(agency.id, agency.type, event_type)]

    def division_name(self, code: str) -> str | None:
        return self.divisions.get(code)

    # -- routing -----------------------------------------------------------------------------
    def candidates(
        self, agency_type: str, division_code: str, role: str | None = None, service: str | None = None
    ) -> list[Agency]:
        """Every agency that could serve, best first (the order `route` uses)."""
        if agency_type not in agency_types():
            raise ValueError(
                f"unknown agency type {agency_type!r}; expected one of {', '.join(agency_types())}"
            )
        if err := check_division_code(division_code):
            raise ValueError(err)
        scored = []
        for a in self:
            if a.type != agency_type:
                continue
            if role is not None and role not in a.roles:
                continue
            if service is not None and service not in a.services:
                continue
            depth = a.covers(division_code)
            if depth:
                # longest match first; without a role asked for, the role-less agency first; then id
                scored.append(((-depth, role is None and bool(a.roles), a.id), a))
        return [a for _, a in sorted(scored, key=lambda t: t[0])]

    def route(
        self, agency_type: str, division_code: str, role: str | None = None, *, service: str | None = None
    ) -> Agency | None:
        """The agency of ``agency_type`` (with ``role`` / ``service`` if given) whose jurisdiction is
        the longest prefix match of ``division_code``; None when no such agency covers it.

        Ties: the role-less agency first when no role is asked for, then the smallest id.
        """
        key = (agency_type, division_code, role, service)
        routes = self._routes()
        if key not in routes:
            found = self.candidates(agency_type, division_code, role, service)  # raises for a bad ask
            routes[key] = found[0] if found else None
        return routes[key]

    def _routes(self) -> dict[tuple[Any, ...], Agency | None]:
        """Routes found so far: the engine routes the same few places for every case. Kept while the
        agencies are the same mapping of the same size (a directory is built anew, not edited)."""
        cache = self.__dict__.get("_route_cache")
        if cache is None or cache[0] is not self.agencies or cache[1] != len(self.agencies):
            cache = (self.agencies, len(self.agencies), {})
            self.__dict__["_route_cache"] = cache
        return cache[2]

    def county_bureau(self, division_code: str) -> Agency | None:
        """The county judicial bureau (县司法局) for a division: where `RoutingFailed` is addressed.

        The role-less ``judicial_bureau`` covering the code's county (its first 6 digits); None
        if the directory has none for that county.
        """
        county = division_code[:6]
        for a in self.candidates("judicial_bureau", division_code):
            if not a.roles and a.covers(county):
                return a
        return None

    def ambiguities(self) -> list[str]:
        """Pairs of agencies of the same type, roles and services that list the same code (routing
        ties, broken by id); an empty list for a clean directory."""
        seen: dict[tuple[str, tuple[str, ...], tuple[str, ...], str], str] = {}
        found = []
        for a in sorted(self, key=lambda a: a.id):
            for code in a.jurisdiction:
                key = (a.type, tuple(sorted(a.roles)), tuple(sorted(a.services)), code)
                if key in seen:
                    found.append(f"{seen[key]} and {a.id} both cover {code} as {a.type}")
                else:
                    seen[key] = a.id
        return found


def load_demo() -> Directory:
    """The demo directory of the fictional 青山县 (339901) and 白云县 (339902)."""
    return Directory.load(DEMO_DIR)


# -- parsing ---------------------------------------------------------------------------------------
def _read_yaml(path: Path) -> tuple[list[Mapping[str, Any]], Mapping[Any, Any], Any, Any]:
    try:
        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml when available
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except yaml.YAMLError as e:
        raise DirectoryError(f"{path}: not valid YAML: {e}") from e
    if isinstance(data, list):
        return data, {}, None, None
    if not isinstance(data, dict) or not isinstance(data.get("agencies"), list):
        raise DirectoryError(f"{path}: expected a mapping with an 'agencies' list")
    divisions = data.get("divisions") or {}
    if not isinstance(divisions, dict):
        raise DirectoryError(f"{path}: 'divisions' must map division codes to names")
    if unknown := set(data) - {"divisions", "agencies", "grants", "personal_data"}:
        raise DirectoryError(f"{path}: unknown section {sorted(map(str, unknown))[0]!r}")
    return data["agencies"], divisions, data.get("grants"), data.get("personal_data")


def _read_csv(path: Path) -> list[Mapping[str, Any]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.DictReader(f)
        missing = {"id", "type", "name", "parent", "jurisdiction"} - set(reader.fieldnames or [])
        if missing:
            raise DirectoryError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        rows = []
        for row in reader:
            lists = ("jurisdiction", "roles", "services")
            rows.append(
                {
                    k: _split(v) if k in lists else (v or "").strip() or None
                    for k, v in row.items()
                    if k is not None
                }
            )
        return rows


def _split(cell: str | None) -> list[str]:
    return [p.strip() for p in (cell or "").split(";") if p.strip()]


def _agency(row: Mapping[str, Any], index: int, source: str) -> Agency:
    if not isinstance(row, Mapping):
        raise DirectoryError(f"{source}: agency #{index + 1}: expected a mapping, got {type(row).__name__}")
    aid = row.get("id")
    who = f"agency {aid}" if aid else f"agency #{index + 1}"

    def bad(fieldname: str, msg: str) -> DirectoryError:
        return DirectoryError(f"{source}: {who}: field {fieldname!r}: {msg}")

    unknown = set(row) - {"id", "type", "name", "parent", "jurisdiction", "roles", "services"}
    if unknown:
        raise bad(sorted(unknown)[0], "unknown field")
    if not isinstance(aid, str) or not ID_RE.match(aid):
        raise bad("id", f"{aid!r} is not an id (lower-case letters, digits, '-' and '_')")
    atype = row.get("type")
    if atype not in agency_types():
        raise bad("type", f"unknown agency type {atype!r}; expected one of {', '.join(agency_types())}")
    name = row.get("name")
    if not isinstance(name, str) or not name.strip():
        raise bad("name", "a name is required")
    parent = row.get("parent")
    if parent is not None and not isinstance(parent, str):
        raise bad("parent", f"{parent!r} is not an agency id")
    if parent == aid:
        raise bad("parent", "an agency cannot be its own parent")

    def str_list(fieldname: str) -> list[str]:
        value = row.get(fieldname) or []
        if isinstance(value, str | int):
            value = [value]
        if not isinstance(value, list):
            raise bad(fieldname, "expected a list")
        return [str(v) for v in value]

    jurisdiction = str_list("jurisdiction")
    if not jurisdiction:
        raise bad("jurisdiction", "at least one division code is required")
    for code in jurisdiction:
        if err := check_division_code(code):
            raise bad("jurisdiction", err)
    roles = str_list("roles")
    for r in roles:
        if r not in KNOWN_ROLES:
            raise bad("roles", f"unknown role {r!r}; expected one of {', '.join(sorted(KNOWN_ROLES))}")
    services = str_list("services")
    for s in services:
        if s not in service_types():
            raise bad("services", f"unknown service type {s!r}; expected one of {', '.join(service_types())}")
    if services and atype not in ("service_body", "judicial_bureau"):
        raise bad("services", "only service bodies and judicial bureau units provide services")
    return Agency(
        id=aid,
        type=atype,
        name=name.strip(),
        parent=parent,
        jurisdiction=tuple(jurisdiction),
        roles=tuple(roles),
        services=tuple(services),
    )
