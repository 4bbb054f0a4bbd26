"""An event type as spreadsheet columns: the record's leaves flattened, headed in Chinese.

A template (模板) has one column per leaf field of the event's Avro record: nested records become
dotted paths (``person.id_number`` → 人员·公民身份号码), a list of strings or enum symbols is one
cell separated by ``；``, and a list of records gets `REPEATS` numbered groups of columns
(当事人1·姓名 … 当事人3·姓名). The Chinese labels are in ``schemas/labels_zh.yaml``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from fengqiao.schemas.catalogue import Catalogue, EventType
from fengqiao.schemas.labels import LABELS_FILE, catalogue

REPEATS = 3  # groups of columns for a list of records: more would make the sheet unreadable
TIME = "@time"  # the CloudEvent's time, for events whose record has no instant of its own
ID = "@id"  # the sender's own event id; accepted in a file, never shown in a template
SEP = "·"
LIST_SEPARATORS = re.compile(r"[；;\n]")


class UnsupportedEvent(ValueError):
    """The event has a field a spreadsheet cell cannot hold; the message names it."""


class MissingLabel(LookupError):
    """A field has no Chinese label in labels_zh.yaml; the message says where to add it."""


@dataclass(frozen=True)
class Labels:
    events: Mapping[str, str]
    fields: Mapping[str, str]
    types: Mapping[str, Mapping[str, str]]
    paths: Mapping[str, str]
    enums: Mapping[str, Mapping[str, str]]

    def segment(self, event: str, path: str, owner: str, name: str) -> str:
        """The label of the last segment of ``path`` (without slot numbers), held by record ``owner``."""
        for key in (f"{event}:{path}", path):
            if key in self.paths:
                return self.paths[key]
        if name in self.types.get(owner, {}):
            return self.types[owner][name]
        if name in self.fields:
            return self.fields[name]
        raise MissingLabel(
            f"{event}: field {path!r} ({owner}.{name}) has no Chinese label; add it to {LABELS_FILE.name} "
            f"under fields ({name}), types ({owner}) or paths ({event}:{path})"
        )

    def title(self, event: str) -> str:
        if event not in self.events:
            raise MissingLabel(
                f"event {event} has no Chinese title; add it under events in {LABELS_FILE.name}"
            )
        return self.events[event]


@cache
def labels(path: Path = LABELS_FILE) -> Labels:
    # The hub's own catalogue is parsed once for every module; another file (a test's) on its own.
    raw = catalogue() if path == LABELS_FILE else yaml.safe_load(path.read_text("utf-8")) or {}
    return Labels(
        events=raw.get("events") or {},
        fields=raw.get("fields") or {},
        types=raw.get("types") or {},
        paths=raw.get("paths") or {},
        enums=raw.get("enums") or {},
    )


@dataclass(frozen=True)
class Column:
    """One column of a template."""

    path: str  # "person.id_number", "parties[0].name"; "@time"/"@id" for envelope attributes
    header: str  # "服刑人员·公民身份号码"
    kind: str  # string, int, long, float, double, boolean, date, instant, enum, list
    required: bool  # must be filled in every row
    within: str = ""  # the optional group it is required in ("填写「居住地址」时必填"), if any
    symbols: tuple[str, ...] = ()  # enum symbols (kind enum, or list of enum)
    symbol_labels: tuple[tuple[str, str], ...] = ()  # (symbol, Chinese name)
    check: str | None = None  # fengqiao.check: cn.ric, division-code
    doc: str = ""
    shown: bool = True  # a template shows it (@id is accepted in a file but never shown)
    agency_part: str = ""  # in an AgencyRef: agency_id (an id or a name), agency_type or name (autofilled)

    @property
    def autofill(self) -> bool:
        """An AgencyRef's type or name: filled from the agency directory when left empty."""
        return self.agency_part in ("agency_type", "name")

    def zh(self, symbol: str) -> str:
        return dict(self.symbol_labels).get(symbol, symbol)

    def format_note(self) -> str:
        """What to write in the cell, as staff read it."""
        if self.agency_part == "agency_id":
            return "机构目录中的机构编号或机构全称，如 qs-jo-1 或 青山镇司法所"
        if self.check == "cn.ric":
            return "18位公民身份号码（末位可为X）"
        if self.check == "division-code":
            return "6/9/12位行政区划代码，如 339901001"
        if self.kind == "date":
            return "日期，如 2026-11-08"
        if self.kind == "instant":
            return "北京时间，如 2026-11-08 09:30"
        if self.kind == "boolean":
            return "是/否"
        if self.kind in ("int", "long"):
            return "整数"
        if self.kind in ("float", "double"):
            return "数字"
        names = "、".join(self.zh(s) for s in self.symbols)
        if self.kind == "enum":
            return f"填其一：{names}"
        if self.kind == "list":
            return f"多项用；分隔，每项为其一：{names}" if self.symbols else "多项用；分隔"
        return "文字"

    def requirement(self) -> str:
        if self.autofill:
            return "可不填（按机构编号从机构目录补全）"
        if self.required:
            return "必填"
        if self.within:
            return f"填写「{self.within}」时必填"
        return "选填"

    def note(self) -> str:
        return f"{self.requirement()} · {self.format_note()}"


@dataclass
class Layout:
    """An event type's template: its columns and the headers of the groups they form."""

    event: EventType
    title: str
    columns: list[Column]
    groups: dict[str, str] = field(default_factory=dict)  # "person" → "服刑人员", "parties[0]" → "当事人1"
    instant_fields: tuple[str, ...] = ()  # required top-level instants of the record, in schema order

    def __post_init__(self) -> None:
        self._by_path = {c.path: c for c in self.columns}
        self._by_header = {normalise_header(c.header): c for c in self.columns}

    @property
    def name(self) -> str:
        return self.event.name

    def column(self, path: str) -> Column | None:
        return self._by_path.get(path)

    def match(self, header: Any) -> Column | None:
        """The column a header cell names: its Chinese header, or its path (``data.`` optional)."""
        text = normalise_header(header)
        if text in self._by_header:
            return self._by_header[text]
        path = text.removeprefix("data.")
        return self._by_path.get(path)

    def header_of(self, path: str) -> str:
        """The header of a column or group at ``path`` (or the nearest group above it)."""
        while path:
            if path in self._by_path:
                return self._by_path[path].header
            if path in self.groups:
                return self.groups[path]
            path = parent(path)
        return ""

    def shown(self) -> list[Column]:
        return [c for c in self.columns if c.shown]


def normalise_header(header: Any) -> str:
    """A header as typed: the required mark ``*`` and spaces dropped, any middle dot made ``·``."""
    text = "" if header is None else str(header)
    text = re.sub(r"\s+", "", text).lstrip("*＊")
    return re.sub(r"[・•‧∙]", SEP, text)


def parent(path: str) -> str:
    """``parties[0].name`` → ``parties[0]`` → ``parties`` → ``""``."""
    m = re.search(r"(\.[^.\[\]]+|\[\d+\])$", path)
    return path[: m.start()] if m else ""


class _Flattener:
    def __init__(self, ev: EventType, lab: Labels) -> None:
        self.ev = ev
        self.lab = lab
        self.named: dict[str, Any] = {}
        self.columns: list[Column] = []
        self.groups: dict[str, str] = {}

    def resolve(self, schema: Any) -> Any:
        if isinstance(schema, str) and schema in self.named:
            return self.named[schema]
        if isinstance(schema, dict) and schema.get("type") in ("record", "enum", "fixed"):
            full = f"{schema['namespace']}.{schema['name']}" if schema.get("namespace") else schema["name"]
            self.named[full] = self.named[schema["name"]] = schema
        if isinstance(schema, dict) and isinstance(schema.get("type"), (dict, list)):
            return self.resolve(schema["type"])
        return schema

    def record(
        self, schema: dict[str, Any], path: str, plain: str, header: str, required: bool, within: str
    ) -> None:
        owner = schema["name"]
        for f in schema["fields"]:
            name = f["name"]
            fpath, fplain = f"{path}.{name}".lstrip("."), f"{plain}.{name}".lstrip(".")
            label = self.lab.segment(self.ev.name, fplain, owner, name)
            fheader = SEP.join(x for x in (header, label) if x)
            ftype = self.resolve(f["type"])
            nullable = isinstance(ftype, list) and "null" in ftype
            if isinstance(ftype, list):
                branches = [b for b in ftype if b != "null"]
                if len(branches) != 1:
                    raise UnsupportedEvent(
                        f"{self.ev.name}.{fpath}: a union of several types has no single cell"
                    )
                ftype = self.resolve(branches[0])
            optional = nullable or "default" in f
            self.field(
                ftype, fpath, fplain, fheader, required and not optional, "" if optional else within, f, owner
            )

    def field(
        self,
        t: Any,
        path: str,
        plain: str,
        header: str,
        required: bool,
        within: str,
        f: Mapping[str, Any],
        owner: str,
    ) -> None:
        kind = t["type"] if isinstance(t, dict) else t
        logical = t.get("logicalType") if isinstance(t, dict) else None
        if kind == "record":
            self.groups[path] = header
            # The leaves of an optional group are required only once the group is filled in.
            self.record(t, path, plain, header, required, within if required else header)
            return
        if kind == "array":
            items = self.resolve(t["items"])
            ikind = items["type"] if isinstance(items, dict) else items
            if ikind == "record":
                self.groups[path] = header
                for i in range(REPEATS):
                    slot_header = f"{header}{i + 1}"
                    self.groups[f"{path}[{i}]"] = slot_header
                    self.record(items, f"{path}[{i}]", plain, slot_header, False, slot_header)
                return
            if ikind not in ("string", "enum"):
                raise UnsupportedEvent(f"{self.ev.name}.{path}: a list of {ikind} has no single cell")
            self.columns.append(self.leaf(path, header, "list", required, within, items, f, owner))
            return
        if kind in ("map", "bytes", "fixed"):
            raise UnsupportedEvent(f"{self.ev.name}.{path}: a {kind} field has no single cell")
        if logical == "date":
            kind = "date"
        elif logical in ("timestamp-millis", "timestamp-micros"):
            kind = "instant"
        self.columns.append(self.leaf(path, header, kind, required, within, t, f, owner))

    def leaf(
        self,
        path: str,
        header: str,
        kind: str,
        required: bool,
        within: str,
        t: Any,
        f: Mapping[str, Any],
        owner: str,
    ) -> Column:
        symbols: tuple[str, ...] = ()
        zh: tuple[tuple[str, str], ...] = ()
        if isinstance(t, dict) and t.get("type") == "enum":
            symbols = tuple(t["symbols"])
            names = self.lab.enums.get(t["name"], {})
            missing = [s for s in symbols if s not in names]
            if missing:
                raise MissingLabel(
                    f"{self.ev.name}.{path}: enum {t['name']} symbols {', '.join(missing)} have no Chinese "
                    f"name; add them under enums.{t['name']} in {LABELS_FILE.name}"
                )
            zh = tuple((s, names[s]) for s in symbols)
        return Column(
            path,
            header,
            kind,
            required,
            "" if required else within,
            symbols,
            zh,
            f.get("fengqiao.check"),
            str(f.get("doc", "")),
            agency_part=path.rsplit(".", 1)[-1] if owner == "AgencyRef" else "",
        )


_layouts: dict[str, Layout] = {}


def layout(ev: EventType) -> Layout:
    """The template of an ``in`` event (cached). Raises `UnsupportedEvent` or `MissingLabel`."""
    cached = _layouts.get(ev.fullname)
    if cached is not None and (cached.event is ev or cached.event.expanded == ev.expanded):
        return cached
    _layouts[ev.fullname] = made = _layout(ev)
    return made


def _layout(ev: EventType) -> Layout:
    if ev.direction != "in":
        raise UnsupportedEvent(f"{ev.name} is decided by the hub itself; agencies do not send it")
    lab = labels()
    flat = _Flattener(ev, lab)
    schema = flat.resolve(dict(ev.expanded))
    flat.record(schema, "", "", "", True, "")
    instants = tuple(
        c.path
        for c in flat.columns
        if c.kind == "instant" and c.required and "." not in c.path and "[" not in c.path
    )
    columns = list(flat.columns)
    # The event's own moment: its record's instant when it has one, else an optional column.
    columns.append(
        Column(
            TIME,
            lab.paths[TIME],
            "instant",
            False,
            doc="When the fact happened; default: the import time.",
            shown=not instants,
        )
    )
    columns.append(Column(ID, lab.paths[ID], "string", False, doc="The sender's own event id.", shown=False))
    return Layout(ev, lab.title(ev.name), columns, flat.groups, instants)


def layouts(catalogue: Catalogue) -> Iterator[Layout]:
    """Every ``in`` event's template."""
    for ev in catalogue:
        if ev.direction == "in":
            yield layout(ev)
