"""The contract of `ApiKeyStore`, run against every implementation: `keys.KeyStore` (SQLite)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fengqiao.connectors.gateway.keys import KeyRefused, KeyStore
from fengqiao.connectors.gateway.stores import ApiKeyStore

T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


class Clock:
    """A settable clock for the store."""

    def __init__(self) -> None:
        self.at = T0

    def __call__(self) -> datetime:
        return self.at


MakeStore = Callable[[Clock], ApiKeyStore]


class ApiKeyStoreContract:
    """What the gateway (`api.py`), `fengqiao gateway keys` and the harness rely on.
    Subclasses give ``make_store(clock)``."""

    @pytest.fixture
    def clock(self) -> Clock:
        return Clock()

    @pytest.fixture
    def store(self, make_store: MakeStore, clock: Clock) -> ApiKeyStore:
        return make_store(clock)

    def refused(self, store: ApiKeyStore, key: str) -> str:
        with pytest.raises(KeyRefused) as e:
            store.verify(key)
        return e.value.rule

    def test_an_added_key_verifies_as_its_agency(self, store: ApiKeyStore) -> None:
        record, key = store.add("qs-jo-1")
        assert key.startswith(f"fq_{record.key_id}_")
        assert record.agency_id == "qs-jo-1" and record.created_at == T0 and not record.revoked
        found = store.verify(f"  {key}\n")
        assert (found.key_id, found.agency_id) == (record.key_id, "qs-jo-1")
        assert store.get(record.key_id) is not None

    def test_each_add_is_a_new_key(self, store: ApiKeyStore) -> None:
        (a, ka), (b, kb) = store.add("qs-jo-1"), store.add("qs-jo-1")
        assert a.key_id != b.key_id and ka != kb
        assert store.verify(ka).key_id == a.key_id and store.verify(kb).key_id == b.key_id

    def test_unknown_ids_are_none_and_unknown_keys_refused(self, store: ApiKeyStore) -> None:
        assert store.get("nope") is None
        assert store.revoke("nope") is None
        assert store.expire("nope", T0) is None
        assert store.rotate("nope", timedelta(days=1)) is None
        assert self.refused(store, "fq_00000000_guess") == "api-key-unknown"

    def test_list_is_oldest_first_and_keeps_revoked_keys(self, store: ApiKeyStore, clock: Clock) -> None:
        first = store.add("qs-jo-1")[0]
        clock.at = T0 + timedelta(minutes=1)
        second = store.add("qs-ps-1")[0]
        store.revoke(first.key_id)
        assert [k.key_id for k in store.list()] == [first.key_id, second.key_id]

    def test_revoke_is_at_once_and_idempotent(self, store: ApiKeyStore, clock: Clock) -> None:
        record, key = store.add("qs-jo-1")
        clock.at = T0 + timedelta(hours=1)
        revoked = store.revoke(record.key_id)
        assert revoked is not None and revoked.revoked_at == clock.at
        clock.at = T0 + timedelta(hours=2)
        assert store.revoke(record.key_id) == revoked  # the first revocation stands
        assert self.refused(store, key) == "api-key-revoked"

    def test_a_key_expires_at_its_instant(self, store: ApiKeyStore, clock: Clock) -> None:
        record, key = store.add("qs-jo-1", expires_at=T0 + timedelta(days=1))
        assert record.expires_at == T0 + timedelta(days=1)
        clock.at = T0 + timedelta(days=1) - timedelta(seconds=1)
        store.verify(key)
        clock.at = T0 + timedelta(days=1)
        assert self.refused(store, key) == "api-key-expired"

    def test_expire_never_extends(self, store: ApiKeyStore) -> None:
        record = store.add("qs-jo-1", expires_at=T0 + timedelta(days=1))[0]
        later = store.expire(record.key_id, T0 + timedelta(days=5))
        assert later is not None and later.expires_at == T0 + timedelta(days=1)
        sooner = store.expire(record.key_id, T0 + timedelta(hours=1))
        assert sooner is not None and sooner.expires_at == T0 + timedelta(hours=1)

    def test_rotate_overlaps_then_the_old_key_expires(self, store: ApiKeyStore, clock: Clock) -> None:
        old, old_key = store.add("qs-jo-1")
        done = store.rotate(old.key_id, timedelta(days=7))
        assert done is not None
        before, new, new_key = done
        assert before.key_id == old.key_id and before.expires_at == T0 + timedelta(days=7)
        assert new.agency_id == "qs-jo-1" and new.key_id != old.key_id
        clock.at = T0 + timedelta(days=6)
        assert store.verify(old_key).key_id == old.key_id and store.verify(new_key).key_id == new.key_id
        clock.at = T0 + timedelta(days=7)
        assert self.refused(store, old_key) == "api-key-expired"
        store.verify(new_key)

    def test_a_use_is_recorded(self, store: ApiKeyStore, clock: Clock) -> None:
        record, key = store.add("qs-jo-1")
        clock.at = T0 + timedelta(minutes=5)
        store.verify(key)
        used = store.get(record.key_id)
        assert used is not None and used.last_used_at == clock.at


class TestKeyStoreSQLite(ApiKeyStoreContract):
    @pytest.fixture
    def make_store(self, tmp_path: Path) -> Iterator[MakeStore]:
        made: list[ApiKeyStore] = []

        def make(clock: Clock) -> ApiKeyStore:
            store: ApiKeyStore = KeyStore(tmp_path / "keys.db", clock=clock)  # the static check
            assert isinstance(store, ApiKeyStore)
            made.append(store)
            return store

        yield make
        for s in made:
            s.close()
