"""A policy version must hold every rule the workflows ask for; a deployment extends a version
instead of copying it; the hub refuses to start with an incomplete policy (issue 15, item 5)."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from fengqiao.cli import app
from fengqiao.hub import HubError, check_policies
from fengqiao.streams.directory import DEMO_DIR
from fengqiao.streams.policy import POLICY_DIR, PolicyError, PolicySet, default_policy, load_policy
from fengqiao.streams.policy_complete import check, incomplete, missing_rules, required_rules
from fengqiao.streams.workflows import all_workflows, load_context

DEFAULT = POLICY_DIR / "2026.1.yaml"


def write(path: Path, raw: dict[str, Any]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def partial(
    tmp_path: Path, *, drop: tuple[str, ...] = ("release.acknowledge",), name: str = "2026.2.yaml"
) -> Path:
    """A deployment's version holding all the shipped rules but ``drop``: it loads, but cannot work."""
    raw = yaml.safe_load(DEFAULT.read_text(encoding="utf-8"))
    raw.update(version="2026.2", effective_from="2026-07-01")
    raw["rules"] = [r for r in raw["rules"] if r["id"] not in drop]
    return write(tmp_path / name, raw)


def deployment(tmp_path: Path, *policies: tuple[str, dict[str, Any]]) -> Path:
    folder = tmp_path / "deploy"
    shutil.copytree(DEMO_DIR, folder)
    for name, raw in policies:
        write(folder / "policies" / name, raw)
    return folder


def test_the_shipped_version_is_complete_and_every_step_rule_is_required() -> None:
    workflows = all_workflows()
    assert missing_rules(default_policy(), workflows.values()) == []
    required = required_rules(workflows.values())
    assert ("release", "acknowledge", "release.acknowledge") in required
    assert ("mediation", "mediate (receipt 回执)", "mediation.online_confirm") in required
    assert ("mediation", "alert EscalationRiskAlerted", "mediation.risk_alert") in required
    assert ("release", "decisions 决定", "release.notice") in required  # asked for by code, not a step


def test_check_names_workflow_step_and_rule_of_a_missing_rule(tmp_path: Path) -> None:
    path = partial(tmp_path, drop=("release.acknowledge", "legal_aid.means_test_exempt"))
    assert check(path, complete=False) == []  # a well-formed file: it used to pass
    assert check(path) == [
        f"{path}: version 2026.2 has no rule 'release.acknowledge' for workflow release, step acknowledge",
        f"{path}: version 2026.2 has no rule 'legal_aid.means_test_exempt' for workflow legal_aid, "
        "step decisions 决定",
    ]
    r = CliRunner().invoke(app, ["policy", "check", str(path)])
    assert r.exit_code == 1
    assert "release.acknowledge" in r.output and "acknowledge" in r.output and "2 problem(s)" in r.output
    assert incomplete(PolicySet([default_policy(), load_policy(path)]), all_workflows().values())


def test_a_version_extends_another_overriding_only_the_rules_it_lists(tmp_path: Path) -> None:
    path = write(
        tmp_path / "county.yaml",
        {
            "version": "2026.1-qs",
            "extends": 2026.1,  # unquoted, as people write it: YAML reads a float
            "effective_from": "2026-03-01",
            "title_zh": "青山县期限规则",
            "sources": [{"ref": "qs-2026-1", "zh": "青山县司法局通知", "en": "Qingshan county notice"}],
            "rules": [
                {"id": "release.acknowledge", "length": 5, "source": "qs-2026-1", "notes": None},
            ],
        },
    )
    base, county = default_policy(), load_policy(path)
    assert check(path) == []
    assert county.version == "2026.1-qs" and county.applies_to == "new_cases"
    assert county.rule_ids() == base.rule_ids()  # same rules, same order
    ack, base_ack = county.rule("release.acknowledge"), base.rule("release.acknowledge")
    assert (ack.length, ack.source) == (5, "qs-2026-1")
    assert ack.notes is None and (ack.clock, ack.obliged, ack.title_zh) == (
        base_ack.clock,
        base_ack.obliged,
        base_ack.title_zh,
    )
    assert county.rule("release.pickup") == base.rule("release.pickup")
    assert county.title_zh == "青山县期限规则" and county.title_en == base.title_en
    assert {s.ref for s in county.sources} == {s.ref for s in base.sources} | {"qs-2026-1"}
    assert county.services == base.services and county.mediation_risk == base.mediation_risk


def test_extends_refuses_an_unknown_base_a_loop_and_a_bad_override(tmp_path: Path) -> None:
    unknown = write(
        tmp_path / "a.yaml", {"version": "9", "extends": "2019.1", "effective_from": "2026-01-01"}
    )
    [problem] = check(unknown)
    assert problem.startswith(f"{unknown}: extends: no policy version '2019.1'") and "2026.1" in problem
    write(tmp_path / "x.yaml", {"version": "x", "extends": "y", "effective_from": "2026-01-01"})
    loop = write(tmp_path / "y.yaml", {"version": "y", "extends": "x", "effective_from": "2026-01-01"})
    assert "comes back on itself" in check(loop)[0]
    bad = write(
        tmp_path / "b.yaml",
        {
            "version": "b",
            "extends": "2026.1",
            "effective_from": "2026-01-01",
            "rules": [{"id": "release.report", "clock": "weeks"}],
        },
    )
    assert check(bad) == [
        f"{bad}: rule release.report: clock 'weeks' is not one of "
        "calendar_days, working_days, hours, before_event"
    ]


def test_a_deployment_extends_a_shipped_version_and_chains(tmp_path: Path) -> None:
    folder = deployment(
        tmp_path,
        (
            "a.yaml",
            {
                "version": "2026.2",
                "extends": "2026.1",
                "effective_from": "2026-07-01",
                "rules": [{"id": "release.report", "length": 20}],
            },
        ),
        (
            "b.yaml",
            {
                "version": "2026.3",
                "extends": "2026.2",
                "effective_from": "2026-10-01",
                "rules": [{"id": "release.delivery", "length": 2}],
            },
        ),
    )
    policies = load_context(folder).policies
    assert policies.versions() == ["2026.1", "2026.2", "2026.3"]
    newest = policies.get("2026.3")
    assert (newest.rule("release.report").length, newest.rule("release.delivery").length) == (20, 2)
    check_policies(folder)  # complete: the hub may start


def test_the_hub_refuses_to_start_with_an_incomplete_policy(tmp_path: Path) -> None:
    raw = yaml.safe_load(partial(tmp_path).read_text(encoding="utf-8"))
    folder = deployment(tmp_path, ("2026.2.yaml", raw))
    with pytest.raises(HubError) as e:
        check_policies(folder)
    text = str(e.value)
    assert "incomplete policy" in text and "will not start" in text
    assert "no rule 'release.acknowledge' for workflow release, step acknowledge" in text
    assert "extends" in text  # says how to fix it
    check_policies(None)  # the shipped policies are complete


def test_the_hub_refuses_to_start_with_an_invalid_policy(tmp_path: Path) -> None:
    folder = deployment(
        tmp_path, ("bad.yaml", {"version": "2026.2", "extends": "nope", "effective_from": "2026-01-01"})
    )
    with pytest.raises(HubError) as e:
        check_policies(folder)
    assert "invalid policy" in str(e.value) and "extends: no policy version 'nope'" in str(e.value)
    with pytest.raises(PolicyError):
        load_context(folder)
