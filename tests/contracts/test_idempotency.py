"""The contract of `IdempotencyStore`, run against every implementation: `idempotency.AnswerStore`
(SQLite)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fengqiao.connectors.gateway.idempotency import AnswerStore, Stored
from fengqiao.connectors.gateway.stores import IdempotencyStore

A, B = ("court-qs", "e-1"), ("court-qs", "e-2")
ANSWER = Stored("fp-1", 202, {"id": "e-1", "topic": "fengqiao.release", "note": "已受理"})

Reopen = Callable[[IdempotencyStore], IdempotencyStore]


class IdempotencyStoreContract:
    """What the gateway's intake (`intake.py`) relies on. Subclasses give ``store`` and ``reopen``."""

    def test_an_unknown_key_is_none(self, store: IdempotencyStore) -> None:
        assert store.get(A) is None

    def test_a_put_answer_comes_back_as_it_was(self, store: IdempotencyStore) -> None:
        store.put(A, ANSWER)
        assert store.get(A) == ANSWER
        assert store.get(B) is None
        assert store.get(("court-bj", "e-1")) is None  # the same id from another source is another event

    def test_the_last_put_wins(self, store: IdempotencyStore) -> None:
        store.put(A, ANSWER)
        other = Stored("fp-2", 202, {"id": "e-1", "topic": "fengqiao.release", "offset": 3})
        store.put(A, other)
        assert store.get(A) == other

    def test_answers_outlive_a_restart(self, store: IdempotencyStore, reopen: Reopen) -> None:
        store.put(A, ANSWER)
        assert reopen(store).get(A) == ANSWER

    async def test_a_shared_key_runs_one_after_the_other(self, store: IdempotencyStore) -> None:
        inside: list[str] = []
        overlap = False

        async def hold(name: str, keys: list[tuple[str, str]]) -> None:
            nonlocal overlap
            async with store.locked(keys):
                overlap = overlap or bool(inside)
                inside.append(name)
                await asyncio.sleep(0.01)
                inside.remove(name)

        await asyncio.gather(hold("one", [A, B]), hold("two", [B, A, A]), hold("three", [A]))
        assert not overlap

    async def test_other_keys_do_not_wait(self, store: IdempotencyStore) -> None:
        async with store.locked([A]):
            await asyncio.wait_for(self._enter(store, [B]), timeout=1)
        async with store.locked([]):  # no keys: nothing to wait for
            pass

    async def _enter(self, store: IdempotencyStore, keys: list[tuple[str, str]]) -> None:
        async with store.locked(keys):
            pass


class TestAnswerStoreSQLite(IdempotencyStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[IdempotencyStore]:
        made: IdempotencyStore = AnswerStore(tmp_path / "answers.db")  # the static check
        assert isinstance(made, IdempotencyStore)
        yield made
        made.close()

    @pytest.fixture
    def reopen(self, tmp_path: Path) -> Iterator[Reopen]:
        opened: list[IdempotencyStore] = []

        def again(store: IdempotencyStore) -> IdempotencyStore:
            store.close()
            opened.append(AnswerStore(tmp_path / "answers.db"))
            return opened[-1]

        yield again
        for s in opened:
            s.close()
