"""The demo scenario: a fictional county, 青山县, and a script of cases across the workflows.

Each case is a sequence of CloudEvents (structured JSON, as an agency would send them), so the
demo goes through the same validation as `fengqiao publish` and the HTTP gateway.

The county and its agencies are in `county`; each workflow's scripted cases (its ``*_VARIANTS``, and
the fields its steps set) in a module of its own; `events` plays them all as CloudEvents.
"""

from fengqiao.scenario.corrections import BAIYUN_VILLAGE, CORRECTIONS_VARIANTS
from fengqiao.scenario.county import AGENCIES, COUNTY, NAMES, TOWNSHIP, VILLAGE, Step
from fengqiao.scenario.events import PREFIX, SCRIPT, demo_events, stamp_instants
from fengqiao.scenario.legal_aid import (
    LEGAL_AID_EXTREME_POVERTY,
    LEGAL_AID_NOT_LISTED,
    LEGAL_AID_ON_REGISTER,
    LEGAL_AID_VARIANTS,
)
from fengqiao.scenario.mediation import CALM, MEDIATION_VARIANTS
from fengqiao.scenario.release import RELEASE_DAYS, RELEASE_VARIANTS
from fengqiao.scenario.services import SERVICES_VARIANTS, SUBJECTS

__all__ = [
    "AGENCIES",
    "BAIYUN_VILLAGE",
    "CALM",
    "CORRECTIONS_VARIANTS",
    "COUNTY",
    "LEGAL_AID_EXTREME_POVERTY",
    "LEGAL_AID_NOT_LISTED",
    "LEGAL_AID_ON_REGISTER",
    "LEGAL_AID_VARIANTS",
    "MEDIATION_VARIANTS",
    "NAMES",
    "PREFIX",
    "RELEASE_DAYS",
    "RELEASE_VARIANTS",
    "SCRIPT",
    "SERVICES_VARIANTS",
    "SUBJECTS",
    "TOWNSHIP",
    "VILLAGE",
    "Step",
    "demo_events",
    "stamp_instants",
]
