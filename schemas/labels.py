"""The zh-CN label catalogue (`schemas/labels_zh.yaml`), read once: what staff call things.

One file for every name shown to staff — event fields in the spreadsheet templates, states,
outcomes, event and workflow names, KPI names and table columns — so a wording is changed in one
place and the modules that show it cannot drift apart. It lives in `schemas/` because every layer
reads it (streams for the workflows' titles, connectors for the templates, reporting and the CLI)
and `schemas` imports none of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

LABELS_FILE = Path(__file__).resolve().parent / "labels_zh.yaml"


@cache
def catalogue() -> Mapping[str, Any]:
    """The whole catalogue, parsed once per process (read-only at the top level)."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # the C parser when PyYAML has it
    return MappingProxyType(yaml.load(LABELS_FILE.read_text("utf-8"), Loader=loader) or {})


def section(*path: str) -> Mapping[str, Any]:
    """The mapping at ``path``, e.g. ``section("handoff_states", "report")``; a missing one is a
    KeyError naming the path and the file, so a wrong name fails at import, not in front of staff."""
    node: Any = catalogue()
    for i, key in enumerate(path):
        if not isinstance(node, Mapping) or key not in node:
            raise KeyError(f"{LABELS_FILE.name} has no {'.'.join(path[: i + 1])}")
        node = node[key]
    if not isinstance(node, Mapping):
        raise KeyError(f"{LABELS_FILE.name}: {'.'.join(path)} is a label, not a section")
    return node


def label(*path: str) -> str:
    """The one label at ``path``, e.g. ``label("workflows", "release")``."""
    *parent, key = path
    found = section(*parent) if parent else catalogue()
    if key not in found:
        raise KeyError(f"{LABELS_FILE.name} has no {'.'.join(path)}")
    return str(found[key])
