"""Readiness: can this instance answer a child query now?

``/readyz`` checks the policy (loaded), the audit trail (writable), the shared cache, circuit-breaker
store and rate-limit windows (reachable, if Redis: each fails soft to per-process state, reported here but
never a reason to be unready), and every agency (its connector's ``health`` path, called with its credential, plus its
circuit state). Ready means: policy and audit are fine and the spine — the demographic record every
other agency is linked through (``WARDGATE_SPINE``) — is reachable. Any other agency being down is
reported but does not take the instance out of a load balancer: every instance would see the same
agency down, and the gateway's answer without it (that part marked unavailable) is still the best
answer there is.

Results are kept for ``ttl_s`` so frequent probes do not become load on the agencies.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from gateway.agencies.upstream import UpstreamError
from gateway.pipeline.context import Services

PROBE_TIMEOUT_S = 0.5


class Readiness:
    def __init__(self, services: Services, *, ttl_s: float = 2.0) -> None:
        self.services = services
        self.ttl_s = ttl_s
        self._agencies: tuple[float, dict[str, str]] | None = None
        self._lock = asyncio.Lock()

    async def check(self) -> dict[str, Any]:
        s = self.services
        agencies = await self._agency_states()
        checks = {
            "policy": await s.policy.engine.ready(),
            "audit": await s.audit.ready(),
            "spine": agencies.get(s.settings.spine) in ("reachable", "unchecked"),
        }
        cache_ok = await s.cache.ready()
        body: dict[str, Any] = {
            "ready": all(checks.values()),
            "checks": checks,
            "agencies": agencies,
            "cache": ("redis" if s.cache.shared else "memory") + (" reachable" if cache_ok else " unreachable"),
            # Where breaker state and rate-limit windows live; Redis being down makes them per process, not unready.
            "breakers": s.guards.store(),
            "rateLimits": await s.child.quota.ready(),
            "policyRevision": s.policy.engine.revision,
        }
        if s.policy.last_error:
            body["policyError"] = s.policy.last_error
        return body

    async def _agency_states(self) -> dict[str, str]:
        async with self._lock:  # concurrent probes share one round of calls
            now = time.monotonic()
            if self._agencies is not None and now - self._agencies[0] < self.ttl_s:
                return self._agencies[1]
            names = sorted(self.services.connectors)
            states = await asyncio.gather(*(self._agency(a) for a in names))
            result = dict(zip(names, states, strict=True))
            self._agencies = (time.monotonic(), result)
            return result

    async def _agency(self, agency: str) -> str:
        s = self.services
        connector = s.connectors[agency]
        circuit = await s.guards[agency].state()
        if connector.spec.health is None:
            return "circuit-open" if circuit == "opened" else "unchecked"
        try:
            response = await s.upstream.get(
                s.clients[agency].base_url + connector.spec.health,
                params={},
                headers=connector.headers,
                timeout=PROBE_TIMEOUT_S,
                max_bytes=64 * 1024,
            )
        except UpstreamError:
            return "unreachable"
        if response.status >= 400:
            return "unreachable"
        return "circuit-open" if circuit == "opened" else "reachable"
