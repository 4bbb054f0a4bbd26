"""`fengqiao webhooks redeliver`: send the recorded failures again, once the endpoint is back."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from ..sdk import ConnectorFailed
from .config import Config
from .delivery import Policy, deliver, revealed_body
from .state import DeliveryLog


@dataclass(frozen=True)
class Redelivery:
    agency: str
    event_id: str
    event_type: str
    case_id: str
    outcome: str  # delivered, already, failed, no-endpoint
    attempts: int  # total, all runs
    error: str = ""


async def redeliver(
    config: Config,
    state_dir: Path,
    *,
    agency: str | None = None,
    event_id: str | None = None,
    attempts: int = 3,
    view: Any = None,
) -> list[Redelivery]:
    """Send the open failures again (in the order they failed), signed anew, with the same delivery id.

    The stored payload is sealed; ``view`` (`PersonalView`) opens or masks it for the agency now, so
    a person erased since shows as erased (None: sent as stored). A failure whose agency has no
    endpoint in ``config`` (or no secret) stays open, with the reason.
    """
    deliveries = DeliveryLog(state_dir)
    endpoints = {e.agency: e for e in config.endpoints}
    policy = config.policy()
    policy = Policy(
        attempts, policy.backoff_initial_s, policy.backoff_max_s, policy.timeout_s, policy.retry_after_max_s
    )
    out: list[Redelivery] = []
    try:
        async with httpx.AsyncClient(follow_redirects=False) as http:
            for f in deliveries.failures(agency=agency, event_id=event_id):
                row = (f.agency, f.event_id, f.event_type, f.case_id)
                if deliveries.is_delivered(f.agency, f.event_id):
                    deliveries.mark_delivered(f.agency, f.event_id, f.case_id, f.event_type, 0, "redeliver")
                    out.append(Redelivery(*row, "already", f.attempts))
                    continue
                endpoint = endpoints.get(f.agency)
                if endpoint is None:
                    out.append(
                        Redelivery(
                            *row, "no-endpoint", f.attempts, "no endpoint for this agency in the config"
                        )
                    )
                    continue
                try:
                    keys = endpoint.signing_keys()
                except ConnectorFailed as e:  # this agency's secret is missing: say so, go on with others
                    out.append(Redelivery(*row, "failed", f.attempts, str(e)))
                    continue
                r = await deliver(
                    http,
                    endpoint.url,
                    keys,
                    revealed_body(f.payload, f.agency, view),
                    policy,
                    agency=f.agency,
                    event_id=f.event_id,
                    first_attempt=f.attempts + 1,
                    legacy_signature=endpoint.legacy_signature,
                )
                total = f.attempts + r.attempts
                if r.delivered:
                    deliveries.mark_delivered(
                        f.agency, f.event_id, f.case_id, f.event_type, total, "redeliver"
                    )
                    out.append(Redelivery(*row, "delivered", total))
                else:
                    deliveries.count_attempts(f.agency, f.event_id, r.attempts, r.error)
                    out.append(Redelivery(*row, "failed", total, r.error))
    finally:
        deliveries.close()
    return out
