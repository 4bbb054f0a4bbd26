"""Verification: every chain and every checkpoint checked, the first problem of each chain named.

Verification
    `Ledger.verify` walks each chain in offset order, recomputing every hash and link, compares the
    indexed columns with the headers, checks each checkpoint's signature and link to the one before,
    and that the chain's hash at each signed offset is the signed one. It names the first problem of
    each chain (`Kind`: altered, removed, inserted, reordered, rewritten) with topic, partition and
    offset, and every bad checkpoint (checkpoint_forged, checkpoint_removed) with its id.

What verification cannot see (inherent to hash chains): records appended after the last
checkpoint can be removed or rewritten at the tail, and the last checkpoint itself can be removed,
without a trace in the database alone. Auditors close that gap by keeping the latest checkpoint
they were shown (or the hub checkpointing often). A checkpoint signed by another key (rotation)
is reported as not signed by the given key.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from ..crypto import SuiteKeyError
from .checkpoints import ChainHead, _checkpoint_of
from .diagnose import _Diagnosis
from .format import _b, _derive, _utc, canonical, decode_headers
from .report import Kind, Problem, VerifyReport


class _Verification(_Diagnosis):
    """`Ledger.verify` and the walks it runs."""

    def verify(self, public_key: bytes | None = None) -> VerifyReport:
        """Check every chain and every checkpoint; name the first problem of each chain.

        ``public_key`` (PEM) is the key checkpoints must be signed with; by default this ledger's
        suite's own. Reads run in short batches, so verifying does not block the archiver.
        """
        report = VerifyReport()
        expected = self._verify_checkpoints(public_key, report)
        R, H = self._records, self._heads
        # Heads are read after the checkpoints and before the walk, and each chain is walked only up to
        # its head then: records an archiver appends meanwhile are neither checked nor mistaken for forgeries.
        with self._engine.connect() as conn:
            cached = {
                (r.topic, r.partition): ChainHead(r.offset, bytes(r.hash)) for r in conn.execute(select(H))
            }
            chains = {
                (r.topic, r.partition) for r in conn.execute(select(R.c.topic, R.c.partition).distinct())
            }
        chains |= set(expected) | set(cached)
        report.chains = len(chains)
        chain_problems: list[Problem] = []
        for topic, partition in sorted(chains):
            p = self._verify_chain(
                topic, partition, expected.get((topic, partition), {}), cached.get((topic, partition)), report
            )
            if p is not None:
                chain_problems.append(p)
        report.problems.extend(chain_problems)
        return report

    def _verify_checkpoints(
        self, public_key: bytes | None, report: VerifyReport
    ) -> dict[tuple[str, int], dict[int, tuple[bytes, int]]]:
        """Check signatures and the checkpoint chain; return the trusted heads per chain:
        {chain: {offset: (hash, first checkpoint id that signed it)}}."""
        C = self._checkpoints
        expected: dict[tuple[str, int], dict[int, tuple[bytes, int]]] = {}
        key: bytes | None = public_key
        prev_digest, prev_ok, after_id = "", True, 0
        while True:
            with self._engine.connect() as conn:
                rows = conn.execute(select(C).where(C.c.id > after_id).order_by(C.c.id).limit(1000)).all()
            if not rows:
                return expected
            if key is None:
                try:
                    key = self.suite.public_key()
                except SuiteKeyError as e:
                    raise SuiteKeyError(
                        "the ledger has signed checkpoints: give verify() the hub's public key (PEM)"
                    ) from e
            try:
                fp = self.suite.fingerprint(key)
            except (ValueError, TypeError) as e:
                raise SuiteKeyError(
                    f"the public key given is not a key of this ledger's suite {self.suite.name} ({e})"
                ) from e
            for row in rows:
                after_id = row.id
                report.checkpoints += 1
                try:
                    cp = _checkpoint_of(row)
                    msg = cp.message()
                except (ValueError, KeyError, TypeError, AttributeError) as e:
                    report.problems.append(
                        Problem(
                            Kind.CHECKPOINT_FORGED, None, None, None, f"unreadable checkpoint: {e}", row.id
                        )
                    )
                    prev_ok, prev_digest = False, ""
                    continue
                bad = None
                if cp.suite != self.suite.name:
                    bad = f"signed with suite {cp.suite!r}, not {self.suite.name!r}"
                elif not self.suite.verify(key, msg, cp.signature):
                    bad = "signature does not verify with the given public key"
                    if cp.key_fingerprint != fp:
                        bad += f" (it names key {cp.key_fingerprint[:16]}…, the given key is {fp[:16]}…)"
                    else:
                        bad += ": the checkpoint was altered or forged"
                if bad:
                    report.problems.append(Problem(Kind.CHECKPOINT_FORGED, None, None, None, bad, cp.id))
                elif prev_ok and cp.previous != prev_digest:
                    report.problems.append(
                        Problem(
                            Kind.CHECKPOINT_REMOVED,
                            None,
                            None,
                            None,
                            "the checkpoint before it is not the one it follows: a checkpoint was removed"
                            if cp.previous
                            else "it claims to be the first checkpoint but is not",
                            cp.id,
                        )
                    )
                if not bad:
                    for chain, h in cp.heads.items():
                        expected.setdefault(chain, {}).setdefault(h.offset, (h.hash, cp.id))
                prev_ok = not bad
                prev_digest = self.suite.digest(msg).hex()

    def _verify_chain(
        self,
        topic: str,
        partition: int,
        expected: dict[int, tuple[bytes, int]],
        cached: ChainHead | None,
        report: VerifyReport,
    ) -> Problem | None:
        """Walk one chain in offset order; the first problem found, or None."""

        def problem(kind: str, offset: int | None, detail: str, cp: int | None = None) -> Problem:
            return Problem(kind, topic, partition, offset, detail, cp)

        digest = self.suite.digest
        marks = sorted(expected)  # checkpointed offsets, in order
        mi = 0
        last_good: int | None = None  # last checkpointed offset whose hash matched
        prev: Any = None
        after: tuple[int, int] | None = None
        while True:
            rows = self._chain_rows(topic, partition, after, 5000, None if cached is None else cached.offset)
            for row in rows:
                report.records += 1
                off = row.offset
                if mi < len(marks) and marks[mi] < off:
                    return problem(
                        Kind.REMOVED,
                        marks[mi],
                        f"the record at offset {marks[mi]}, signed by checkpoint "
                        f"#{expected[marks[mi]][1]}, is missing",
                        expected[marks[mi]][1],
                    )
                found = self._check_link(topic, partition, prev, row, problem)
                if found is not None:
                    return found
                prev_hash = bytes(row.prev_hash)
                try:
                    hblock = bytes(row.headers)
                    headers = decode_headers(hblock)
                except ValueError as e:
                    return problem(
                        Kind.ALTERED, off, f"its headers column is not a valid headers block ({e})"
                    )
                key, value = _b(row.key), _b(row.value)
                recorded_at = _utc(row.recorded_at)
                h = digest(
                    prev_hash
                    + canonical(
                        topic,
                        partition,
                        off,
                        row.prev_offset,
                        key,
                        value,
                        hblock,
                        row.timestamp_ms,
                        recorded_at,
                    )
                )
                if h != bytes(row.hash):
                    return self._diagnose_content(topic, partition, row, problem)
                derived = _derive(headers, key)
                for col, want in derived.items():
                    got = getattr(row, col)
                    if col == "event_time" and got is not None:
                        got = _utc(got)
                    if got != want:
                        return problem(
                            Kind.ALTERED,
                            off,
                            f"indexed column {col} says {got!r} but the record's headers say {want!r}",
                        )
                while mi < len(marks) and marks[mi] == off:
                    signed, cp_id = expected[off]
                    if signed != h:
                        since = (
                            f"after offset {last_good}" if last_good is not None else "from the chain's start"
                        )
                        return problem(
                            Kind.REWRITTEN,
                            off,
                            f"checkpoint #{cp_id} signed hash {signed.hex()[:16]}… here, the chain now "
                            f"has {h.hex()[:16]}…: records {since} up to offset {off} were rewritten",
                            cp_id,
                        )
                    last_good = off
                    mi += 1
                prev = row
            if len(rows) < 5000:
                break
            after = (rows[-1].offset, rows[-1].id)
        last = prev.offset if prev is not None else None
        if mi < len(marks):
            off = marks[-1]
            cp_id = expected[off][1]
            end = f"the chain ends at offset {last}" if last is not None else "the chain has no records"
            return problem(
                Kind.REMOVED,
                marks[mi],
                f"checkpoint #{cp_id} covers up to offset {off} but {end}: records were removed",
                cp_id,
            )
        return self._check_tail(topic, partition, problem)
