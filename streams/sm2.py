"""SM2 signatures (SM2 数字签名, GB/T 32918.2-2016 / GM/T 0003.2) with SM3, for the 国密 ledger suite.

The elliptic-curve arithmetic is the PyPI package ``gmssl`` (pure Python, `gmssl.sm2.CryptSM2`); what
is around it is done here rather than by gmssl's helpers:

* ``Z_A = SM3(ENTL_A || ID_A || a || b || x_G || y_G || x_A || y_A)`` and ``e = SM3(Z_A || M)``
  (GB/T 32918.2 §5.5, §6.1) are computed with the ``cryptography`` package's SM3, with the default
  user id ``1234567812345678`` of GM/T 0009-2012 (what OpenSSL, GmSSL and gmssl's ``sign_with_sm3``
  use); `tests/unit/test_gm_suite.py` checks them against the standard's worked example.
* The per-signature random ``k`` comes from `secrets` (gmssl's own ``random_hex`` uses `random`).
* Verification checks ``r, s`` in ``[1, n-1]`` and that the public key is a point of the curve
  before handing anything to gmssl, which does neither.
* Keys are stored in the forms OpenSSL reads: the private key as an RFC 5915 ``EC PRIVATE KEY`` PEM,
  the public key as a SubjectPublicKeyInfo PEM with ``id-ecPublicKey`` and the SM2 curve OID
  ``1.2.156.10197.1.301`` (``openssl pkey -pubin -in key.pem -text`` prints it).

Signatures are the 64 bytes ``r || s`` (big-endian, 32 bytes each). gmssl is not constant-time: it
signs only checkpoints, on the hub's own machine, and verification handles only public data.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from gmssl.sm2 import CryptSM2

DEFAULT_ID = b"1234567812345678"  # GM/T 0009-2012 §10: the user id when none is agreed


@dataclass(frozen=True, slots=True)
class Curve:
    """Curve parameters as 64-hex-digit strings (gmssl's ``ecc_table`` form, ``g`` = x || y)."""

    p: str
    a: str
    b: str
    g: str
    n: str

    def table(self) -> dict[str, str]:
        return {"p": self.p, "a": self.a, "b": self.b, "g": self.g, "n": self.n}


# GB/T 32918.5-2017: the recommended curve sm2p256v1.
SM2P256V1 = Curve(
    p="FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFF",
    a="FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00000000FFFFFFFFFFFFFFFC",
    b="28E9FA9E9D9F5E344D5A9E4BCF6509A7F39789F515AB8F92DDBCBD414D940E93",
    g="32C4AE2C1F1981195F9904466A39C9948FE30BBFF2660BE1715A4589334C74C7"
    "BC3736A2F4F6779C59BDCEE36B692153D0A9877CC62A474002DF32E52139F0A0",
    n="FFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123",
)

_SPKI_PREFIX = bytes.fromhex(  # SEQUENCE { SEQUENCE { id-ecPublicKey, sm2p256v1 }, BIT STRING 00 04.. }
    "3059301306072a8648ce3d020106082a811ccf5501822d034200"
)
_SEC1_HEAD = bytes.fromhex("307702010104 20".replace(" ", ""))  # SEQUENCE, version 1, OCTET STRING(32)
_SEC1_MID = bytes.fromhex("a00a06082a811ccf5501822da144034200")  # [0] curve OID, [1] BIT STRING 00


def sm3(data: bytes) -> bytes:
    h = hashes.Hash(hashes.SM3())
    h.update(data)
    return h.finalize()


def _engine(curve: Curve, private: int | None = None, public: bytes | None = None) -> CryptSM2:
    e = CryptSM2(
        private_key="" if private is None else f"{private:064x}", public_key="", ecc_table=curve.table()
    )
    # Set directly: CryptSM2.__init__ strips a leading "04" with str.lstrip, which also eats the
    # point's own leading 0 and 4 digits.
    e.public_key = "" if public is None else public[1:].hex()
    return e


def on_curve(point: bytes, curve: Curve = SM2P256V1) -> bool:
    """Whether ``point`` is ``04 || x || y`` (65 bytes) of a point of ``curve``."""
    if len(point) != 65 or point[0] != 4:
        return False
    p, a, b = int(curve.p, 16), int(curve.a, 16), int(curve.b, 16)
    x, y = int.from_bytes(point[1:33], "big"), int.from_bytes(point[33:], "big")
    return x < p and y < p and (y * y - (x * x * x + a * x + b)) % p == 0


def public_point(private: int, curve: Curve = SM2P256V1) -> bytes:
    """``d·G`` as ``04 || x || y``."""
    return b"\x04" + bytes.fromhex(_engine(curve)._kg(private, curve.g))


def generate(curve: Curve = SM2P256V1) -> int:
    """A private key d in [1, n-2] (GB/T 32918.1 §6.1)."""
    return 1 + secrets.randbelow(int(curve.n, 16) - 2)


def z_a(public: bytes, user_id: bytes = DEFAULT_ID, curve: Curve = SM2P256V1) -> bytes:
    """The signer's Z_A (GB/T 32918.2 §5.5): SM3 of the id's bit length, the id, the curve and the key."""
    entl = (len(user_id) * 8).to_bytes(2, "big")
    return sm3(entl + user_id + bytes.fromhex(curve.a + curve.b + curve.g) + public[1:])


def message_digest(public: bytes, msg: bytes, user_id: bytes = DEFAULT_ID, curve: Curve = SM2P256V1) -> bytes:
    """``e = SM3(Z_A || M)``, what SM2 signs."""
    return sm3(z_a(public, user_id, curve) + msg)


def sign(
    private: int,
    msg: bytes,
    user_id: bytes = DEFAULT_ID,
    curve: Curve = SM2P256V1,
    *,
    k: int | None = None,
    public: bytes | None = None,
) -> bytes:
    """An SM2 signature ``r || s`` of ``msg``; ``k`` only for known-answer tests; ``public`` (d·G)
    saves computing it again."""
    public = public if public is not None else public_point(private, curve)
    e = message_digest(public, msg, user_id, curve)
    engine = _engine(curve, private, public)
    n = int(curve.n, 16)
    while True:
        nonce = k if k is not None else 1 + secrets.randbelow(n - 1)
        sig = engine.sign(e, f"{nonce:064x}")
        if sig is not None:  # None when r = 0, r + k = n or s = 0: draw another k
            return bytes.fromhex(sig)
        if k is not None:
            raise ValueError("this k gives no signature")


def verify(
    public: bytes, msg: bytes, sig: bytes, user_id: bytes = DEFAULT_ID, curve: Curve = SM2P256V1
) -> bool:
    """Whether ``sig`` (``r || s``) is an SM2 signature of ``msg`` by ``public`` (``04 || x || y``)."""
    if len(sig) != 64 or not on_curve(public, curve):
        return False
    n = int(curve.n, 16)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    if not (1 <= r < n and 1 <= s < n) or (r + s) % n == 0:
        return False
    e = message_digest(public, msg, user_id, curve)
    try:
        return bool(_engine(curve, public=public).verify(sig.hex(), e))
    except (TypeError, ValueError):  # a point at infinity on the way: not a valid signature
        return False


# -- key files ---------------------------------------------------------------------------------------


def _pem(label: str, der: bytes) -> bytes:
    b64 = base64.encodebytes(der).decode().replace("\n", "")
    lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
    return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----\n"


def _unpem(label: str, pem: bytes) -> bytes:
    text = pem.decode("ascii").strip()
    begin, end = f"-----BEGIN {label}-----", f"-----END {label}-----"
    if not (text.startswith(begin) and text.endswith(end)):
        raise ValueError(f"not a {label} PEM")
    return base64.b64decode("".join(text[len(begin) : -len(end)].split()), validate=True)


def public_pem(public: bytes) -> bytes:
    """SubjectPublicKeyInfo PEM of an sm2p256v1 point (``04 || x || y``)."""
    return _pem("PUBLIC KEY", _SPKI_PREFIX + public).encode()


def load_public(key: bytes) -> bytes:
    """``04 || x || y`` from a public key PEM (as `public_pem` writes) or the raw 65 bytes."""
    point = key if len(key) == 65 else _unpem("PUBLIC KEY", key)
    if len(key) != 65:
        if not point.startswith(_SPKI_PREFIX):
            raise ValueError("not an SM2 (sm2p256v1, OID 1.2.156.10197.1.301) public key")
        point = point[len(_SPKI_PREFIX) :]
    if not on_curve(point):
        raise ValueError("not a point of the SM2 curve")
    return point


def private_pem(private: int) -> bytes:
    """RFC 5915 ``EC PRIVATE KEY`` PEM with the curve and the public key (as OpenSSL writes it)."""
    der = _SEC1_HEAD + private.to_bytes(32, "big") + _SEC1_MID + public_point(private)
    return _pem("EC PRIVATE KEY", der).encode()


def load_private(pem: bytes) -> int:
    """The private key d of an ``EC PRIVATE KEY`` PEM as `private_pem` writes it (checked against
    the public key it carries)."""
    der = _unpem("EC PRIVATE KEY", pem)
    if len(der) != 121 or not der.startswith(_SEC1_HEAD) or der[39:56] != _SEC1_MID:
        raise ValueError("not an SM2 (sm2p256v1) EC PRIVATE KEY in the layout the hub writes")
    d = int.from_bytes(der[7:39], "big")
    if not 1 <= d < int(SM2P256V1.n, 16) - 1 or public_point(d) != der[56:]:
        raise ValueError("the private key does not match the public key stored with it")
    return d
