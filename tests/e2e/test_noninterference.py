"""Non-interference, proved from outside: two children who differ only in a fact hidden from the requester
look the same to them.

The mocks serve *twins* (``mocks.twins``): pairs of children alike in everything but one fact — a
sensitive record, a consent, police or youth justice records, a plan, looked-after status, a refuge, a
council tenancy, a shield, a weakly matching record, a record without an NHS number. Hypothesis draws a
requester (persona, two factors or not), a purpose, break-glass or not, a selection (the full profile or a
random part of it, built from the schema) and a twin pair, asks the gateway about both twins over real
HTTP, and compares everything the requester observes: data, errors with their paths, codes, reasons and
agencies, ``sources`` (statuses, and whether a latency is given), the grade and the warnings.

Whether the fact is hidden from the requester is decided by the access rules written out independently
(:mod:`tests.e2e.rules`), not by the gateway: the pair's fact is hidden when the rules decide every field
class the same way for both twins and deny every class that carries the fact. Only then must the two
answers be identical; the suite also checks that it met hidden cases, so it cannot pass vacuously.

Every kind of pair gets its own examples, and an example counts only where the fact is hidden from the
drawn requester (hypothesis draws again otherwise). ``NONINTERFERENCE_EXAMPLES`` sets how many per kind
(default 12 in the suite; ``make noninterference`` runs a long one).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable
from typing import Any

import httpx
import orjson
import pytest
from graphql import FieldNode, OperationDefinitionNode, parse
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from gateway.dev import PERSONAS
from gateway.dev.tokens import dev_token
from gateway.types import Purpose
from mocks.population import Child as TrueChild
from mocks.twins import TWIN_KINDS
from support.stack import FULL, Stack
from tests.e2e.rules import INVOLVEMENT_LABEL, JUSTIFICATION, PRESENCE, RULES, Ask, rule

EXAMPLES = int(os.environ.get("NONINTERFERENCE_EXAMPLES", "12"))
LABELS = ("identity", "contact", "involvement", "sensitive", "case", "restricted", "directory", "meta")
# Every coordinate the policy singles out, and "*" for the rest: the classes a decision can differ on.
NAMED = sorted(
    {"*", "Child.id", "Child.involvements", "HousingInformation.refuge", *RULES["shielded_visible_fields"]}
    | set(RULES["address_fields"])
    | {coordinate for masks in RULES["masked_for_role"].values() for coordinate in masks}
)
AGENCIES = sorted(set(PRESENCE) | {"gateway"})

# Which field classes carry each pair's fact: if the requester may see any of them, the fact is not hidden.
# An agency's data reaches an answer only through classes of its own labels (its presence label and the
# labels of the fields it fills), so those are the classes that carry a fact about its records.
Carries = Callable[[str, str, str], bool]


def _of(agency: str, *labels: str) -> Carries:
    return lambda label, a, coordinate: a == agency and label in labels


CARRIES: dict[str, Carries] = {
    "sensitive": _of("camhs", "sensitive"),
    "consent": _of("camhs", "sensitive"),
    "police": _of("police", "restricted"),
    "weak-record": _of("police", "restricted"),
    "youth-justice": _of("youth-justice", "restricted"),
    "plan": _of("social-care", "case"),
    "looked-after": _of("social-care", "case"),
    "refuge": lambda label, agency, coordinate: coordinate == "HousingInformation.refuge",
    "housing": _of("housing", "case"),
    "weak-housing": _of("housing", "case"),
    "shield": lambda label, agency, coordinate: False,  # shows only through decisions (rule 3)
    "shield-unlinked": lambda label, agency, coordinate: False,
    "missing-nhs-number": lambda label, agency, coordinate: False,  # the same record either way
}


def hidden(ask_with: Ask, ask_without: Ask, kind: str) -> bool:
    """The rules decide every class alike for both twins and deny every class carrying the pair's fact."""
    for agency in AGENCIES:
        for label in LABELS:
            for coordinate in NAMED:
                decided = rule(ask_with, label, agency, coordinate)
                if decided != rule(ask_without, label, agency, coordinate):
                    return False
                if decided[0] != "deny" and CARRIES[kind](label, agency, coordinate):
                    return False
    for agency, label in INVOLVEMENT_LABEL.items():
        if rule(ask_with, label, agency, "Child.involvements") != rule(
            ask_without, label, agency, "Child.involvements"
        ):
            return False
    return True


# --- selections: the full profile, or any part of it --------------------------------------------------


def _tree(node: Any) -> list[tuple[str, list[Any]]]:
    return [
        (f.name.value, _tree(f.selection_set) if f.selection_set else [])
        for f in node.selections
        if isinstance(f, FieldNode)
    ]


_op = parse(FULL).definitions[0]
assert isinstance(_op, OperationDefinitionNode)
_child = _op.selection_set.selections[0]
assert isinstance(_child, FieldNode) and _child.selection_set is not None
PROFILE = _tree(_child.selection_set)


def _render(fields: list[tuple[str, list[Any]]]) -> str:
    return " ".join(f"{name} {{ {_render(sub)} }}" if sub else name for name, sub in fields)


@st.composite
def selections(draw: st.DrawFn, fields: list[tuple[str, list[Any]]] = PROFILE, top: bool = True) -> str:
    if top and draw(st.booleans()):
        return _render(fields)  # the full profile, half the time
    chosen = draw(st.lists(st.sampled_from(range(len(fields))), min_size=1, max_size=len(fields), unique=True))
    parts = []
    for i in sorted(chosen):
        name, sub = fields[i]
        parts.append(f"{name} {{ {draw(selections(sub, top=False))} }}" if sub else name)
    return " ".join(parts)


# --- what a requester observes ------------------------------------------------------------------------


def observed(body: dict[str, Any], child: TrueChild) -> Any:
    """The answer with the twin's own identity (NHS number, surname) replaced, latencies reduced to whether
    one is given, and errors in a canonical order."""
    text = orjson.dumps(body).decode().replace(child.nhs_number, "<nhs>").replace(child.family, "<family>")
    text = re.sub(r'"latencyMs":[0-9.eE+-]+', '"latencyMs":"given"', text)
    out = json.loads(text)
    if "errors" in out:
        out["errors"] = sorted(out["errors"], key=lambda e: json.dumps(e, sort_keys=True))
    return out


def ask_gateway(stack: Stack, query: str, token: str, child: TrueChild, variables: dict[str, Any]) -> Any:
    r = httpx.post(
        stack.gateway + "/graphql",
        json={"query": query, "variables": {"id": child.nhs_number, **variables}},
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return observed(r.json(), child)


TOKENS: dict[tuple[str, bool], str] = {}
MET: dict[str, int] = {}


@pytest.fixture(scope="module")
def pairs(stack: Stack) -> dict[str, tuple[TrueChild, TrueChild]]:
    return {kind: (with_fact, without_fact) for kind, with_fact, without_fact in stack.pop.twins}


def test_twins_differ_only_in_their_fact(stack: Stack) -> None:
    """The twins are what the suite says they are: the fact is there for one and not for the other."""
    by_kind = {kind: (a, b) for kind, a, b in stack.pop.twins}
    assert set(by_kind) == set(TWIN_KINDS) == set(CARRIES), "every kind of twin is checked"
    a, b = by_kind["police"]
    assert a.police_ref and not b.police_ref
    a, b = by_kind["plan"]
    assert (a.social_care_status, b.social_care_status) == ("child-protection", "child-in-need")
    a, b = by_kind["refuge"]
    assert stack.pop.households[a.household_ref].refuge and not stack.pop.households[b.household_ref].refuge
    a, b = by_kind["consent"]
    assert a.consents and a.social_care_id and not b.consents and not b.social_care_id
    a, b = by_kind["missing-nhs-number"]
    assert stack.pop.youth_justice[a.yj_id or ""].nhs_number is None
    assert stack.pop.youth_justice[b.yj_id or ""].nhs_number == b.nhs_number
    for _, a, b in stack.pop.twins:
        assert (a.given, a.dob, a.address, a.school_urn) == (b.given, b.dob, b.address, b.school_urn)


@pytest.mark.parametrize("kind", TWIN_KINDS)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(
    persona=st.sampled_from(PERSONAS),
    mfa=st.booleans(),
    purpose=st.sampled_from([p.value for p in Purpose]),
    break_glass=st.booleans(),
    selection=selections(),
)
def test_a_fact_hidden_from_the_requester_changes_nothing_they_observe(
    stack: Stack,
    pairs: dict[str, tuple[TrueChild, TrueChild]],
    kind: str,
    persona: Any,
    mfa: bool,
    purpose: str,
    break_glass: bool,
    selection: str,
) -> None:
    with_fact, without_fact = pairs[kind]
    ask_with = Ask(persona, purpose, mfa, break_glass, with_fact)
    ask_without = Ask(persona, purpose, mfa, break_glass, without_fact)
    assume(hidden(ask_with, ask_without, kind))  # only where the fact is hidden must the twins look the same
    MET[kind] = MET.get(kind, 0) + 1
    token = TOKENS.setdefault((persona.name, mfa), dev_token(persona.name, mfa=mfa))
    query = (
        "query($id: ID!, $purpose: Purpose!, $bg: String) {"
        f" child(id: $id, purpose: $purpose, breakGlass: $bg) {{ {selection} }} }}"
    )
    variables = {"purpose": purpose.upper().replace("-", "_"), "bg": JUSTIFICATION if break_glass else None}
    seen_with = ask_gateway(stack, query, token, with_fact, variables)
    seen_without = ask_gateway(stack, query, token, without_fact, variables)
    assert seen_with == seen_without, f"{persona.name} mfa={mfa} {purpose} bg={break_glass}: the {kind} twins differ"


def test_every_kind_of_twin_was_compared_where_its_fact_is_hidden() -> None:
    """Runs after the property: each kind met requesters from whom its fact is hidden, so it did not pass
    vacuously (a kind whose fact nobody could be hidden from would show up here)."""
    print("non-interference, examples with the fact hidden:", MET)
    assert set(MET) == set(TWIN_KINDS)
