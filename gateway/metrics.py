"""Metrics: Prometheus counters and histograms for every stage, served at ``/metrics``.

One registry per application (so several apps in one test process do not collide). With several
workers, set ``PROMETHEUS_MULTIPROC_DIR`` (``wardgate run --workers N`` does) and ``/metrics`` sums
every worker's values, as prometheus_client's multiprocess mode intends.

Labels are bounded sets only (agency, outcome, code, cache result, decision action): never a
practitioner, a child or a request id.
"""

from __future__ import annotations

import os
from collections import Counter as Tally
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from gateway.types import Decision

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
CIRCUIT_STATES = {"closed": 0, "half-opened": 1, "opened": 2}
CONTENT_TYPE = CONTENT_TYPE_LATEST


class Metrics:
    def __init__(self) -> None:
        r = self.registry = CollectorRegistry()
        self.agency_seconds = Histogram(
            "wardgate_agency_call_seconds",
            "One call to an agency (each attempt), by outcome",
            ["agency", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.agency_errors = Counter(
            "wardgate_agency_errors_total",
            "Agency parts of answers that failed, by code",
            ["agency", "code"],
            registry=r,
        )
        self.agency_retries = Counter(
            "wardgate_agency_retries_total", "Retried reads to an agency", ["agency"], registry=r
        )
        self.agency_hedges = Counter(
            "wardgate_agency_hedged_total",
            "Second attempts of reads slower than the agency's recent 95th percentile (hedge_reads)",
            ["agency"],
            registry=r,
        )
        self.circuit_state = Gauge(
            "wardgate_agency_circuit_state",
            "Circuit breaker state per agency: 0 closed, 1 half-open, 2 open",
            ["agency"],
            registry=r,
            multiprocess_mode="livemax",
        )
        self.circuit_rejections = Counter(
            "wardgate_agency_circuit_rejections_total",
            "Calls not made because the circuit was open",
            ["agency"],
            registry=r,
        )
        self.cache_requests = Counter(
            "wardgate_cache_requests_total", "Directory cache look-ups: hit, miss, error", ["result"], registry=r
        )
        self.policy_decisions = Counter(
            "wardgate_policy_decisions_total",
            "Field-class decisions by action (allow, mask, deny) and whether the decision cache answered",
            ["action", "cached"],
            registry=r,
        )
        self.audit_seconds = Histogram(
            "wardgate_audit_write_seconds", "Time to append one audit record", buckets=LATENCY_BUCKETS, registry=r
        )
        self.audit_failures = Counter("wardgate_audit_failures_total", "Audit appends that failed", registry=r)
        self.requests = Histogram(
            "wardgate_http_request_seconds",
            "HTTP requests to the gateway, by route and status class",
            ["route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.rejections = Counter(
            "wardgate_requests_rejected_total", "Requests refused before execution, by code", ["code"], registry=r
        )
        # Data quality, in aggregate only (what `wardgate quality` reports): never a child or a practitioner.
        self.linked = Counter(
            "wardgate_link_records_total",
            "Agency records found for a child, by how they were linked to the spine (nhs_number, cross_reference,"
            " demographics; unmatched: returned but not linked) and grade",
            ["agency", "via", "grade"],
            registry=r,
        )
        self.disagreements = Counter(
            "wardgate_link_disagreements_total",
            "Linked records that disagree with the spine, by agency and field (dateOfBirth, name, address.postcode,"
            " deceased)",
            ["agency", "field"],
            registry=r,
        )

    def decisions(self, decisions: Iterable[Decision], *, cached: bool) -> None:
        flag = "true" if cached else "false"
        for action, n in Tally(d.action for d in decisions).items():
            self.policy_decisions.labels(action, flag).inc(n)

    def exposition(self) -> bytes:
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            registry = CollectorRegistry()
            multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
