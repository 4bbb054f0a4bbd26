"""Opening sealed values for a reader (查阅): in clear for whom the directory allows, masked otherwise,
``[已删除]`` once the person was erased; every read in clear goes to the read log.

`Revealer.reveal` walks any JSON (a case, a task list, a webhook body, an audit report's events):
sealed values carry their own cipher, subject and key version, so no schema is needed to find them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .access import ReadLog
from .cipher import CannotOpen, cipher
from .keys import KeyStore
from .seal import PREFIX, Sealed

ERASED = "[已删除 erased]"
UNREADABLE = "[无法解密 unreadable]"


def mask(kind: str, text: str) -> str:
    """What a reader who may not see the value sees: ``3301**********1234``, ``138****5678``, ``张**``."""
    n = len(text)
    if kind == "id" and n > 8:
        return text[:4] + "*" * (n - 8) + text[-4:]
    if kind == "phone" and n >= 7:
        return text[:3] + "*" * (n - 7) + text[-4:]
    if kind == "name" and n >= 1:
        return text[0] + "*" * max(n - 1, 1)
    return "***"


@dataclass(frozen=True)
class Reader:
    """Who reads, by which door: ``entry`` is e.g. ``gateway:/v1/cases``, ``cli:case show``, ``webhook``."""

    agency: str
    entry: str
    key_id: str = ""


class Revealer:
    """Opens, masks and logs. Without a key store every sealed value shows as masked text ``***``."""

    def __init__(self, keys: KeyStore | None, log: ReadLog | None = None) -> None:
        self.keys = keys
        self.log = log

    def reveal(self, obj: Any, reader: Reader, *, clear: bool, case_id: str = "") -> Any:
        """A copy of ``obj`` with each sealed value opened (``clear``) or masked."""
        if self.keys is not None:
            self.keys.refresh()
        persons: set[str] = set()
        fields: set[str] = set()

        def one(value: str, path: str) -> str:
            out, subject = self._open(value, clear)
            if clear and subject is not None:
                persons.add(subject)
                fields.add(_field(path))
            return out

        out = _walk(obj, "", one)
        if clear and persons and self.log is not None:
            self.log.record(
                agency=reader.agency,
                key_id=reader.key_id,
                entry=reader.entry,
                case_id=case_id or _case_of(obj),
                persons=persons,
                fields=fields,
            )
        return out

    def _open(self, value: str, clear: bool) -> tuple[str, str | None]:
        """(what the reader sees, the subject when it was opened in clear)."""
        try:
            s = Sealed.parse(value)
        except ValueError:
            return UNREADABLE, None
        if self.keys is None:
            return "***", None
        key = self.keys.key(s.subject, s.version)
        if key is None:
            return ERASED, None
        try:
            text = cipher(s.cipher).open(key, s.body, s.header.encode()).decode()
        except (CannotOpen, ValueError):
            return UNREADABLE, None
        return (text, s.subject) if clear else (mask(s.kind, text), None)


def _walk(v: Any, path: str, one: Any) -> Any:
    if isinstance(v, str):
        return one(v, path) if v.startswith(PREFIX) else v
    if isinstance(v, Mapping):
        return {k: _walk(x, f"{path}.{k}" if path else str(k), one) for k, x in v.items()}
    if isinstance(v, list):
        return [_walk(x, path, one) for x in v]
    return v


def _field(path: str) -> str:
    """The field's name for the log: the last two steps (``person.id_number``, ``parties.name``)."""
    return ".".join(path.split(".")[-2:])


def _case_of(obj: Any) -> str:
    return str(obj.get("case_id", "")) if isinstance(obj, Mapping) else ""
