"""The ledger (账本): every record of every hub topic, in log order, hash-chained and signed (`store`)."""

from .store import (
    ChainHead,
    Checkpoint,
    Header,
    Kind,
    Ledger,
    LedgerConflict,
    LedgerError,
    LedgerOrderError,
    LedgerRecord,
    Problem,
    VerifyReport,
    _derive,
    canonical,
    decode_headers,
    encode_headers,
    kafka_headers,
)

__all__ = [
    "ChainHead",
    "Checkpoint",
    "Header",
    "Kind",
    "Ledger",
    "LedgerConflict",
    "LedgerError",
    "LedgerOrderError",
    "LedgerRecord",
    "Problem",
    "VerifyReport",
    "_derive",
    "canonical",
    "decode_headers",
    "encode_headers",
    "kafka_headers",
]
