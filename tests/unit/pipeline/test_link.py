"""Linking: the child's profile from every agency's answer, and facts that can only restrict when in doubt."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from gateway.agencies.connectors import load_connectors
from gateway.config import PROJECT_ROOT
from gateway.errors import AgencyTimeout, AgencyUnavailable
from gateway.pipeline.link import Linker, Observation, Profile, RuleMatcher
from gateway.pipeline.records import AgencyAnswer, Demographics, LinkedRecord
from gateway.types import Label, MatchGrade

CONNECTORS = load_connectors([PROJECT_ROOT / "connectors"], spine="health", development=True)
LINKER = Linker(CONNECTORS, spine="health")
NHS = "9434765919"
FACT_AGENCIES = ("social-care", "housing")  # the connectors with a facts: block


def worker(pid: str, role: str = "social-worker") -> dict[str, str]:
    return {"WorkerId": pid, "WorkerName": f"Worker {pid}", "Team": "Team", "Phone": "01632 960000", "Role": role}


def patient(*, deceased: bool = False, visitor: str | None = None) -> dict[str, Any]:
    """The spine's record of the child, as health's FHIR API sends it."""
    contained = []
    if visitor is not None:
        contained.append(
            {
                "resourceType": "PractitionerRole",
                "code": [{"text": "health-visitor"}],
                "practitioner": {"identifier": {"value": visitor}, "display": "A Visitor"},
                "organization": {"display": "Health Visiting"},
                "telecom": [{"system": "phone", "value": "01632 960001"}],
            }
        )
    return {
        "resourceType": "Patient",
        "id": NHS,
        "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": NHS}],
        "name": [{"use": "official", "family": "Lovelace", "given": ["Ada"]}],
        "gender": "female",
        "birthDate": "2015-03-04",
        "deceasedBoolean": deceased,
        "address": [{"use": "home", "line": ["1 Analytical Row"], "city": "Wardbury", "postalCode": "WB1 1AA"}],
        "generalPractitioner": [{"identifier": {"value": "G001"}, "display": "Wardbury Surgery"}],
        "contained": contained,
    }


def person(**changes: Any) -> dict[str, Any]:
    """A children's social care record of the child, as its API sends it."""
    record: dict[str, Any] = {
        "PersonId": "SC-1",
        "NHSNumber": NHS,
        "Forename": "Ada",
        "Surname": "Lovelace",
        "DateOfBirth": "20150304",
        "PostCode": "WB1 1AA",
        "EarlyHelp": {"CAFStatus": None, "LeadProfessional": None},
        "LegalStatus": "CIN",
        "PlanStartDate": "20240101",
        "AllocatedWorker": worker("P000001"),
        "Consents": [],
        "ShieldFlag": "N",
        "CrossReferences": {},
    }
    return {**record, **changes}


def household(**changes: Any) -> dict[str, Any]:
    """One member of a household, as the housing adapter reads its XML."""
    record: dict[str, Any] = {
        "ref": "HH-1",
        "address": {"line1": "2 Refuge Road", "town": "Wardbury", "postcode": "WB2 2BB"},
        "tenancyStart": "01.01.2024",
        "temporary": "N",
        "refuge": "N",
        "memberCount": 3,
        "officer": {"id": "P000007", "name": "H Officer", "phone": "01632 960002"},
        "member": {"forename": "Ada", "surname": "Lovelace", "dob": "04.03.2015"},
    }
    return {**record, **changes}


def referral(opened: str) -> dict[str, Any]:
    """A CAMHS referral of the child."""
    clinician = {"clinician_id": "P000009", "full_name": "C Clinician", "team": "CAMHS", "phone": "01632 960003"}
    return {
        "referral_id": "R-1",
        "nhs_number": NHS,
        "referral_status": "OPEN",
        "opened_date": opened,
        "clinician": clinician,
    }


def linked(raw: Any, grade: MatchGrade = "certain", via: str = "nhs_number") -> LinkedRecord:
    return LinkedRecord(raw, grade, via)


def answer(agency: str, *records: LinkedRecord, candidates: tuple[Any, ...] = ()) -> AgencyAnswer:
    return AgencyAnswer(agency, records=list(records), candidates=list(candidates), latency_ms=5.0)


def failed(agency: str) -> AgencyAnswer:
    return AgencyAnswer(agency, status="timeout", error=AgencyTimeout(agency, f"{agency} timed out"))


def link(*answers: AgencyAnswer, spine: dict[str, Any] | None = None, leave_out: tuple[str, ...] = ()) -> Profile:
    """The profile from these answers, with the spine's record and an empty answer from every facts agency
    not given (each of them asked and holding nothing), except those in ``leave_out`` (not asked)."""
    given = {a.agency: a for a in answers}
    given.setdefault("health", answer("health", linked(spine or patient())))
    for agency in FACT_AGENCIES:
        if agency not in leave_out:
            given.setdefault(agency, answer(agency))
    return LINKER.link(NHS, given, count=False)


# -- the profile -----------------------------------------------------------------------------------


def test_each_part_comes_from_the_best_record_of_the_agency_that_holds_it() -> None:
    best = linked(person(LegalStatus="CP", AllocatedWorker=worker("P000001")))
    other = linked(person(PersonId="SC-2", LegalStatus="LAC", AllocatedWorker=worker("P000099")), "probable")
    profile = link(answer("social-care", best, other))
    assert profile.fields["name"] == {"given": "Ada", "family": "Lovelace"}
    assert profile.fields["dateOfBirth"] == dt.date(2015, 3, 4)
    assert profile.origin["name"] == profile.origin["dateOfBirth"] == "health"
    assert profile.fields["socialCare"]["legalStatus"] == "child-protection"
    assert profile.fields["socialCare"]["allocatedWorker"]["id"] == "P000001"
    assert profile.origin["socialCare"] == "social-care"
    assert profile.grades == {"health": "certain", "social-care": "certain"}


def test_a_part_whose_every_value_is_null_is_null_as_if_the_agency_held_no_record() -> None:
    empty = person(LegalStatus=None, PlanStartDate=None, AllocatedWorker=None)
    held = link(answer("social-care", linked(empty)))
    not_held = link()
    for part in ("earlyHelp", "socialCare"):
        assert held.fields.get(part) is None
        # a part nobody filled is still the part its agency would fill: policy decides it the same way
        assert held.origin[part] == not_held.origin[part] == "social-care"
    assert link(answer("social-care", linked(person()))).fields["socialCare"] is not None


def test_involvements_are_tagged_with_their_agency_and_label() -> None:
    profile = link(
        answer("social-care", linked(person(AllocatedWorker=worker("P000001")))),
        answer("housing", linked(household(), "probable", "demographics")),
        spine=patient(visitor="P000004"),
    )
    tagged = {
        (agency, label, entry["agency"], entry["practitioner"]["id"]) for agency, label, entry in profile.involvements
    }
    assert tagged == {
        ("health", Label.INVOLVEMENT, "health", "P000004"),
        ("housing", Label.CASE, "housing", "P000007"),
        ("social-care", Label.INVOLVEMENT, "social-care", "P000001"),
    }
    # every (agency, label) an involvement could come from, whether or not this child has one
    assert ("camhs", Label.SENSITIVE) in profile.involvement_classes
    assert ("housing", Label.CASE) in profile.involvement_classes


def test_agencies_that_disagree_are_observed_and_nothing_is_resolved() -> None:
    other = person(DateOfBirth="20150403", PostCode="WB9 9ZZ")
    profile = link(answer("social-care", linked(other, "possible", "demographics")))
    seen = {(o.field, o.agency): o.value for o in profile.observations}
    assert seen[("dateOfBirth", "health")] == "2015-03-04"
    assert seen[("dateOfBirth", "social-care")] == "2015-04-03"
    assert seen[("address.postcode", "health")] == "WB1 1AA"
    assert seen[("address.postcode", "social-care")] == "WB9 9ZZ"
    assert profile.fields["dateOfBirth"] == dt.date(2015, 3, 4)  # the spine's, as it says; not a vote
    assert profile.fields["address"]["postcode"] == "WB1 1AA"


def test_a_child_the_spine_holds_as_dead_is_held_as_alive_by_every_other_agency_with_a_record() -> None:
    profile = link(answer("social-care", linked(person())), spine=patient(deceased=True))
    deceased = {o for o in profile.observations if o.field == "deceased"}
    assert deceased == {
        Observation("deceased", "Child.deceased", "health", "true"),
        Observation("deceased", "Child.deceased", "social-care", "false"),
    }
    alive = link(answer("social-care", linked(person())))
    assert [o for o in alive.observations if o.field == "deceased"] == []


# -- the facts policy needs ----------------------------------------------------------------------


def test_facts_are_complete_when_every_agency_that_supplies_them_answered() -> None:
    facts = link(answer("social-care", linked(person())), answer("housing", linked(household()))).facts
    assert facts.complete
    assert facts.shielded is False and facts.refuge is False


@pytest.mark.parametrize("grade", ["certain", "probable", "possible"])
def test_a_shield_counts_from_a_record_linked_at_any_grade(grade: MatchGrade) -> None:
    shielded = linked(person(ShieldFlag="Y"), grade, "demographics")
    assert link(answer("social-care", shielded)).facts.shielded is True


def test_a_shield_counts_from_a_candidate_the_matcher_rejected() -> None:
    profile = link(answer("social-care", candidates=(person(ShieldFlag="Y", Forename="Adeline"),)))
    assert profile.facts.shielded is True
    # the candidate is not the child's record: nothing else of it is taken
    assert "social-care" not in profile.facts.held_by
    assert profile.fields.get("socialCare") is None
    assert [a for a, _, _ in profile.involvements if a == "social-care"] == []


def test_a_shield_on_any_one_of_several_records_counts() -> None:
    records = (linked(person()), linked(person(PersonId="SC-2", ShieldFlag="Y"), "possible", "demographics"))
    assert link(answer("social-care", *records)).facts.shielded is True


@pytest.mark.parametrize("grade", ["certain", "probable", None])
def test_a_refuge_counts_from_any_household_that_might_be_the_childs(grade: MatchGrade | None) -> None:
    refuge = household(refuge="Y", temporary="Y")
    housing = (
        answer("housing", candidates=(refuge,))
        if grade is None
        else answer("housing", linked(refuge, grade, "demographics"))
    )
    assert link(housing).facts.refuge is True


@pytest.mark.parametrize("flag", [None, "", "y", "YES", "U"])
@pytest.mark.parametrize("where", ["record", "candidate"])
def test_a_shield_flag_that_says_neither_yes_nor_no_leaves_the_facts_incomplete(flag: str | None, where: str) -> None:
    record = person(ShieldFlag=flag, Forename="Adeline" if where == "candidate" else "Ada")
    social_care = (
        answer("social-care", candidates=(record,)) if where == "candidate" else answer("social-care", linked(record))
    )
    facts = link(social_care).facts
    assert facts.shielded is None and facts.complete is False


def test_a_refuge_flag_missing_from_a_household_leaves_the_facts_incomplete() -> None:
    record = household()
    del record["refuge"]
    facts = link(answer("housing", linked(record, "probable", "demographics"))).facts
    assert facts.refuge is None and facts.complete is False


def test_a_flag_that_says_yes_on_one_record_wins_over_one_that_says_nothing() -> None:
    records = (
        linked(person(ShieldFlag="")),
        linked(person(PersonId="SC-2", ShieldFlag="Y"), "possible", "demographics"),
    )
    assert link(answer("social-care", *records)).facts.shielded is True


CAMHS_CONSENT = {"Service": "CAMHS", "SharedWithRoles": ["gp"], "Purposes": ["routine-care"], "RecordedOn": "20240101"}


def test_a_consent_counts_only_from_a_record_linked_with_certainty() -> None:
    consenting = person(Consents=[CAMHS_CONSENT])
    for grade in ("probable", "possible"):
        assert link(answer("social-care", linked(consenting, grade, "demographics"))).facts.consents == []
    assert link(answer("social-care", candidates=(consenting,))).facts.consents == []
    certain = link(answer("social-care", linked(consenting))).facts.consents
    assert certain == [{"service": "camhs", "roles": ["gp"], "purposes": ["routine-care"]}]


def test_an_involvement_counts_only_from_a_record_linked_with_certainty() -> None:
    record = person(AllocatedWorker=worker("P000001"))
    probable = link(answer("social-care", linked(record, "probable", "demographics")))
    assert probable.facts.involved == set()
    # still listed among the child's involvements (policy decides whether it is shown), not counted as a fact
    assert [e["practitioner"]["id"] for a, _, e in probable.involvements if a == "social-care"] == ["P000001"]
    assert link(answer("social-care", linked(record))).facts.involved == {("social-care", "P000001")}


def test_involvement_is_the_practitioner_as_a_member_of_the_agency_whose_record_names_them() -> None:
    # health's record names P000001 (the social worker persona's id) as the health visitor
    facts = link(answer("social-care", linked(person(AllocatedWorker=None))), spine=patient(visitor="P000001")).facts
    assert facts.involved == {("health", "P000001")}
    assert ("social-care", "P000001") not in facts.involved


@pytest.mark.parametrize(
    ("agency", "flag", "other"), [("social-care", "shielded", "refuge"), ("housing", "refuge", "shielded")]
)
def test_an_agency_that_failed_makes_the_facts_incomplete_and_its_flag_unknown(
    agency: str, flag: str, other: str
) -> None:
    profile = link(failed(agency))
    assert profile.facts.complete is False
    assert getattr(profile.facts, flag) is None  # neither shielded nor not: unknown
    assert getattr(profile.facts, other) is False
    assert (agency, "timeout", None) in profile.sources


@pytest.mark.parametrize(("agency", "flag"), [("social-care", "shielded"), ("housing", "refuge")])
def test_an_agency_that_was_not_asked_makes_the_facts_incomplete_and_its_flag_unknown(agency: str, flag: str) -> None:
    profile = link(leave_out=(agency,))
    assert profile.facts.complete is False
    assert getattr(profile.facts, flag) is None
    assert (agency, "not-called", None) in profile.sources


def test_an_agency_that_failed_leaves_its_parts_null_with_its_error() -> None:
    profile = link(AgencyAnswer("social-care", status="unavailable", error=AgencyUnavailable("social-care", "down")))
    assert profile.fields.get("socialCare") is None
    assert profile.errors["socialCare"].code == profile.errors["earlyHelp"].code == "AGENCY_UNAVAILABLE"
    assert profile.errors["involvements"].agency == "social-care"


def test_a_record_that_cannot_be_read_fails_its_agency_and_the_facts_closed() -> None:
    unreadable = person(PlanStartDate="31/02/2024")  # not the YYYYMMDD the connector reads
    social_care = answer("social-care", linked(unreadable))
    profile = link(social_care)
    assert social_care.status == "bad-response" and social_care.records == []
    assert profile.errors["socialCare"].code == "AGENCY_BAD_RESPONSE"
    assert profile.facts.complete is False and profile.facts.shielded is None
    assert profile.facts.involved == set()


def test_a_date_of_birth_that_cannot_be_read_fails_only_its_agency_not_the_request() -> None:
    pupil = {
        "upn": "U1",
        "nhsNumber": NHS,
        "forename": "Ada",
        "surname": "Lovelace",
        "dateOfBirth": "not a date",
        "school": {"urn": "100001", "name": "Wardbury Primary"},
    }
    profile = link(answer("education", linked(pupil)))
    assert ("education", "bad-response") in {(a, s) for a, s, _ in profile.sources}
    assert profile.fields.get("school") is None
    assert all(o.agency != "education" for o in profile.observations)


def test_a_record_that_cannot_be_read_leaves_nothing_of_its_agency_in_the_profile() -> None:
    readable, unreadable = referral("03/04/2024"), {**referral("2024-04-03"), "referral_id": "R-2"}
    camhs = answer("camhs", linked(readable), linked(unreadable))
    profile = link(camhs)
    assert camhs.status == "bad-response"
    assert profile.fields.get("mentalHealth") is None
    assert profile.errors["mentalHealth"].code == "AGENCY_BAD_RESPONSE"
    assert [a for a, _, _ in profile.involvements if a == "camhs"] == []
    assert profile.facts.involved == set()  # nor does a practitioner it names count as involved


# -- RuleMatcher -----------------------------------------------------------------------------------

CHILD = Demographics("Alexander", "Hughes", dt.date(2014, 3, 2), "WB1 1AA")


@pytest.mark.parametrize(
    ("candidate", "grade"),
    [
        (CHILD, "certain"),
        (Demographics("ALEXANDER", "hughes", dt.date(2014, 3, 2), "wb11aa"), "certain"),  # case and spacing
        (Demographics("Alexander", "Hughes", dt.date(2014, 3, 2), None), "certain"),  # no address on file
        (Demographics("Alex", "Hughes", dt.date(2014, 3, 2), "WB1 1AA"), "probable"),  # a short form
        (Demographics("Alexandre", "Hughes", dt.date(2014, 3, 2), "WB1 1AA"), "probable"),  # a slip
        (Demographics("Alexander", "Hughes", dt.date(2014, 3, 2), "WB9 9ZZ"), "probable"),  # a stale address
        (Demographics("Alex", "Hughes", dt.date(2014, 3, 2), "WB9 9ZZ"), "possible"),  # both
        (Demographics("Alexander", "Hughes", dt.date(2014, 2, 3), "WB1 1AA"), "possible"),  # day and month swapped
        (Demographics("Alexander", "Hewes", dt.date(2014, 3, 2), "WB1 1AA"), None),  # another surname
        (Demographics("Alexander", "Hughes", dt.date(2014, 3, 3), "WB1 1AA"), None),  # another date of birth
        (Demographics("Alexander", "Hughes", None, "WB1 1AA"), None),  # no date of birth
        (Demographics("Bethany", "Hughes", dt.date(2014, 3, 2), "WB1 1AA"), None),  # a sibling
    ],
)
def test_the_rule_matcher_grades_by_how_much_disagrees(candidate: Demographics, grade: MatchGrade | None) -> None:
    assert RuleMatcher().grade(CHILD, candidate) == grade


def test_the_rule_matcher_links_nothing_to_a_child_without_a_surname() -> None:
    nameless = Demographics("Alexander", None, dt.date(2014, 3, 2), "WB1 1AA")
    assert RuleMatcher().grade(nameless, nameless) is None
