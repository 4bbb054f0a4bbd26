"""The sink's deliveries verified exactly as an agency's receiver would: with the `standardwebhooks`
package (Standard Webhooks' own Python library), on the bytes and headers the hub really sent.

The hub's `webhook_signature.verify` (which its harness uses, without that library) is checked
against the library on the same requests; so is the snippet docs/webhooks.md gives integrators.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from fengqiao.connectors.sdk import ConnectorFailed
from fengqiao.connectors.webhooks import delivery as wd
from fengqiao.connectors.webhooks import signature as ws
from fengqiao.connectors.webhooks.config import Endpoint

BODY = '{"specversion":"1.0","id":"e-1","subject":"XS-2026-0001","data":{"note":"青山镇"}}'.encode()
POLICY = wd.Policy(
    max_attempts=1, backoff_initial_s=0.01, backoff_max_s=0.01, timeout_s=2, retry_after_max_s=1
)
LEGACY = "9f" * 32  # what `secrets.token_hex(32)` gave before: 64 hex digits, keyed by their UTF-8


def endpoint(**secrets: str) -> Endpoint:
    return Endpoint(agency="qs-jo-1", url="http://agency.example/hooks/fengqiao", **secrets)


async def sent(ep: Endpoint, body: bytes = BODY) -> httpx.Request:
    """The one request the sink POSTs for ``body`` to ``ep``, as the receiver gets it."""
    seen: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(receiver)) as http:
        result = await wd.deliver(
            http,
            ep.url,
            ep.signing_keys(),
            body,
            POLICY,
            agency=ep.agency,
            event_id="e-1",
            legacy_signature=ep.legacy_signature,  # as WebhookSink._deliver passes it
        )
    assert result.delivered and len(seen) == 1
    return seen[0]


def received(request: httpx.Request) -> tuple[bytes, dict[str, str]]:
    """The body and headers a receiver's framework hands it (names case-insensitive: lower here)."""
    return request.content, {k.lower(): v for k, v in request.headers.items()}


async def test_a_delivery_verifies_with_the_standard_webhooks_library() -> None:
    secret = ws.new_secret()
    body, headers = received(await sent(endpoint(secret=secret)))
    assert Webhook(secret).verify(body, headers) == {
        "specversion": "1.0",
        "id": "e-1",
        "subject": "XS-2026-0001",
        "data": {"note": "青山镇"},
    }
    assert headers["webhook-id"] == wd.delivery_id("qs-jo-1", "e-1") == headers["fengqiao-delivery-id"]
    assert abs(int(headers["webhook-timestamp"]) - time.time()) < 60
    assert re.fullmatch(r"v1,[A-Za-z0-9+/]{43}=", headers["webhook-signature"])
    assert ws.verify(ws.signing_key(secret), headers, body) == int(headers["webhook-timestamp"])


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param(lambda b, h: (b + b" ", h), id="a byte added to the body"),
        pytest.param(
            lambda b, h: (b.replace("青山镇".encode(), "东溪村".encode()), h), id="the body changed"
        ),
        pytest.param(lambda b, h: (b, {**h, "webhook-id": "another"}), id="another webhook-id"),
        pytest.param(
            lambda b, h: (b, {**h, "webhook-timestamp": str(int(h["webhook-timestamp"]) + 1)}),
            id="the timestamp moved",
        ),
        pytest.param(
            lambda b, h: (b, {k: v for k, v in h.items() if k != "webhook-signature"}), id="no signature"
        ),
    ],
)
async def test_a_tampered_delivery_fails_in_the_library_and_in_the_hub(tamper: Any) -> None:
    secret = ws.new_secret()
    body, headers = tamper(*received(await sent(endpoint(secret=secret))))
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body, headers)
    with pytest.raises(ws.BadSignature):
        ws.verify(ws.signing_key(secret), headers, body)


async def test_another_secret_fails() -> None:
    body, headers = received(await sent(endpoint(secret=ws.new_secret())))
    other = ws.new_secret()
    with pytest.raises(WebhookVerificationError, match="No matching signature"):
        Webhook(other).verify(body, headers)
    with pytest.raises(ws.BadSignature, match="no v1 signature"):
        ws.verify(ws.signing_key(other), headers, body)


@pytest.mark.parametrize(("age_s", "word"), [(6 * 60, "too old"), (-6 * 60, "too new")])
async def test_a_request_signed_more_than_five_minutes_away_fails(
    monkeypatch: pytest.MonkeyPatch, age_s: int, word: str
) -> None:
    """A captured request replayed later (or a clock far off) is refused, though its MAC is right."""
    secret = ws.new_secret()
    real = time.time
    monkeypatch.setattr(ws.time, "time", lambda: real() - age_s)  # the hub signed age_s ago
    body, headers = received(await sent(endpoint(secret=secret)))
    monkeypatch.undo()
    with pytest.raises(WebhookVerificationError, match=word):
        Webhook(secret).verify(body, headers)
    with pytest.raises(ws.BadSignature, match="more than 300s"):
        ws.verify(ws.signing_key(secret), headers, body)
    # Four minutes is inside the window, for both.
    monkeypatch.setattr(ws.time, "time", lambda: real() - 4 * 60)
    body, headers = received(await sent(endpoint(secret=secret)))
    monkeypatch.undo()
    Webhook(secret).verify(body, headers)
    ws.verify(ws.signing_key(secret), headers, body)


async def test_a_secret_from_before_the_spec_keeps_its_key() -> None:
    """A stored endpoint with a plain secret goes on working: the receiver gives its library the
    secret's UTF-8 bytes, or the same as ``whsec_<base64>``; nothing is re-issued."""
    body, headers = received(await sent(endpoint(secret=LEGACY)))
    Webhook(LEGACY.encode()).verify(body, headers)  # bytes are the raw key
    Webhook(ws.whsec(LEGACY.encode())).verify(body, headers)
    assert ws.whsec(LEGACY.encode()) == "whsec_" + base64.b64encode(LEGACY.encode()).decode()
    ws.verify(LEGACY.encode(), headers, body)


async def test_while_rotating_each_request_verifies_with_the_old_and_the_new_secret() -> None:
    old, new = LEGACY, ws.new_secret()
    body, headers = received(await sent(endpoint(secret=new, previous_secret=old)))
    assert len(headers["webhook-signature"].split(" ")) == 2
    assert headers["webhook-signature"].split(" ")[0] == ws.signature(
        ws.signing_key(new), headers["webhook-id"], int(headers["webhook-timestamp"]), body
    )  # the current secret's first
    Webhook(new).verify(body, headers)  # a receiver that switched already
    Webhook(old.encode()).verify(body, headers)  # one that has not yet
    with pytest.raises(WebhookVerificationError):
        Webhook(ws.new_secret()).verify(body, headers)
    ws.verify([ws.signing_key(ws.new_secret()), ws.signing_key(new)], headers, body)


def test_the_hub_signs_what_the_library_signs() -> None:
    secret, stamp = ws.new_secret(), 1_788_228_000
    lib = Webhook(secret).sign("msg_1", datetime.fromtimestamp(stamp, UTC), BODY)
    assert ws.sign([ws.signing_key(secret)], "msg_1", BODY, stamp) == {
        "webhook-id": "msg_1",
        "webhook-timestamp": str(stamp),
        "webhook-signature": lib,
    }


@pytest.mark.parametrize(
    ("secrets", "message"),
    [
        ({"secret": "whsec_not*base64!"}, "must go on in base64"),
        ({"secret": ws.whsec(b"short")}, "a key of 5 bytes"),
        ({"secret": "too-short"}, "a key of 9 bytes"),
        ({"secret": ws.new_secret(), "previous_secret": "short"}, "previous_secret is a key of 5 bytes"),
    ],
)
def test_a_bad_secret_is_refused_naming_it(secrets: dict[str, str], message: str) -> None:
    with pytest.raises(ConnectorFailed, match=message):
        endpoint(**secrets).signing_keys()


def test_the_receiver_snippet_in_the_integrators_guide_works() -> None:
    """docs/webhooks.md's `verify` is what agencies copy: it must accept our requests, refuse others."""
    guide = (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text("utf-8")
    namespace: dict[str, Any] = {}
    exec(re.findall(r"```python\n(.*?)```", guide, re.S)[0], namespace)
    verify = namespace["verify"]
    secret = ws.new_secret()
    headers = ws.sign([ws.signing_key(secret)], "d-1", BODY)
    assert verify(secret, headers, BODY)["subject"] == "XS-2026-0001"
    for bad_secret, bad_body in [(secret, BODY + b" "), (ws.new_secret(), BODY)]:
        with pytest.raises(ValueError):
            verify(bad_secret, headers, bad_body)
    with pytest.raises(ValueError, match="too old"):
        verify(secret, ws.sign([ws.signing_key(secret)], "d-1", BODY, int(time.time()) - 3600), BODY)


def old_receiver_check(secret: str, header: str, body: bytes) -> None:
    """What docs/webhooks.md told receivers to do before Standard Webhooks (Fengqiao-Signature)."""
    fields = [item.strip().partition("=")[::2] for item in header.split(",")]
    t = int(next(v for k, v in fields if k == "t"))
    assert abs(time.time() - t) <= 300
    expected = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    if not any(hmac.compare_digest(expected, v) for k, v in fields if k == "v1"):
        raise ValueError("Fengqiao-Signature does not match the body")


async def test_legacy_signature_keeps_a_receiver_not_yet_moved_working() -> None:
    body, headers = received(await sent(endpoint(secret=LEGACY, legacy_signature=True)))
    old_receiver_check(LEGACY, headers["fengqiao-signature"], body)
    assert headers["fengqiao-signature"].startswith(f"t={headers['webhook-timestamp']},v1=")
    Webhook(LEGACY.encode()).verify(body, headers)  # and the new headers are there beside it
    with pytest.raises(ValueError):
        old_receiver_check(LEGACY, headers["fengqiao-signature"], body + b" ")
    new = ws.new_secret()  # rotating while still legacy: one v1 a key in the old header too
    body, headers = received(await sent(endpoint(secret=new, previous_secret=LEGACY, legacy_signature=True)))
    old_receiver_check(LEGACY, headers["fengqiao-signature"], body)
    body, headers = received(await sent(endpoint(secret=LEGACY)))
    assert "fengqiao-signature" not in headers  # off unless asked for
