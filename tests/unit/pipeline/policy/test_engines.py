"""The OPA sidecar path, over real HTTP to a stand-in speaking OPA's REST API; every failure denies."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from gateway.config import PROJECT_ROOT
from gateway.errors import ConfigError
from gateway.pipeline.policy.decide import ChildView, Policy
from gateway.pipeline.policy.engines import EmbeddedEngine, OpaEngine, PolicyBundle
from gateway.types import FieldClass, Subject
from support.processes import free_port_block, start, stop

ADMIN = {"x-admin-key": "mock-admin"}
NAME = FieldClass("identity", "health", "Child.name")
POLICE = FieldClass("restricted", "police", "Child.police")
SOCIAL_WORKER = Subject("P000001", "social-worker", "social-care", True)


@pytest.fixture(scope="module")
def opa_url() -> Iterator[str]:
    port = free_port_block(1)
    proc = start(["--port", str(port)], module="mocks.opa", ready="ready")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop(proc)


def fault(url: str, **spec: object) -> None:
    httpx.put(url + "/__admin/faults", json=spec, headers=ADMIN, timeout=5).raise_for_status()


def decision_queries(url: str) -> int:
    return int(httpx.get(url + "/__admin/calls", headers=ADMIN, timeout=5).json()["decisionQueries"])


@pytest.fixture
async def policy(opa_url: str) -> AsyncIterator[Policy]:
    fault(opa_url, mode="ok")
    p = Policy(OpaEngine(url=opa_url, timeout=0.25), root=PROJECT_ROOT / "policies")
    await p.load()
    try:
        yield p
    finally:
        fault(opa_url, mode="ok")
        await p.engine.aclose()


async def decide(policy: Policy, **facts: object) -> dict[str, str]:
    outcome = await policy.decide(SOCIAL_WORKER, "safeguarding", False, ChildView(**facts), {NAME, POLICE})  # type: ignore[arg-type]
    return {fc.coordinate: f"{d.action} {d.reason}" for fc, d in outcome.decisions.items()}


async def test_opa_decides_exactly_as_the_embedded_engine(policy: Policy, opa_url: str) -> None:
    embedded = Policy(EmbeddedEngine(), root=PROJECT_ROOT / "policies")
    await embedded.load()
    assert policy.engine.revision == embedded.engine.revision
    for facts in ({}, {"shielded": True}, {"match_grade": "possible"}, {"complete": False}):
        assert await decide(policy, **facts) == await decide(embedded, **facts)
    assert await decide(policy) == {"Child.name": "allow IDENTITY", "Child.police": "allow SAFEGUARDING_ROLE"}


async def test_one_evaluation_per_decision_over_deduplicated_classes(policy: Policy, opa_url: str) -> None:
    before = decision_queries(opa_url)
    await decide(policy, consents=[{"service": "camhs", "roles": ["gp"], "purposes": ["routine-care"]}])
    assert decision_queries(opa_url) == before + 1
    await decide(policy, consents=[{"service": "camhs", "roles": ["gp"], "purposes": ["routine-care"]}])
    assert decision_queries(opa_url) == before + 1  # the same facts again: from the cache


@pytest.mark.parametrize("mode", ["error", "malformed", "slow"])
async def test_an_erroring_malformed_or_slow_engine_denies_every_child_field(
    policy: Policy, opa_url: str, mode: str
) -> None:
    fault(opa_url, mode=mode, delayMs=1500)
    started = time.monotonic()
    assert await decide(policy, shielded=True) == {
        "Child.name": "deny POLICY_UNAVAILABLE",
        "Child.police": "deny POLICY_UNAVAILABLE",
    }
    assert time.monotonic() - started < 1.0  # a slow engine is cut off at its budget, not waited for
    fault(opa_url, mode="ok")
    assert (await decide(policy, shielded=True))["Child.name"] == "allow IDENTITY"  # and the deny was not cached


async def test_an_engine_that_is_down_denies_and_is_not_ready(tmp_path: Path) -> None:
    port = free_port_block(1)  # nothing listens here
    engine = OpaEngine(url=f"http://127.0.0.1:{port}", timeout=0.25)
    policy = Policy(engine, root=PROJECT_ROOT / "policies")
    with pytest.raises(ConfigError, match="unreachable"):
        await policy.load()
    assert await decide(policy) == {"Child.name": "deny POLICY_UNAVAILABLE", "Child.police": "deny POLICY_UNAVAILABLE"}
    assert not await engine.ready()
    await engine.aclose()


async def test_an_opa_that_lost_its_policies_denies_then_gets_them_pushed_again(policy: Policy, opa_url: str) -> None:
    fault(opa_url, mode="forget")  # as after a restart
    assert (await decide(policy, match_grade="probable"))["Child.name"] == "deny POLICY_UNAVAILABLE"
    for _ in range(50):
        await asyncio.sleep(0.05)
        if (await decide(policy, match_grade="probable"))["Child.name"] == "allow IDENTITY":
            break
    assert (await decide(policy, match_grade="probable"))["Child.name"] == "allow IDENTITY"


async def test_opa_refusing_the_policy_is_a_load_error(opa_url: str, tmp_path: Path) -> None:
    import shutil

    root = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", root)
    rego = root / "wardgate/access/access.rego"
    rego.write_text(rego.read_text() + "\nbroken := {\n")
    bundle = PolicyBundle.load(root)
    engine = OpaEngine(url=opa_url, timeout=0.25)
    with pytest.raises(ConfigError, match="refused the policy"):
        await engine.load(bundle)
    await engine.aclose()
