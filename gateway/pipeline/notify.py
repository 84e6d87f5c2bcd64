"""Notify: tell owning agencies that another agency read their restricted data (the policy's ``notify``
obligations), as CP-IS tells councils.

The read was lawful and is on the audit trail (with its obligations) before anything is queued here,
so delivery is off the request's path. Each agency has an outbox: events wait at most ``batch_ms`` and
go in one ``POST {notify path}`` with the body ``{"events": [...]}``. Under load that is one call per
agency per window instead of one per read; a full child profile read by a social worker used to spend
three of its thirteen agency calls on notifications.

Nothing is dropped silently. A batch the agency does not accept (unreachable, timeout, non-2xx), an
outbox that is full, or a gateway shutting down with events it cannot deliver in time: each event
left undelivered is recorded as ``notify.failed`` (with the agency and why) for follow-up.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Mapping
from typing import Any

import orjson

from gateway.agencies.connectors import Connector
from gateway.agencies.upstream import UpstreamClient, UpstreamError
from gateway.pipeline.audit import AuditSink

log = logging.getLogger("gateway.notify")

Event = tuple[dict[str, Any], dict[str, Any]]  # (what the agency is told, the audit record if it is not)


class Notifier:
    def __init__(
        self,
        connectors: Mapping[str, Connector],
        upstream: UpstreamClient,
        audit: AuditSink,
        *,
        batch_ms: float = 100,
        max_batch: int = 200,
        max_queued: int = 10_000,
        timeout_s: float = 2.0,
    ) -> None:
        self.connectors = connectors
        self.upstream = upstream
        self.audit = audit
        self.batch_s = batch_ms / 1000
        self.max_batch = max_batch
        self.max_queued = max_queued
        self.timeout_s = timeout_s
        self._outbox: dict[str, deque[Event]] = {}
        self._senders: dict[str, asyncio.Task[None]] = {}

    async def submit(self, agency: str, event: dict[str, Any], if_failed: dict[str, Any]) -> None:
        """Queue ``event`` for ``agency``; ``if_failed`` is the ``notify.failed`` audit record to write
        (``why`` is added) should it not be delivered."""
        connector = self.connectors.get(agency)
        if connector is None or connector.spec.notify is None:
            await self._failed(agency, [(event, if_failed)], "no notification endpoint configured")
            return
        queue = self._outbox.setdefault(agency, deque())
        if len(queue) >= self.max_queued:
            await self._failed(agency, [(event, if_failed)], "notification outbox full")
            return
        queue.append((event, if_failed))
        sender = self._senders.get(agency)
        if sender is None or sender.done():
            self._senders[agency] = asyncio.create_task(self._send(agency, wait=True))

    async def _send(self, agency: str, *, wait: bool) -> None:
        if wait:
            await asyncio.sleep(self.batch_s)  # let the window's other reads join this batch
        queue = self._outbox.get(agency)
        while queue:
            batch = [queue.popleft() for _ in range(min(len(queue), self.max_batch))]
            try:
                why = await self._post(agency, [event for event, _ in batch])
            except asyncio.CancelledError:  # shutting down mid-call: these may not have arrived
                await self._failed(agency, batch, "gateway shut down before delivery")
                raise
            if why is not None:
                await self._failed(agency, batch, why)

    async def _post(self, agency: str, events: list[dict[str, Any]]) -> str | None:
        connector = self.connectors[agency]
        assert connector.spec.notify is not None
        try:
            status = await self.upstream.post(
                connector.spec.base_url.rstrip("/") + connector.spec.notify,
                json_body=orjson.dumps({"events": events}),
                headers=connector.headers,
                timeout=self.timeout_s,
            )
        except UpstreamError as exc:
            return type(exc).__name__
        return None if 200 <= status < 300 else f"status {status}"

    async def _failed(self, agency: str, batch: list[Event], why: str) -> None:
        log.warning("owning agency not notified", extra={"agency": agency, "why": why, "events": len(batch)})
        for _, record in batch:
            await self.audit.write({**record, "why": why})

    def queued(self) -> int:
        return sum(len(q) for q in self._outbox.values())

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Deliver what is queued now (not after the window); whatever cannot be is recorded as failed."""
        for task in self._senders.values():
            task.cancel()
        flushes = [asyncio.create_task(self._send(agency, wait=False)) for agency in list(self._outbox)]
        if flushes:
            _, pending = await asyncio.wait(flushes, timeout=timeout_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)  # they record what they were sending
        for agency, queue in self._outbox.items():
            if queue:
                batch = list(queue)
                queue.clear()
                await self._failed(agency, batch, "gateway shut down before delivery")
