"""Topic names. One topic per workflow, keyed by case id, plus the hub's own streams."""

from __future__ import annotations

from fengqiao.infra.broker import TopicSpec
from fengqiao.schemas.catalogue import Catalogue, EventType
from fengqiao.settings import Settings

PREFIX = "fengqiao."
CASE_UPDATES = "fengqiao.case-updates"  # CaseUpdated: one per applied event, the feed read models follow
DEAD_LETTERS = "fengqiao.deadletter"  # DeadLetter: what could not be accepted or applied, with the reason


def workflow_topic(workflow: str) -> str:
    return f"{PREFIX}{workflow.replace('_', '-')}"


def topic_for(event: EventType, case_workflow: str | None = None) -> str:
    """The topic an event travels on; engine events (workflow "*") follow the case's workflow."""
    if event.workflow == "*":
        if not case_workflow:
            raise ValueError(f"{event.name} travels on its case's workflow topic; name the workflow")
        return workflow_topic(case_workflow)
    if event.name == "DeadLetter":
        return DEAD_LETTERS
    if event.workflow == "hub":
        return CASE_UPDATES
    return workflow_topic(event.workflow)


def all_topics(catalogue: Catalogue, settings: Settings) -> list[TopicSpec]:
    """Every hub topic with the partitions, replication and configs `Hub.start` creates it with."""
    names = [workflow_topic(w) for w in catalogue.workflows()] + [CASE_UPDATES, DEAD_LETTERS]
    return [
        TopicSpec(
            n,
            settings.partitions,
            settings.replication,
            settings.retention_ms,
            min_insync_replicas=settings.min_insync_replicas,
        )
        for n in names
    ]
