"""A ledger row's headers block (`ledger.encode_headers`) read straight into the envelope the workers
made of that record's headers (`Envelope.from_headers`): the same envelope, the same refusals.

Three ways, fastest first, each taken only when it gives exactly what the next would:

* the hub's own layout (`Envelope.to_headers`: its names in its order, short ASCII values), matched
  by one regular expression whose lengths and count are then checked against the block's own;
* any ASCII block, read in one pass to text headers;
* anything else: `decode_headers`, then `Envelope.from_headers`.
"""

from __future__ import annotations

import re
import struct
from datetime import datetime

from fengqiao.schemas.envelope import EXTENSIONS, SPECVERSION, Envelope, assemble, envelope_of, parse_time

from .ledger import decode_headers

_U32 = struct.Struct(">I")
_REQUIRED = ("ce_id", "ce_source", "ce_type", "ce_subject", "ce_time", "content-type")
_OPTIONAL = ("ce_dataschema", *(f"ce_{e}" for e in EXTENSIONS))
_INSTANTS: dict[str, datetime] = {}


class BlockError(ValueError):
    """The headers column is not one headers block: the ledger was tampered with (replay stops)."""


def _header(name: str, value: str | None = None) -> str:
    """A header of the layout: its name's length and name, present, then the value's length (one byte
    under 256, so three zero bytes first) and the value: ``value``, or any text without NUL (what is
    empty or has one is read the long way)."""
    n, v = name.encode("ascii"), (value or "").encode("ascii")
    head = _U32.pack(len(n)) + n + b"\x01" + (_U32.pack(len(v)) + v if value else b"\x00\x00\x00")
    return re.escape(head.decode("ascii")) + ("" if value else "(.)([^\x00]+)")


_HUB_LAYOUT = re.compile(
    "\x00\x00\x00(.)"
    + _header("ce_specversion", SPECVERSION)
    + "".join(map(_header, _REQUIRED))
    + "".join(f"(?:{_header(n)})?" for n in _OPTIONAL),
    re.DOTALL,
)


def envelope_of_block(block: bytes) -> Envelope:
    """``Envelope.from_headers(decode_headers(block))``: EnvelopeError as it raises, BlockError for what
    `decode_headers` refuses."""
    text = block.decode("ascii") if block.isascii() else None
    m = _HUB_LAYOUT.fullmatch(text) if text is not None else None
    if m is not None:
        g = m.groups()  # the count, then each header's length and value (None, None: left out)
        values = g[2::2]
        if (
            "".join(map(chr, map(len, filter(None, values)))) == "".join(filter(None, g[1::2]))  # lengths
            and ord(g[0]) == 1 + len(values) - values.count(None)  # as many headers as the block counts
        ):
            ident, source, etype, subject, when, ctype, schema, corr, cause, juris, policy = values
            t = _instant(when)
            if t is not None:  # else the long way names what is wrong with it
                return assemble(
                    ident, source, etype, subject, t, schema, ctype, SPECVERSION, corr, cause, juris, policy
                )
    headers = _ascii_headers(block, text) if text is not None else None
    if headers is not None:
        return envelope_of(headers)
    try:
        pairs = decode_headers(block)
    except ValueError as e:
        raise BlockError(str(e)) from e
    return Envelope.from_headers(pairs)


def _instant(text: str) -> datetime | None:
    """`parse_time`, remembered: the hub's decisions carry the instant of the event they follow."""
    t = _INSTANTS.get(text)
    if t is None:
        try:
            t = parse_time(text)
        except ValueError:
            return None
        if len(_INSTANTS) > 65536:
            _INSTANTS.clear()
        _INSTANTS[text] = t
    return t


def _ascii_headers(block: bytes, text: str) -> dict[str, str] | None:
    """An ASCII block's headers as text (the last of a name wins), or None for a header without a value
    (`from_headers` reads it as "None") or a block that is not one: the long way."""
    unpack = _U32.unpack_from
    h: dict[str, str] = {}
    i = 4
    try:
        for _ in range(unpack(block, 0)[0]):
            j = i + 4 + unpack(block, i)[0]  # the name ends at j, where its presence byte is
            if block[j] != 1:
                return None
            end = j + 5 + unpack(block, j + 1)[0]
            h[text[i + 4 : j]] = text[j + 5 : end]
            i = end
    except (struct.error, IndexError):
        return None
    return h if i == len(block) else None
