"""A policy version that *extends* another (``extends: "2026.1"``) lists only what it changes.

The merge works on the files' plain data, before validation, so every problem of the merged version
is reported as for a whole file, naming the extending file. `loading` and `versions` find the bases
(shipped versions, and the files beside or loaded with the extending one).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .rules import PolicyError

# Top-level fields a version that extends another takes from it when it does not give them. Not
# ``applies_to``: whether a version reaches open cases is a decision of its own (default new_cases).
INHERITED = ("title_zh", "title_en", "sources", "rules", "mediation_risk", "services", "effective_from")


def version_text(value: Any) -> str:
    # YAML reads an unquoted 2026.1 as a float; 2026.10 would read as 2026.1, hence: quote it.
    return str(value)


def resolve(
    raw: Mapping[str, Any],
    where: str,
    known: Mapping[str, tuple[str, Mapping[str, Any]]],
    _chain: tuple[str, ...] = (),
) -> dict[str, Any]:
    """``raw`` with its ``extends`` (and its base's, and so on) merged in; `PolicyError` naming the
    file when the base is unknown or the chain comes back on itself."""
    if "extends" not in raw:
        return dict(raw)
    base_version = version_text(raw["extends"])
    own = version_text(raw.get("version", "?"))
    if base_version in (*_chain, own):
        loop = " -> ".join((*_chain, own, base_version))
        raise PolicyError([f"{where}: extends: {base_version!r} comes back on itself ({loop})"])
    if base_version not in known:
        raise PolicyError(
            [
                f"{where}: extends: no policy version {base_version!r} "
                f'(known: {", ".join(sorted(known))}; quote versions like "2026.10")'
            ]
        )
    base_where, base_raw = known[base_version]
    base = resolve(base_raw, base_where, known, (*_chain, own))
    return extend(base, raw, where)


def extend(base: Mapping[str, Any], child: Mapping[str, Any], where: str = "<memory>") -> dict[str, Any]:
    """The version ``child`` makes of ``base``: the child's top-level fields replace the base's; its
    rules override the base's of the same id field by field (``null`` clears a field) and new ids
    are added after them; ``sources`` and ``services`` merge by ``ref`` and by service type."""
    merged = {k: v for k, v in base.items() if k in INHERITED}
    merged.update({k: v for k, v in child.items() if k not in ("extends", "rules", "sources", "services")})
    rules = [dict(r) if isinstance(r, Mapping) else r for r in base.get("rules") or []]
    at = {r.get("id"): i for i, r in enumerate(rules) if isinstance(r, dict)}
    child_rules = child.get("rules") or []
    if not isinstance(child_rules, list):
        raise PolicyError([f"{where}: rules: a list of rules (overrides and additions)"])
    for r in child_rules:
        if isinstance(r, Mapping) and r.get("id") in at:
            i = at[r["id"]]
            rules[i] = {**rules[i], **r}
        else:
            rules.append(r)
    merged["rules"] = rules
    if "sources" in child:
        by_ref = {s.get("ref"): s for s in (base.get("sources") or []) if isinstance(s, Mapping)}
        by_ref.update({s.get("ref"): s for s in (child.get("sources") or []) if isinstance(s, Mapping)})
        merged["sources"] = list(by_ref.values())
    if "services" in child:
        merged["services"] = {**(base.get("services") or {}), **(child.get("services") or {})}
    return merged
