"""The registry's vocabulary, shared by its store, its HTTP API and its client: the content type,
the compatibility levels and `SchemaVersion`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
DEFAULT_COMPATIBILITY = "BACKWARD_TRANSITIVE"
COMPATIBILITY_LEVELS = (
    "NONE",
    "BACKWARD",
    "BACKWARD_TRANSITIVE",
    "FORWARD",
    "FORWARD_TRANSITIVE",
    "FULL",
    "FULL_TRANSITIVE",
)


@dataclass(frozen=True)
class SchemaVersion:
    """One version of a subject, in Confluent's JSON shape by ``to_json``."""

    subject: str
    version: int
    id: int
    schema: str

    def to_json(self) -> dict[str, Any]:
        return {"subject": self.subject, "version": self.version, "id": self.id, "schema": self.schema}
