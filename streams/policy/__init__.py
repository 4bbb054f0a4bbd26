"""The versioned policy (政策版本): every deadline and escalation rule, as data.

Pure: reads YAML files, validates them (pydantic, plus cross-checks against the Avro catalogue)
and answers questions; no Kafka, no Faust.

A policy file (``streams/policies/<version>.yaml``) has a ``version``, the date it takes effect
(``effective_from``, a day in Asia/Shanghai), ``applies_to`` (``new_cases``, the default: a case
keeps the version it was opened under; or ``all_open_cases``), its ``sources`` and its ``rules``.
Each rule says what starts the clock, how long it runs on which clock, who is obliged, what the
hub emits on breach, whom it escalates to, and the legal source with its confidence (L, P, U; see
the comment at the top of the default file). `PolicySet` holds several versions: a new case gets
the newest one in effect, an open case keeps its own (DESIGN principle 4).

A file may instead *extend* another version (``extends: "2026.1"``): it then lists only what it
changes — its own ``version`` and ``effective_from``, and the rules it overrides (by id, field by
field) or adds; everything else is the base's (`extends`). Whether a version
holds every rule the workflows ask for is checked in `streams/policy_complete.py`.

Layout, each module importing only those before it: `rules` (`Rule`, `Selector`, `PolicyError`),
`risk` (the mediation risk rules), `model` (`Policy`), `extends` (merging a version with its base),
`loading` (files read, validated and cross-checked), `versions` (`PolicySet`), `show` (rows for
``fengqiao policy show``). Every name other code imports is re-exported here.
"""

from .extends import extend, resolve, version_text
from .loading import (
    DEFAULT_VERSION,
    POLICY_DIR,
    cross_check,
    default_policy,
    load_policy,
    parse_policy,
)
from .model import Policy, ServiceLimits, Source
from .risk import JointSessionRisk, MediationRisk, PoliceAlertRule, RiskRule, TownshipRule
from .rules import (
    CONFIDENCE,
    EVENT_REF,
    RELATIONS,
    RULE_ID,
    SITUATION,
    WORKFLOWS,
    Extension,
    PolicyError,
    Rule,
    Selector,
)
from .show import SHOW_COLUMNS, show_rows
from .versions import PolicySet, default_policy_set

__all__ = [
    "CONFIDENCE",
    "DEFAULT_VERSION",
    "EVENT_REF",
    "POLICY_DIR",
    "RELATIONS",
    "RULE_ID",
    "SHOW_COLUMNS",
    "SITUATION",
    "WORKFLOWS",
    "Extension",
    "JointSessionRisk",
    "MediationRisk",
    "PoliceAlertRule",
    "Policy",
    "PolicyError",
    "PolicySet",
    "RiskRule",
    "Rule",
    "Selector",
    "ServiceLimits",
    "Source",
    "TownshipRule",
    "cross_check",
    "default_policy",
    "default_policy_set",
    "extend",
    "load_policy",
    "parse_policy",
    "resolve",
    "show_rows",
    "version_text",
]
