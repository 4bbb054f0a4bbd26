"""One webhook delivery (推送): the signed POST, its retries, and what a response means.

The body is the event as a CloudEvent in structured JSON, signed as Standard Webhooks has it
(`signature.py`; docs/webhooks.md shows integrators how to check). Each attempt signs anew,
so the timestamp says when it was sent and a receiver can refuse replays of old requests. Retries
wait as `retry.py` says (capped exponential backoff, full jitter), or as the receiver's Retry-After.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import httpx

from fengqiao.schemas.codec import to_json
from fengqiao.schemas.envelope import EXTENSIONS, Envelope, format_time

from ..retry import full_jitter
from . import signature

CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
USER_AGENT = "fengqiao-webhook/1"
_DELIVERY_NS = uuid.UUID("0b6f3c52-41d4-4b8e-9a55-7e2d0f1c9a31")
RETRIABLE_4XX = frozenset({408, 429})
HONOURS_RETRY_AFTER = frozenset({429, 503})


def cloudevent_body(env: Envelope, record: Mapping[str, Any]) -> bytes:
    """The event as a CloudEvents 1.0 structured-mode JSON document (UTF-8)."""
    ce: dict[str, Any] = {
        "specversion": env.specversion,
        "id": env.id,
        "source": env.source,
        "type": env.type,
        "subject": env.subject,
        "time": format_time(env.time),
        "datacontenttype": "application/json",
    }
    if env.dataschema:
        ce["dataschema"] = env.dataschema
    for ext in EXTENSIONS:
        if getattr(env, ext) is not None:
            ce[ext] = getattr(env, ext)
    ce["data"] = to_json(dict(record))
    return json.dumps(ce, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def revealed_body(body: bytes, agency: str, view: Any) -> bytes:
    """The stored (sealed) body as ``agency`` receives it: personal fields opened or masked at send
    time by ``view`` (`PersonalView`), so a redelivery after an erasure sends them erased. The
    signature is made over these bytes, the ones sent."""
    if view is None:
        return body
    ce = json.loads(body)
    ce = view.for_agency(ce, agency, "webhook", case_id=str(ce.get("subject") or ""))
    return json.dumps(ce, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def delivery_id(agency: str, event_id: str) -> str:
    """Stable per (agency, event): the ``webhook-id``, which a receiver dedupes on across retries and
    redeliveries."""
    return str(uuid.uuid5(_DELIVERY_NS, f"{agency}\n{event_id}"))


def retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delta-seconds or an HTTP date); None if absent/bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


@dataclass(frozen=True)
class Attempt:
    """What one POST came to: ``delivered``, ``retry`` (transient) or ``permanent`` (a 4xx)."""

    outcome: Literal["delivered", "retry", "permanent"]
    error: str = ""
    wait_s: float | None = None  # the receiver's Retry-After, when it gave one


def judge(response: httpx.Response) -> Attempt:
    code = response.status_code
    if 200 <= code < 300:
        return Attempt("delivered")
    text = " ".join(response.text[:200].split())
    error = f"HTTP {code}{': ' + text if text else ''}"
    if code >= 500 or code in RETRIABLE_4XX:
        wait = retry_after(response.headers.get("retry-after")) if code in HONOURS_RETRY_AFTER else None
        return Attempt("retry", error, wait)
    if 300 <= code < 400:
        where = response.headers.get("location", "?")
        return Attempt("permanent", f"{error} (redirected to {where}; configure the final URL)")
    return Attempt("permanent", error)


@dataclass(frozen=True)
class Policy:
    max_attempts: int
    backoff_initial_s: float
    backoff_max_s: float
    timeout_s: float
    retry_after_max_s: float


@dataclass(frozen=True)
class Result:
    delivered: bool
    attempts: int  # attempts made by this call
    error: str = ""
    permanent: bool = False


async def post_once(
    http: httpx.AsyncClient,
    url: str,
    keys: Sequence[bytes],
    body: bytes,
    *,
    agency: str,
    event_id: str,
    attempt: int,
    timeout_s: float,
    legacy_signature: bool = False,
) -> Attempt:
    delivery = delivery_id(agency, event_id)
    headers = {
        "Content-Type": CONTENT_TYPE,
        "User-Agent": USER_AGENT,
        **signature.sign(keys, delivery, body, legacy=legacy_signature),
        "Fengqiao-Event-Id": event_id,
        "Fengqiao-Delivery-Id": delivery,  # = webhook-id; kept for receivers that dedupe on it already
        "Fengqiao-Attempt": str(attempt),
        "Fengqiao-Recipient": agency,
    }
    try:
        response = await http.post(url, content=body, headers=headers, timeout=timeout_s)
    except httpx.TimeoutException:
        return Attempt("retry", f"no answer within {timeout_s:g}s")
    except httpx.TransportError as e:
        return Attempt("retry", f"{type(e).__name__}: {e or 'connection failed'}")
    return judge(response)


async def deliver(
    http: httpx.AsyncClient,
    url: str,
    keys: Sequence[bytes],
    body: bytes,
    policy: Policy,
    *,
    agency: str,
    event_id: str,
    first_attempt: int = 1,
    on_retry: Any = None,
    legacy_signature: bool = False,
) -> Result:
    """POST until delivered, a permanent refusal, or ``policy.max_attempts`` spent (this call's).

    ``keys`` sign every attempt: the endpoint's current key first, then any still being rotated out;
    ``legacy_signature`` adds the pre-Standard-Webhooks header for a receiver not yet moved.
    """
    error = ""
    for n in range(1, policy.max_attempts + 1):
        attempt = first_attempt + n - 1
        got = await post_once(
            http,
            url,
            keys,
            body,
            agency=agency,
            event_id=event_id,
            attempt=attempt,
            timeout_s=policy.timeout_s,
            legacy_signature=legacy_signature,
        )
        if got.outcome == "delivered":
            return Result(True, n)
        error = got.error
        if got.outcome == "permanent":
            return Result(False, n, error, permanent=True)
        if n == policy.max_attempts:
            break
        if got.wait_s is not None:
            delay = min(got.wait_s, policy.retry_after_max_s)
        else:
            delay = full_jitter(n, policy.backoff_initial_s, policy.backoff_max_s)
        if on_retry is not None:
            on_retry(agency, event_id, attempt, delay, error)
        await asyncio.sleep(delay)
    return Result(False, policy.max_attempts, error)
