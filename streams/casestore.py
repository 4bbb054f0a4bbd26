"""The cases a worker holds (案件状态): the most recently used as Python objects, the rest compressed.

A case as Python dicts takes about 28 KB (its timeline, the facts of every event type, its handoffs);
a million open cases would need some 28 GB. Pickled and compressed with a zstd dictionary trained on
the worker's own cases, the same case takes about 1.5 KB. So the store keeps the ``hot`` most recently
used cases as objects and the others as compressed bytes: a case read from the cold part costs about
75 µs (mostly unpickling), one pushed out about 35 µs. ``hot=0`` keeps every case as objects (fastest;
memory grows with the cases).

The store is memory only, like the cases were: after a restart the worker rebuilds it from the log.
"""

from __future__ import annotations

import pickle
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import zstandard

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
        self._compress: zstandard.ZstdCompressor | None = None
        self._decompress: zstandard.ZstdDecompressor | None = None

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
        self.cold[key] = self._compress.compress(blob)

    def _train(self) -> None:
        """A dictionary of what this worker's cases have in common: field names, agencies, places."""
        try:
            data = zstandard.train_dictionary(DICT_BYTES, list(self._untrained.values()))
            self._compress = zstandard.ZstdCompressor(level=1, dict_data=data)
            self._decompress = zstandard.ZstdDecompressor(dict_data=data)
        except zstandard.ZstdError:  # too little in common to train on: compress without a dictionary
            self._compress, self._decompress = zstandard.ZstdCompressor(level=1), zstandard.ZstdDecompressor()
        untrained, self._untrained = self._untrained, {}
        for key, blob in untrained.items():
            self.cold[key] = self._compress.compress(blob)

    def _thaw(self, key: bytes, *, remove: bool) -> Case | None:
        blob = (self.cold.pop if remove else self.cold.get)(key, None)
        if blob is not None:
            assert self._decompress is not None
            return pickle.loads(self._decompress.decompress(blob))
        blob = (self._untrained.pop if remove else self._untrained.get)(key, None)
        return None if blob is None else pickle.loads(blob)
