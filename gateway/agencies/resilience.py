"""Resilience: how the gateway calls one agency that may be slow, flaky or down.

Every read to an agency goes through that agency's :class:`Guard`, which applies, in order:

1. a cap on calls in flight (a slot is waited for only within the request's deadline);
2. a circuit breaker (purgatory): ``threshold`` consecutive failures (unreachable, 5xx, timeout) open
   it; while open, calls are not made and the agency's part is reported ``circuit-open``; after
   ``reset_s`` exactly one probe call goes through (half-open), and its outcome closes or re-opens it;
3. bounded retries of the idempotent read with full-jitter exponential backoff, only while the
   request's deadline leaves room for another attempt;
4. an OpenTelemetry span per attempt (when ``opentelemetry-api`` is installed and a tracer provider
   configured), and the per-agency Prometheus latency histogram.

Breaker state is per worker by default. With ``WARDGATE_BREAKER_URL=redis://host:6379/0`` it is shared by
every worker and instance through purgatory's Redis repository (one JSON state and one failure counter per
agency), so an agency that is down is found out once, not once per process:

- the hot path stays in memory: each guard keeps a purgatory breaker whose context it checks per call
  (~2 us), and writes to Redis only when something happens — a failure (``INCR``), a change of state, or the
  first success after failures (the counter back to 0); a call to a healthy agency touches no Redis at all;
- after each failure, before each call while failures are on record, and every ``sync_s`` in the background,
  the guard adopts the shared context, so failures anywhere count towards one threshold and an open circuit
  reaches every process at once (or within ``sync_s`` for a process that had seen no failure);
- the half-open probe is claimed across instances (``SET NX`` with a lease of ``reset_s``), so one instance
  probes the agency after the reset time, not each of them;
- a Redis outage fails soft: the guards go on with the state they hold, per process, one log line says so,
  ``/readyz`` shows it, and the background sync tries Redis again; no request ever fails because of it.

The retry loop is written here rather than taken from tenacity: an ``AsyncRetrying`` object is built
per call, measured at ~31 us per call on this machine (against ~1.7 us for the breaker), ten calls
per child profile, for a loop of a few lines. The backoff is the same "full jitter" tenacity's
``wait_random_exponential`` gives.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from purgatory import AsyncCircuitBreakerFactory
from purgatory.domain.model import Context, OpenedState
from purgatory.service._async.circuitbreaker import AsyncCircuitBreaker
from purgatory.service._async.repository import AsyncAbstractRepository, AsyncRedisRepository
from purgatory.service._async.unit_of_work import AsyncAbstractUnitOfWork
from redis.exceptions import RedisError

from gateway.errors import AgencyTimeout, AgencyUnavailable, ConfigError
from gateway.metrics import CIRCUIT_STATES, Metrics

log = logging.getLogger("gateway.resilience")
T = TypeVar("T")

RETRYABLE = (AgencyUnavailable, AgencyTimeout)
MIN_ATTEMPT_S = 0.05  # no retry is started with less than this left before the deadline
SPAN = "wardgate.agency.call"
STORE_TIMEOUT_S = 0.25  # one Redis operation of the breaker store; a failure path waits at most this for it
STORE_ERRORS = (RedisError, OSError, TimeoutError)

try:  # optional: spans per agency call
    from opentelemetry import trace as _otel_trace
    from opentelemetry.trace import ProxyTracerProvider as _Unconfigured

    _tracer: Any = _otel_trace.get_tracer("wardgate")
except ImportError:  # pragma: no cover - depends on the installation
    _otel_trace, _tracer = None, None  # type: ignore[assignment]


def _tracing() -> bool:
    """True if a tracer provider is configured. Asked once per guard, at start-up: the question reads
    the environment each time, and an unconfigured span is a no-op that still costs ~10 us per call."""
    return _otel_trace is not None and not isinstance(_otel_trace.get_tracer_provider(), _Unconfigured)


class CircuitOpen(AgencyUnavailable):
    """The agency was not called: its circuit is open (or its one half-open probe is already out)."""

    def __init__(self, agency: str) -> None:
        super().__init__(agency, f"{agency} was not called: too many recent failures (circuit open)")
        self.extensions["reason"] = "circuit-open"


def _counts_as_failure(exc: BaseException) -> bool:
    return isinstance(exc, RETRYABLE) and not isinstance(exc, CircuitOpen)


class SharedBreakers(AsyncAbstractRepository):
    """purgatory's Redis repository, failing soft: while Redis cannot be reached, reads find nothing and writes
    are skipped (each process keeps the state it holds), until :meth:`reconnect` finds Redis again."""

    def __init__(self, url: str, *, prefix: str = "wardgate:breaker:") -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss"):
            raise ConfigError(f"breaker_url {url!r}: use memory:// or redis://host:port/db")
        query = dict(parse_qsl(parts.query))
        query.setdefault("socket_timeout", str(STORE_TIMEOUT_S))
        query.setdefault("socket_connect_timeout", str(STORE_TIMEOUT_S))
        self.inner = AsyncRedisRepository(urlunsplit(parts._replace(query=urlencode(query))))
        self.inner.prefix = prefix
        self.messages = self.inner.messages
        self.available = True

    def _failed(self, exc: BaseException) -> None:
        if self.available:
            log.warning(
                "circuit-breaker store unreachable; breakers are per process until it is back",
                extra={"error": type(exc).__name__},
            )
        self.available = False

    async def get(self, name: str) -> Context | None:
        if not self.available:
            return None
        try:
            return await self.inner.get(name)
        except STORE_ERRORS as exc:
            self._failed(exc)
            return None

    async def register(self, context: Context) -> None:
        await self._write(self.inner.register(context))

    async def update_state(self, name: str, state: str, opened_at: float | None) -> None:
        await self._write(self.inner.update_state(name, state, opened_at))

    async def inc_failures(self, name: str, failure_count: int) -> None:
        await self._write(self.inner.inc_failures(name, failure_count))

    async def reset_failure(self, name: str) -> None:
        await self._write(self.inner.reset_failure(name))

    async def _write(self, op: Coroutine[Any, Any, None]) -> None:
        if not self.available:
            op.close()  # never awaited: closed, so it is not reported as a coroutine left unawaited
            return
        try:
            await op
        except STORE_ERRORS as exc:
            self._failed(exc)

    async def claim_probe(self, name: str, lease_s: float) -> bool:
        """True for the one process that may send the half-open probe now (or for any, without Redis)."""
        if not self.available:
            return True
        try:
            key = f"{self.inner.prefix}{name}::probe"
            return bool(await self.inner.redis.set(key, "1", nx=True, px=max(1, int(lease_s * 1000))))
        except STORE_ERRORS as exc:
            self._failed(exc)
            return True

    async def reconnect(self) -> bool:
        """Whether Redis answers now; logs the way back."""
        try:
            await self.inner.redis.ping()
        except STORE_ERRORS as exc:
            self._failed(exc)
            return False
        if not self.available:
            log.info("circuit-breaker store reachable again; breakers are shared")
        self.available = True
        return True

    async def aclose(self) -> None:
        with contextlib.suppress(*STORE_ERRORS):
            await self.inner.redis.aclose()


class _SharedUnitOfWork(AsyncAbstractUnitOfWork):
    """purgatory's unit of work over :class:`SharedBreakers` (Redis commits each write as it happens)."""

    def __init__(self, contexts: SharedBreakers) -> None:
        self.contexts = contexts

    async def commit(self) -> None:
        """Each write is already applied."""

    async def rollback(self) -> None:
        """Nothing to undo: the writes are single Redis commands."""


class Guard:
    """One agency's in-flight cap, circuit breaker and retry policy. One per agency per worker."""

    def __init__(
        self,
        agency: str,
        breakers: AsyncCircuitBreakerFactory,
        metrics: Metrics,
        *,
        retries: int,
        backoff_s: float,
        max_in_flight: int,
        threshold: int,
        reset_s: float,
        shared: SharedBreakers | None = None,
    ) -> None:
        self.agency = agency
        self._traced = _tracing()  # spans only when a tracer provider was configured before start-up
        self.retries = retries
        self.backoff_s = backoff_s
        self.max_backoff_s = max(backoff_s * 8, backoff_s)
        self.threshold = threshold
        self.reset_s = reset_s
        self._slots = asyncio.Semaphore(max_in_flight)
        self._breakers = breakers
        self._breaker: AsyncCircuitBreaker | None = None
        self._shared = shared
        self._probing = False
        self._state_gauge = metrics.circuit_state.labels(agency)
        self._latency = {o: metrics.agency_seconds.labels(agency, o) for o in ("ok", "failed")}
        self._retried = metrics.agency_retries.labels(agency)
        self.hedged = metrics.agency_hedges.labels(agency)  # counted by the agency's client, which hedges
        self._rejected = metrics.circuit_rejections.labels(agency)
        metrics.circuit_state.labels(agency).set(0)

    async def state(self) -> str:
        """closed, half-opened or opened."""
        breaker = self._breaker or await self._first_breaker()
        return breaker.context.state

    async def _first_breaker(self) -> AsyncCircuitBreaker:
        # The breaker is fetched once and kept for the guard's life, rather than looked up and wrapped anew on
        # every call; with a shared store its context is replaced by the shared one in :meth:`adopt`.
        self._breaker = await self._breakers.get_breaker(self.agency, self.threshold, self.reset_s)
        return self._breaker

    async def adopt(self) -> None:
        """Take the shared store's state and failure count for this agency as this process's own."""
        if self._shared is None or self._probing:  # a probe in flight settles the state itself
            return
        breaker = self._breaker or await self._first_breaker()
        shared = await self._shared.get(self.agency)
        if shared is None:
            return
        shared.threshold, shared.ttl = self.threshold, self.reset_s  # this instance's settings, not the writer's
        shared.exclude_list = breaker.context.exclude_list
        if shared.state != breaker.context.state:
            self._state_gauge.set(CIRCUIT_STATES.get(shared.state, 2))
            level = logging.INFO if shared.state == "closed" else logging.WARNING
            log.log(level, "circuit %s (shared)", shared.state, extra={"agency": self.agency, "circuit": shared.state})
        breaker.context = shared
        if shared.state == "closed" and (shared.failure_count or 0) >= self.threshold:
            # Failures elsewhere brought the shared count to the threshold: open it here, as purgatory would
            # have had they all been ours (the change is written back and logged by the factory's listener).
            shared.set_state(OpenedState(self.agency))
            while shared.messages:
                await breaker.messagebus.handle(shared.messages.pop(0), breaker.uow)

    async def call(self, attempt: Callable[[float], Awaitable[T]], deadline: float) -> T:
        """``attempt(timeout)`` under this guard; ``deadline`` is a ``loop.time()`` value.

        Raises the last attempt's :class:`~gateway.errors.AgencyError`, or :class:`CircuitOpen`.
        """
        loop = asyncio.get_running_loop()
        tries = 0
        while True:
            try:
                return await self._once(attempt, deadline, loop)
            except RETRYABLE as exc:
                if isinstance(exc, CircuitOpen) or tries >= self.retries:
                    raise
                tries += 1
                pause = random.uniform(0, min(self.max_backoff_s, self.backoff_s * 2 ** (tries - 1)))
                if deadline - loop.time() - pause < MIN_ATTEMPT_S:
                    raise
                self._retried.inc()
                await asyncio.sleep(pause)

    async def spare_slot(self) -> bool:
        """Take an in-flight slot only if one is free now (for a hedged second attempt, which never waits for
        one); give it back with :meth:`free_slot`."""
        if self._slots.locked():
            return False
        await self._slots.acquire()  # free: taken at once, without yielding
        return True

    def free_slot(self) -> None:
        self._slots.release()

    async def _once(
        self, attempt: Callable[[float], Awaitable[T]], deadline: float, loop: asyncio.AbstractEventLoop
    ) -> T:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AgencyTimeout(self.agency, f"{self.agency} was not called: the request's deadline had passed")
        if self._slots.locked():  # wait for a slot, but not past the deadline
            try:
                async with asyncio.timeout(remaining):
                    await self._slots.acquire()
            except TimeoutError as exc:
                why = f"{self.agency} had too many calls in flight until the deadline"
                raise AgencyTimeout(self.agency, why) from exc
        else:
            await self._slots.acquire()  # a slot is free: taken at once
        try:
            breaker = self._breaker or await self._first_breaker()
            if self._shared is not None and breaker.context.failure_count:
                await self.adopt()  # the agency is failing: decide on every process's count, not a stale one
            context = breaker.context
            probe = context.state != "closed"  # half-open, or open with its reset time passed: this is the probe
            if probe:
                if self._probing or (
                    context.state == "opened" and time.time() <= (context.opened_at or 0) + self.reset_s
                ):
                    self._rejected.inc()
                    raise CircuitOpen(self.agency)
                self._probing = True
                if self._shared is not None and not await self._shared.claim_probe(self.agency, self.reset_s):
                    self._probing = False  # another instance holds the probe
                    self._rejected.inc()
                    raise CircuitOpen(self.agency)
            started = time.perf_counter()
            try:
                span = (
                    _tracer.start_as_current_span(SPAN, attributes={"wardgate.agency": self.agency})
                    if self._traced
                    else contextlib.nullcontext()
                )
                with span:
                    async with breaker:
                        result = await attempt(deadline - loop.time())
            except OpenedState as exc:  # opened by a concurrent call between our check and entry
                self._rejected.inc()
                raise CircuitOpen(self.agency) from exc
            except BaseException as exc:
                self._latency["failed"].observe(time.perf_counter() - started)
                if probe:
                    self._probing = False  # before adopting: a guard with a probe out adopts nothing
                if self._shared is not None and _counts_as_failure(exc):
                    await self.adopt()  # count on from every process's failures, not only ours
                raise
            finally:
                if probe:
                    self._probing = False
            self._latency["ok"].observe(time.perf_counter() - started)
            return result
        finally:
            self._slots.release()


class Guards:
    """Every agency's guard, sharing one breaker factory whose state changes feed the metrics and logs.

    ``store_url`` is ``memory://`` (breakers per worker) or ``redis://host:port/db`` (shared; see the module
    docstring); ``sync_s`` is how often the shared state is read back in the background (:meth:`sync`).
    """

    def __init__(self, metrics: Metrics, *, store_url: str = "memory://", sync_s: float = 0.5) -> None:
        self.metrics = metrics
        self.sync_s = sync_s
        exclude: Any = [(BaseException, lambda exc: not _counts_as_failure(exc))]
        if urlsplit(store_url).scheme == "memory":
            self.shared: SharedBreakers | None = None
            self.breakers = AsyncCircuitBreakerFactory(exclude=exclude)
        else:
            self.shared = SharedBreakers(store_url)
            self.breakers = AsyncCircuitBreakerFactory(exclude=exclude, uow=_SharedUnitOfWork(self.shared))
        self.breakers.add_listener(self._changed)
        self.guards: dict[str, Guard] = {}

    def add(self, agency: str, **policy: Any) -> Guard:
        self.guards[agency] = Guard(agency, self.breakers, self.metrics, shared=self.shared, **policy)
        return self.guards[agency]

    async def sync(self) -> None:
        """Forever (a background task, with a shared store): every ``sync_s``, adopt each agency's shared state."""
        while self.shared is not None:
            await asyncio.sleep(self.sync_s)
            if self.shared.available or await self.shared.reconnect():
                await asyncio.gather(*(g.adopt() for g in self.guards.values()))

    def store(self) -> str:
        """Where breaker state lives now, for ``/readyz``."""
        if self.shared is None:
            return "memory"
        return "redis reachable" if self.shared.available else "redis unreachable (per process)"

    async def aclose(self) -> None:
        if self.shared is not None:
            await self.shared.aclose()

    def __getitem__(self, agency: str) -> Guard:
        return self.guards[agency]

    def _changed(self, name: str, event_type: str, event: Any) -> None:
        if event_type != "state_changed":
            return
        self.metrics.circuit_state.labels(name).set(CIRCUIT_STATES.get(event.state, 2))
        level = logging.INFO if event.state == "closed" else logging.WARNING
        log.log(level, "circuit %s", event.state, extra={"agency": name, "circuit": event.state})
