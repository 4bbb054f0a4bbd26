"""The cases a worker holds (案件状态): the most recently used as Python objects, the rest compressed.

A case as Python dicts takes some 12–28 KB (its timeline, the facts of every event type, its
handoffs). Pickled and zlib-compressed against a dictionary of the worker's own cases, the same case
takes about 1.4–1.7 KB. With ``hot`` set, the store keeps that many recently used cases as objects and
the others as compressed bytes: a case read from the cold part costs about 90 µs (mostly unpickling),
one pushed out about 70 µs. ``hot=0`` (the default, `FENGQIAO_CASE_CACHE`) keeps every case as objects.

Measured in the worker (docs/performance.md), the resident memory falls far less than the cold
cases' size predicts (21.1 against 22.1 KB a case at 50,000 cases, 20,000 hot), and a restart folds
slower through the cache; so it is off unless asked for.

The store is memory only, like the cases were: after a restart the worker rebuilds it from the log.
"""

from __future__ import annotations

import pickle
import zlib
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

Case = dict[str, Any]
TRAIN_ON = 2000  # cold cases pickled before the dictionary is trained on them
DICT_BYTES = 16384


class CaseStore:
    """``get`` / ``store[key] = case`` / ``pop`` / ``len`` / ``values``, keyed by the record key."""

    def __init__(self, hot: int = 0) -> None:
        self.limit = hot
        self.hot: OrderedDict[bytes, Case] = OrderedDict()
        self.cold: dict[bytes, bytes] = {}
        self._untrained: dict[bytes, bytes] = {}  # pickled, waiting for the dictionary
        # Compressor and decompressor primed with the dictionary; each use works on a copy of one.
        self._compress: Any = None
        self._decompress: Any = None

    def __len__(self) -> int:
        return len(self.hot) + len(self.cold) + len(self._untrained)

    def __contains__(self, key: bytes) -> bool:
        return key in self.hot or key in self.cold or key in self._untrained

    def get(self, key: bytes, default: Case | None = None) -> Case | None:
        case = self.hot.get(key)
        if case is not None:
            self.hot.move_to_end(key)
            return case
        case = self._thaw(key, remove=True)
        if case is None:
            return default
        self[key] = case
        return case

    def __setitem__(self, key: bytes, case: Case) -> None:
        if key not in self.hot:  # a newer version of a cold case replaces it
            self.cold.pop(key, None)
            self._untrained.pop(key, None)
        self.hot[key] = case
        self.hot.move_to_end(key)
        while self.limit and len(self.hot) > self.limit:
            self._freeze(*self.hot.popitem(last=False))

    def pop(self, key: bytes, default: Case | None = None) -> Case | None:
        case = self.hot.pop(key, None)
        if case is not None:
            return case
        found = self._thaw(key, remove=True)
        return default if found is None else found

    def values(self) -> Iterator[Case]:
        """Every case, the cold ones thawed on the way without being made hot (a listing, not a use)."""
        yield from list(self.hot.values())
        for key in list(self.cold) + list(self._untrained):
            case = self._thaw(key, remove=False)
            if case is not None:
                yield case

    # -- cold storage -------------------------------------------------------------------------------

    def _freeze(self, key: bytes, case: Case) -> None:
        blob = pickle.dumps(case, protocol=pickle.HIGHEST_PROTOCOL)
        if self._compress is None:
            self._untrained[key] = blob
            if len(self._untrained) >= TRAIN_ON:
                self._train()
            return
        self.cold[key] = self._deflate(blob)

    def _deflate(self, blob: bytes) -> bytes:
        c = self._compress.copy()
        return c.compress(blob) + c.flush()

    def _inflate(self, blob: bytes) -> bytes:
        d = self._decompress.copy()
        return d.decompress(blob) + d.flush()

    def _train(self) -> None:
        """A dictionary of what this worker's cases have in common (field names, agencies, places): a
        sample of them, as zlib takes it (the last 16 KB count)."""
        samples = list(self._untrained.values())
        zdict = b"".join(samples[:: max(1, len(samples) // 16)])[-DICT_BYTES:]
        self._compress = zlib.compressobj(1, zdict=zdict)
        self._decompress = zlib.decompressobj(zdict=zdict)
        untrained, self._untrained = self._untrained, {}
        for key, blob in untrained.items():
            self.cold[key] = self._deflate(blob)

    def _thaw(self, key: bytes, *, remove: bool) -> Case | None:
        blob = (self.cold.pop if remove else self.cold.get)(key, None)
        if blob is not None:
            assert self._decompress is not None
            return pickle.loads(self._inflate(blob))
        blob = (self._untrained.pop if remove else self._untrained.get)(key, None)
        return None if blob is None else pickle.loads(blob)
