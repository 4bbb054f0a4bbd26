"""The webhook sink (推送): each agency receives the handoffs, alerts and case updates addressed to it.

Who gets what is `addressing.py`; one signed POST and its retries are `delivery.py`; what
was delivered or failed is `state.py`; the configuration is `config.py`, sending
failures again `redeliver.py`. docs/webhooks.md is the integrators' side.

Order is kept per case: the runtime writes one record at a time per partition, and `write` retries
inside itself (`retry.py`: capped exponential backoff, full jitter), so the later events of a case
wait behind a failing one. After ``max_attempts`` the failure is recorded with its payload
(`fengqiao webhooks redeliver` sends it again) and the record goes to the dead letters; deliveries
of the same record to the other agencies happen regardless. A delivery is recorded before `write`
returns and checked before every POST: a record read again after a crash is not sent again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from fengqiao import logs, metrics
from fengqiao.schemas.catalogue import Catalogue, load
from fengqiao.streams import topics

from ..addressing import addressed, case_parties
from ..conformance import Harness
from ..personal_view import PersonalView
from ..sdk import ConnectorContext, ConnectorFailed, RecordError, RetriableError, Sink, SinkRecord
from .config import Config, Endpoint
from .delivery import Result, cloudevent_body, deliver, revealed_body
from .redeliver import Redelivery, redeliver
from .state import DeliveryLog

__all__ = ["Config", "Endpoint", "Redelivery", "WebhookSink", "redeliver"]

log = logs.get(__name__)
CaseLookup = Callable[[str], Awaitable[dict[str, Any] | None]]


def open_protection(settings: Any, catalogue: Catalogue) -> Any:
    """The deployment's `Protection` (keys and read log) when personal data protection is on."""
    if not getattr(settings, "protect_personal", False):
        return None
    from fengqiao.streams.personal.protection import Protection

    return Protection.from_settings(settings, catalogue)


class WebhookSink(Sink[Config]):
    """Delivers each agency the handoffs, alerts and case updates addressed to it, signed."""

    Config = Config
    summary = "POSTs each agency the handoffs, alerts and case updates addressed to it, signed, with retries"

    def __init__(
        self, config: Config, context: ConnectorContext, *, case_lookup: CaseLookup | None = None
    ) -> None:
        super().__init__(config, context)
        self._endpoints = {e.agency: e for e in config.endpoints}
        self._lookup = case_lookup
        self._keys: dict[str, tuple[bytes, ...]] = {}
        self._log: DeliveryLog | None = None
        self._http: httpx.AsyncClient | None = None
        self._protection: Any = None  # streams.personal.protection.Protection, when protection is on
        self._view: PersonalView | None = None

    @property
    def catalogue(self) -> Catalogue:
        hub = self.context.hub
        return hub.codec.catalogue if hub is not None else load()

    async def start(self) -> None:
        if not self._endpoints:
            raise ConnectorFailed("no endpoints configured: add one per agency under `endpoints:`")
        directory = getattr(self.context.hub, "directory", None)
        if directory is not None:
            unknown = [a for a in self._endpoints if a not in directory]
            if unknown:
                raise ConnectorFailed(f"endpoints for agencies not in the directory: {', '.join(unknown)}")
        self._keys = {a: e.signing_keys() for a, e in self._endpoints.items()}
        if self._lookup is None and self.context.hub is not None:
            self._lookup = self.context.hub.case
        self._log = DeliveryLog(self.context.state_dir)
        self._http = httpx.AsyncClient(follow_redirects=False)
        self._protection = open_protection(self.context.settings, self.catalogue)
        revealer = self._protection.revealer if self._protection is not None else None
        self._view = PersonalView(revealer, directory)

    async def stop(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self._protection is not None:
            self._protection.close()
            self._protection = None

    def topics(self) -> list[str]:
        names = [topics.workflow_topic(w) for w in self.catalogue.workflows()]
        return names + ([topics.CASE_UPDATES] if self.config.case_updates else [])

    def wants(self, record: SinkRecord) -> bool:
        to = addressed(
            record.type, self.catalogue[record.type].direction, record.envelope.source, record.record
        )
        if to.case_parties:
            return self.config.case_updates
        return any(a in self._endpoints for a in to.agencies)

    @property
    def deliveries(self) -> DeliveryLog:
        assert self._log is not None, "start() first"
        return self._log

    async def recipients(self, record: SinkRecord) -> tuple[str, ...]:
        """The configured agencies ``record`` is addressed to, in a stable order."""
        to = addressed(
            record.type, self.catalogue[record.type].direction, record.envelope.source, record.record
        )
        agencies = await self._parties(record) if to.case_parties else to.agencies
        return tuple(a for a in agencies if a in self._endpoints)

    async def _parties(self, record: SinkRecord) -> tuple[str, ...]:
        """The case's parties as of this update: from the sink's own map, looked up when it is behind."""
        case_id, version = record.key, int(record.record["version"])
        known, parties = self.deliveries.parties(case_id)
        if known >= version or self._lookup is None:
            return parties
        case = await self._lookup(case_id)
        if case is None or int(case.get("version", -1)) < version:
            raise RetriableError(
                f"the hub's state of case {case_id} is behind its update to version {version}"
            )
        self.deliveries.add_parties(case_id, case_parties(case), int(case["version"]))
        return self.deliveries.parties(case_id)[1]

    async def write(self, record: SinkRecord) -> None:
        log_ = self.deliveries
        todo = [a for a in await self.recipients(record) if not log_.is_delivered(a, record.event_id)]
        if not todo:
            return
        body = cloudevent_body(record.envelope, record.record)  # sealed: what a failure keeps
        results = await asyncio.gather(*(self._deliver(a, record, body) for a in todo))
        failed = [(a, r) for a, r in zip(todo, results, strict=True) if not r.delivered]
        if failed:
            self.health().count("failed", len(failed))
            detail = "; ".join(
                f"{a} {'refused' if r.permanent else f'after {r.attempts} attempts'}: {r.error}"
                for a, r in failed
            )
            raise RecordError(
                f"webhook delivery of {record.type} {record.event_id} failed for {detail}. The payload "
                f"is kept: `fengqiao webhooks redeliver --event {record.event_id}` sends it again",
                kind="handler_failed",
                attempts=max(r.attempts for _, r in failed),
            )

    async def _deliver(self, agency: str, record: SinkRecord, body: bytes) -> Result:
        assert self._http is not None
        endpoint = self._endpoints[agency]
        result = await deliver(
            self._http,
            endpoint.url,
            self._keys[agency],
            revealed_body(body, agency, self._view),
            self.config.policy(),
            agency=agency,
            event_id=record.event_id,
            on_retry=self._on_retry,
            legacy_signature=endpoint.legacy_signature,
        )
        log_ = self.deliveries
        if result.delivered:
            log_.mark_delivered(agency, record.event_id, record.key, record.type, result.attempts)
            self.health().count("delivered")
            metrics.WEBHOOK_DELIVERIES.labels(agency, "delivered").inc()
            log.info(
                "webhook.delivered",
                agency=agency,
                event_id=record.event_id,
                case_id=record.key,
                attempts=result.attempts,
            )
        else:
            metrics.WEBHOOK_DELIVERIES.labels(agency, "failed").inc()
            log_.record_failure(
                agency,
                record.event_id,
                record.key,
                record.type,
                result.attempts,
                result.error,
                endpoint.url,
                body,
            )
            log.warning(
                "webhook.failed",
                agency=agency,
                event_id=record.event_id,
                case_id=record.key,
                attempts=result.attempts,
                error=result.error,
            )
        return result

    def _on_retry(self, agency: str, event_id: str, attempt: int, delay: float, error: str) -> None:
        self.health().count("retried")
        metrics.WEBHOOK_RETRIES.labels(agency).inc()
        log.info(
            "webhook.retry",
            agency=agency,
            event_id=event_id,
            attempt=attempt,
            delay_s=round(delay, 2),
            error=error,
        )

    @classmethod
    def conformance(cls, workdir: Path) -> Harness:
        from .harness import WebhookHarness

        return WebhookHarness(workdir)
