"""One webhook delivery: the CloudEvent body, the signature, what each answer means, the retry loop."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest

from fengqiao.connectors.webhooks import delivery as wd
from fengqiao.connectors.webhooks import signature as ws
from fengqiao.schemas.envelope import HUB_SOURCE, Envelope

SECRET = ws.new_secret()
KEYS = (ws.signing_key(SECRET),)
POLICY = wd.Policy(
    max_attempts=5, backoff_initial_s=0.5, backoff_max_s=4.0, timeout_s=2.0, retry_after_max_s=30
)


def test_the_body_is_a_structured_cloudevent_with_json_data() -> None:
    t = datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
    env = Envelope.new("CaseUpdated", "C-1", HUB_SOURCE, time=t, causationid="e-0", jurisdiction="339901")
    record = {"case_id": "C-1", "applied_at": t, "version": 3, "note": "青山镇"}
    ce = json.loads(wd.cloudevent_body(env, record))
    assert ce == {
        "specversion": "1.0",
        "id": env.id,
        "source": HUB_SOURCE,
        "type": "CaseUpdated",
        "subject": "C-1",
        "time": "2026-09-01T02:00:00.000Z",
        "datacontenttype": "application/json",
        "correlationid": "C-1",
        "causationid": "e-0",
        "jurisdiction": "339901",
        "data": {"case_id": "C-1", "applied_at": "2026-09-01T02:00:00.000Z", "version": 3, "note": "青山镇"},
    }
    assert "青山镇".encode() in wd.cloudevent_body(env, record)  # UTF-8, not \u escapes


def test_the_delivery_id_is_stable_per_agency_and_event() -> None:
    assert wd.delivery_id("qs-jo-1", "e-1") == wd.delivery_id("qs-jo-1", "e-1")
    assert wd.delivery_id("qs-jo-1", "e-1") != wd.delivery_id("qs-jb", "e-1")
    assert wd.delivery_id("qs-jo-1", "e-1") != wd.delivery_id("qs-jo-1", "e-2")


def test_retry_after_in_seconds_or_as_a_date() -> None:
    now = datetime(2026, 9, 1, tzinfo=UTC)
    assert wd.retry_after("7") == 7.0
    assert wd.retry_after(format_datetime(now + timedelta(seconds=90), usegmt=True), now) == 90.0
    assert wd.retry_after(format_datetime(now - timedelta(seconds=90), usegmt=True), now) == 0.0
    assert wd.retry_after("soon") is None and wd.retry_after(None) is None


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        (200, "delivered"),
        (204, "delivered"),
        (500, "retry"),
        (502, "retry"),
        (503, "retry"),
        (408, "retry"),
        (429, "retry"),
        (400, "permanent"),
        (401, "permanent"),
        (404, "permanent"),
        (410, "permanent"),
        (301, "permanent"),
    ],
)
def test_what_an_answer_means(status: int, outcome: str) -> None:
    assert wd.judge(httpx.Response(status, text="nope")).outcome == outcome


def test_only_429_and_503_carry_a_wait() -> None:
    assert wd.judge(httpx.Response(429, headers={"Retry-After": "3"})).wait_s == 3.0
    assert wd.judge(httpx.Response(503, headers={"Retry-After": "4"})).wait_s == 4.0
    assert wd.judge(httpx.Response(500, headers={"Retry-After": "4"})).wait_s is None


class Receiver:
    """An httpx transport answering from a script; it records every request it saw."""

    def __init__(self, *answers: Any) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waited: list[float] = []
    real_sleep, here = asyncio.sleep, threading.current_thread()

    async def fake_sleep(s: float) -> None:
        # `asyncio.sleep` is patched for the whole process: the session's hub runs its loop (the
        # gateway's server ticks every 0.1 s) in another thread, and must keep sleeping for real.
        if threading.current_thread() is not here:
            return await real_sleep(s)
        waited.append(s)

    monkeypatch.setattr(wd.asyncio, "sleep", fake_sleep)
    return waited


async def run(receiver: Receiver, policy: wd.Policy = POLICY, first_attempt: int = 1) -> wd.Result:
    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http:
        return await wd.deliver(
            http,
            "http://agency.example/hook",
            KEYS,
            b'{"id":"e-1"}',
            policy,
            agency="qs-jo-1",
            event_id="e-1",
            first_attempt=first_attempt,
        )


async def test_three_failures_then_success_is_one_delivery_signed_at_each_attempt(
    sleeps: list[float],
) -> None:
    rx = Receiver(
        httpx.Response(500),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("slow"),
        httpx.Response(202),
    )
    result = await run(rx)
    assert result == wd.Result(True, 4)
    assert [r.headers["fengqiao-attempt"] for r in rx.requests] == ["1", "2", "3", "4"]
    delivery = wd.delivery_id("qs-jo-1", "e-1")
    assert {r.headers["webhook-id"] for r in rx.requests} == {delivery}  # the same on every retry
    assert {r.headers["fengqiao-delivery-id"] for r in rx.requests} == {delivery}
    for r in rx.requests:
        assert r.headers["fengqiao-event-id"] == "e-1" and r.headers["fengqiao-recipient"] == "qs-jo-1"
        assert r.headers["content-type"].startswith("application/cloudevents+json")
        assert "fengqiao-signature" not in r.headers
        assert abs(ws.verify(KEYS[0], r.headers, r.content) - time.time()) < 60
    assert len(sleeps) == 3 and all(0 <= s <= POLICY.backoff_max_s for s in sleeps)


async def test_a_refusal_is_not_retried(sleeps: list[float]) -> None:
    result = await run(Receiver(httpx.Response(422, text="data.case_id unknown")))
    assert result == wd.Result(False, 1, "HTTP 422: data.case_id unknown", permanent=True)
    assert sleeps == []


async def test_gives_up_after_max_attempts_with_the_last_error(sleeps: list[float]) -> None:
    rx = Receiver(httpx.Response(500, text="down for maintenance"))
    result = await run(rx)
    assert not result.delivered and not result.permanent
    assert result.attempts == POLICY.max_attempts == len(rx.requests)
    assert result.error == "HTTP 500: down for maintenance"
    assert len(sleeps) == POLICY.max_attempts - 1  # no wait after the last one


async def test_retry_after_is_honoured_up_to_its_cap(sleeps: list[float]) -> None:
    rx = Receiver(
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(503, headers={"Retry-After": "3600"}),
        httpx.Response(200),
    )
    assert (await run(rx)).delivered
    assert sleeps == [7.0, POLICY.retry_after_max_s]


async def test_a_redelivery_continues_the_attempt_count(sleeps: list[float]) -> None:
    rx = Receiver(httpx.Response(200))
    assert await run(rx, first_attempt=9) == wd.Result(True, 1)
    assert rx.requests[0].headers["fengqiao-attempt"] == "9"
