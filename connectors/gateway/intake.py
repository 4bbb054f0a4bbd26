"""Taking events in (接收): one or a batch, idempotent, answered once the ledger holds them.

HTTP-free: `Intake.one` and `Intake.batch` return an `Answer` (status and JSON body) that the API
sends as it is. A batch is all or nothing: every event is checked (validated and authorised)
before any is published; one bad event refuses the whole batch, with a result for each.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fengqiao import logs
from fengqiao.schemas.codec import to_json
from fengqiao.schemas.validation import id_error, type_of
from fengqiao.streams.personal.reveal import Reader, Revealer

from ..authz import Forbidden
from ..cloudevents_json import Refused, parse
from ..runtime import Outbox
from ..sdk import Health, RecordError, RetriableError
from .idempotency import Key, Stored, fingerprint
from .models import ErrorDetail, EventAccepted, FieldProblem, ItemResult
from .stores import IdempotencyStore

log = logs.get(__name__)
RETRY_AFTER_UNAVAILABLE = 5  # seconds: the hub retried already; give it a moment

# What each authorisation rule means for the sender (authz.py gives the English reason).
RULES_ZH = {
    "agency-known": "本机构不在机构目录中，请联系县司法局登记",
    "source-is-agency": "只能以本机构名义发布事件：source 须为本机构编号",
    "event-type-allowed": "本机构类型无权发布此类事件",
    "own-jurisdiction": "案件不在本机构管辖区域内，且本机构不是案件当事机构",
    "every-place": "事件所列地点（行政区划）须全部在本机构管辖区域内或经机构目录授权",
}


@dataclass
class Answer:
    status: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


class ApiError(Exception):
    """A refusal of the whole request, in the one error shape."""

    def __init__(
        self,
        status: int,
        rule: str,
        message: str,
        fields: list[FieldProblem] | None = None,
        *,
        headers: dict[str, str] | None = None,
        results: list[ItemResult] | None = None,
    ) -> None:
        super().__init__(f"{status} {rule}: {message}")
        self.detail = ErrorDetail(status=status, rule=rule, message=message, fields=fields or [])
        self.headers = headers or {}
        self.results = results

    def answer(self) -> Answer:
        body: dict[str, Any] = {"error": self.detail.model_dump()}
        if self.results is not None:
            body["results"] = [r.model_dump(exclude_none=True) for r in self.results]
        return Answer(self.detail.status, body, self.headers)


def unavailable(reason: str) -> ApiError:
    return ApiError(
        503,
        "hub-unavailable",
        f"枢纽暂时无法接收，请稍后用相同的 id 重发 (the hub could not take the event: {reason}; "
        "send it again later with the same id — the hub applies an id once)",
        headers={"Retry-After": str(RETRY_AFTER_UNAVAILABLE)},
    )


def refusal(e: RecordError) -> ErrorDetail:
    """The structured reason of a `RecordError` from the outbox: the fields, or the rule."""
    cause = e.__cause__
    if isinstance(cause, Refused):
        return ErrorDetail(
            status=400,
            rule="invalid-event",
            message="事件不合格，请按字段逐项修正后重发 "
            "(the event is invalid: fix each field named, send it again)",
            fields=[FieldProblem(field=fe.path, reason=fe.reason) for fe in cause.errors],
        )
    if isinstance(cause, Forbidden):
        zh = RULES_ZH.get(cause.rule, "无权发布")
        return ErrorDetail(status=403, rule=cause.rule, message=f"{zh} ({cause.reason})")
    return ErrorDetail(status=400, rule="invalid-event", message=e.reason)


def conflict(key: Key) -> ErrorDetail:
    return ErrorDetail(
        status=409,
        rule="idempotency-conflict",
        message=(
            f"该 source 与 id 已用于另一内容的事件，新事件请用新 id "
            f"(source {key[0]!r} and id {key[1]!r} were accepted before with other content: "
            "give a new event a new id)"
        ),
        fields=[FieldProblem(field="id", reason=f"{key[1]!r} is taken by a different event from {key[0]!r}")],
    )


def _key(event: Mapping[str, Any]) -> Key | None:
    """(source, id) when both are ids by the input rules; else None (the event is refused anyway,
    and an odd id never reaches the answer store, the ledger look-up or the answer)."""
    source, eid = event.get("source"), event.get("id")
    if id_error("source", source, agency=True) is None and id_error("id", eid) is None:
        return (source, eid)
    return None


class Intake:
    def __init__(self, outbox: Outbox, answers: IdempotencyStore, health: Health, *, max_batch: int) -> None:
        self.outbox = outbox
        self.answers = answers
        self.health = health
        self.max_batch = max_batch

    # -- one event -------------------------------------------------------------------------------
    async def one(self, agency: str, event: Any) -> Answer:
        if not isinstance(event, dict):
            raise ApiError(
                400,
                "invalid-event",
                "请求体须为一个 CloudEvent 对象或其数组 (send one CloudEvent object or an array)",
                [FieldProblem(field="", reason=f"a CloudEvent is a JSON object, not {type_of(event)}")],
            )
        key = _key(event)
        prior = None
        if key is None or key[0] != agency:  # refused by the outbox (missing attribute, source)
            result = await self._publish(agency, event, None)
        else:
            async with self.answers.locked([key]):
                fp = self._fingerprint(event)
                prior = await self._prior(key, event, fp) if fp is not None else None
                result = prior or await self._publish(agency, event, key)
        if result.accepted is not None:
            replayed = {"Idempotent-Replayed": "true"} if prior is not None else {}
            return Answer(202, result.accepted.model_dump(), replayed)
        assert result.error is not None
        return Answer(result.status, {"error": result.error.model_dump()})

    # -- a batch -----------------------------------------------------------------------------------
    async def batch(self, agency: str, events: list[Any]) -> Answer:
        if not events:
            raise ApiError(400, "empty-batch", "批量为空 (the batch holds no event)")
        if len(events) > self.max_batch:
            raise ApiError(
                413,
                "batch-too-large",
                f"一批最多 {self.max_batch} 个事件 (at most {self.max_batch} events per batch; "
                f"this one has {len(events)}: split it)",
            )
        results: list[ItemResult | None] = [None] * len(events)
        keys = [_key(e) if isinstance(e, dict) else None for e in events]
        mine = [k for k in keys if k is not None and k[0] == agency]
        async with self.answers.locked(mine):
            pending, copies = await self._check_all(agency, events, keys, results)
            if any(r is not None and r.status != 202 for r in results):
                for i in (i for ix in pending.values() for i in ix):
                    results[i] = _held_back(i, events[i])
                return self._batch_answer(results, copies)
            await self._publish_all(agency, events, keys, pending, results)
        return self._batch_answer(results, copies)

    async def _check_all(
        self, agency: str, events: list[Any], keys: list[Key | None], results: list[ItemResult | None]
    ) -> tuple[dict[str, list[int]], dict[int, int]]:
        """Decide every event without publishing: (indices to publish by case, in-batch repeats)."""
        pending: dict[str, list[int]] = defaultdict(list)
        seen: dict[Key, tuple[str, int]] = {}
        copies: dict[int, int] = {}  # index → the earlier index of the same event in this batch
        for i, event in enumerate(events):
            key = keys[i]
            if not isinstance(event, dict):
                results[i] = ItemResult(
                    index=i,
                    status=400,
                    error=ErrorDetail(
                        status=400,
                        rule="invalid-event",
                        message="每项须为一个 CloudEvent 对象 (each item must be a CloudEvent object)",
                        fields=[FieldProblem(field="", reason="a CloudEvent is a JSON object")],
                    ),
                )
                continue
            fp = self._fingerprint(event)
            if key is not None and key[0] == agency and fp is not None:
                if key in seen:
                    first_fp, first = seen[key]
                    if first_fp == fp:
                        copies[i] = first
                    else:
                        results[i] = ItemResult(index=i, id=key[1], status=409, error=conflict(key))
                    continue
                seen[key] = (fp, i)
                prior = await self._prior(key, event, fp)
                if prior is not None:
                    results[i] = prior.model_copy(update={"index": i})
                    continue
            try:
                accepted = await self.outbox.check(event, agency=agency)
            except RecordError as e:
                results[i] = ItemResult(index=i, id=_id(event), status=_status(e), error=refusal(e))
                continue
            except RetriableError as e:
                raise unavailable(str(e)) from e
            pending[accepted.envelope.subject].append(i)
        return pending, copies

    async def _publish_all(
        self,
        agency: str,
        events: list[Any],
        keys: list[Key | None],
        pending: dict[str, list[int]],
        results: list[ItemResult | None],
    ) -> None:
        """Each case's events in batch order (so their order on the log); cases side by side."""

        async def case(indices: list[int]) -> None:
            for n, i in enumerate(indices):
                try:
                    results[i] = (await self._publish(agency, events[i], keys[i])).model_copy(
                        update={"index": i}
                    )
                except ApiError as e:  # the hub is unreachable: this and the rest of the case wait
                    for j in indices[n:]:
                        results[j] = ItemResult(index=j, id=_id(events[j]), status=503, error=e.detail)
                    return

        await asyncio.gather(*(case(ix) for ix in pending.values()))

    def _batch_answer(self, results: list[ItemResult | None], copies: dict[int, int]) -> Answer:
        for i, first in copies.items():
            results[i] = results[first].model_copy(update={"index": i})  # type: ignore[union-attr]
        done = [r for r in results if r is not None]
        refused = [r for r in done if r.status != 202]
        accepted = len(done) - len(refused)
        if not refused:
            body = {"accepted": accepted, "results": [r.model_dump(exclude_none=True) for r in done]}
            return Answer(202, body)
        if any(r.status == 503 for r in refused):
            e = unavailable("some events of the batch could not be published")
        else:
            status = min(r.status for r in refused if r.status != 424)
            e = ApiError(
                status,
                "batch-refused",
                f"批量中 {len(refused)} 个事件未被接收，详见 results；"
                "已接收的 (202) 已保存，修正后整批重发即可 "
                f"({len(refused)} of {len(done)} events were not accepted, see results: fix them and "
                "send the batch again; those with 202 are held, and sending them again is harmless)",
            )
        e.results = done
        return e.answer()

    # -- one decision ----------------------------------------------------------------------------
    def _fingerprint(self, event: dict[str, Any]) -> str | None:
        """The event's fingerprint; None when it is invalid (then it is refused, naming its fields)."""
        try:
            return fingerprint(parse(self.outbox.hub.codec, event))
        except Refused:
            return None

    async def _prior(self, key: Key, event: dict[str, Any], fp: str) -> ItemResult | None:
        """What the hub answered before for this (source, id): the kept answer, the ledger's record
        (the event came by another way, or before the answer was kept), or a conflict."""
        stored = self.answers.get(key)
        if stored is not None:
            if stored.fingerprint != fp:
                return ItemResult(index=0, id=key[1], status=409, error=conflict(key))
            self.health.count("duplicates")
            return ItemResult(index=0, id=key[1], status=202, accepted=EventAccepted(**stored.body))
        ledger = self.outbox.hub.ledger
        rec = await asyncio.to_thread(ledger.find_event, key[1]) if ledger is not None else None
        if rec is None or rec.source != key[0]:
            return None
        if not self._same_as(event, rec):
            return ItemResult(index=0, id=key[1], status=409, error=conflict(key))
        accepted = EventAccepted(
            id=key[1],
            source=key[0],
            type=rec.event_type or "",
            subject=rec.case_id or "",
            topic=rec.topic,
            partition=rec.partition,
            offset=rec.offset,
        )
        self.answers.put(key, Stored(fp, 202, accepted.model_dump()))
        self.health.count("duplicates")
        return ItemResult(index=0, id=key[1], status=202, accepted=accepted)

    def _same_as(self, event: dict[str, Any], rec: Any) -> bool:
        codec = self.outbox.hub.codec
        try:
            accepted = parse(codec, event)
        except Refused:
            return False
        env = accepted.envelope
        if (rec.event_type, rec.case_id) != (env.type, env.subject) or rec.value is None:
            return False
        try:
            _, stored = codec.decode(rec.value)
        except Exception:  # another schema version the codec has not fetched, or not Avro
            return False
        if codec.sealer is not None:  # the ledger holds it sealed: open it (the hub's own look, not a read)
            stored = Revealer(codec.sealer.keys).reveal(stored, Reader("hub", "idempotency"), clear=True)
        return bool(to_json(stored) == to_json(accepted.record))

    async def _publish(self, agency: str, event: dict[str, Any], key: Key | None) -> ItemResult:
        try:
            published = await self.outbox.publish(event, agency=agency)
        except RecordError as e:
            self.health.count("refused")
            log.info("gateway.refused", agency=agency, event_id=_id(event), reason=e.reason)
            return ItemResult(index=0, id=_id(event), status=_status(e), error=refusal(e))
        except RetriableError as e:
            log.warning("gateway.hub_unavailable", agency=agency, event_id=_id(event), error=str(e))
            raise unavailable(str(e)) from e
        catalogue = self.outbox.hub.codec.catalogue
        accepted = EventAccepted(
            id=published.event_id,
            source=agency,
            type=catalogue[event["type"]].name,
            subject=event.get("subject") or event["data"]["case_id"],
            topic=published.topic,
            partition=published.partition,
            offset=published.offset,
        )
        fp = self._fingerprint(event)
        if key is not None and fp is not None:
            self.answers.put(key, Stored(fp, 202, accepted.model_dump()))
        self.health.count("accepted")
        log.info(
            "gateway.accepted",
            agency=agency,
            event_id=accepted.id,
            type=accepted.type,
            case_id=accepted.subject,
        )
        return ItemResult(index=0, id=accepted.id, status=202, accepted=accepted)


def _held_back(i: int, event: Any) -> ItemResult:
    return ItemResult(
        index=i,
        id=_id(event),
        status=424,
        error=ErrorDetail(
            status=424,
            rule="batch-refused",
            message=(
                "本条无误，但同批有事件被拒，整批未发布 (this event is fine; it was not published because "
                "another event of the batch was refused)"
            ),
        ),
    )


def _id(event: Any) -> str | None:
    eid = event.get("id") if isinstance(event, dict) else None
    return eid if id_error("id", eid) is None else None


def _status(e: RecordError) -> int:
    return 403 if isinstance(e.__cause__, Forbidden) else 400
