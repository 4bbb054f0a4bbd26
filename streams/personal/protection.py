"""`Protection`: the key store, the sealer, the revealer and the read log of one deployment, built
from its settings (the data folder's ``personal/`` by default)."""

from __future__ import annotations

import hashlib
from typing import Any

from fengqiao.schemas.catalogue import Catalogue

from .access import ReadLog
from .keys import FileMasterKeys, Index, KeyStore, load_secret
from .reveal import Reader, Revealer
from .seal import Sealer


def index(settings: Any) -> Index:
    """The pseudonymous ids alone (what a worker needs to look a sealed ID number up in a register)."""
    settings.personal_dir.mkdir(parents=True, exist_ok=True)
    return Index(load_secret(settings.personal_dir / "index.key"), _hash(settings))


def _hash(settings: Any) -> str:
    """HMAC-SM3 and SM3 under the 国密 suite, SHA-256 otherwise (the index and the read log)."""
    return "sm3" if settings.crypto_suite == "gm" else "sha256"


def _read_log(settings: Any) -> ReadLog:
    """The deployment's read log, hashed with the ledger's digest."""
    name = _hash(settings)
    return ReadLog(settings.ledger_url, lambda b: hashlib.new(name, b).digest())


def attach(codec: Any, settings: Any) -> Protection | None:
    """Make this process seal what it publishes through ``codec`` and refuse clear agency records, as
    the deployment says (``protect_personal``); the `Protection` to close, or None when off."""
    from fengqiao.streams.acceptance import require_sealed

    require_sealed(settings.protect_personal)
    if not settings.protect_personal:
        codec.sealer = None
        return None
    protection = Protection.from_settings(settings, codec.catalogue, read_log=False)
    codec.sealer = protection.sealer
    return protection


class Protection:
    def __init__(
        self, keys: KeyStore, catalogue: Catalogue, read_log: ReadLog | None, cipher_name: str
    ) -> None:
        self.keys = keys
        self.sealer = Sealer(catalogue, keys, cipher_name)
        self.read_log = read_log
        self.revealer = Revealer(keys, read_log)

    @classmethod
    def from_settings(cls, settings: Any, catalogue: Catalogue, *, read_log: bool = True) -> Protection:
        name = settings.field_cipher  # SM4-GCM with the 国密 suite, AES-256-GCM otherwise
        master = FileMasterKeys(settings.personal_dir, name)
        keys = KeyStore(settings.personal_keys_url, master, index(settings), master.cipher.key_size)
        log = _read_log(settings) if read_log else None
        return cls(keys, catalogue, log, name)

    def reveal(self, obj: Any, reader: Reader, *, clear: bool, case_id: str = "") -> Any:
        return self.revealer.reveal(obj, reader, clear=clear, case_id=case_id)

    def close(self) -> None:
        self.keys.close()
        if self.read_log is not None:
            self.read_log.close()
