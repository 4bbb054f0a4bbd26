"""Hash and signature suites for the ledger (issue 4, item 1).

The ledger needs two primitives: a digest for its hash chains and a signature for its checkpoints.
Both sit behind the small `Suite` protocol, one class per suite, each with its own ``name``:
`Sha256Ed25519` (the international suite, ``intl``) and `Sm3Sm2` (the 国密 suite, ``gm``: SM3
chains and SM2 signatures, GB/T 39786). A deployment picks one with ``crypto_suite``
(`CRYPTO_SUITES` maps it to the ledger suite and the field cipher); the ledger records the suite
its chains use, and every checkpoint the suite that signed it.

Public keys travel as PEM (SubjectPublicKeyInfo), the form auditors receive from
`export_public_key`; `Sha256Ed25519.verify` also takes a raw 32-byte Ed25519 key, `Sm3Sm2.verify`
a raw 65-byte ``04 || x || y`` point. Private keys are unencrypted PEM (PKCS#8 for Ed25519, RFC 5915
``EC PRIVATE KEY`` for SM2) in a file only the hub's user can read (mode 0600); protect the folder
holding it like any other secret.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from . import sm2

# A deployment's ``crypto_suite`` → (the ledger's `Suite` name, the personal-data field cipher name).
CRYPTO_SUITES: dict[str, tuple[str, str]] = {
    "intl": ("sha256-ed25519", "aes-256-gcm"),
    "gm": ("sm3-sm2", "sm4-gcm"),  # 国密: GB/T 32905 SM3, GB/T 32918 SM2, GB/T 32907 SM4
}


class SuiteKeyError(ValueError):
    """A key that is missing (a verify-only suite asked to sign) or cannot be read."""


@runtime_checkable
class Suite(Protocol):
    """A digest plus a signature scheme, named so checkpoints say which one signed them."""

    name: str
    digest_size: int

    def digest(self, data: bytes) -> bytes:
        """The hash of ``data`` (``digest_size`` bytes)."""
        ...

    def sign(self, msg: bytes) -> bytes:
        """A signature of ``msg`` with this suite's private key."""
        ...

    def verify(self, public_key: bytes, msg: bytes, sig: bytes) -> bool:
        """Whether ``sig`` is a signature of ``msg`` by ``public_key`` (PEM); never raises on bad input."""
        ...

    def public_key(self) -> bytes:
        """This suite's public key, PEM (what auditors get)."""
        ...

    def fingerprint(self, public_key: bytes) -> str:
        """A short stable id of a public key (hex), stored with each checkpoint."""
        ...


class Sha256Ed25519:
    """SHA-256 chains and Ed25519 signatures (RFC 8032), via the ``cryptography`` package.

    Without a private key it is verify-only: what an auditor holding the exported PEM builds with
    `Sha256Ed25519.from_public_key`.
    """

    name: ClassVar[str] = "sha256-ed25519"
    digest_size: ClassVar[int] = 32

    def __init__(self, private_key: Ed25519PrivateKey | None = None, public_key: bytes | None = None) -> None:
        self._private = private_key
        if private_key is not None:
            self._public = private_key.public_key()
        elif public_key is not None:
            self._public = _load_public(public_key)
        else:
            self._public = None

    @classmethod
    def generate(cls) -> Sha256Ed25519:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_public_key(cls, public_key: bytes) -> Sha256Ed25519:
        """A verify-only suite for ``public_key`` (PEM or raw 32 bytes)."""
        return cls(public_key=public_key)

    @property
    def can_sign(self) -> bool:
        return self._private is not None

    def digest(self, data: bytes) -> bytes:
        return hashlib.sha256(data).digest()

    def sign(self, msg: bytes) -> bytes:
        if self._private is None:
            raise SuiteKeyError("this suite holds no private key (verify-only): it cannot sign a checkpoint")
        return self._private.sign(msg)

    def verify(self, public_key: bytes, msg: bytes, sig: bytes) -> bool:
        try:
            _load_public(public_key).verify(sig, msg)
        except (InvalidSignature, ValueError, TypeError):
            return False
        return True

    def public_key(self) -> bytes:
        if self._public is None:
            raise SuiteKeyError("this suite holds no key at all")
        return self._public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def fingerprint(self, public_key: bytes) -> str:
        """SHA-256 of the raw 32-byte key, hex: the same whether the key came as PEM or raw."""
        raw = _load_public(public_key).public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return hashlib.sha256(raw).hexdigest()


def _load_public(key: bytes) -> Ed25519PublicKey:
    if len(key) == 32:
        return Ed25519PublicKey.from_public_bytes(key)
    try:
        loaded = serialization.load_pem_public_key(key)
    except UnsupportedAlgorithm as e:  # an SM2 key, say: cryptography knows no SM2 curve
        raise ValueError(f"not an Ed25519 public key ({e})") from e
    if not isinstance(loaded, Ed25519PublicKey):
        raise ValueError(f"not an Ed25519 public key: {type(loaded).__name__}")
    return loaded


class Sm3Sm2:
    """SM3 chains (GB/T 32905, via ``cryptography``) and SM2 signatures (GB/T 32918.2, via ``gmssl``,
    see `streams.sm2`) with the default user id ``1234567812345678``: the 国密 suite.

    Signatures are ``r || s`` (64 bytes). Without a private key it is verify-only, as
    `Sm3Sm2.from_public_key` builds it from the exported PEM.
    """

    name: ClassVar[str] = "sm3-sm2"
    digest_size: ClassVar[int] = 32

    def __init__(self, private_key: int | None = None, public_key: bytes | None = None) -> None:
        self._private = private_key
        if private_key is not None:
            self._public: bytes | None = sm2.public_point(private_key)
        elif public_key is not None:
            self._public = sm2.load_public(public_key)
        else:
            self._public = None

    @classmethod
    def generate(cls) -> Sm3Sm2:
        return cls(sm2.generate())

    @classmethod
    def from_public_key(cls, public_key: bytes) -> Sm3Sm2:
        """A verify-only suite for ``public_key`` (PEM or raw ``04 || x || y``)."""
        return cls(public_key=public_key)

    @property
    def can_sign(self) -> bool:
        return self._private is not None

    def digest(self, data: bytes) -> bytes:
        return sm2.sm3(data)

    def sign(self, msg: bytes) -> bytes:
        if self._private is None:
            raise SuiteKeyError("this suite holds no private key (verify-only): it cannot sign a checkpoint")
        return sm2.sign(self._private, msg, public=self._public)

    def verify(self, public_key: bytes, msg: bytes, sig: bytes) -> bool:
        try:
            point = sm2.load_public(public_key)
        except ValueError:
            return False
        return sm2.verify(point, msg, sig)

    def public_key(self) -> bytes:
        if self._public is None:
            raise SuiteKeyError("this suite holds no key at all")
        return sm2.public_pem(self._public)

    def fingerprint(self, public_key: bytes) -> str:
        """SM3 of the raw 65-byte point, hex: the same whether the key came as PEM or raw."""
        return sm2.sm3(sm2.load_public(public_key)).hex()


SUITES: dict[str, type[Sha256Ed25519] | type[Sm3Sm2]] = {
    Sha256Ed25519.name: Sha256Ed25519,
    Sm3Sm2.name: Sm3Sm2,
}


def suite_for(name: str, public_key: bytes | None = None) -> Sha256Ed25519 | Sm3Sm2:
    """The suite called ``name`` without a private key: verify-only with ``public_key``, or just its
    digest when None (what an appender that does not sign needs)."""
    try:
        cls = SUITES[name]
    except KeyError:
        raise SuiteKeyError(f"unknown suite {name!r}; known: {', '.join(sorted(SUITES))}") from None
    return cls(public_key=public_key)


def _write_new(path: Path, pem: bytes) -> bool:
    """Write ``pem`` to a new file (mode 0600, O_EXCL); False when another process made it first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    try:
        os.write(fd, pem)
        os.fsync(fd)
    finally:
        os.close(fd)
    return True


def load_key(path: Path) -> Sha256Ed25519 | Sm3Sm2:
    """The signing suite whose private key is in ``path``: Ed25519 (PKCS#8 PEM) or SM2 (EC PRIVATE KEY)."""
    path = Path(path)
    data = path.read_bytes()
    if b"-----BEGIN EC PRIVATE KEY-----" in data:
        try:
            return Sm3Sm2(sm2.load_private(data))
        except ValueError as e:
            raise SuiteKeyError(f"{path}: not a usable SM2 private key ({e})") from e
    try:
        loaded = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as e:
        raise SuiteKeyError(f"{path}: not an unencrypted PEM private key ({e})") from e
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SuiteKeyError(f"{path}: not an Ed25519 or SM2 private key but {type(loaded).__name__}")
    return Sha256Ed25519(loaded)


def load_or_create_key(path: Path, suite_name: str = Sha256Ed25519.name) -> Sha256Ed25519 | Sm3Sm2:
    """The hub's signing suite ``suite_name``, its key read from ``path`` or generated there on first use.

    The file is created with mode 0600 and O_EXCL, so two processes starting together end up
    with the same key (the loser reads the winner's file). A key of another suite is refused.
    """
    path = Path(path)
    if suite_name not in SUITES:
        raise SuiteKeyError(f"unknown suite {suite_name!r}; known: {', '.join(sorted(SUITES))}")
    if not path.exists():
        if suite_name == Sm3Sm2.name:
            d = sm2.generate()
            if _write_new(path, sm2.private_pem(d)):
                return Sm3Sm2(d)
        else:
            key = Ed25519PrivateKey.generate()
            pem = key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            if _write_new(path, pem):
                return Sha256Ed25519(key)
    suite = load_key(path)
    if suite.name != suite_name:
        raise SuiteKeyError(
            f"{path} holds a {suite.name} key but the deployment's suite is {suite_name}: "
            "a hub keeps one suite for the life of its ledger"
        )
    return suite


def export_public_key(suite: Suite, path: Path | None = None) -> bytes:
    """The suite's public key as PEM for auditors; also written to ``path`` (mode 0644) when given."""
    pem = suite.public_key()
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pem)
        path.chmod(0o644)
    return pem
