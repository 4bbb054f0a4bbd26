"""The contract of `SchemaStore`, run against every implementation: `registry.RegistryStore` on a
SQLite file and in memory."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from fengqiao.schemas.registry import (
    IncompatibleSchema,
    InvalidCompatibilityLevel,
    InvalidSchema,
    InvalidVersion,
    RegistryStore,
    SchemaNotFound,
    SubjectConfigNotFound,
    SubjectNotFound,
    VersionNotFound,
)
from fengqiao.schemas.stores import SchemaStore

SUBJECT, OTHER = "fengqiao.release-value", "fengqiao.updates-value"


def avro(*fields: dict[str, Any], indent: int | None = None) -> str:
    record = {"type": "record", "name": "Notice", "fields": [{"name": "case_id", "type": "string"}, *fields]}
    return json.dumps(record, indent=indent)


V1 = avro()
V2 = avro({"name": "note", "type": "string", "default": ""})  # backward compatible: a default
BREAKS = avro({"name": "agency", "type": "string"})  # no default: new readers cannot read old data


class SchemaStoreContract:
    """What the registry's HTTP API, the hub and `fengqiao audit` rely on. Subclasses give ``store``
    (empty, default level BACKWARD_TRANSITIVE)."""

    def test_an_empty_registry(self, store: SchemaStore) -> None:
        assert store.subjects() == []
        with pytest.raises(SubjectNotFound):
            store.versions(SUBJECT)
        with pytest.raises(SubjectNotFound):
            store.get_version(SUBJECT)
        with pytest.raises(SchemaNotFound):
            store.schema_by_id(1)
        with pytest.raises(SchemaNotFound):
            store.versions_for_id(1)
        assert store.get_compatibility() == "BACKWARD_TRANSITIVE"

    def test_versions_count_from_one_and_latest_is_the_newest(self, store: SchemaStore) -> None:
        first, second = store.register(SUBJECT, V1), store.register(SUBJECT, V2)
        assert first != second and store.versions(SUBJECT) == [1, 2]
        latest = store.get_version(SUBJECT)
        assert (latest.version, latest.id, latest.schema) == (2, second, V2)
        assert store.get_version(SUBJECT, -1) == latest and store.get_version(SUBJECT, "1").id == first
        with pytest.raises(VersionNotFound):
            store.get_version(SUBJECT, 3)
        with pytest.raises(InvalidVersion):
            store.get_version(SUBJECT, 0)

    def test_register_is_idempotent(self, store: SchemaStore) -> None:
        sid = store.register(SUBJECT, V1)
        assert store.register(SUBJECT, V1) == sid
        assert store.register(SUBJECT, avro(indent=2)) == sid  # the same JSON, other whitespace
        assert store.versions(SUBJECT) == [1] and store.schema_by_id(sid) == V1  # the text first sent

    def test_ids_are_global_across_subjects(self, store: SchemaStore) -> None:
        sid = store.register(SUBJECT, V1)
        assert store.register(OTHER, V1) == sid
        assert store.subjects() == sorted([SUBJECT, OTHER])
        assert store.versions_for_id(sid) == sorted([(SUBJECT, 1), (OTHER, 1)])

    def test_lookup_finds_the_version_holding_a_schema(self, store: SchemaStore) -> None:
        store.register(SUBJECT, V1)
        store.register(SUBJECT, V2)
        assert store.lookup(SUBJECT, V1).version == 1
        with pytest.raises(SchemaNotFound):
            store.lookup(SUBJECT, avro({"name": "x", "type": "int", "default": 0}))
        with pytest.raises(SubjectNotFound):
            store.lookup(OTHER, V1)

    def test_an_incompatible_schema_is_refused_and_not_stored(self, store: SchemaStore) -> None:
        store.register(SUBJECT, V1)
        assert store.test_compatibility(SUBJECT, V2) == []
        assert store.test_compatibility(SUBJECT, BREAKS) != []
        with pytest.raises(IncompatibleSchema):
            store.register(SUBJECT, BREAKS)
        assert store.versions(SUBJECT) == [1]
        assert store.test_compatibility(OTHER, BREAKS) == []  # nothing to be compatible with

    def test_invalid_schemas_are_refused(self, store: SchemaStore) -> None:
        with pytest.raises(InvalidSchema):
            store.register(SUBJECT, '{"type": "record"}')
        with pytest.raises(InvalidSchema):
            store.register(SUBJECT, V1, "PROTOBUF")
        assert store.subjects() == []

    def test_levels_fall_back_from_subject_to_global_to_default(self, store: SchemaStore) -> None:
        assert store.set_compatibility("none") == "NONE"
        assert store.get_compatibility(SUBJECT) == "NONE"
        with pytest.raises(SubjectConfigNotFound):
            store.get_compatibility(SUBJECT, default_to_global=False)
        store.set_compatibility("FULL", SUBJECT)
        assert store.get_compatibility(SUBJECT) == "FULL" and store.get_compatibility() == "NONE"
        assert store.delete_compatibility(SUBJECT) == "FULL"
        assert store.get_compatibility(SUBJECT) == "NONE"
        with pytest.raises(SubjectConfigNotFound):
            store.delete_compatibility(SUBJECT)
        with pytest.raises(InvalidCompatibilityLevel):
            store.set_compatibility("SOMETIMES")

    def test_the_level_decides_registration(self, store: SchemaStore) -> None:
        store.register(SUBJECT, V1)
        store.set_compatibility("NONE", SUBJECT)
        assert store.register(SUBJECT, BREAKS) > 0 and store.versions(SUBJECT) == [1, 2]


class TestRegistryStoreSQLiteFile(SchemaStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[SchemaStore]:
        made: SchemaStore = RegistryStore(tmp_path / "registry.db")  # the static check
        assert isinstance(made, SchemaStore)
        yield made
        made.close()

    def test_the_registry_outlives_a_restart(self, store: SchemaStore, tmp_path: Path) -> None:
        sid = store.register(SUBJECT, V1)
        store.set_compatibility("FULL", SUBJECT)
        store.close()
        again = RegistryStore(tmp_path / "registry.db")
        assert again.get_version(SUBJECT).id == sid and again.get_compatibility(SUBJECT) == "FULL"
        again.close()


class TestRegistryStoreInMemory(SchemaStoreContract):
    @pytest.fixture
    def store(self) -> Iterator[SchemaStore]:
        made: SchemaStore = RegistryStore(":memory:")
        assert isinstance(made, SchemaStore)
        yield made
        made.close()
