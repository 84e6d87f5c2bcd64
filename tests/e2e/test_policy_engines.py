"""The gateway with an OPA sidecar (a stand-in speaking OPA's REST API) and policy files that change under it."""

from __future__ import annotations

import dataclasses
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.config import PROJECT_ROOT
from support.processes import free_port_block, start, stop
from support.stack import Stack, start_gateway

ADMIN = {"x-admin-key": "mock-admin"}
Q = """query($id: ID!, $purpose: Purpose!) { child(id: $id, purpose: $purpose) {
  id name { given family } address { postcode } socialCare { legalStatus } police { notifications { kind } } } }"""


@dataclasses.dataclass
class OpaStack:
    stack: Stack  # the same agencies, this gateway
    opa: str
    opa_port: int
    policies: Path
    opa_proc: object

    def fault(self, **spec: object) -> None:
        httpx.put(self.opa + "/__admin/faults", json=spec, headers=ADMIN, timeout=5).raise_for_status()

    def decision_queries(self) -> int:
        return int(httpx.get(self.opa + "/__admin/calls", headers=ADMIN, timeout=5).json()["decisionQueries"])

    def ready(self) -> dict:
        return httpx.get(self.stack.gateway + "/readyz", timeout=5).json()


def start_opa(port: int) -> object:
    return start(["--port", str(port)], module="mocks.opa", ready="ready")


@pytest.fixture(scope="module")
def opa(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OpaStack]:
    workdir = tmp_path_factory.mktemp("opa")
    policies = workdir / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", policies)
    opa_port, gw_port = free_port_block(1), free_port_block(1)
    opa_proc = start_opa(opa_port)
    gateway = start_gateway(
        gw_port,
        stack.agencies,
        workdir / "audit.jsonl",
        workdir,
        policy_engine="opa",
        opa_url=f"http://127.0.0.1:{opa_port}",
        policy_dir=str(policies),
    )
    s = OpaStack(
        dataclasses.replace(stack, gateway=f"http://127.0.0.1:{gw_port}", audit=workdir / "audit.jsonl"),
        f"http://127.0.0.1:{opa_port}",
        opa_port,
        policies,
        opa_proc,
    )
    try:
        yield s
    finally:
        stop(gateway)
        stop(s.opa_proc)  # type: ignore[arg-type]


@pytest.fixture(autouse=True)
def _healthy_opa(opa: OpaStack) -> Iterator[None]:
    yield
    opa.fault(mode="ok")


def plain_child(stack: Stack, n: int = 0):  # type: ignore[no-untyped-def]
    kids = [c for c in stack.pop.of_kind("police-known") if not c.kinds & {"shielded", "weak-match", "conflicting"}]
    return kids[n]


def unavailable(out: dict) -> bool:
    """Denied for want of a decision: FORBIDDEN_FIELD with the reason POLICY_UNAVAILABLE (as the README says)."""
    return out["data"]["child"] is None and [
        (e["extensions"]["code"], e["extensions"].get("reason")) for e in out["errors"]
    ] == [("FORBIDDEN_FIELD", "POLICY_UNAVAILABLE")]


def test_the_opa_gateway_answers_exactly_as_the_embedded_one(stack: Stack, opa: OpaStack) -> None:
    child = plain_child(stack)
    for persona, purpose in (
        ("social-worker", "SAFEGUARDING"),
        ("gp", "ROUTINE_CARE"),
        ("voluntary-worker", "ROUTINE_CARE"),
    ):
        assert opa.stack.query(Q, persona, id=child.nhs_number, purpose=purpose) == stack.query(
            Q, persona, id=child.nhs_number, purpose=purpose
        )
    assert opa.ready()["checks"]["policy"] is True


def test_one_policy_evaluation_per_child_request(stack: Stack, opa: OpaStack) -> None:
    child = plain_child(stack, 1)
    before = opa.decision_queries()
    opa.stack.query(Q, "yot-worker", id=child.nhs_number, purpose="SAFEGUARDING")
    # the pre-flight (may this role ask for this purpose at all?) and the child's ~10 fields in one evaluation
    assert opa.decision_queries() == before + 2
    opa.stack.query(Q, "yot-worker", id=child.nhs_number, purpose="SAFEGUARDING")
    assert opa.decision_queries() == before + 2  # same requester and facts: both decisions cached


@pytest.mark.parametrize("mode", ["error", "malformed", "slow"])
def test_an_erroring_malformed_or_slow_sidecar_returns_no_child_data(stack: Stack, opa: OpaStack, mode: str) -> None:
    child = plain_child(stack, 2)
    opa.fault(mode=mode, delayMs=2000)
    out = opa.stack.query(Q, "health-visitor", id=child.nhs_number, purpose="SAFEGUARDING")
    assert unavailable(out), out


def test_a_sidecar_that_goes_down_and_comes_back(stack: Stack, opa: OpaStack) -> None:
    child = plain_child(stack, 3)
    stop(opa.opa_proc)  # type: ignore[arg-type]
    out = opa.stack.query(Q, "camhs-clinician", id=child.nhs_number, purpose="SAFEGUARDING")
    assert unavailable(out), out
    assert opa.ready()["ready"] is False
    opa.opa_proc = start_opa(opa.opa_port)  # a fresh OPA: it has no policies until the gateway pushes them
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        out = opa.stack.query(Q, "camhs-clinician", id=child.nhs_number, purpose="SAFEGUARDING")
        if not unavailable(out):
            break
        time.sleep(0.2)
    assert out["data"]["child"]["name"]["family"] == child.family


def test_policy_files_reload_and_an_invalid_one_keeps_the_previous_in_force(stack: Stack, opa: OpaStack) -> None:
    child = plain_child(stack, 4)
    data = opa.policies / "wardgate/config/data.json"
    rego = opa.policies / "wardgate/access/access.rego"
    good_rego, good_data = rego.read_text(), data.read_text()
    first = opa.ready()["policyRevision"]

    def wait_for(predicate, what: str) -> dict:  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            ready = opa.ready()
            if predicate(ready):
                return ready
            time.sleep(0.1)
        raise AssertionError(f"gave up waiting for {what}: {opa.ready()}")

    try:
        rego.write_text(good_rego.replace("decision := {", "decision := {{"))
        ready = wait_for(lambda r: "policyError" in r, "the invalid policy to be reported")
        assert ready["policyRevision"] == first and "refused the policy" in ready["policyError"]
        out = opa.stack.query(Q, "gp", id=child.nhs_number, purpose="ROUTINE_CARE")
        assert out["data"]["child"]["name"]["family"] == child.family  # the previous revision still answers

        rego.write_text(good_rego)
        data.write_text(
            good_data.replace('"gp": ["safeguarding", "routine-care", "emergency"]', '"gp": ["safeguarding"]')
        )
        wait_for(lambda r: r["policyRevision"] not in (first,) and "policyError" not in r, "the new revision")
        out = opa.stack.query(Q, "gp", id=child.nhs_number, purpose="ROUTINE_CARE")
        assert out["data"]["child"] is None and out["errors"][0]["extensions"]["reason"] == "PURPOSE_NOT_PERMITTED"
    finally:
        rego.write_text(good_rego)
        data.write_text(good_data)
        wait_for(lambda r: r["policyRevision"] == first, "the original policy")
