"""Plan: only the agencies a selection needs are called, plus those policy and the lookups cannot do without."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import strawberry

from gateway.agencies.connectors import Connector, load_connectors
from gateway.config import PROJECT_ROOT
from gateway.graphql.schema import Child
from gateway.graphql.selection import Sel, SelectionCache
from gateway.pipeline.plan import plan_child
from gateway.types import Subject

SPINE = "health"
ALWAYS = {"health", "social-care", "housing"}  # the spine, and every agency that supplies facts
EVERY = {"health", "social-care", "housing", "education", "police", "youth-justice", "camhs", "sexual-health"}
NO_DEMOGRAPHICS = {"camhs", "sexual-health"}  # their records carry no name, date of birth or postcode

SOCIAL_WORKER = Subject("P000001", "social-worker", "social-care", True)
GP = Subject("P000003", "gp", "health", True)
CAMHS = Subject("P000009", "camhs-clinician", "camhs", True)
VOLUNTEER = Subject("P000012", "voluntary-worker", "voluntary", True)


@strawberry.type
class Root:
    @strawberry.field
    def child(self, info: strawberry.Info, id: strawberry.ID) -> Child | None:
        info.context.append(SelectionCache().of(info))
        return None


SCHEMA = strawberry.Schema(query=Root)


def selection(child_fields: str) -> list[Sel]:
    """The selection ``child(id:) { <child_fields> }`` is resolved with, as the gateway works it out."""
    seen: list[list[Sel]] = []
    result = SCHEMA.execute_sync(f'{{ child(id: "9434765919") {{ {child_fields} }} }}', context_value=seen)
    assert result.errors is None, result.errors
    return seen[0]


@pytest.fixture(scope="module")
def connectors() -> dict[str, Connector]:
    return load_connectors([PROJECT_ROOT / "connectors"], {}, spine=SPINE, development=True)


def agencies(connectors: dict[str, Connector], child_fields: str, subject: Subject = SOCIAL_WORKER) -> set[str]:
    return set(plan_child(selection(child_fields), connectors, subject, spine=SPINE).agencies)


def test_the_connectors_are_the_ones_these_tests_are_written_for(connectors: dict[str, Connector]) -> None:
    assert set(connectors) == EVERY
    assert {a for a, c in connectors.items() if c.facts} == ALWAYS - {SPINE}
    assert {a for a, c in connectors.items() if not c.demographics} == NO_DEMOGRAPHICS


def test_identity_alone_calls_only_the_spine_and_the_agencies_policy_needs_facts_from(
    connectors: dict[str, Connector],
) -> None:
    assert agencies(connectors, "id name { given family } dateOfBirth gender deceased", GP) == ALWAYS
    assert agencies(connectors, "__typename matchGrade sources { agency status } warnings", GP) == ALWAYS


@pytest.mark.parametrize(
    ("child_fields", "extra"),
    [
        ("police { notifications { kind } }", {"police"}),
        ("youthJustice { worker { name } }", {"youth-justice"}),
        ("mentalHealth { referrals { status } } sexualHealth { services { service } }", {"camhs", "sexual-health"}),
        ("school { name }", {"education"}),  # the section education fills, whatever the Child field is called
        ("education { senStatus }", {"education"}),
        ("address { postcode } gp { practiceCode } earlyHelp { cafStatus } housing { refuge }", set()),
        ("p: police { notifications { kind } }", {"police"}),  # an alias changes nothing
    ],
)
def test_a_section_brings_in_the_agency_that_fills_it_and_no_other(
    connectors: dict[str, Connector], child_fields: str, extra: set[str]
) -> None:
    assert agencies(connectors, f"id {child_fields}", GP) == ALWAYS | extra


def test_a_section_skipped_by_a_directive_calls_nobody(connectors: dict[str, Connector]) -> None:
    assert agencies(connectors, "id police @skip(if: true) { notifications { kind } }", GP) == ALWAYS


def test_the_requesters_own_agency_is_always_called(connectors: dict[str, Connector]) -> None:
    assert agencies(connectors, "id", CAMHS) == ALWAYS | {"camhs"}
    assert agencies(connectors, "id", SOCIAL_WORKER) == ALWAYS
    assert agencies(connectors, "id", VOLUNTEER) == ALWAYS  # an agency with no connector is not called


def test_involvements_call_every_agency_that_may_add_one(connectors: dict[str, Connector]) -> None:
    assert agencies(connectors, "involvements { agency service }", GP) == EVERY


def test_conflicts_call_every_agency_that_could_supply_one(connectors: dict[str, Connector]) -> None:
    assert agencies(connectors, "conflicts { field values { agency value } }", GP) == EVERY


def test_an_agency_a_lookup_waits_on_is_called_even_with_nothing_of_its_own_selected(tmp_path: Path) -> None:
    (tmp_path / "early-years.yaml").write_text(
        textwrap.dedent("""
        agency: early-years
        title: Early years settings, found through the pupil record
        base_url: http://127.0.0.1:9
        credential: {scheme: none}
        lookups:
          - by: cross_reference
            from: education
            key: EYPN
            path: /children/{key}
        record:
          id: ref
        """)
    )
    connectors = load_connectors([PROJECT_ROOT / "connectors", tmp_path], {}, spine=SPINE, development=True)
    keyworker = Subject("P-EY-1", "keyworker", "early-years", True)
    # early-years waits on education, which waits on social care's cross-reference and the spine's demographics
    assert agencies(connectors, "id", keyworker) == ALWAYS | {"early-years", "education"}
    assert agencies(connectors, "id", GP) == ALWAYS
