"""The CloudEvents 1.0 envelope in Kafka binary mode (DESIGN principle 2).

Attributes travel as ``ce_*`` record headers, the data content type as ``content-type``; the
value is the Avro body in the Confluent wire format and the record key is the case id.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

SPECVERSION = "1.0"
AVRO_CONTENT_TYPE = "application/avro"
HUB_SOURCE = "fengqiao-hub"
EXTENSIONS = ("correlationid", "causationid", "jurisdiction", "policyversion")


class EnvelopeError(ValueError):
    """Headers that do not make a CloudEvents 1.0 envelope; the message says what is missing."""


@dataclass(frozen=True, slots=True)
class Envelope:
    id: str
    source: str
    type: str
    subject: str  # the case id
    time: datetime  # aware, UTC
    dataschema: str | None = None
    datacontenttype: str = AVRO_CONTENT_TYPE
    specversion: str = SPECVERSION
    correlationid: str | None = None  # the control number that follows the case through every agency
    causationid: str | None = None  # id of the event that caused this one
    jurisdiction: str | None = None  # division code the event concerns
    policyversion: str | None = None

    @classmethod
    def new(cls, type: str, subject: str, source: str = HUB_SOURCE, **kw: Any) -> Envelope:
        kw.setdefault("correlationid", subject)
        return cls(
            id=str(uuid.uuid4()),
            source=source,
            type=type,
            subject=subject,
            time=kw.pop("time", None) or datetime.now(UTC),
            **kw,
        )

    def caused(self, type: str, source: str = HUB_SOURCE, **kw: Any) -> Envelope:
        """An envelope for an event this one caused: same case and correlation id."""
        return Envelope.new(
            type,
            self.subject,
            source,
            causationid=self.id,
            correlationid=self.correlationid or self.subject,
            jurisdiction=kw.pop("jurisdiction", self.jurisdiction),
            **kw,
        )

    def with_(self, **changes: Any) -> Envelope:
        return replace(self, **changes)

    def to_headers(self) -> list[tuple[str, bytes]]:
        h = [
            ("ce_specversion", self.specversion.encode()),
            ("ce_id", self.id.encode()),
            ("ce_source", self.source.encode()),
            ("ce_type", self.type.encode()),
            ("ce_subject", self.subject.encode()),
            ("ce_time", format_time(self.time).encode()),
            ("content-type", self.datacontenttype.encode()),
        ]
        if self.dataschema:
            h.append(("ce_dataschema", self.dataschema.encode()))
        for ext in EXTENSIONS:
            v = getattr(self, ext)
            if v is not None:
                h.append((f"ce_{ext}", v.encode()))
        return h

    @classmethod
    def from_headers(cls, headers: Iterable[tuple[str, bytes]] | Mapping[str, bytes]) -> Envelope:
        items = headers.items() if isinstance(headers, Mapping) else headers
        h: dict[str, str] = {}
        for k, v in items:
            try:
                h[k] = v.decode() if isinstance(v, (bytes, bytearray, memoryview)) else str(v)
            except UnicodeDecodeError as e:
                raise EnvelopeError(f"header {k!r} is not UTF-8") from e
        missing = [
            a for a in ("ce_id", "ce_source", "ce_type", "ce_subject", "ce_specversion") if not h.get(a)
        ]
        if missing:
            raise EnvelopeError(f"missing CloudEvents header(s): {', '.join(missing)}")
        if h["ce_specversion"] != SPECVERSION:
            raise EnvelopeError(f"ce_specversion is {h['ce_specversion']!r}; the hub speaks {SPECVERSION}")
        try:
            t = parse_time(h["ce_time"]) if h.get("ce_time") else datetime.now(UTC)
        except ValueError as e:
            raise EnvelopeError(f"ce_time {h['ce_time']!r} is not an RFC 3339 instant") from e
        return cls(
            id=h["ce_id"],
            source=h["ce_source"],
            type=h["ce_type"],
            subject=h["ce_subject"],
            time=t,
            dataschema=h.get("ce_dataschema"),
            datacontenttype=h.get("content-type", AVRO_CONTENT_TYPE),
            specversion=h["ce_specversion"],
            **{ext: h.get(f"ce_{ext}") for ext in EXTENSIONS},
        )

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["time"] = format_time(self.time)
        return {k: v for k, v in d.items() if v is not None}


def format_time(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(s: str) -> datetime:
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError("an instant needs a UTC offset")
    return t.astimezone(UTC)
