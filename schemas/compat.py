"""Schema compatibility: one checker for the registry and for ``fengqiao schemas check``.

The verdict always comes from the Apache ``avro`` library's ``ReaderWriterCompatibilityChecker``
(the same rules Confluent's registry applies); this module only turns its findings into sentences
an author can act on, and walks git history so a change is checked against every schema that was
ever published, not just the last one (BACKWARD_TRANSITIVE: the newest reader must read them all).
"""

from __future__ import annotations

import ast
import contextvars
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import avro.compatibility as _ac
import avro.errors
import avro.schema
from avro.compatibility import SchemaCompatibilityType, SchemaIncompatibilityType

from .catalogue import Catalogue, CatalogueError

__all__ = [
    "HistoryError",
    "Incompatibility",
    "Problem",
    "SchemaError",
    "check",
    "check_history",
    "format_problems",
    "incompatibilities",
    "parse_schema",
]


class SchemaError(ValueError):
    """A schema text is not a valid Avro schema."""


# --- capturing each finding with its own location ----------------------------------------------
# avro merges findings into *sets* of messages and locations, so with two problems one cannot tell
# which message belongs where. Every finding is created by ``avro.compatibility.incompatible``; while
# one of our checks runs (a context variable, so threads and tasks do not see each other's), that
# function also records the finding, whole, in the result's ``incompatibilities`` list, which avro
# concatenates faithfully and which keeps only the findings that decide the verdict.
_capturing: contextvars.ContextVar[bool] = contextvars.ContextVar("fengqiao_compat_capturing", default=False)


@dataclass(frozen=True)
class _Finding:
    kind: SchemaIncompatibilityType
    message: str
    location: tuple[str, ...]


def _install_capture() -> None:
    if getattr(_ac.incompatible, "_fengqiao_capture", False):
        return
    original = _ac.incompatible

    def incompatible(kind: SchemaIncompatibilityType, message: str, location: list[str]) -> Any:
        result = original(kind, message, location)
        if _capturing.get():
            result.incompatibilities = [_Finding(kind, message, tuple(location))]
        return result

    incompatible._fengqiao_capture = True  # type: ignore[attr-defined]
    _ac.incompatible = incompatible


_install_capture()


class _Checker(_ac.ReaderWriterCompatibilityChecker):
    """avro's checker, keeping the location when it recurses into union branches (it restarts at "/")."""

    def __init__(self) -> None:
        super().__init__()
        self._where: list[list[str]] = []

    def get_compatibility(
        self,
        reader: avro.schema.Schema,
        writer: avro.schema.Schema,
        reference_token: str = _ac.ReaderWriterCompatibilityChecker.ROOT_REFERENCE_TOKEN,
        location: list[str] | None = None,
    ) -> _ac.SchemaCompatibilityResult:
        if location is None and self._where:
            here = self._where[-1]
            location, reference_token = here[:-1], here[-1]
        return super().get_compatibility(reader, writer, reference_token, location)

    def calculate_compatibility(
        self, reader: avro.schema.Schema, writer: avro.schema.Schema, location: list[str]
    ) -> _ac.SchemaCompatibilityResult:
        self._where.append(location)
        try:
            result = super().calculate_compatibility(reader, writer, location)
            if (
                _capturing.get()
                and reader.type == "union"
                and result.compatibility is SchemaCompatibilityType.incompatible
            ):
                result = self._explain_union(reader, writer, location, result)
            return result
        finally:
            self._where.pop()

    def _explain_union(
        self,
        reader: Any,
        writer: Any,
        location: list[str],
        result: _ac.SchemaCompatibilityResult,
    ) -> _ac.SchemaCompatibilityResult:
        """Say why a union branch no longer reads, not just that it does not.

        avro reports "reader union lacking writer type: RECORD" for ``["null", Person]`` when
        ``Person`` gained a required field, and drops the reason. The verdict stays avro's; only
        the finding is replaced by the findings of the branch pair that failed.
        """
        here = (location[:-1], location[-1])
        if writer.type == "union":
            subs = [
                ((*location, str(i)), self.get_compatibility(reader, wb, here[1], here[0]))
                for i, wb in enumerate(writer.schemas)
            ]
        else:
            same = next(
                (
                    b
                    for b in reader.schemas
                    if isinstance(b, avro.schema.NamedSchema)
                    and isinstance(writer, avro.schema.NamedSchema)
                    and b.type == writer.type
                    and _ac.schema_name_equals(b, writer)
                ),
                None,
            )
            if same is None:
                return result
            subs = [(tuple(location), self.get_compatibility(same, writer, here[1], here[0]))]
        findings = list(result.incompatibilities)
        for loc, sub in subs:
            detail = [f for f in sub.incompatibilities if isinstance(f, _Finding)]
            if sub.compatibility is not SchemaCompatibilityType.incompatible or not detail:
                continue
            findings = [
                f
                for f in findings
                if not (
                    isinstance(f, _Finding)
                    and f.kind is SchemaIncompatibilityType.missing_union_branch
                    and f.location == loc
                )
            ]
            findings += [f for f in detail if f not in findings]
        return _ac.SchemaCompatibilityResult(
            SchemaCompatibilityType.incompatible, findings, result.messages, result.locations
        )


@lru_cache(maxsize=2048)
def parse_schema(text: str) -> avro.schema.Schema:
    """``text`` parsed by avro, cached (the same texts are checked again and again); SchemaError."""
    try:
        return avro.schema.parse(text)
    except (avro.errors.AvroException, ValueError, TypeError, KeyError) as e:
        raise SchemaError(f"not a valid Avro schema: {e}") from e


# --- plain-English findings ------------------------------------------------------------------------
@dataclass(frozen=True)
class Incompatibility:
    """One reason a reader cannot read a writer's records."""

    field: str  # dotted field path in the reader, e.g. "person.id_number"; "" for the top-level type
    location: str  # avro's JSON-pointer-like location, e.g. "/fields/3/type/fields/1"
    reason: str

    def __str__(self) -> str:
        what = f"field '{self.field}'" if self.field else "the top-level type"
        return f"{what} ({self.location}) {self.reason}"


_HAS = {
    "fields": avro.schema.RecordSchema,
    "items": avro.schema.ArraySchema,
    "values": avro.schema.MapSchema,
    "symbols": avro.schema.EnumSchema,
    "size": avro.schema.FixedSchema,
    "name": avro.schema.NamedSchema,
}


def _field_path(schema: avro.schema.Schema, tokens: tuple[str, ...]) -> str:
    """Turn ``fields/3/type/fields/1`` into ``person.id_number`` by walking the reader schema."""
    path = ""
    node: Any = schema
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if isinstance(node, avro.schema.Field):
            if tok != "type":
                break
            node, i = node.type, i + 1
            continue
        if isinstance(node, avro.schema.UnionSchema) and tok in _HAS:
            # the location does not say which branch; the first one of the right kind is the one
            node = next((b for b in node.schemas if isinstance(b, _HAS[tok])), None)
            if node is None:
                break
            continue
        if tok == "fields" and isinstance(node, avro.schema.RecordSchema) and i + 1 < len(tokens):
            idx = int(tokens[i + 1]) if tokens[i + 1].isdigit() else -1
            if not 0 <= idx < len(node.fields):
                break
            node = node.fields[idx]
            path = f"{path}.{node.name}" if path else node.name
            i += 2
        elif tok == "items" and isinstance(node, avro.schema.ArraySchema):
            node, path, i = node.items, path + "[]", i + 1
        elif tok == "values" and isinstance(node, avro.schema.MapSchema):
            node, path, i = node.values, path + "{}", i + 1
        else:  # "symbols", "name", "size", a writer's union branch index: the path ends here
            break
    return path


def _reason(f: _Finding, reader_is_newer: bool) -> str:
    kind, msg = f.kind, f.message
    K = SchemaIncompatibilityType
    if kind is K.reader_field_missing_default_value:
        if reader_is_newer:
            return "was added without a default: readers cannot fill it from older records"
        return "was removed, but readers of the older schema require it (it has no default there)"
    if kind is K.type_mismatch:
        m = re.match(r"reader type: (\S+) not compatible with writer type: (\S+)", msg)
        r, w = m.groups() if m else ("?", "?")
        if reader_is_newer:
            return f"changed type from {w} to {r}: records written as {w} cannot be read as {r}"
        return f"changed type from {r} to {w}: readers of the older schema cannot read {w} as {r}"
    if kind is K.missing_enum_symbols:
        try:
            symbols = ", ".join(sorted(ast.literal_eval(msg)))
        except (ValueError, SyntaxError, TypeError):
            symbols = msg
        if reader_is_newer:
            return (
                f"lost enum symbol(s) {symbols}: older records holding them cannot be read "
                "(keep them, or give the enum a default)"
            )
        return (
            f"gained enum symbol(s) {symbols}, unknown to readers of the older schema "
            "(give the enum a default)"
        )
    if kind is K.missing_union_branch:
        t = re.sub(r"^reader union lacking writer type:?\s*", "", msg).lower()
        if reader_is_newer:
            return f"no longer accepts {t}: older records holding a {t} cannot be read"
        return f"now accepts {t}, which readers of the older schema cannot read"
    if kind is K.name_mismatch:
        other = msg.removeprefix("expected: ")
        if reader_is_newer:
            return f'was renamed from {other}: add "aliases": ["{other}"] so older records stay readable'
        return f"was renamed to {other}: readers of the older schema know only the old name"
    if kind is K.fixed_size_mismatch:
        return f"changed its fixed size ({msg.replace('expected', 'writer').replace('found', 'reader')})"
    return msg  # a kind this avro version added after this module was written


def incompatibilities(
    reader_json: str, writer_json: str, *, reader_is_newer: bool = True
) -> list[Incompatibility]:
    """Why ``reader_json`` cannot read records written with ``writer_json`` (empty: it can).

    ``reader_is_newer`` only picks the wording: True for BACKWARD checks (new schema reads old
    records), False for FORWARD ones (the old schema reads new records).
    """
    if reader_json == writer_json:
        return []
    reader, writer = parse_schema(reader_json), parse_schema(writer_json)
    token = _capturing.set(True)
    try:
        result = _Checker().get_compatibility(reader, writer)
    finally:
        _capturing.reset(token)
    if result.compatibility is not SchemaCompatibilityType.incompatible:
        return []
    out: dict[str, Incompatibility] = {}
    for f in result.incompatibilities:
        if not isinstance(f, _Finding):  # cannot happen while capturing; keep avro's own words
            out.setdefault(str(f), Incompatibility("", "/", f"incompatible: {result.messages}"))
            continue
        inc = Incompatibility(
            field=_field_path(reader, f.location[1:]),
            location="/" + "/".join(f.location[1:]),
            reason=_reason(f, reader_is_newer),
        )
        out.setdefault(str(inc), inc)  # memoised named types and union branches can repeat a finding
    return list(out.values())


def check(reader_json: str, writer_json: str, *, reader_is_newer: bool = True) -> list[str]:
    """Problems, in plain English, that stop ``reader_json`` reading ``writer_json``'s records."""
    return [str(i) for i in incompatibilities(reader_json, writer_json, reader_is_newer=reader_is_newer)]


# --- the history check behind `fengqiao schemas check` ---------------------------------------------
@dataclass(frozen=True)
class Problem:
    """One reason the working tree's schemas cannot read what was published before."""

    event: str  # Avro full name; "" for a warning about a whole commit
    commit: str  # short hash of the commit that introduced the earlier version
    field: str = ""  # dotted field path, "" when the problem is not about one field
    reason: str = ""
    location: str = ""
    warning: bool = False  # True: the check could not look at something, but nothing is known broken

    def __str__(self) -> str:
        if self.warning:
            return f"warning: {self.reason}"
        where = ""
        if self.location:
            where = (
                f" field '{self.field}' ({self.location})"
                if self.field
                else f" the top-level type ({self.location})"
            )
        return f"{self.event}:{where} {self.reason} [earlier version: commit {self.commit}]"


class HistoryError(RuntimeError):
    """git could not be asked about the history (not a repository, git missing, ...)."""


def _git(repo: Path, *args: str, input: bytes | None = None) -> bytes:
    try:
        proc = subprocess.run(["git", *args], cwd=repo, input=input, capture_output=True, check=False)
    except FileNotFoundError as e:
        raise HistoryError("git is not installed; it is needed to check schema history") from e
    if proc.returncode != 0:
        raise HistoryError(f"git {' '.join(args)}: {proc.stderr.decode(errors='replace').strip()}")
    return proc.stdout


class _History:
    """Reads whole catalogues out of git, fetching each distinct blob once."""

    def __init__(self, repo: Path, subdir: str) -> None:
        self.repo, self.subdir = repo, subdir.strip("/")
        self.blobs: dict[str, str] = {}

    def commits(self, rev: str) -> list[str]:
        try:
            _git(self.repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        except HistoryError:
            return []  # no commits yet (or rev unknown): nothing was ever published from here
        out = _git(self.repo, "log", "--format=%H", rev, "--", self.subdir).decode()
        return out.split()

    def files_at(self, commit: str) -> dict[str, str]:
        listing = _git(self.repo, "ls-tree", "-r", "-z", "--full-tree", commit, "--", self.subdir)
        entries: list[tuple[str, str]] = []
        for item in listing.split(b"\0"):
            if not item:
                continue
            meta, _, path_b = item.partition(b"\t")
            _mode, kind, sha = meta.decode().split()
            path = path_b.decode("utf-8", errors="replace")
            if kind == "blob" and path.endswith(".avsc"):
                entries.append((path[len(self.subdir) + 1 :], sha))
        self._fetch([sha for _, sha in entries if sha not in self.blobs])
        return {rel: self.blobs[sha] for rel, sha in entries}

    def _fetch(self, shas: list[str]) -> None:
        if not shas:
            return
        out = _git(self.repo, "cat-file", "--batch", input="".join(f"{s}\n" for s in shas).encode())
        pos = 0
        for sha in shas:
            nl = out.index(b"\n", pos)
            header = out[pos:nl].split()
            size = int(header[2])
            self.blobs[sha] = out[nl + 1 : nl + 1 + size].decode("utf-8", errors="replace")
            pos = nl + 1 + size + 1  # the body is followed by a newline


def _aliases(catalogue: Catalogue) -> dict[str, str]:
    """Old full name -> current full name, for events renamed with Avro ``aliases``."""
    out: dict[str, str] = {}
    for ev in catalogue:
        ns = ev.fullname.rsplit(".", 1)[0] if "." in ev.fullname else ""
        for alias in ev.raw.get("aliases", []) or []:
            out[alias if "." in alias or not ns else f"{ns}.{alias}"] = ev.fullname
    return out


def check_history(
    repo_root: Path,
    avro_subdir: str = "schemas/avro",
    rev: str = "HEAD",
    include_worktree: bool = True,
    level: str = "FULL_TRANSITIVE",
) -> list[Problem]:
    """Compatibility of the current catalogue with every earlier version in git.

    ``BACKWARD_TRANSITIVE``: the new schema reads every earlier one. ``FULL_TRANSITIVE`` (the
    default) also asks that every earlier schema reads the new one: agencies' consumers upgrade on
    their own schedule, so removing a field that has no default must fail, as issue 2 asks, while
    adding a field with a default passes.

    "Current" is the working tree (``include_worktree``) or the catalogue at ``rev``. Each event's
    self-contained schema must read every distinct schema it ever had in a commit that touched
    ``avro_subdir``; an event that disappeared is a problem too. A commit whose catalogue does not
    load is skipped with a warning. Raises CatalogueError if the current catalogue does not load,
    and HistoryError if ``repo_root`` is not a git repository.
    """
    repo = Path(repo_root)
    _git(repo, "rev-parse", "--git-dir")  # a clear error outside a repository
    history = _History(repo, avro_subdir)
    commits = history.commits(rev)
    problems: list[Problem] = []

    if include_worktree:
        root = repo / avro_subdir
        current = Catalogue.from_dir(root) if root.is_dir() else Catalogue({})
    else:
        current = Catalogue(history.files_at(rev)) if commits else Catalogue({})

    if commits and _git(repo, "rev-parse", "--is-shallow-repository").strip() == b"true":
        problems.append(
            Problem(
                "",
                "",
                reason=f"shallow clone: only {len(commits)} commit(s) of schema history checked",
                warning=True,
            )
        )

    # every distinct earlier text of every event, with the oldest commit that carried it
    earlier: dict[str, dict[str, str]] = {}
    last_seen: dict[str, str] = {}
    for commit in reversed(commits):  # oldest first, so each text keeps the commit that introduced it
        short = commit[:8]
        try:
            old = Catalogue(history.files_at(commit))
        except (CatalogueError, KeyError, TypeError, ValueError) as e:
            problems.append(
                Problem("", short, reason=f"catalogue at {short} does not load, skipped: {e}", warning=True)
            )
            continue
        for ev in old.by_fullname.values():
            earlier.setdefault(ev.fullname, {}).setdefault(ev.schema_str(), short)
            last_seen[ev.fullname] = short

    renamed = _aliases(current)
    for fullname, texts in sorted(earlier.items()):
        target = fullname if fullname in current.by_fullname else renamed.get(fullname)
        if target is None:
            gone = f"event {fullname} was removed; published records could no longer be read"
            problems.append(Problem(fullname, last_seen[fullname], reason=gone))
            continue
        reader = current.by_fullname[target].schema_str()
        for text, short in texts.items():
            try:
                found = incompatibilities(reader, text)
            except SchemaError as e:
                problems.append(Problem(fullname, short, reason=f"could not compare: {e}", warning=True))
                continue
            if level.startswith("FULL"):
                found += incompatibilities(text, reader, reader_is_newer=False)
            problems.extend(Problem(fullname, short, i.field, i.reason, i.location) for i in found)
    return problems


def format_problems(problems: Iterable[Problem]) -> str:
    """One line per problem, errors first, for the CLI."""
    ordered = sorted(problems, key=lambda p: (p.warning, p.event, p.commit))
    return "\n".join(str(p) for p in ordered)
