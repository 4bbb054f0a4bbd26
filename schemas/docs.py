"""Render the event catalogue as Markdown for integrators (``docs/events.md``).

The output depends only on the schemas and is sorted, so a test can check that the committed
``docs/events.md`` is up to date. Regenerate with::

    python -m fengqiao.schemas.docs            # writes docs/events.md
    python -m fengqiao.schemas.docs other.md   # writes elsewhere
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from fengqiao.schemas.catalogue import PRIMITIVES, Catalogue, EventType, load

DOCS_PATH = Path(__file__).resolve().parent.parent / "docs" / "events.md"
COMMON_NS = "fengqiao.common"

# Sections in the order an integrator reads them; any other workflow follows, sorted.
WORKFLOW_TITLES: dict[str, str] = {
    "release": "Release hand-over and 必接必送",
    "mediation": "Mediation (一庭两所) and referrals to mediation",
    "corrections": "Community corrections (社区矫正)",
    "legal_aid": "Legal aid (法律援助)",
    "services": "一所六站点: the judicial office as intake point",
    "*": "Handoff engine (every workflow)",
    "hub": "Hub-internal records",
}
LOGICAL_NAMES = {"timestamp-millis": "timestamp", "timestamp-micros": "timestamp-micros", "date": "date"}
PII_MARK = "🔒"
PII_INSIDE = "🔒 inside"

INTRO = f"""\
# Event catalogue

Generated from the Avro schemas in `schemas/avro/` by `python -m fengqiao.schemas.docs`; do not
edit by hand. The schemas are the contract: this page only renders them.

**Envelope.** Every event travels on Kafka as a CloudEvents 1.0 message in binary mode: the
attributes are record headers (`ce_id`, `ce_source` = the publishing agency, `ce_type` = the short
event name below, e.g. `ReleaseNoticeIssued`, `ce_time`, `ce_subject` = the case id,
`ce_specversion`, `content-type`, plus extensions such as `correlationid`, `causationid`,
`jurisdiction` and `policyversion`). The record key is the case id, so a case's events stay in
order on one partition. The value is the Avro body in the Confluent wire format (magic byte 0,
4-byte big-endian schema id, then the binary encoding); the registered schema is self-contained,
with every shared type inlined. The `cloudevents` SDK (2.x) reads these records with its own Kafka
binding (`cloudevents.core.bindings.kafka.from_binary`, tested in `tests/unit/test_kafka_binding.py`);
take the body from the record's value, as bytes: the SDK's JSON format returns a body that happens to
be valid UTF-8 as text.

**`ce_dataschema`** names the record's schema as `urn:fengqiao:schema:<subject>:<id>`, e.g.
`urn:fengqiao:schema:fengqiao.release.ReleaseNoticeIssued:7`: the registry subject (the Avro full
name) and the global schema id of the record's frame. Resolve it against the deployment's registry
(`GET /schemas/ids/7`). It is not a URL on purpose: the embedded registry listens on a random port,
and a record stays on the log for ever, so a link would be dead after the next restart. The id
rather than the subject's version: it is what the frame carries, and the hub learns it when it
registers the catalogue, with no look-up per event type.

**Direction.** Agencies publish the events marked **in**, and only the agency types listed under
"published by" may publish each of them, for their own jurisdiction. The hub publishes the events
marked **hub**: its decisions, the tasks it hands to agencies (handoffs) and its alerts.

**Reading the tables.** `X?` may be null (the default is null); arrays default to empty;
`timestamp` is a long of milliseconds since the epoch, UTC (shown in Asia/Shanghai); `date` is an
int of days since 1970-01-01. Amounts are in fen (分). Fields marked {PII_MARK} hold personal data
(个人信息): text ones travel sealed per person (``fq1:…``, docs/personal-data.md) and become
unreadable when that person's key is destroyed; flags, numbers and enums among them stay in clear
for the rules that read them; {PII_INSIDE} means the field's type contains such fields (see
"Shared types"). A *Check*
names a semantic validation the hub applies (`cn.ric`: resident ID number with check digit;
`division-code`: administrative division code).
"""


def _anchor(name: str) -> str:
    """GitHub's heading anchor for a heading that is a bare type name."""
    return "#" + "".join(ch for ch in name.lower() if ch.isalnum() or ch in "-_")


def _short(fullname: str) -> str:
    return fullname.rsplit(".", 1)[-1]


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


class _Renderer:
    def __init__(self, catalogue: Catalogue) -> None:
        self.cat = catalogue
        self.named = catalogue.named

    # -- names -------------------------------------------------------------------------------
    def resolve(self, ref: str, ns: str | None) -> str | None:
        for cand in (ref, f"{ns}.{ref}" if ns else None):
            if cand and cand in self.named:
                return cand
        return None

    @staticmethod
    def fullname(schema: Mapping[str, Any], ns: str | None) -> str:
        name = schema["name"]
        ns = schema.get("namespace", ns)
        return name if "." in name or not ns else f"{ns}.{name}"

    def is_shared(self, fullname: str) -> bool:
        return fullname.startswith(COMMON_NS + ".")

    # -- types -------------------------------------------------------------------------------
    def tokens(self, t: Any, ns: str | None) -> list[tuple[str, str]]:
        """A type as tokens: ("text", s) for literal text, ("link", fullname) for a shared type."""
        if isinstance(t, str):
            if t in PRIMITIVES:
                return [("text", t)]
            full = self.resolve(t, ns) or t
            return [("link", full)] if self.is_shared(full) else [("text", _short(full))]
        if isinstance(t, list):
            branches = [b for b in t if b != "null"]
            nullable = len(branches) < len(t)
            out: list[tuple[str, str]] = []
            for i, b in enumerate(branches):
                if i:
                    out.append(("text", " | "))
                out.extend(self.tokens(b, ns))
            if nullable:
                if len(branches) > 1:
                    out = [("text", "("), *out, ("text", ")")]
                out.append(("text", "?"))
            return out
        if isinstance(t, dict):
            kind = t.get("type")
            logical = t.get("logicalType")
            if logical == "decimal":
                return [("text", f"decimal({t.get('precision')},{t.get('scale', 0)})")]
            if logical:
                return [("text", LOGICAL_NAMES.get(logical, f"{kind}:{logical}"))]
            if kind == "array":
                return [("text", "array<"), *self.tokens(t["items"], ns), ("text", ">")]
            if kind == "map":
                return [("text", "map<string, "), *self.tokens(t["values"], ns), ("text", ">")]
            if kind in ("record", "error", "enum", "fixed"):
                full = self.fullname(t, ns)
                return [("link", full)] if self.is_shared(full) else [("text", _short(full))]
            return self.tokens(kind, ns)
        return [("text", str(t))]

    def render_type(self, t: Any, ns: str | None) -> str:
        parts: list[str] = []
        text = ""
        for kind, value in self.tokens(t, ns):
            if kind == "text":
                text += value
                continue
            if text:
                parts.append(f"`{text}`")
                text = ""
            parts.append(f"[`{_short(value)}`]({_anchor(_short(value))})")
        if text:
            parts.append(f"`{text}`")
        return "".join(parts)

    def inline_named(self, t: Any, ns: str | None) -> Iterable[tuple[str, dict[str, Any]]]:
        """Named types defined inline in a field's type (not references), outside common."""
        if isinstance(t, list):
            for b in t:
                yield from self.inline_named(b, ns)
        elif isinstance(t, dict):
            kind = t.get("type")
            if kind in ("record", "error", "enum", "fixed"):
                full = self.fullname(t, ns)
                if not self.is_shared(full):
                    yield full, t
            elif kind == "array":
                yield from self.inline_named(t["items"], ns)
            elif kind == "map":
                yield from self.inline_named(t["values"], ns)

    def contains_pii(self, t: Any, ns: str | None, seen: frozenset[str] = frozenset()) -> bool:
        if isinstance(t, str):
            if t in PRIMITIVES:
                return False
            full = self.resolve(t, ns)
            if full is None or full in seen:
                return False
            return self.contains_pii(self.named[full], full.rsplit(".", 1)[0], seen | {full})
        if isinstance(t, list):
            return any(self.contains_pii(b, ns, seen) for b in t)
        if isinstance(t, dict):
            kind = t.get("type")
            if kind in ("record", "error"):
                inner = self.fullname(t, ns).rsplit(".", 1)[0]
                return any(
                    f.get("pii") or self.contains_pii(f["type"], inner, seen) for f in t.get("fields", [])
                )
            if kind == "array":
                return self.contains_pii(t["items"], ns, seen)
            if kind == "map":
                return self.contains_pii(t["values"], ns, seen)
            if isinstance(kind, (dict, list)):
                return self.contains_pii(kind, ns, seen)
        return False

    # -- tables ------------------------------------------------------------------------------
    def field_rows(
        self, record: Mapping[str, Any], ns: str | None
    ) -> tuple[list[str], list[tuple[str, dict]]]:
        rows = [
            "| Field | Type | Personal data | Description |",
            "| --- | --- | --- | --- |",
        ]
        local: list[tuple[str, dict[str, Any]]] = []
        for f in record.get("fields", []):
            t = f["type"]
            mark = PII_MARK if f.get("pii") else (PII_INSIDE if self.contains_pii(t, ns) else "")
            desc = [str(f.get("doc", ""))] if f.get("doc") else []
            for full, definition in self.inline_named(t, ns):
                if definition.get("type") == "enum":
                    symbols = ", ".join(f"`{s}`" for s in definition["symbols"])
                    enum_doc = definition.get("doc", "")
                    desc.append(f"{enum_doc} One of {symbols}.".strip())
                else:
                    local.append((full, definition))
            if "default" in f and f["default"] not in (None, [], {}):
                desc.append(f"Default `{json.dumps(f['default'], ensure_ascii=False)}`.")
            if f.get("fengqiao.check"):
                desc.append(f"Check: `{f['fengqiao.check']}`.")
            rows.append(
                f"| `{f['name']}` | {_cell(self.render_type(t, ns))} | {mark} | {_cell(' '.join(desc))} |"
            )
        return rows, local

    def record_section(self, record: Mapping[str, Any], ns: str | None, level: str) -> list[str]:
        rows, local = self.field_rows(record, ns)
        out = [*rows, ""]
        for full, definition in sorted(local, key=lambda x: x[0]):
            inner_ns = full.rsplit(".", 1)[0]
            out += [f"{level} {_short(full)}", "", f"`{full}`", ""]
            if definition.get("doc"):
                out += [str(definition["doc"]), ""]
            out += self.record_section(definition, inner_ns, level + "#")
        return out

    # -- sections ----------------------------------------------------------------------------
    def event_section(self, ev: EventType) -> list[str]:
        ns = ev.fullname.rsplit(".", 1)[0]
        who = ", ".join(f"`{p}`" for p in ev.publishers) if ev.direction == "in" else "the hub"
        out = [
            f"### {ev.name}",
            "",
            f"`{ev.fullname}` · direction **{ev.direction}** · published by {who}",
            "",
        ]
        if ev.doc:
            out += [ev.doc, ""]
        out += self.record_section(ev.raw, ns, "####")
        return out

    def shared_section(self, full: str, definition: Mapping[str, Any]) -> list[str]:
        ns = full.rsplit(".", 1)[0]
        out = [f"### {_short(full)}", "", f"`{full}` · {definition.get('type')}", ""]
        if definition.get("doc"):
            out += [str(definition["doc"]), ""]
        kind = definition.get("type")
        if kind in ("record", "error"):
            out += self.record_section(definition, ns, "####")
        elif kind == "enum":
            out += ["Symbols: " + ", ".join(f"`{s}`" for s in definition["symbols"]) + ".", ""]
        elif kind == "fixed":
            out += [f"Fixed, {definition.get('size')} bytes.", ""]
        return out

    def render(self) -> str:
        events = list(self.cat.events.values())
        present = {e.workflow for e in events}
        order = [w for w in WORKFLOW_TITLES if w in present] + sorted(present - set(WORKFLOW_TITLES))
        by_wf = {w: sorted((e for e in events if e.workflow == w), key=lambda e: e.name) for w in order}
        shared = sorted(
            ((full, d) for full, d in self.named.items() if self.is_shared(full)), key=lambda x: _short(x[0])
        )

        out = [INTRO, "## Contents", ""]
        for w in order:
            title = WORKFLOW_TITLES.get(w, w)
            label = "" if w in ("*", "hub") else f" (`{w}`)"
            out.append(f"- {title}{label}:")
            for e in by_wf[w]:
                out.append(f"  - [{e.name}]({_anchor(e.name)}) ({e.direction})")
        out.append("- Shared types: " + ", ".join(f"[{_short(f)}]({_anchor(_short(f))})" for f, _ in shared))
        out.append("")
        for w in order:
            title = WORKFLOW_TITLES.get(w, w)
            out += [f"## {title}", ""]
            if w not in ("*", "hub"):
                out += [f"Workflow topic: `{w}`. {len(by_wf[w])} events.", ""]
            elif w == "*":
                out += [
                    "Generic handoff events, emitted by the hub on the topic of the case's workflow "
                    "(the `workflow` field names it). A handoff is assigned, then acknowledged (the "
                    "receipt, 回执) and fulfilled (the disposition), or it becomes overdue, escalated, "
                    "reassigned or cancelled. Workflow-specific assignments (e.g. "
                    "`ReleaseHandoffAssigned`, `MediationAssigned`) carry the same handoff fields.",
                    "",
                ]
            for e in by_wf[w]:
                out += self.event_section(e)
        out += [
            "## Shared types",
            "",
            "Types in `fengqiao.common`, used by the events above.",
            "",
        ]
        for full, definition in shared:
            out += self.shared_section(full, definition)
        while out and out[-1] == "":
            out.pop()
        return "\n".join(out) + "\n"


def render_markdown(catalogue: Catalogue) -> str:
    """The whole event catalogue as Markdown; deterministic for a given set of schemas."""
    return _Renderer(catalogue).render()


def write_docs(path: Path = DOCS_PATH) -> Path:
    """Write the catalogue of the installed schemas to ``path`` (``docs/events.md`` by default)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_markdown(load()), encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    print(write_docs(Path(args[0]) if args else DOCS_PATH))


if __name__ == "__main__":
    main()
