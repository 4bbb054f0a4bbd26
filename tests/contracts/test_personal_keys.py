"""The personal data key store's contract (streams/personal/keys.py), on SQLite and on PostgreSQL.

Data keys per subject, wrapped by the master key; rotation keeps old values readable; erasure
destroys a person's keys, those of their aliases and of the cases about them, for good.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from fengqiao.streams.personal.keys import FileMasterKeys, Index, KeyStore


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[KeyStore]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'keys.db'}"
    else:
        server, schema = request.getfixturevalue("pg_schema")
        url = f"{server}?options=-csearch_path%3D{schema}"
    s = KeyStore(url, FileMasterKeys(tmp_path / "master"), Index(b"k" * 32))
    try:
        yield s
    finally:
        s.close()


def test_a_subject_gets_one_key_made_on_first_use(store: KeyStore) -> None:
    v, key = store.data_key("pA")
    assert (v, len(key)) == (1, 32)
    assert store.data_key("pA") == (1, key)
    assert store.key("pA", 1) == key and store.key("pB", 1) is None


def test_a_rotated_key_seals_new_values_and_the_old_one_still_opens(store: KeyStore) -> None:
    _, old = store.data_key("pA")
    assert store.rotate("pA") == 2
    v, new = store.data_key("pA")
    assert v == 2 and new != old and store.key("pA", 1) == old


def test_erasure_destroys_the_person_their_aliases_and_their_cases_keys(store: KeyStore) -> None:
    for s in ("pA", "pAlias", "pB"):
        store.data_key(s)
    store.alias("pAlias", "pA")
    store.link("CASE-1", {"pA"})
    store.index = Index(b"k" * 32)
    case_subject = store.index.case("CASE-1")
    store.data_key(case_subject)
    assert store.cases_of("pA") == ["CASE-1"]
    gone = store.erase("pA")
    assert gone.cases == ["CASE-1"] and gone.keys == 3  # pA, pAlias, the case's own
    store.refresh(0)
    assert (
        store.key("pA", 1) is None and store.key("pAlias", 1) is None and store.key(case_subject, 1) is None
    )
    assert store.key("pB", 1) is not None  # another person keeps theirs
    assert store.erased_at("pA") is not None
    v, _ = store.data_key("pA")  # data that arrives later gets a new key, never the destroyed one back
    assert v == 2


def test_rewrap_moves_every_key_to_a_new_master_key(store: KeyStore, tmp_path: Path) -> None:
    _, key = store.data_key("pA")
    master = store.master
    assert isinstance(master, FileMasterKeys)
    new = master.rotate()
    assert store.rewrap() == 1
    assert master.retire(new) == [1]
    fresh = KeyStore(store.url, FileMasterKeys(tmp_path / "master"), Index(b"k" * 32))
    try:
        assert fresh.key("pA", 1) == key  # opens with master key 2 alone
    finally:
        fresh.close()


def test_a_wrapped_key_copied_onto_another_subject_does_not_open(store: KeyStore) -> None:
    store.data_key("pA")
    with store._engine.begin() as c:
        c.execute(
            text(
                "INSERT INTO personal_keys (subject, version, wrapped, master_version, created_at) "
                "SELECT 'pEve', version, wrapped, master_version, created_at FROM personal_keys "
                "WHERE subject = 'pA'"
            )
        )
    with pytest.raises(ValueError, match="does not open"):
        store.key("pEve", 1)
