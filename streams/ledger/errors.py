"""What `Ledger.append` refuses: each refusal leaves the whole batch unstored."""

from __future__ import annotations

from collections.abc import Sequence


class LedgerError(Exception):
    """A batch the ledger refuses; nothing of the batch was stored."""


class LedgerConflict(LedgerError):
    """A record at a position the ledger already holds, with different content."""

    def __init__(self, topic: str, partition: int, offset: int, fields: Sequence[str]) -> None:
        self.topic, self.partition, self.offset, self.fields = topic, partition, offset, tuple(fields)
        super().__init__(
            f"{topic}/{partition} offset {offset} is already in the ledger with a different "
            f"{', '.join(fields)}: a Kafka position holds one record, so this one was refused"
        )


class LedgerOrderError(LedgerError):
    """Records out of offset order, or a position below a chain's head that the chain does not hold."""


class LedgerSuiteError(ValueError):
    """The ledger was opened with a suite other than the one its chains use (recorded in ``ledger_meta``)."""

    def __init__(self, recorded: str, given: str) -> None:
        self.recorded, self.given = recorded, given
        super().__init__(
            f"this ledger's hash chains use the suite {recorded!r} (recorded when it was created); it "
            f"cannot be opened with {given!r}: set the deployment's crypto_suite back, or start a new ledger"
        )
