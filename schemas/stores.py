"""The schema registry's store as an interface: what its HTTP API (`registry.create_app`), the hub and
`fengqiao audit` use.

`registry.RegistryStore` (SQLite, a file or ``:memory:``) is the implementation; the contract every
implementation must keep is `tests/contracts/test_registry.py`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from .registry.model import SchemaVersion


@runtime_checkable
class SchemaStore(Protocol):
    """Subjects, their numbered versions, schemas by global id and compatibility levels, as Confluent's
    registry keeps them.

    Ids are global: one schema text (by its JSON, key order and whitespace aside) has one id under every
    subject. Versions of a subject count from 1, oldest first. Missing things raise the
    `registry.StoreError` subclass that carries Confluent's status and error code (`SubjectNotFound`,
    `VersionNotFound`, `SchemaNotFound`, `SubjectConfigNotFound`); bad input raises `InvalidSchema`,
    `InvalidVersion` or `InvalidCompatibilityLevel`. Only AVRO schemas are served.
    """

    def subjects(self) -> list[str]:
        """Every subject with a version, sorted."""
        ...

    def versions(self, subject: str) -> list[int]:
        """The subject's version numbers, ascending; `SubjectNotFound` if it has none."""
        ...

    def get_version(self, subject: str, version: int | str = "latest") -> SchemaVersion:
        """One version (``"latest"`` or -1: the newest); `SubjectNotFound`, `VersionNotFound`, or
        `InvalidVersion` for a number outside [1, 2^31-1]."""
        ...

    def schema_by_id(self, schema_id: int) -> str:
        """The schema text registered under ``schema_id``, as first registered; `SchemaNotFound`."""
        ...

    def versions_for_id(self, schema_id: int) -> list[tuple[str, int]]:
        """Every (subject, version) holding ``schema_id``, sorted; `SchemaNotFound` if unknown."""
        ...

    def lookup(self, subject: str, schema: str, schema_type: str = "AVRO") -> SchemaVersion:
        """The version of ``subject`` holding ``schema``; `SubjectNotFound`, or `SchemaNotFound` when
        the subject does not hold it."""
        ...

    def get_compatibility(self, subject: str | None = None, *, default_to_global: bool = True) -> str:
        """The level of ``subject`` (the global one without): its own, else the global, else the
        store's default; with ``default_to_global=False`` `SubjectConfigNotFound` when it has none."""
        ...

    def set_compatibility(self, level: str, subject: str | None = None) -> str:
        """Set the subject's (or the global) level, replacing any earlier; returns it upper-cased.
        `InvalidCompatibilityLevel` for an unknown level."""
        ...

    def delete_compatibility(self, subject: str) -> str:
        """Drop the subject's own level (it follows the global again); returns the dropped level,
        `SubjectConfigNotFound` if it had none."""
        ...

    def test_compatibility(
        self, subject: str, schema: str, version: int | str | None = None, schema_type: str = "AVRO"
    ) -> list[str]:
        """What stops ``schema`` joining ``subject`` at its level (empty: nothing); against one
        version when given (`SubjectNotFound` / `VersionNotFound` then). Changes nothing."""
        ...

    def register(self, subject: str, schema: str, schema_type: str = "AVRO") -> int:
        """Add ``schema`` as the subject's next version; its global id. Idempotent: a schema the
        subject holds already keeps its version and id. `IncompatibleSchema` when the subject's level
        refuses it (nothing stored), `InvalidSchema` for a schema that does not parse."""
        ...

    def close(self) -> None:
        """Release the database."""
        ...
