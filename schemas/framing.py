"""Confluent wire format: magic byte 0, a 4-byte big-endian schema id, then the Avro body.

Any Kafka tool in any language that knows a Confluent-compatible registry can read it.
"""

from __future__ import annotations

import struct

MAGIC = 0
_HEADER = struct.Struct(">bI")


class FramingError(ValueError):
    """The bytes are not a Confluent-framed Avro value."""


def frame(schema_id: int, body: bytes) -> bytes:
    return _HEADER.pack(MAGIC, schema_id) + body


def unframe(data: bytes) -> tuple[int, memoryview]:
    """Split a framed value into (schema id, body); refuse anything else with a reason."""
    if data is None or len(data) < _HEADER.size:
        raise FramingError(
            f"value is {0 if data is None else len(data)} bytes; a framed Avro value has at least 5"
        )
    magic, schema_id = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise FramingError(f"first byte is {magic:#04x}, not the Confluent magic byte 0x00")
    return schema_id, memoryview(data)[_HEADER.size :]
