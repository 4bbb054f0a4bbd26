"""What verification reports: `Kind` of problem, `Problem`, `VerifyReport`."""

from __future__ import annotations

from dataclasses import dataclass, field


class Kind:
    """The kinds of problem verification names."""

    ALTERED = "altered"  # a record's content no longer matches its hash (or its indexed columns its headers)
    REMOVED = "removed"  # a record the chain links to, or a checkpoint covers, is not there
    INSERTED = "inserted"  # a record the chain does not link to (extra, or a second one at one offset)
    REORDERED = "reordered"  # records swapped or moved: content or links point elsewhere in the chain
    REWRITTEN = "rewritten"  # the chain is consistent but differs from a signed checkpoint's head
    CHECKPOINT_FORGED = "checkpoint_forged"  # bad signature, other key or suite: altered or forged
    CHECKPOINT_REMOVED = "checkpoint_removed"  # the checkpoint chain skips one


@dataclass(frozen=True, slots=True)
class Problem:
    kind: str
    topic: str | None
    partition: int | None
    offset: int | None
    detail: str
    checkpoint_id: int | None = None

    def __str__(self) -> str:
        where = f"{self.topic}/{self.partition} offset {self.offset}" if self.topic is not None else ""
        if self.checkpoint_id is not None:
            where = f"checkpoint #{self.checkpoint_id}" + (f", {where}" if where else "")
        return f"{self.kind}: {where}: {self.detail}"


@dataclass(slots=True)
class VerifyReport:
    """What `Ledger.verify` found: ``records`` counts the records checked (a chain's walk stops at its
    first problem), ``problems`` the first problem of each chain plus each bad checkpoint."""

    problems: list[Problem] = field(default_factory=list)
    records: int = 0
    chains: int = 0
    checkpoints: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def __str__(self) -> str:
        head = (
            f"{'PASS' if self.ok else 'FAIL'}: {self.records} records in {self.chains} chains, "
            f"{self.checkpoints} checkpoints"
        )
        if self.ok:
            return head + "; every hash, link and signature checks out"
        return "\n".join([head + f"; {len(self.problems)} problem(s):", *(f"  - {p}" for p in self.problems)])
