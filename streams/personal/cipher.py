"""Field ciphers: an authenticated cipher with a fresh nonce per field (个人信息字段加密).

A `FieldCipher` seals one field's bytes under a person's data key; the associated data (the token's
header: suite, person, key version) is authenticated with it, so a sealed value cannot be moved to
another person's record or key version unnoticed. The deployment picks the cipher by name
(``aes-256-gcm`` by default, ``sm4-gcm`` with the 国密 suite) and every token names the one that
sealed it, so records sealed before a change of suite stay readable.
"""

from __future__ import annotations

import os
from typing import ClassVar, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM


class CannotOpen(ValueError):
    """The key does not open this value (wrong key, altered ciphertext or associated data)."""


class FieldCipher(Protocol):
    """Seals and opens one field; ``key_size`` bytes of data key; output is nonce || ciphertext+tag."""

    name: str
    key_size: int

    def seal(self, key: bytes, plaintext: bytes, aad: bytes) -> bytes: ...

    def open(self, key: bytes, sealed: bytes, aad: bytes) -> bytes: ...


class AesGcm:
    """AES-256-GCM (NIST SP 800-38D), 96-bit random nonce per field."""

    name: ClassVar[str] = "aes-256-gcm"
    key_size: ClassVar[int] = 32
    NONCE: ClassVar[int] = 12

    def seal(self, key: bytes, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(self.NONCE)
        return nonce + AESGCM(key).encrypt(nonce, plaintext, aad)

    def open(self, key: bytes, sealed: bytes, aad: bytes) -> bytes:
        try:
            return AESGCM(key).decrypt(sealed[: self.NONCE], sealed[self.NONCE :], aad)
        except (InvalidTag, ValueError) as e:
            raise CannotOpen("the value does not open with this key") from e


CIPHERS: dict[str, FieldCipher] = {AesGcm.name: AesGcm()}


def cipher(name: str) -> FieldCipher:
    try:
        return CIPHERS[name]
    except KeyError:
        raise ValueError(f"unknown field cipher {name!r}; known: {', '.join(sorted(CIPHERS))}") from None
