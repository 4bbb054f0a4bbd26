"""Who sees personal fields in clear (明文查阅): the directory's ``personal_data`` section.

::

    personal_data:
      clear:                              # each entry: an agency, an agency type or a role
        - {agency_type: judicial_office, why: 安置帮教、社区矫正、人民调解的承办机构}
        - {role: legal_aid_centre, why: 法律援助机构审查申请}
        - {agency: zj-prison-2, why: 出狱人员的释放机关}

An agency sees a case's personal fields in clear when it may read the case at all (the rule
own-jurisdiction, connectors/authz.py) and an entry names it, its type or one of its roles; every
other reader sees them masked. A directory without the section shows them to no one in clear (the
operator may still reveal one case with a reason, logged). PIPL art. 34: a state organ processes
personal information within its statutory duties; the section is where a deployment writes down
which duties those are.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

KEYS = {"agency", "agency_type", "role", "why"}


class ReadersError(ValueError):
    pass


@dataclass(frozen=True)
class ClearReaders:
    agencies: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()

    def sees(self, agency_id: str, agency_type: str, roles: tuple[str, ...] = ()) -> bool:
        return agency_id in self.agencies or agency_type in self.types or bool(self.roles.intersection(roles))

    @classmethod
    def parse(
        cls, section: Any, source: str, known_types: tuple[str, ...], known_ids: set[str]
    ) -> ClearReaders:
        if section is None:
            return cls()
        if not isinstance(section, Mapping) or set(section) - {"clear"}:
            raise ReadersError(f"{source}: personal_data: expected a mapping with one list, 'clear'")
        agencies, types, roles = set(), set(), set()
        for i, entry in enumerate(section.get("clear") or []):
            where = f"{source}: personal_data.clear[{i}]"
            if not isinstance(entry, Mapping) or set(entry) - KEYS:
                raise ReadersError(f"{where}: expected agency, agency_type or role, and why")
            named = [k for k in ("agency", "agency_type", "role") if entry.get(k)]
            if len(named) != 1:
                raise ReadersError(f"{where}: name exactly one of agency, agency_type, role")
            if not entry.get("why"):
                raise ReadersError(f"{where}: say why (the duty that needs the data in clear)")
            value = str(entry[named[0]])
            if named[0] == "agency_type" and value not in known_types:
                raise ReadersError(f"{where}: unknown agency type {value!r}")
            if named[0] == "agency" and value not in known_ids:
                raise ReadersError(f"{where}: no agency {value!r} in the directory")
            {"agency": agencies, "agency_type": types, "role": roles}[named[0]].add(value)
        return cls(frozenset(agencies), frozenset(types), frozenset(roles))
