"""Compatibility checks: `compat.check` on schema pairs, and `check_history` over a real git repo."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from fengqiao.schemas.catalogue import AVRO_DIR, Catalogue
from fengqiao.schemas.compat import Problem, check, check_history

# --- check(): one reader against one writer ------------------------------------------------------


def _record(*fields: dict[str, Any], name: str = "E") -> str:
    return json.dumps({"type": "record", "name": name, "namespace": "t", "fields": list(fields)})


ID = {"name": "case_id", "type": "string"}


def test_check_identical_and_compatible_changes_pass() -> None:
    v1 = _record(ID, {"name": "n", "type": "int"})
    assert check(v1, v1) == []
    # a new field with a default, a removed field, int -> long promotion: all readable
    v2 = _record(ID, {"name": "n", "type": "long"}, {"name": "x", "type": "string", "default": ""})
    assert check(v2, v1) == []
    assert check(_record(ID), v1) == []


def test_check_names_field_and_reason() -> None:
    old = _record(ID, {"name": "n", "type": "string"})
    new = _record(ID, {"name": "n", "type": "int"}, {"name": "x", "type": "int"})
    problems = check(new, old)
    assert len(problems) == 2
    assert any("'n'" in p and "/fields/1" in p and "from string to int" in p for p in problems)
    assert (
        "field 'x' (/fields/2) was added without a default: readers cannot fill it from older records"
        in problems
    )


def test_check_nested_record_inside_a_union_names_the_inner_field() -> None:
    def with_person(*fields: dict[str, Any]) -> str:
        person = {"type": "record", "name": "P", "fields": [{"name": "pid", "type": "string"}, *fields]}
        return _record(ID, {"name": "person", "type": ["null", person], "default": None})

    problems = check(with_person({"name": "age", "type": "int"}), with_person())
    assert problems == [
        "field 'person.age' (/fields/1/type/fields/1) was added without a default: "
        "readers cannot fill it from older records"
    ]


def test_check_enum_symbol_removed_and_forward_wording() -> None:
    def with_enum(*symbols: str) -> str:
        return _record(ID, {"name": "k", "type": {"type": "enum", "name": "K", "symbols": list(symbols)}})

    [problem] = check(with_enum("A"), with_enum("A", "B"))
    assert "'k'" in problem and "lost enum symbol(s) B" in problem
    # FORWARD direction: the old schema reads the new one's records
    [problem] = check(_record(ID, {"name": "n", "type": "int"}), _record(ID), reader_is_newer=False)
    assert "'n'" in problem and "was removed" in problem


# --- check_history(): the working tree against every version in git -------------------------------
EVENT = "fengqiao.release.ReleaseNoticeIssued"


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True).stdout.strip()


def _event_schema(
    extra_fields: list[dict[str, Any]] | None = None, drop: str | None = None
) -> dict[str, Any]:
    schema = json.loads((AVRO_DIR / "release" / "ReleaseNoticeIssued.avsc").read_text("utf-8"))
    schema["fields"] = [f for f in schema["fields"] if f["name"] != drop] + (extra_fields or [])
    return schema


def _expanded(schema: dict[str, Any]) -> str:
    """The self-contained schema text the registry and the history check compare."""
    files = {f"common/{p.name}": p.read_text("utf-8") for p in (AVRO_DIR / "common").glob("*.avsc")}
    files["release/ReleaseNoticeIssued.avsc"] = json.dumps(schema)
    return Catalogue(files)[EVENT].schema_str()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A git repo holding the shared types and one event, committed once."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    _git(tmp_path, "init", "-q")
    _git(tmp_path, "config", "user.email", "test@example.invalid")
    _git(tmp_path, "config", "user.name", "test")
    _git(tmp_path, "config", "commit.gpgsign", "false")
    shutil.copytree(AVRO_DIR / "common", tmp_path / "schemas/avro/common")
    _write(tmp_path, _event_schema())
    _commit(tmp_path, "catalogue v1")
    return tmp_path


def _write(repo: Path, schema: dict[str, Any]) -> None:
    path = repo / "schemas/avro/release/ReleaseNoticeIssued.avsc"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(schema, ensure_ascii=False, indent=2), "utf-8")


def _commit(repo: Path, message: str) -> None:
    _git(repo, "add", "schemas")
    _git(repo, "commit", "-q", "-m", message)


def _errors(problems: list[Problem]) -> list[Problem]:
    return [p for p in problems if not p.warning]


def test_history_unchanged_tree_passes(repo: Path) -> None:
    assert check_history(repo) == []


def test_history_removing_a_field_without_default(repo: Path) -> None:
    """(a) Dropping a field that has no default fails the default (FULL_TRANSITIVE) history check:
    consumers still on the older schema could not read new records. Plain BACKWARD_TRANSITIVE
    lets it pass (the new reader skips the field in old records), which is why it is not the default."""
    _write(repo, _event_schema(drop="offence_category"))
    [problem] = _errors(check_history(repo))
    assert problem.event == EVENT and problem.field == "offence_category"
    assert "was removed" in problem.reason and "no default" in problem.reason
    assert problem.commit == _git(repo, "rev-parse", "--short=8", "HEAD")
    assert _errors(check_history(repo, level="BACKWARD_TRANSITIVE")) == []

    renamed = _event_schema(
        drop="offence_category", extra_fields=[{"name": "offence_kind", "type": "string"}]
    )
    _write(repo, renamed)
    fields = {p.field for p in _errors(check_history(repo, level="BACKWARD_TRANSITIVE"))}
    assert fields == {"offence_kind"}
    assert any("without a default" in p.reason for p in _errors(check_history(repo)))


def test_history_adding_a_field_with_default_passes(repo: Path) -> None:
    """(b)"""
    _write(repo, _event_schema([{"name": "prison_area", "type": ["null", "string"], "default": None}]))
    assert check_history(repo) == []
    _commit(repo, "add prison_area")
    assert check_history(repo) == []


def test_history_adding_a_field_without_default_fails(repo: Path) -> None:
    """(c) also when the change is committed, and against every earlier version, not just the last."""
    _write(repo, _event_schema([{"name": "sentence_months", "type": "int"}]))
    [problem] = _errors(check_history(repo))
    assert (problem.event, problem.field, problem.location) == (EVENT, "sentence_months", "/fields/9")
    assert "added without a default" in problem.reason

    first = _git(repo, "rev-parse", "--short=8", "HEAD")
    _write(repo, _event_schema([{"name": "note", "type": "string", "default": ""}]))
    _commit(repo, "compatible v2")
    _write(
        repo, _event_schema([{"name": "note", "type": "string", "default": ""}, {"name": "y", "type": "int"}])
    )
    _commit(repo, "breaking v3")
    problems = _errors(check_history(repo, include_worktree=False))
    # v3 cannot read v1's nor v2's records; each problem names the commit of that version
    assert {p.field for p in problems} == {"y"}
    assert first in {p.commit for p in problems} and len(problems) == 2


def test_history_change_fixed_back_passes(repo: Path) -> None:
    """(d) a breaking change that was committed and then fixed (a default added) passes again."""
    _write(repo, _event_schema([{"name": "sentence_months", "type": "int"}]))
    _commit(repo, "break it")
    assert len(_errors(check_history(repo))) == 1
    _write(repo, _event_schema([{"name": "sentence_months", "type": "int", "default": 0}]))
    assert check_history(repo) == []
    _commit(repo, "fix it")
    assert check_history(repo) == []


def test_history_removed_event_is_a_problem(repo: Path) -> None:
    (repo / "schemas/avro/release/ReleaseNoticeIssued.avsc").unlink()
    [problem] = check_history(repo)
    assert problem.event == EVENT and "was removed" in problem.reason


def test_history_unloadable_commit_is_skipped_with_a_warning(repo: Path) -> None:
    (repo / "schemas/avro/common/Broken.avsc").write_text("{not json", "utf-8")
    _commit(repo, "broken")
    (repo / "schemas/avro/common/Broken.avsc").unlink()
    _commit(repo, "unbroken")
    [warning] = check_history(repo)
    assert warning.warning and "does not load" in warning.reason and str(warning).startswith("warning:")


def test_history_repo_without_schema_history(tmp_path: Path) -> None:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    _git(tmp_path, "init", "-q")
    assert check_history(tmp_path) == []  # no commits at all
    shutil.copytree(AVRO_DIR / "common", tmp_path / "schemas/avro/common")
    _write(tmp_path, _event_schema())
    assert check_history(tmp_path) == []  # schemas only in the working tree


def test_history_of_a_clone(repo: Path, tmp_path: Path) -> None:
    _write(repo, _event_schema([{"name": "sentence_months", "type": "int"}]))
    _commit(repo, "break it")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(repo), str(clone)], check=True, capture_output=True)
    [problem] = _errors(check_history(clone))
    assert problem.field == "sentence_months"
