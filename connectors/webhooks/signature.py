"""Webhook signatures (签名) as the Standard Webhooks spec has them (https://www.standardwebhooks.com/).

Every POST carries ``webhook-id`` (the delivery id: the same on every retry and redelivery),
``webhook-timestamp`` (unix seconds, when this attempt was signed) and ``webhook-signature``:
space-separated ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``, one per key in use, so
a secret can be rotated without a moment where the receiver refuses the hub. Receivers verify with
a Standard Webhooks library in their own language (docs/webhooks.md); `verify` here is the same
check for the hub's own harness, which must run without that library installed.

Secrets are ``whsec_<base64 of the key bytes>``. A secret configured before the hub followed the
spec (any other text, e.g. 64 hex digits) keeps its key: the HMAC was keyed with its UTF-8 bytes,
and still is — its ``whsec_`` form is ``whsec_`` + base64 of those bytes (`whsec`), which is what
a receiver gives its library. So stored endpoints go on working unchanged; an endpoint whose
receiver still checks the old header gets it too while its configuration says
``legacy_signature: true``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from collections.abc import Mapping, Sequence

PREFIX = "whsec_"
TOLERANCE_S = 300  # the spec's (and the libraries') five minutes either side
ID, TIMESTAMP, SIGNATURE = "webhook-id", "webhook-timestamp", "webhook-signature"
LEGACY = "Fengqiao-Signature"  # the hub's own header before Standard Webhooks, sent only on request


class BadSignature(ValueError):
    pass


def signing_key(secret: str) -> bytes:
    """The HMAC key a configured secret stands for: ``whsec_<base64>`` decoded, any other text's UTF-8."""
    if not secret.startswith(PREFIX):
        return secret.encode("utf-8")  # a secret from before Standard Webhooks: the key it always was
    b64 = secret[len(PREFIX) :]
    try:
        # Strict, unlike the libraries' decoders (which skip stray characters): a typo is refused at
        # start, not turned into a key no receiver holds.
        return base64.b64decode(b64 + "=" * (-len(b64) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a secret starting with whsec_ must go on in base64") from None


def whsec(key: bytes) -> str:
    """The Standard Webhooks form of a key, for a receiver's library: ``whsec_<base64>``."""
    return PREFIX + base64.b64encode(key).decode("ascii")


def new_secret(nbytes: int = 32) -> str:
    """A fresh random secret in ``whsec_`` form (the spec asks for 24 to 64 bytes)."""
    return whsec(secrets.token_bytes(nbytes))


def signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` signature of ``body`` sent as ``msg_id`` at unix second ``timestamp``."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")


def legacy_signature(keys: Sequence[bytes], body: bytes, timestamp: int) -> str:
    """The old ``Fengqiao-Signature: t=<unix seconds>,v1=<hex HMAC of "{t}.{body}">`` (one v1 a key)."""
    macs = (hmac.new(k, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest() for k in keys)
    return ",".join([f"t={timestamp}", *(f"v1={m}" for m in macs)])


def sign(
    keys: Sequence[bytes],
    msg_id: str,
    body: bytes,
    timestamp: int | None = None,
    *,
    legacy: bool = False,
) -> dict[str, str]:
    """The three Standard Webhooks headers for one attempt, signed with every key (current first);
    with ``legacy`` also the old ``Fengqiao-Signature``, for a receiver not yet moved to the spec."""
    if not keys:
        raise ValueError("no key to sign with")
    ts = int(time.time()) if timestamp is None else timestamp
    headers = {
        ID: msg_id,
        TIMESTAMP: str(ts),
        SIGNATURE: " ".join(signature(k, msg_id, ts, body) for k in keys),
    }
    if legacy:
        headers[LEGACY] = legacy_signature(keys, body, ts)
    return headers


def verify(
    key: bytes | Sequence[bytes],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance_s: int = TOLERANCE_S,
    now: float | None = None,
) -> int:
    """Check a request as a Standard Webhooks receiver does; its timestamp, or `BadSignature`.

    ``key`` may be several (a receiver in the middle of a rotation accepts either).
    """
    keys = [key] if isinstance(key, bytes) else list(key)
    h = {k.lower(): v for k, v in headers.items()}
    msg_id, ts, sigs = h.get(ID, ""), h.get(TIMESTAMP, ""), h.get(SIGNATURE, "")
    if not (msg_id and ts and sigs):
        raise BadSignature(f"missing {ID}, {TIMESTAMP} or {SIGNATURE}")
    try:
        t = int(ts)
    except ValueError:
        raise BadSignature(f"{TIMESTAMP} is not unix seconds: {ts!r}") from None
    if abs((time.time() if now is None else now) - t) > tolerance_s:
        raise BadSignature(f"timestamp {t} is more than {tolerance_s}s away from now")
    given = [s for s in sigs.split(" ") if s.startswith("v1,")]  # other versions (v1a) are not ours
    expected = [signature(k, msg_id, t, body) for k in keys]
    if not any(hmac.compare_digest(e.encode(), g.encode()) for e in expected for g in given):
        raise BadSignature("no v1 signature matches the body")
    return t


if __name__ == "__main__":  # `python -m fengqiao.connectors.webhooks.signature`: print a new secret
    print(new_secret())
