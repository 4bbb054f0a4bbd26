"""A data row → one CloudEvent, and every refusal of it → (row, column header, reason in Chinese).

The event id is derived from what the row says (the agency, the event type and the cell values
as read), unless the file gives its own in an ``@id``/事件编号 column. So the same row sent again —
the same file dropped twice, re-saved by Excel, or copied into next week's file with a fixed
neighbour — is the same event, and the hub applies it once.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fengqiao.schemas.codec import Codec, FieldError, ValidationFailed

from ..authz import Forbidden
from ..cloudevents_json import Refused
from .cells import CellError, read, shown
from .columns import ID, TIME, Layout, parent

_NS = uuid.UUID("0b6c3c1e-5d7e-4a43-9f51-5e0b2a9f7d21")
_TOKEN = re.compile(r"([^.\[\]]+)|\[(\d+)\]")
ENVELOPE = {"id": ID, "time": TIME}

FORBIDDEN_ZH = {
    "agency-known": "本机构不在机构目录中，请联系枢纽管理员",
    "source-is-agency": "只能以本机构的名义报送",
    "event-type-allowed": "本机构无权报送此类事件",
    "own-jurisdiction": "该案件不在本机构管辖范围内，本机构也不是案件的当事机构",
    "every-place": "报送内容中的地点须全部在本机构管辖范围内，或经机构目录授权",
}


@dataclass(frozen=True)
class Reject:
    """One line of a rejects file: the row as Excel numbers it, the column's header, why, what was there."""

    row: int | None
    column: str
    reason: str
    value: str = ""


@dataclass
class Row:
    number: int
    event: dict[str, Any] | None  # the CloudEvent (structured JSON); None when a cell is already bad
    rejects: list[Reject] = field(default_factory=list)
    cells: dict[str, Any] = field(default_factory=dict)  # path → raw cell
    slots: dict[str, list[int]] = field(default_factory=dict)  # "parties" → [0, 2]: list item → group
    content: str = ""  # SHA-256 of what the row says (agency, type, cells as read, explicit time)

    @property
    def id(self) -> str | None:
        return None if self.event is None else str(self.event["id"])


def build(
    layout: Layout,
    number: int,
    cells: Mapping[str, Any],
    *,
    agency: str,
    now: datetime,
    codec: Codec | None = None,
    directory: Any = None,
) -> Row:
    """The row's event, or its rejects (each bad cell, and with a codec what else is wrong)."""
    row = Row(number, None, cells=dict(cells))
    values: dict[str, Any] = {}
    for path, raw in cells.items():
        col = layout.column(path)
        if col is None:
            continue
        try:
            values[path] = read(col, raw)
        except CellError as e:
            row.rejects.append(Reject(number, col.header, e.reason, shown(raw)))
    own_id, explicit_time = values.pop(ID, None), values.pop(TIME, None)
    content = json.dumps(
        [agency, layout.name, values, explicit_time],
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    row.content = hashlib.sha256(content.encode()).hexdigest()
    data, row.slots = nest(_with_directory(layout, values, directory))
    if row.rejects:
        if codec is not None:  # say everything wrong with the row at once, not one cell per attempt
            bad = {r.column for r in row.rejects}
            try:
                codec.from_json(layout.name, data)
            except ValidationFailed as e:
                more = explain(layout, row, [FieldError(f"data.{fe.path}", fe.reason) for fe in e.errors])
                row.rejects += [r for r in more if r.column not in bad]
        return row
    time = explicit_time or next(
        (data[f] for f in reversed(layout.instant_fields) if isinstance(data.get(f), str)), None
    )
    event: dict[str, Any] = {
        "specversion": "1.0",
        "id": own_id or f"sheet-{uuid.uuid5(_NS, content)}",
        "source": agency,
        "type": layout.name,
        "time": time or now.isoformat(),
        "datacontenttype": "application/json",
        "data": data,
    }
    if isinstance(data.get("case_id"), str):
        event["subject"] = data["case_id"]
    row.event = event
    return row


def _with_directory(layout: Layout, values: dict[str, Any], directory: Any) -> dict[str, Any]:
    """An agency named by id or by its full name, its type and name filled in from the directory."""
    if directory is None:
        return values
    out = dict(values)
    for col in layout.columns:
        if col.agency_part != "agency_id" or not isinstance(out.get(col.path), str):
            continue
        given = out[col.path]
        if given not in directory:
            named = [a for a in directory if a.name == given]
            if len(named) != 1:
                continue  # the authoriser or the hub names what is wrong with an unknown agency
            out[col.path] = given = named[0].id
        agency = directory.get(given)
        group = parent(col.path)
        for part, value in (("agency_type", agency.type), ("name", agency.name)):
            if layout.column(f"{group}.{part}") is not None:
                out.setdefault(f"{group}.{part}", value)
    return out


def nest(values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, list[int]]]:
    """Dotted paths → the nested record; the groups of a list of records become its items, in order.

    Returns the record and, per list, the group each item came from (for naming a bad column).
    """
    root: dict[str, Any] = {}
    lists: dict[str, dict[int, Any]] = {}
    for path, value in values.items():
        tokens = [(m[1], m[2]) for m in _TOKEN.finditer(path)]
        node: Any = root
        prefix = ""
        for i, (name, index) in enumerate(tokens):
            last = i == len(tokens) - 1
            if name:
                prefix = f"{prefix}.{name}".lstrip(".")
                nxt = tokens[i + 1] if not last else None
                if last:
                    node[name] = value
                elif nxt and nxt[1]:
                    slots = lists.setdefault(prefix, {})
                    node[name] = slots
                    node = slots
                else:
                    node = node.setdefault(name, {})
            else:
                slot = int(index)
                prefix = f"{prefix}[{slot}]"
                node = node.setdefault(slot, {})
    order: dict[str, list[int]] = {}

    def finish(obj: Any, path: str) -> Any:
        if isinstance(obj, dict) and path in lists and obj is lists[path]:
            order[path] = sorted(obj)
            return [finish(obj[k], f"{path}[{k}]") for k in order[path]]
        if isinstance(obj, dict):
            return {k: finish(v, f"{path}.{k}".lstrip(".")) for k, v in obj.items()}
        return obj

    return finish(root, ""), order


def unslot(path: str, slots: Mapping[str, list[int]]) -> str:
    """``parties[1].name`` of the event → ``parties[2].name``: the group of columns it came from."""
    out = ""
    for m in _TOKEN.finditer(path):
        if m[1]:
            out = f"{out}.{m[1]}".lstrip(".")
        else:
            i = int(m[2])
            groups = slots.get(out, [])
            out = f"{out}[{groups[i] if i < len(groups) else i}]"
    return out


def explain(layout: Layout, row: Row, errors: Iterable[FieldError]) -> list[Reject]:
    """The codec's field errors (``data.person.id_number``) as rejects naming the Chinese column."""
    out: list[Reject] = []
    for fe in errors:
        if fe.path.startswith("data.") or fe.path == "data":
            path = unslot(fe.path.removeprefix("data").lstrip("."), row.slots)
        else:
            path = ENVELOPE.get(fe.path, "")
        raw = row.cells.get(path)
        out.append(
            Reject(
                row.number, layout.header_of(path), reason_zh(fe.reason), "" if raw is None else shown(raw)
            )
        )
    return out


def refusal(layout: Layout, row: Row, error: Exception) -> list[Reject]:
    """Why the hub refused the row: a `RecordError` from the outbox, or the codec's `ValidationFailed`."""
    cause = error.__cause__ if error.__cause__ is not None else error
    if isinstance(cause, Refused):
        return explain(layout, row, cause.errors)
    if isinstance(cause, ValidationFailed):
        return explain(layout, row, [FieldError(f"data.{fe.path}", fe.reason) for fe in cause.errors])
    if isinstance(cause, Forbidden):
        zh = FORBIDDEN_ZH.get(cause.rule, "无权报送")
        return [Reject(row.number, "", f"{zh}（{cause.rule}: {cause.reason}）")]
    return [Reject(row.number, "", str(getattr(error, "reason", error)))]


_REASONS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"^required field is missing$"), "必填项未填写"),
    (
        re.compile(r"^not a valid resident identity card number \((.*)\)$"),
        "公民身份号码无效：{0}",
    ),
    (
        re.compile(r"^an administrative division code has 6, 9 or 12 digits$"),
        "行政区划代码应为6、9或12位数字",
    ),
    (
        re.compile(r"^expected a date YYYY-MM-DD, got (.*)$"),
        "日期格式不正确：{0}；应为 年-月-日，如 2026-11-08",
    ),
    (re.compile(r"^expected one of (.*), got (.*)$"), "不是可选值：{1}；应为 {0} 之一"),
    (re.compile(r"^expected (.*), got (.*)$"), "格式不正确：{1}（应为 {0}）"),
    (re.compile(r"^unknown field; (.*)$"), "模板中没有这一列（{0}）"),
    # The input rules (schemas/validation.py)
    (
        re.compile(r"^holds a (?:control character|lone surrogate) \((U\+[0-9A-F]+)\) at position (\d+)$"),
        "含有不可见的控制字符（{0}，第 {1} 位之后），请删除后重填",
    ),
    (
        re.compile(r"^is (\d+) characters long; (?:an id has )?at most (\d+)$"),
        "内容过长：{0} 个字符，最多 {1} 个",
    ),
    (re.compile(r"^(.*) is not an id: .*$"), "编号格式不正确：{0}（只能用英文字母、数字和 . _ : -）"),
    (re.compile(r"^is empty or only whitespace$"), "不能为空或只有空格"),
]


_STDNUM_ZH = {  # python-stdnum's messages for a resident ID number
    "The number's checksum or check digit is invalid.": "末位校验码不对，请核对每一位",
    "The number has an invalid length.": "位数不对，应为18位",
    "The number has an invalid format.": "只能是数字，末位可为X",
    "One of the parts of the number are invalid or unknown.": "其中的出生日期无效",
}


def reason_zh(reason: str) -> str:
    """The codec's English reason as staff read it, the original in parentheses where it helps."""
    for pattern, zh in _REASONS:
        m = pattern.match(reason)
        if m:
            return zh.format(*(_STDNUM_ZH.get(g, g) for g in m.groups()))
    return reason


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """The inverse of `nest`: an event's data as path → JSON value (a list of records as its groups)."""
    out: dict[str, Any] = {}
    if isinstance(data, dict):
        for k, v in data.items():
            out.update(flatten(v, f"{prefix}.{k}".lstrip(".")))
    elif isinstance(data, list) and any(isinstance(v, dict) for v in data):
        for i, v in enumerate(data):
            out.update(flatten(v, f"{prefix}[{i}]"))
    elif data is not None and data != []:
        out[prefix] = data
    return out
