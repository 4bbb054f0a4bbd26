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
        return envelope_of(h)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["time"] = format_time(self.time)
        return {k: v for k, v in d.items() if v is not None}


_REQUIRED = ("ce_id", "ce_source", "ce_type", "ce_subject", "ce_specversion")
_new = object.__new__
# A frozen dataclass's own __init__ sets each field through object.__setattr__ (3 µs for twelve);
# the slots' descriptors set them directly, which replay and the workers do for every record.
_set = {f: getattr(Envelope, f).__set__ for f in Envelope.__slots__}
_id, _source, _type, _subject, _time = _set["id"], _set["source"], _set["type"], _set["subject"], _set["time"]
_dataschema, _contenttype, _spec = _set["dataschema"], _set["datacontenttype"], _set["specversion"]
_corr, _cause, _juris, _policy = (_set[f] for f in EXTENSIONS)
assert len(_set) == 12, "assemble sets every field: name a new one there"


def header(headers: Iterable[tuple[str, bytes | None]], name: str) -> str | None:
    """The first value of header ``name`` as text (a Kafka record's headers, in record order)."""
    for k, v in headers:
        if k == name:
            return None if v is None else v.decode()
    return None


def envelope_of(h: Mapping[str, str]) -> Envelope:
    """The envelope of text headers (name -> value, the last of a name wins), or EnvelopeError naming
    what is missing or wrong: `Envelope.from_headers` once the headers are text."""
    get = h.get
    ident, source, etype, subject = get("ce_id"), get("ce_source"), get("ce_type"), get("ce_subject")
    spec = get("ce_specversion")
    if not (ident and source and etype and subject and spec):
        missing = [a for a in _REQUIRED if not get(a)]
        raise EnvelopeError(f"missing CloudEvents header(s): {', '.join(missing)}")
    if spec != SPECVERSION:
        raise EnvelopeError(f"ce_specversion is {spec!r}; the hub speaks {SPECVERSION}")
    when = get("ce_time")
    try:
        t = parse_time(when) if when else datetime.now(UTC)
    except ValueError as e:
        raise EnvelopeError(f"ce_time {when!r} is not an RFC 3339 instant") from e
    return assemble(
        ident,
        source,
        etype,
        subject,
        t,
        get("ce_dataschema"),
        get("content-type", AVRO_CONTENT_TYPE),
        spec,
        get("ce_correlationid"),
        get("ce_causationid"),
        get("ce_jurisdiction"),
        get("ce_policyversion"),
    )


def assemble(
    ident: str,
    source: str,
    etype: str,
    subject: str,
    time: datetime,
    dataschema: str | None,
    datacontenttype: str,
    specversion: str,
    correlationid: str | None,
    causationid: str | None,
    jurisdiction: str | None,
    policyversion: str | None,
) -> Envelope:
    """An envelope from its fields in their order, unchecked: what `envelope_of` makes once checked."""
    env = _new(Envelope)
    _id(env, ident)
    _source(env, source)
    _type(env, etype)
    _subject(env, subject)
    _time(env, time)
    _dataschema(env, dataschema)
    _contenttype(env, datacontenttype)
    _spec(env, specversion)
    _corr(env, correlationid)
    _cause(env, causationid)
    _juris(env, jurisdiction)
    _policy(env, policyversion)
    return env


def format_time(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(s: str) -> datetime:
    t = datetime.fromisoformat(s.replace("Z", "+00:00"))
    if t.tzinfo is None:
        raise ValueError("an instant needs a UTC offset")
    return t.astimezone(UTC)
