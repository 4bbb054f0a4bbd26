"""Hash and signature suites for the ledger (issue 4, item 1).

The ledger needs two primitives: a digest for its hash chains and a signature for its checkpoints.
Both sit behind the small `Suite` protocol so that a national-standard suite (SM3 digest with SM2
signatures) can be added later as one more class with its own ``name``, without touching the
ledger: every checkpoint records the name of the suite that signed it. Only `Sha256Ed25519`
exists today.

Public keys travel as PEM (SubjectPublicKeyInfo), the form auditors receive from
`export_public_key`; `Sha256Ed25519.verify` also takes a raw 32-byte Ed25519 key. Private keys
are PEM (PKCS#8, unencrypted) in a file only the hub's user can read (mode 0600); protect the
folder holding it like any other secret.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey


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
    loaded = serialization.load_pem_public_key(key)
    if not isinstance(loaded, Ed25519PublicKey):
        raise ValueError(f"not an Ed25519 public key: {type(loaded).__name__}")
    return loaded


def load_or_create_key(path: Path) -> Sha256Ed25519:
    """The hub's signing suite, its Ed25519 key read from ``path`` or generated there on first use.

    The file is created with mode 0600 and O_EXCL, so two processes starting together end up
    with the same key (the loser reads the winner's file).
    """
    path = Path(path)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        key = Ed25519PrivateKey.generate()
        pem = key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        with contextlib.suppress(FileExistsError):
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            try:
                os.write(fd, pem)
                os.fsync(fd)
            finally:
                os.close(fd)
            return Sha256Ed25519(key)
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as e:
        raise SuiteKeyError(f"{path}: not an unencrypted PEM private key ({e})") from e
    if not isinstance(loaded, Ed25519PrivateKey):
        raise SuiteKeyError(f"{path}: not an Ed25519 private key but {type(loaded).__name__}")
    return Sha256Ed25519(loaded)


def export_public_key(suite: Suite, path: Path | None = None) -> bytes:
    """The suite's public key as PEM for auditors; also written to ``path`` (mode 0644) when given."""
    pem = suite.public_key()
    if path is not None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pem)
        path.chmod(0o644)
    return pem
