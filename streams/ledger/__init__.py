"""The ledger (账本): every record of every hub topic, in log order, hash-chained and signed.

Why (DESIGN principles 1, 7, 9; Runtime "Ledger"; issue 4 items 1 and 4): the embedded broker keeps
its log only in memory, and auditors must be able to prove that nothing in the log was altered,
removed, inserted or reordered. The ledger is the record that lasts. This package stores and
verifies it; the archiver that feeds it from Kafka and the CLI live elsewhere.

Storage
    SQLAlchemy Core on SQLite (``sqlite:///path``; WAL and ``synchronous=FULL``, so a returned
    `Ledger.append` survives a power cut) or PostgreSQL (``postgresql+psycopg://...``; a bare
    ``postgresql://`` URL is taken to mean psycopg 3). Tables, created on first use:
    ``ledger_records`` (one row per Kafka record), ``ledger_checkpoints`` (signed chain heads) and
    ``ledger_heads`` (the last record of each chain: a cache that makes appends, positions and
    checkpoints cost O(partitions); verification never trusts it, only cross-checks it) and
    ``ledger_meta`` (the suite the chains use, ``sha256-ed25519`` or ``sm3-sm2``; see `Ledger`).

Layout, each module importing only those above it: `errors` (what `Ledger.append` refuses), `format`
(`LedgerRecord`, the hash chain's canonical encoding, the headers block), `tables` (the tables, the
engine), `queries` (the reads), `checkpoints` (signed chain heads), `report` and `diagnose` and
`verify` (verification), `store` (`Ledger`, made of the mixins, with its append). Every name other
code imports — the private `_derive` the tests use included — is re-exported here.
"""

from .checkpoints import ChainHead, Checkpoint
from .errors import LedgerConflict, LedgerError, LedgerOrderError, LedgerSuiteError
from .format import Header, LedgerRecord, _derive, canonical, decode_headers, encode_headers, kafka_headers
from .report import Kind, Problem, VerifyReport
from .store import Ledger

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
    "LedgerSuiteError",
    "Problem",
    "VerifyReport",
    "_derive",
    "canonical",
    "decode_headers",
    "encode_headers",
    "kafka_headers",
]
