"""Reference registers (名册) a deployment keeps beside its directory, e.g. civil affairs' assistance
register (民政救助名单). Pure: reads files, answers lookups; no clock, no Kafka.

A register is data another agency owns and the hub may consult when it decides (is the applicant
already on the assistance register?). A decision that consults one records what it found — the
entry and the register's version (`Register.version`, a digest of the file) — so replay reads the
decision back and never looks again, whatever the register says by then.

A deployment folder holds them in ``registers/``, one file each, named after the register:

* ``registers/<name>.yaml``::

      title: 民政救助名单 (civil affairs' assistance register)
      key: id_number            # the field entries are looked up by
      entries:
        - {id_number: "330102198510100070", status: subsistence_allowance, valid_until: 2026-12-31}

* or ``registers/<name>.csv``: a header row, then one entry per row; the first column is the key.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .personal.seal import PREFIX as SEALED_PREFIX

FOLDER = "registers"


class RegisterError(ValueError):
    """A register file is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Register:
    """One register: entries by key, and the digest of the file they were read from."""

    name: str
    key: str
    entries: Mapping[str, Mapping[str, Any]] = field(repr=False)
    digest: str
    title: str = ""
    source: str = "<memory>"

    @property
    def version(self) -> str:
        """Which register, as read: what a decision records having consulted."""
        return f"{self.name}@sha256:{self.digest[:16]}"

    by_subject: Mapping[str, Mapping[str, Any]] = field(default_factory=dict, repr=False, compare=False)

    def get(self, key: str | None) -> Mapping[str, Any] | None:
        """The entry for ``key``, or None when the register has none. A sealed key (an ID number sealed
        at intake) is found by its pseudonym, once the register is `indexed`: nothing is decrypted, so
        replay finds the same entry after the person was erased."""
        if not isinstance(key, str):
            return None
        if key.startswith(SEALED_PREFIX):
            return self.by_subject.get(key.split(":", 4)[3])
        return self.entries.get(key.strip())

    def indexed(self, index: Any) -> Register:
        """This register with its entries also under their pseudonyms (`personal.keys.Index.person`)."""
        by = {
            index.person(k, None) if self.key == "id_number" else index.person(None, k): e
            for k, e in self.entries.items()
        }
        return dataclasses.replace(self, by_subject=by)

    def __len__(self) -> int:
        return len(self.entries)


def load_registers(folder: Path) -> dict[str, Register]:
    """Every register in ``folder/registers`` (none when the folder has no such sub-folder)."""
    where = folder / FOLDER
    if not where.is_dir():
        return {}
    out: dict[str, Register] = {}
    for path in sorted(where.iterdir()):
        if path.suffix.lower() not in (".yaml", ".yml", ".csv"):
            continue
        if path.stem in out:
            raise RegisterError(f"{path}: register {path.stem!r} is also in {out[path.stem].source}")
        out[path.stem] = load_register(path)
    return out


def load_register(path: Path) -> Register:
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    text = data.decode("utf-8-sig")
    if path.suffix.lower() == ".csv":
        rows = list(csv.DictReader(io.StringIO(text)))
        key = next(iter(rows[0]), None) if rows else None
        title = path.stem
    else:
        try:
            raw = yaml.safe_load(text) or {}
        except yaml.YAMLError as e:
            raise RegisterError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(raw, dict) or not isinstance(raw.get("entries", []), list):
            raise RegisterError(f"{path}: expected a mapping with key and a list of entries")
        rows, key, title = raw.get("entries") or [], raw.get("key"), str(raw.get("title") or path.stem)
    if not rows:
        return Register(path.stem, str(key or ""), {}, digest, title, str(path))
    if not isinstance(key, str) or not key:
        raise RegisterError(f"{path}: key: name the field entries are looked up by")
    entries: dict[str, Mapping[str, Any]] = {}
    for n, row in enumerate(rows, 1):
        value = row.get(key) if isinstance(row, dict) else None
        if value is None or not str(value).strip():
            raise RegisterError(f"{path}: entry {n}: no {key}")
        value = str(value).strip()
        if value in entries:
            raise RegisterError(f"{path}: entry {n}: {key} {value!r} is listed twice")
        entries[value] = {k: v for k, v in row.items() if v not in (None, "")}
    return Register(path.stem, key, entries, digest, title, str(path))
