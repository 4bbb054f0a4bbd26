"""Replay over several processes: cases are independent, so each process folds a shard of them.

A case's records all carry one partition number (Kafka partitions by key, the case id), so shard
``i`` of ``n`` is the partitions ``p % n == i``, read by the process itself (`Ledger.scan`). Forked
children send their cases back marshalled (plain JSON-like data; several times faster than pickle),
the parent folds shard 0 meanwhile. The merge keeps the single process's order (by each case's
first record) and, should a case ever span shards (its records on two partition numbers: a topic
repartitioned), gives up so the caller replays in one process: the result is always the same.
"""

from __future__ import annotations

import marshal
import multiprocessing
import pickle
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any

from fengqiao.schemas.codec import Codec

from .ledger import Ledger
from .replay_fold import Case, Folded, Progress, gc_paused, replay_shard


def replay_sharded(
    ledger: Ledger,
    codec: Codec,
    workers: int,
    *,
    until: datetime | None = None,
    progress: Progress | None = None,
) -> dict[str, Case] | None:
    """The cases, as `replay_shard` over the whole ledger gives them; None where forking is not
    possible or a shard failed or a case spans shards (replay in one process then)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return None
    ctx = multiprocessing.get_context("fork")
    children = []
    for i in range(1, workers):
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(ledger, codec, (i, workers), until, send), daemon=True)
        proc.start()
        send.close()
        children.append((proc, receive))
    # The shards are about even: this one's progress, times their number, is the whole replay's.
    ours = (lambda n: progress(n * workers)) if progress else None
    try:
        shards: list[Folded | None] = [replay_shard(ledger, codec, (0, workers), until=until, progress=ours)]
    except BaseException:
        for proc, receive in children:  # nobody will read what they send: stop them
            proc.terminate()
            proc.join()
            receive.close()
        raise
    failed = False
    with gc_paused():
        for proc, receive in children:
            try:
                shard = _loads(receive.recv_bytes())
                shards.append(None if shard is None else Folded(*shard))
            except (EOFError, OSError, ValueError):
                failed = True
            receive.close()
            proc.join()
    folded = [shard for shard in shards if shard is not None]
    if failed or len(folded) < workers:
        return None
    if progress:
        progress(sum(shard.rows for shard in folded))
    return _merge(folded)


def _child(
    ledger: Ledger, codec: Codec, shard: tuple[int, int], until: datetime | None, send: Connection
) -> None:
    ledger.after_fork()
    try:
        result: Any = replay_shard(ledger, codec, shard, until=until)
    except Exception:
        result = None  # the parent replays in one process and meets the error itself
    send.send_bytes(_dumps(None if result is None else tuple(result)))  # marshal takes no named tuple
    send.close()


def _dumps(obj: Any) -> bytes:
    try:
        return b"M" + marshal.dumps(obj)
    except ValueError:  # a type marshal does not know: slower, but any
        return b"P" + pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def _loads(data: bytes) -> Any:
    return marshal.loads(data[1:]) if data[:1] == b"M" else pickle.loads(data[1:])


def _merge(shards: list[Folded]) -> dict[str, Case] | None:
    firsts: dict[str, int] = {}
    every: dict[str, Case] = {}
    for cases, first, _ in shards:
        if not firsts.keys().isdisjoint(first):
            return None
        firsts.update(first)
        every.update(cases)
    return {case_id: every[case_id] for case_id in sorted(firsts, key=firsts.__getitem__)}
