"""The event catalogue: every `.avsc` under `schemas/avro/`, loaded and resolved.

Conventions (the schemas are the single source of truth, so the metadata lives in them too):

* one named type per file, ``avro/<package>/<Name>.avsc``; shared types in ``avro/common``;
* an *event* is a top-level record carrying ``fengqiao.workflow`` (the workflow topic it travels
  on, or ``"*"`` for engine events that travel on the topic of the case's workflow),
  ``fengqiao.direction`` (``in``: published by agencies; ``hub``: decided by the hub) and, for
  ``in`` events, ``fengqiao.publishers`` (the agency types allowed to publish it);
* every event has ``case_id`` as its first field;
* a field holding personal data carries ``"pii": true``; a field with a semantic check carries
  ``"fengqiao.check"`` (``cn.ric`` resident ID, ``division-code``).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

AVRO_DIR = Path(__file__).parent / "avro"
PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


class CatalogueError(ValueError):
    """A schema file is malformed or breaks a catalogue convention."""


@dataclass(frozen=True)
class EventType:
    """One event of the catalogue, e.g. ``fengqiao.release.ReleaseNoticeIssued``."""

    name: str  # short name, also the CloudEvents ``type``: "ReleaseNoticeIssued"
    fullname: str  # Avro full name: "fengqiao.release.ReleaseNoticeIssued"
    workflow: str
    direction: str
    publishers: tuple[str, ...]
    raw: Mapping[str, Any]  # the file as written (with named references)
    expanded: Mapping[str, Any]  # self-contained: every named type inlined once (what the registry stores)
    parsed: Any = field(repr=False, compare=False, default=None)  # fastavro parsed schema
    path: str = ""

    @property
    def doc(self) -> str:
        return str(self.raw.get("doc", ""))

    def schema_str(self) -> str:
        """Canonical JSON text registered with the schema registry."""
        return json.dumps(self.expanded, ensure_ascii=False, separators=(",", ":"))


def _fullname(schema: Mapping[str, Any]) -> str:
    name = schema["name"]
    ns = schema.get("namespace")
    return name if "." in name or not ns else f"{ns}.{name}"


def _walk_named(schema: Any, namespace: str | None = None) -> Iterator[tuple[str, dict[str, Any]]]:
    """Yield (fullname, definition) of every named type defined inside ``schema``."""
    if isinstance(schema, list):
        for s in schema:
            yield from _walk_named(s, namespace)
    elif isinstance(schema, dict):
        t = schema.get("type")
        if t in ("record", "error", "enum", "fixed"):
            ns = schema.get("namespace", namespace)
            full = _fullname({**schema, "namespace": ns})
            yield full, schema
            namespace = full.rsplit(".", 1)[0] if "." in full else ns
        if t in ("record", "error"):
            for f in schema.get("fields", []):
                yield from _walk_named(f["type"], namespace)
        elif t == "array":
            yield from _walk_named(schema["items"], namespace)
        elif t == "map":
            yield from _walk_named(schema["values"], namespace)
        elif isinstance(t, (dict, list)):
            yield from _walk_named(t, namespace)


def expand(schema: Any, named: Mapping[str, Any]) -> Any:
    """Inline each named reference at its first use so the schema stands alone.

    Avro forbids defining a name twice, so later uses stay references. Names are resolved
    relative to the enclosing namespace, as the Avro spec says.
    """
    defined: set[str] = set()

    def resolve(ref: str, ns: str | None) -> str | None:
        for cand in (ref, f"{ns}.{ref}" if ns else None):
            if cand and cand in named:
                return cand
        return None

    def go(s: Any, ns: str | None) -> Any:
        if isinstance(s, str):
            if s in PRIMITIVES:
                return s
            full = resolve(s, ns)
            if full is None:
                raise CatalogueError(f"unknown type {s!r}")
            if full in defined:
                return full
            return go(copy.deepcopy(named[full]), ns)
        if isinstance(s, list):
            return [go(x, ns) for x in s]
        if not isinstance(s, dict):
            return s
        t = s.get("type")
        out = dict(s)
        if t in ("record", "error", "enum", "fixed"):
            full = _fullname({**s, "namespace": s.get("namespace", ns)})
            defined.add(full)
            out["name"] = full.rsplit(".", 1)[-1]
            if "." in full:
                out["namespace"] = full.rsplit(".", 1)[0]
            ns = out.get("namespace", ns)
        if t in ("record", "error"):
            out["fields"] = [{**f, "type": go(f["type"], ns)} for f in s["fields"]]
        elif t == "array":
            out["items"] = go(s["items"], ns)
        elif t == "map":
            out["values"] = go(s["values"], ns)
        elif (
            isinstance(t, (dict, list, str))
            and t not in PRIMITIVES
            and t not in ("record", "error", "enum", "fixed", "array", "map")
        ):
            out["type"] = go(t, ns)
        return out

    return go(copy.deepcopy(schema), None)


class Catalogue:
    """All event types, by short name and by full name."""

    def __init__(self, files: Mapping[str, str]) -> None:
        """``files`` maps a relative path (``release/ReleaseNoticeIssued.avsc``) to its text."""
        self.named: dict[str, dict[str, Any]] = {}
        tops: list[tuple[str, dict[str, Any]]] = []
        for path, text in sorted(files.items()):
            try:
                schema = json.loads(text)
            except json.JSONDecodeError as e:
                raise CatalogueError(f"{path}: not JSON: {e}") from e
            if not isinstance(schema, dict) or "name" not in schema:
                raise CatalogueError(f"{path}: a file must hold one named type")
            tops.append((path, schema))
            for full, definition in _walk_named(schema):
                if full in self.named:
                    raise CatalogueError(f"{path}: type {full} is defined twice")
                self.named[full] = definition
        self.events: dict[str, EventType] = {}
        self.by_fullname: dict[str, EventType] = {}
        for path, schema in tops:
            if "fengqiao.workflow" not in schema:
                continue
            ev = self._event(path, schema)
            if ev.name in self.events:
                raise CatalogueError(f"{path}: event name {ev.name} is used twice")
            self.events[ev.name] = ev
            self.by_fullname[ev.fullname] = ev

    def _event(self, path: str, schema: dict[str, Any]) -> EventType:
        direction = schema.get("fengqiao.direction")
        if direction not in ("in", "hub"):
            raise CatalogueError(f"{path}: fengqiao.direction must be 'in' or 'hub'")
        fields = schema.get("fields") or []
        if not fields or fields[0]["name"] != "case_id" or fields[0]["type"] != "string":
            raise CatalogueError(f"{path}: an event's first field must be case_id: string")
        publishers = tuple(schema.get("fengqiao.publishers", ()))
        if direction == "in" and not publishers:
            raise CatalogueError(f"{path}: an 'in' event must name its fengqiao.publishers")
        expanded = expand(schema, self.named)
        try:
            parsed = fastavro.parse_schema(copy.deepcopy(expanded))
        except Exception as e:  # fastavro raises several kinds; all mean the same to the author
            raise CatalogueError(f"{path}: {e}") from e
        return EventType(
            name=schema["name"].rsplit(".", 1)[-1],
            fullname=_fullname(schema),
            workflow=schema["fengqiao.workflow"],
            direction=direction,
            publishers=publishers,
            raw=schema,
            expanded=expanded,
            parsed=parsed,
            path=path,
        )

    def __getitem__(self, name: str) -> EventType:
        ev = self.events.get(name) or self.by_fullname.get(name)
        if ev is None:
            raise KeyError(f"unknown event type {name!r}")
        return ev

    def __contains__(self, name: object) -> bool:
        return name in self.events or name in self.by_fullname

    def __iter__(self) -> Iterator[EventType]:
        return iter(sorted(self.events.values(), key=lambda e: (e.workflow, e.name)))

    def __len__(self) -> int:
        return len(self.events)

    def workflows(self) -> list[str]:
        return sorted({e.workflow for e in self.events.values()} - {"*", "hub"})

    @classmethod
    def from_dir(cls, root: Path = AVRO_DIR) -> Catalogue:
        return cls({p.relative_to(root).as_posix(): p.read_text("utf-8") for p in root.rglob("*.avsc")})


@cache
def load() -> Catalogue:
    """The catalogue shipped with this installation (cached)."""
    return Catalogue.from_dir()
