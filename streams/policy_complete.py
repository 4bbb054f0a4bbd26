"""Is a policy version complete (完整): does it hold every rule the registered workflows ask for?

A version missing one would load and then fail every new case of that workflow in the engine
(``KeyError ... has no rule 'release.acknowledge'``), each going to the dead letters. So
`fengqiao policy check` refuses such a version, and the hub refuses to start with one
(`check_context`), naming the workflow, the step and the rule id.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from .engine import Context, Workflow
from .policy import Policy, PolicyError, PolicySet, load_policy


class PolicyIncomplete(ValueError):
    """A loaded policy version lacks rules the workflows need; ``problems`` names each."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


def required_rules(workflows: Iterable[Workflow]) -> list[tuple[str, str, str]]:
    """(workflow, step, rule id) for each rule the workflows ask the policy for, in their order."""
    found: list[tuple[str, str, str]] = []
    for wf in workflows:
        for step in wf.steps:
            found += [(wf.name, step.name, rid) for rid in step.rules]
            if step.receipt_rule:
                found.append((wf.name, f"{step.name} (receipt 回执)", step.receipt_rule))
        found += [(wf.name, f"alert {a.announce}", a.rule) for a in wf.alerts]
        found += [(wf.name, "decisions 决定", rid) for rid in wf.rules_used]
    return list(dict.fromkeys(found))


def missing_rules(policy: Policy, workflows: Iterable[Workflow] | None = None) -> list[str]:
    """One line per rule of a workflow step that ``policy`` lacks; empty when it is complete."""
    if workflows is None:
        from .workflows import all_workflows

        workflows = all_workflows().values()
    have = set(policy.rule_ids())
    where = policy.path or f"policy {policy.version}"
    return [
        f"{where}: version {policy.version} has no rule {rid!r} for workflow {wf}, step {step}"
        for wf, step, rid in required_rules(workflows)
        if rid not in have
    ]


def incomplete(policies: PolicySet, workflows: Iterable[Workflow]) -> list[str]:
    """Every loaded version's missing rules (any version may govern an open case)."""
    wfs = list(workflows)
    return [line for p in policies for line in missing_rules(p, wfs)]


def check_context(ctx: Context) -> None:
    """`PolicyIncomplete` unless every policy version of the deployment is complete."""
    if problems := incomplete(ctx.policies, ctx.workflows.values()):
        raise PolicyIncomplete(problems)


def check(path: str | Path, *, complete: bool = True) -> list[str]:
    """Every problem of a policy file, for ``fengqiao policy check FILE``; empty when it is valid.

    With ``complete``, a valid file must also hold every rule of every registered workflow."""
    try:
        policy = load_policy(path)
    except PolicyError as e:
        return e.errors
    if not complete:
        return []
    return missing_rules(policy)
