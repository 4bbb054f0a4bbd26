"""The gateway's request and answer bodies, as pydantic models: they make the OpenAPI document."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class CloudEvent(BaseModel):
    """One event in CloudEvents 1.0 structured JSON. ``data`` holds the event type's fields
    (docs/events.md); each field is checked against the event's Avro schema."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "example": {
                "specversion": "1.0",
                "id": "XS-2026-0001-02",
                "source": "qs-jo-1",
                "type": "ReleaseNoticeAcknowledged",
                "subject": "XS-2026-0001",
                "time": "2026-10-08T01:30:00Z",
                "datacontenttype": "application/json",
                "data": {"case_id": "XS-2026-0001", "...": "the fields of the event type"},
            }
        },
    )

    specversion: Literal["1.0"]
    id: str = Field(description="unique per source; sending the same id again is safe (idempotent)")
    source: str = Field(description="your agency id (机构编号), e.g. qs-jo-1: the one your API key is for")
    type: str = Field(description="the event type, e.g. ReleaseNoticeAcknowledged (docs/events.md)")
    subject: str | None = Field(default=None, description="the case id; must equal data.case_id")
    time: datetime | None = Field(default=None, description="when it happened (RFC 3339)")
    datacontenttype: str | None = Field(default=None, description="application/json")
    correlationid: str | None = None
    causationid: str | None = None
    jurisdiction: str | None = Field(default=None, description="division code (行政区划代码) of the case")
    data: dict[str, Any]


class FieldProblem(BaseModel):
    field: str = Field(description="the attribute or data field, e.g. data.person.id_number ('' = the body)")
    reason: str


class ErrorDetail(BaseModel):
    status: int
    rule: str = Field(description="the rule that refused the request, e.g. invalid-event, own-jurisdiction")
    message: str = Field(description="what to do about it, zh-CN with English")
    fields: list[FieldProblem] = Field(default_factory=list)


class EventAccepted(BaseModel):
    """The hub has the event durably (in its ledger): it will not be lost, and a resend is harmless."""

    status: Literal["accepted"] = "accepted"
    id: str
    source: str
    type: str
    subject: str
    topic: str
    partition: int
    offset: int


class ItemResult(BaseModel):
    """One event of a batch: accepted, refused (with why), or not sent because the batch was refused."""

    index: int = Field(description="position in the batch, from 0")
    id: str | None = None
    status: int = Field(description="202, or the status this event alone would have been refused with")
    accepted: EventAccepted | None = None
    error: ErrorDetail | None = None


class Error(BaseModel):
    """Every refusal has this shape; a refused batch adds ``results``, one per event."""

    error: ErrorDetail
    results: list[ItemResult] | None = None


class BatchAccepted(BaseModel):
    accepted: int = Field(description="how many events of the batch the hub holds")
    results: list[ItemResult]


class Task(BaseModel):
    """An open handoff (待办): the agency is obliged to act on the case, or it was escalated to it."""

    model_config = ConfigDict(extra="allow")

    case_id: str
    workflow: str
    handoff_id: str
    step: str
    task: str = Field(description="what must be done (zh-CN)")
    state: Literal["assigned", "acknowledged", "overdue", "escalated"]
    role: Literal["obliged", "escalated_to"] = Field(description="obliged to act, or escalated to (督办)")
    obliged: str = Field(description="agency id of the obliged agency")
    deadline: datetime | None = Field(default=None, description="when it is due (UTC); null: no legal clock")
    rule: str | None = Field(default=None, description="policy rule id that set the deadline")


class Tasks(BaseModel):
    agency: str
    tasks: list[Task]


class Case(BaseModel):
    """A case's state as the hub holds it (see streams/engine/ for every field)."""

    model_config = ConfigDict(extra="allow")

    case_id: str
    workflow: str
    status: str
    version: int
    policy_version: str | None = None
    opened_at: str | None = None
    updated_at: str | None = None
    closed_at: str | None = None
    events: list[dict[str, Any]] = Field(default_factory=list, description="timeline: id, type, source, time")
    facts: dict[str, Any] = Field(default_factory=dict, description="the newest event of each type, by type")
    handoffs: dict[str, Any] = Field(default_factory=dict, description="by handoff id")
    alerts: list[dict[str, Any]] = Field(default_factory=list)


class Health(BaseModel):
    status: str
    detail: str = ""
    counters: dict[str, int] = Field(default_factory=dict)
