"""The policy stage: fail closed on anything but a well-formed decision, cache by exactly the facts, reload safely."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
from pathlib import Path
from typing import Any

import pytest

from gateway.config import PROJECT_ROOT
from gateway.errors import ConfigError, PolicyUnavailable
from gateway.pipeline.link import ChildFacts
from gateway.pipeline.policy.decide import ChildView, Policy
from gateway.pipeline.policy.engines import EmbeddedEngine, PolicyBundle, PolicyEngine
from gateway.types import FieldClass, Subject

NAME = FieldClass("identity", "health", "Child.name")
POLICE = FieldClass("restricted", "police", "Child.police")
SOCIAL_WORKER = Subject("P000001", "social-worker", "social-care", True)
GP = Subject("P000003", "gp", "health", False)


class Scripted(PolicyEngine):
    """An engine that answers whatever the test says, and counts evaluations."""

    def __init__(self, answer: Any = None, error: bool = False) -> None:
        self.answer, self.error, self.calls, self.revision = answer, error, 0, "r1"

    async def load(self, bundle: PolicyBundle) -> None:
        self.revision = bundle.revision

    async def evaluate(self, policy_input: dict[str, Any]) -> Any:
        self.calls += 1
        if self.error:
            raise PolicyUnavailable("down")
        return self.answer


def well_formed(n: int) -> dict[str, Any]:
    return {"fields": {str(i): {"action": "allow", "reason": "IDENTITY"} for i in range(n)}, "obligations": []}


MALFORMED = [
    None,
    "allow",
    [],
    {},
    {"fields": "allow"},
    {"fields": {"0": {"action": "allow"}}, "obligations": []},  # no reason
    {"fields": {"0": {"action": "permit", "reason": "X"}}, "obligations": []},  # unknown action
    {"fields": {"0": {"action": "mask", "reason": "X", "mask": "rot13"}}, "obligations": []},  # unknown mask
    {"fields": {"0": {"action": "allow", "reason": ""}}, "obligations": []},
    {"fields": {"0": {"action": "allow", "reason": "IDENTITY"}}, "obligations": [{"kind": "launch-missiles"}]},
    {"fields": {"0": {"action": "allow", "reason": "IDENTITY"}}, "obligations": "none"},
]


@pytest.mark.parametrize("answer", MALFORMED, ids=[repr(a)[:40] for a in MALFORMED])
async def test_anything_but_a_well_formed_decision_is_deny_and_is_not_remembered(answer: Any) -> None:
    engine = Scripted(answer)
    policy = Policy(engine, root=Path("."))
    for _ in range(2):
        outcome = await policy.decide(GP, "routine-care", False, ChildView(), {NAME})
        assert outcome.decisions[NAME].action == "deny"
        assert outcome.decisions[NAME].reason == "POLICY_UNAVAILABLE"
    assert engine.calls == 2  # a repaired engine is asked again, not answered from the cache


async def test_a_class_the_answer_leaves_out_is_denied() -> None:
    engine = Scripted(well_formed(1))
    outcome = await Policy(engine, root=Path(".")).decide(
        SOCIAL_WORKER, "safeguarding", False, ChildView(), {NAME, POLICE}
    )
    assert sorted(d.action for d in outcome.decisions.values()) == ["allow", "deny"]


async def test_an_unavailable_engine_denies_every_class() -> None:
    outcome = await Policy(Scripted(error=True), root=Path(".")).decide(
        SOCIAL_WORKER, "safeguarding", True, ChildView(), {NAME, POLICE}
    )
    assert {d.reason for d in outcome.decisions.values()} == {"POLICY_UNAVAILABLE"}
    assert outcome.obligations == []


async def test_decisions_are_cached_by_exactly_the_facts_they_depend_on() -> None:
    engine = Scripted(well_formed(2))
    policy = Policy(engine, root=Path("."))
    facts = ChildFacts(shielded=False, consents=[{"service": "camhs", "roles": ["gp"], "purposes": ["safeguarding"]}])

    async def ask(
        subject: Subject = GP, purpose: str = "routine-care", match_grade: str = "certain", **changes: Any
    ) -> bool:
        f = ChildView.of(dataclasses.replace(facts, **changes), subject, match_grade=match_grade)
        return (await policy.decide(subject, purpose, False, f, {NAME, POLICE})).cached

    assert not await ask()
    assert await ask()  # same facts: no second evaluation
    assert await ask(held_by={"police"})  # a fact policy is not given does not split the cache
    assert not await ask(consents=[])
    assert not await ask(shielded=True)
    assert not await ask(match_grade="probable")
    assert not await ask(complete=False)
    assert not await ask(involved={(GP.agency, GP.practitioner_id)})
    assert await ask(involved={(GP.agency, "P999999")})  # someone else being involved is the same fact for them
    assert await ask(involved={("police", GP.practitioner_id)})  # their id at another agency is not them
    assert not await ask(purpose="safeguarding")
    assert not await ask(subject=Subject("P000004", "gp", "health", True))  # two factors
    assert await ask(subject=Subject("P000099", "gp", "health", False))  # another GP: same decision
    engine.revision = "r2"
    assert not await ask()  # a new policy revision is a new decision
    assert engine.calls == 9


def copy_policies(tmp_path: Path) -> Path:
    root = tmp_path / "policies"
    shutil.copytree(PROJECT_ROOT / "policies", root)
    return root


async def test_an_invalid_new_policy_keeps_the_previous_revision_in_force(tmp_path: Path) -> None:
    root = copy_policies(tmp_path)
    policy = Policy(EmbeddedEngine(), root=root)
    first = await policy.load()
    rego = root / "wardgate/access/access.rego"
    good = rego.read_text()
    rego.write_text(good.replace("decision := {", "decision := {{"))
    with pytest.raises(ConfigError, match="does not compile"):
        await policy.load()
    assert policy.engine.revision == first and policy.last_error
    outcome = await policy.decide(GP, "routine-care", False, ChildView(), {NAME})
    assert outcome.decisions[NAME].reason == "IDENTITY" and outcome.revision == first

    rego.write_text(good.replace('"auditor"', '"auditor-in-chief"'))  # valid, and a different revision
    second = await policy.load()
    assert second != first and policy.last_error is None


@pytest.mark.parametrize(
    ("snippet", "why"),
    [
        ("x := sort({1, 2})[0]", "sort"),
        ('x := net.cidr_contains("10.0.0.0/8", "10.1.1.1")', "net.cidr"),
        ("x := http.send({})", "http.send"),
    ],
)
async def test_constructs_the_embedded_engine_gets_wrong_are_refused(tmp_path: Path, snippet: str, why: str) -> None:
    root = copy_policies(tmp_path)
    rego = root / "wardgate/access/access.rego"
    rego.write_text(rego.read_text() + f"\n{snippet}\n")
    with pytest.raises(ConfigError, match=why):
        PolicyBundle.load(root)


async def test_rego_v0_is_refused(tmp_path: Path) -> None:
    root = copy_policies(tmp_path)
    rego = root / "wardgate/access/access.rego"
    rego.write_text(rego.read_text().replace("import rego.v1", ""))
    with pytest.raises(ConfigError, match="Rego v1"):
        PolicyBundle.load(root)


async def test_policy_files_are_reloaded_when_they_change(tmp_path: Path) -> None:
    root = copy_policies(tmp_path)
    policy = Policy(EmbeddedEngine(), root=root)
    first = await policy.load()
    watcher = asyncio.create_task(policy.watch())
    try:
        await asyncio.sleep(0.5)
        data = root / "wardgate/config/data.json"
        data.write_text(data.read_text().replace('"gp": ["safeguarding", "routine-care", "emergency"]', '"gp": []'))
        for _ in range(100):
            if policy.engine.revision != first:
                break
            await asyncio.sleep(0.05)
        assert policy.engine.revision != first
        outcome = await policy.decide(GP, "routine-care", False, ChildView(), {NAME})
        assert outcome.decisions[NAME].reason == "PURPOSE_NOT_PERMITTED"
    finally:
        watcher.cancel()


async def test_fields_the_policy_names_are_decided_by_name_the_rest_by_label_and_agency(tmp_path: Path) -> None:
    root = copy_policies(tmp_path)
    rego = root / "wardgate/access/access.rego"
    # A security team singles out one identity field.
    rego.write_text(
        rego.read_text().replace(
            'field_decision(c) := deny("PURPOSE_NOT_PERMITTED") if {',
            'field_decision(c) := deny("NOT_NEED_TO_KNOW") if {\n\tc.field == "Child.deceased"\n'
            '} else := deny("PURPOSE_NOT_PERMITTED") if {',
        )
    )
    policy = Policy(EmbeddedEngine(), root=root)
    await policy.load()
    deceased, given = FieldClass("identity", "health", "Child.deceased"), FieldClass("identity", "health", "Name.given")
    outcome = await policy.decide(GP, "routine-care", False, ChildView(), {deceased, given, NAME})
    assert outcome.decisions[deceased].reason == "NOT_NEED_TO_KNOW"
    assert outcome.decisions[given].reason == "IDENTITY" and outcome.decisions[NAME].reason == "IDENTITY"


async def test_a_reload_that_starts_naming_a_field_decides_it_by_name_at_once(tmp_path: Path) -> None:
    root = copy_policies(tmp_path)
    rego = root / "wardgate/access/access.rego"
    policy = Policy(EmbeddedEngine(), root=root)
    await policy.load()
    deceased = FieldClass("identity", "health", "Child.deceased")
    before = await policy.decide(GP, "routine-care", False, ChildView(), {deceased, NAME})
    assert before.decisions[deceased].reason == "IDENTITY"
    rego.write_text(
        rego.read_text().replace(
            'field_decision(c) := deny("PURPOSE_NOT_PERMITTED") if {',
            'field_decision(c) := deny("NOT_NEED_TO_KNOW") if {\n\tc.field == "Child.deceased"\n'
            '} else := deny("PURPOSE_NOT_PERMITTED") if {',
        )
    )
    await policy.load()
    after = await policy.decide(GP, "routine-care", False, ChildView(), {deceased, NAME})
    assert after.decisions[deceased].reason == "NOT_NEED_TO_KNOW"
    assert after.decisions[NAME].reason == "IDENTITY"


async def test_a_policy_may_not_pick_fields_by_pattern(tmp_path: Path) -> None:
    root = copy_policies(tmp_path)
    rego = root / "wardgate/access/access.rego"
    rego.write_text(rego.read_text() + '\nodd(c) if startswith(c.field, "Police")\n')
    with pytest.raises(ConfigError, match="names written out"):
        PolicyBundle.load(root)
