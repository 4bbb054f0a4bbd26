"""CloudEvents structured JSON (one event per line) → a validated envelope and record.

This is how agency systems and `fengqiao publish` hand events to the hub without speaking Avro:
``{"specversion": "1.0", "id": "...", "source": "prison/zj-1", "type": "ReleaseNoticeIssued",
"subject": "R-2026-0001", "time": "...", "data": {...}}``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.exceptions import BaseCloudEventException, CloudEventValidationError
from cloudevents.core.formats.json import JSONFormat

from fengqiao.schemas.codec import Codec, FieldError, ValidationFailed
from fengqiao.schemas.envelope import EXTENSIONS, Envelope
from fengqiao.schemas.validation import Invalid, decode, envelope_errors, id_errors_in, tree_errors
from fengqiao.streams.personal.seal import presealed_of

_FORMAT = JSONFormat()


class Refused(ValueError):
    """The event cannot be accepted; ``errors`` names each field (``data.x.y`` or an attribute)."""

    def __init__(self, errors: list[FieldError]) -> None:
        self.errors = errors
        super().__init__("; ".join(map(str, errors)))


@dataclass(frozen=True)
class Accepted:
    envelope: Envelope
    record: dict[str, Any]


def parse(codec: Codec, text: str | bytes | dict[str, Any]) -> Accepted:
    """Validate one structured CloudEvent: the input rules (schemas/validation.py), the envelope,
    and the event's Avro schema."""
    try:
        obj = decode(text) if isinstance(text, (str, bytes)) else text
    except Invalid as e:
        raise Refused(e.errors) from e
    if isinstance(obj, Mapping) and not isinstance(obj, dict):
        obj = dict(obj)
    if not isinstance(obj, dict):
        raise Refused([FieldError("", "a CloudEvent is a JSON object")])
    # An optional attribute given as null is absent (the OpenAPI document says so); the SDK would
    # refuse it. A required one stays, to be named missing below.
    obj = {
        k: v for k, v in obj.items() if v is not None or k in ("specversion", "id", "source", "type", "data")
    }
    # Text, nesting and numbers first: nothing below (the SDK, the codec) need think of them. The
    # envelope's rules also refuse a missing id, which the SDK would invent (defeating deduplication).
    errors = tree_errors(obj) or envelope_errors(obj, codec.catalogue.events)
    if errors:
        raise Refused(errors)
    try:
        ce = _FORMAT.read(None, json.dumps(obj))
    except CloudEventValidationError as e:
        raise Refused(
            [FieldError(attr, "; ".join(str(x) for x in errs)) for attr, errs in e.errors.items()]
        ) from e
    except (BaseCloudEventException, ValueError, TypeError) as e:
        raise Refused([FieldError("", f"not a CloudEvent: {e}")]) from e
    etype = ce.get_type()
    data = ce.get_data()
    if not isinstance(data, dict):
        raise Refused([FieldError("data", "data must be a JSON object holding the event's fields")])
    try:
        record = codec.from_json(etype, data)
    except ValidationFailed as e:
        raise Refused(
            [FieldError(f"data.{fe.path}" if fe.path else "data", fe.reason) for fe in e.errors]
        ) from e
    if errors := id_errors_in(record):
        raise Refused(errors)
    if sealed := presealed_of(codec.catalogue[etype], record):
        raise Refused(
            [
                FieldError(
                    f"data.{p}",
                    "个人信息字段须明文提交，由平台加密 "
                    "(send personal fields in clear over TLS; only the hub seals them)",
                )
                for p in sealed
            ]
        )
    subject = ce.get_subject() or record["case_id"]
    if subject != record["case_id"]:
        raise Refused(
            [FieldError("subject", f"subject {subject!r} differs from data.case_id {record['case_id']!r}")]
        )
    t = ce.get_time()
    env = Envelope(
        id=ce.get_id(),
        source=ce.get_source(),
        type=codec.catalogue[etype].name,
        subject=subject,
        time=(t if t and t.tzinfo else (t.replace(tzinfo=UTC) if t else datetime.now(UTC))).astimezone(UTC),
        **{ext: _str(ce.get_extension(ext)) for ext in EXTENSIONS},
    )
    if env.correlationid is None:
        env = env.with_(correlationid=subject)
    return Accepted(env, record)


def _str(v: Any) -> str | None:
    return None if v is None else str(v)
