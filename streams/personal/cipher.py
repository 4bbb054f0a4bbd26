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
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
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


class Sm4Gcm:
    """SM4-GCM (国密 SM4, GB/T 32907-2016, in GCM as GB/T 36624 / RFC 8998 use it): 128-bit key,
    96-bit random nonce per field, 128-bit tag; ``cryptography``'s SM4 (OpenSSL's)."""

    name: ClassVar[str] = "sm4-gcm"
    key_size: ClassVar[int] = 16
    NONCE: ClassVar[int] = 12
    TAG: ClassVar[int] = 16

    def seal(self, key: bytes, plaintext: bytes, aad: bytes) -> bytes:
        nonce = os.urandom(self.NONCE)
        enc = Cipher(algorithms.SM4(key), modes.GCM(nonce)).encryptor()
        enc.authenticate_additional_data(aad)
        body = enc.update(plaintext) + enc.finalize()
        return nonce + body + enc.tag

    def open(self, key: bytes, sealed: bytes, aad: bytes) -> bytes:
        if len(sealed) < self.NONCE + self.TAG:
            raise CannotOpen("the value is too short to be SM4-GCM sealed")
        nonce, body, tag = sealed[: self.NONCE], sealed[self.NONCE : -self.TAG], sealed[-self.TAG :]
        try:
            dec = Cipher(algorithms.SM4(key), modes.GCM(nonce, tag)).decryptor()
            dec.authenticate_additional_data(aad)
            return dec.update(body) + dec.finalize()
        except (InvalidTag, ValueError) as e:
            raise CannotOpen("the value does not open with this key") from e


CIPHERS: dict[str, FieldCipher] = {AesGcm.name: AesGcm(), Sm4Gcm.name: Sm4Gcm()}


def cipher(name: str) -> FieldCipher:
    try:
        return CIPHERS[name]
    except KeyError:
        raise ValueError(f"unknown field cipher {name!r}; known: {', '.join(sorted(CIPHERS))}") from None
