"""`PolicySet`: several policy versions — a new case gets the newest one in effect, an open case keeps
its own unless a newer one applies to all open cases (DESIGN principle 4)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from .extends import resolve
from .loading import POLICY_DIR, _known_versions, _read, parse_policy
from .model import Policy
from .rules import PolicyError


def _sort_key(p: Policy) -> tuple[datetime, tuple[Any, ...]]:
    parts = re.split(r"[.\-_]", p.version)
    return p.effective_at, tuple((0, int(x)) if x.isdigit() else (1, x) for x in parts)


class PolicySet:
    """Several policy versions: a new case gets the newest in effect, an open case keeps its own."""

    def __init__(self, policies: Iterable[Policy]) -> None:
        self._by_version: dict[str, Policy] = {}
        for p in policies:
            if p.version in self._by_version:
                raise PolicyError(
                    [
                        f"{p.path or '<memory>'}: version {p.version} is already loaded from "
                        f"{self._by_version[p.version].path or '<memory>'}"
                    ]
                )
            self._by_version[p.version] = p
        self._ordered = sorted(self._by_version.values(), key=_sort_key)
        # (effective instant, sort key, policy), oldest first: computed once, asked on every event.
        self._keyed = [(p.effective_at, _sort_key(p), p) for p in self._ordered]
        self._key_of = {p.version: key for _, key, p in self._keyed}

    @classmethod
    def load(cls, *paths: str | Path) -> PolicySet:
        """Policies from files, or from every ``*.yaml`` in folders."""
        files: list[Path] = []
        for p in map(Path, paths):
            files.extend(sorted(p.glob("*.yaml")) if p.is_dir() else [p])
        read = [(f, _read(f)) for f in files]

        known = _known_versions(read)
        return cls(parse_policy(resolve(raw, str(f), known), where=str(f)) for f, raw in read)

    def get(self, version: str) -> Policy:
        try:
            return self._by_version[version]
        except KeyError:
            raise KeyError(f"no policy version {version!r}; loaded: {', '.join(self.versions())}") from None

    def versions(self) -> list[str]:
        """Versions, oldest first (by effective_from, then version)."""
        return [p.version for p in self._ordered]

    def __contains__(self, version: object) -> bool:
        return version in self._by_version

    def __iter__(self) -> Iterator[Policy]:
        return iter(self._ordered)

    def __len__(self) -> int:
        return len(self._ordered)

    @property
    def latest(self) -> Policy:
        return self._ordered[-1]

    def for_new_case(self, at: datetime) -> Policy:
        """The version a case opened at ``at`` (aware) is governed by: the newest one in effect."""
        if at.utcoffset() is None:
            raise ValueError("at must be an aware instant")
        in_effect = [p for when, _, p in self._keyed if when <= at]
        if not in_effect:
            raise PolicyError(
                [
                    f"no policy version is in effect at {at.isoformat()}; "
                    f"the first takes effect {self._ordered[0].effective_at.isoformat()}"
                ]
            )
        return in_effect[-1]

    def for_open_case(self, opened_under: str, at: datetime) -> Policy:
        """The version that governs an open case at ``at``: its own, unless a newer version in effect
        says ``applies_to: all_open_cases`` (then the newest such one)."""
        own = self.get(opened_under)
        own_key = self._key_of[own.version]
        newer = [
            p
            for when, key, p in self._keyed
            if when <= at and key > own_key and p.applies_to == "all_open_cases"
        ]
        return newer[-1] if newer else own


def default_policy_set() -> PolicySet:
    """Every policy version shipped with the hub."""
    return PolicySet.load(POLICY_DIR)
