"""Twins: pairs of children who are the same in every way but one hidden fact.

A requester who may not see that fact must not be able to tell the twins apart: not from the data, the
errors and their reasons, ``sources``, the grade, the warnings, nor the time the answer takes. The
non-interference suite asks the gateway about both twins of each pair, as every kind of requester, and
compares what comes back.

The twins of a pair share the date of birth, gender, given name, address, school, GP practice and every
practitioner; they differ in their NHS numbers and surnames (so that no search for one finds the other),
and in the one fact the pair is about. No agency's copy of them carries a data-quality error::

    pop = Population.generate(1500, 7)
    pairs = add_twins(pop)                   # appended to the population, served by the mocks like any child
    kind, with_fact, without_fact = pairs[0]
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from gateway.identifiers import nhs_check_digit
from mocks.identifiers import with_upn_check_letter
from mocks.population import (
    REFERENCE_DATE,
    Address,
    CamhsRecord,
    Child,
    Consent,
    Demographics,
    EducationRecord,
    HealthRecord,
    Household,
    PoliceRecord,
    Population,
    SocialCareRecord,
    YouthJusticeRecord,
)

TWIN_KINDS = (
    "sensitive",  # a CAMHS referral, or none
    "consent",  # both referred to CAMHS; a consent covering GPs only (all social care holds on them), or none
    "police",  # police notifications, or none
    "youth-justice",  # a youth justice order, or none
    "plan",  # a child protection plan, or a child-in-need plan with the same worker
    "looked-after",  # looked after, or a child-in-need plan with the same worker
    "refuge",  # a temporary tenancy in a refuge, or the same tenancy not in a refuge
    "housing",  # a council tenancy, or none
    "shield",  # both known to early help; shielded, or not
    "weak-record",  # a police record the linker can only call probable ("Hattie" for Harriet), or none
    "weak-housing",  # a council tenancy the linker can only call probable ("Hattie" for Harriet), or none
    "missing-nhs-number",  # a youth justice record without the NHS number, or the same record with it
    "shield-unlinked",  # social care's record has no NHS number and a short name; shielded, or not
)
"""Each kind of pair: what the first twin has and the second does not."""

# Surnames no other child has, so a search for one twin never finds anyone else.
_SURNAMES = (
    "Ashcombe-Vale Blackthorne Carrowmore Dunnerdale Eskdaleson Farlington Glenridding Hartsop Ingleborough "
    "Kentmere Langstrath Martindale Nethermost Ousby Patterdale Rydalwater Seathwaite Thirlmere Ullscarf "
    "Wasdale Wythburn Yewbarrow Brotherswater Crummock Grisedale Haweswater Loweswater Mardale Stonethwaite"
).split()

TwinPair = tuple[str, Child, Child]


assert len(_SURNAMES) >= 2 * len(TWIN_KINDS), "two surnames for every pair"


def add_twins(pop: Population) -> list[TwinPair]:
    """One pair of each kind in :data:`TWIN_KINDS`, added to ``pop`` (deterministically, after everything else,
    so the rest of the population is the same with or without them)."""
    maker = _Twins(pop, random.Random(f"wardgate-twins-{pop.seed}"))
    pairs = [maker.pair(kind, i) for i, kind in enumerate(TWIN_KINDS)]
    pop.twins.extend(pairs)
    return pairs


class _Twins:
    def __init__(self, pop: Population, rng: random.Random) -> None:
        self.pop = pop
        self.rng = rng
        self.secondary = next(s for s in pop.schools.values() if s.phase == "secondary")
        self.gp = next(iter(pop.gp_practices))
        self.roles = {p.role: p.id for p in reversed(list(pop.practitioners.values()))}  # each role's first

    def pair(self, kind: str, i: int) -> TwinPair:
        given = {"shield-unlinked": "Abigail", "weak-record": "Harriet", "weak-housing": "Harriet"}.get(
            kind, ("Harriet", "Wilfred", "Imogen", "Barnaby", "Rufus")[i % 5]
        )
        gender = "female" if i % 2 == 0 else "male"
        dob = dt.date(2012, 3, 1) + dt.timedelta(days=37 * i)  # 14: at secondary school, old enough for YJ
        r = self.rng
        address = Address(f"{r.randint(1, 180)} Twinning Row", "Wardbury", f"WG20 {i % 9 + 1}T{chr(65 + i % 20)}")
        household = f"HT{i:07d}"
        with_fact = self._child(kind, given, _SURNAMES[2 * i], gender, dob, address, household, fact=True)
        without_fact = self._child(kind, given, _SURNAMES[2 * i + 1], gender, dob, address, household + "B", fact=False)
        return kind, with_fact, without_fact

    def _child(
        self,
        kind: str,
        given: str,
        family: str,
        gender: str,
        dob: dt.date,
        address: Address,
        household: str,
        *,
        fact: bool,
    ) -> Child:
        pop = self.pop
        index = len(pop.children)
        child = Child(
            index=index,
            nhs_number=self._nhs_number(),
            given=given,
            family=family,
            dob=dob,
            gender=gender,
            address=address,
            previous_address=None,
            household_ref=household,
            gp_practice=self.gp,
        )
        child.kinds.update(("twin", f"twin:{kind}:{'with' if fact else 'without'}"))
        pop.children.append(child)
        pop.by_nhs[child.nhs_number] = child
        who = Demographics(given, family, dob, address.postcode, address)
        self._health(child, who)
        self._education(child, who)
        builders: dict[str, Callable[[], None]] = {
            "sensitive": lambda: self._camhs(child) if fact else None,
            "consent": lambda: self._consent(child, who, consented=fact),
            "police": lambda: self._police(child, who) if fact else None,
            "youth-justice": lambda: self._youth_justice(child, who, nhs=True) if fact else None,
            "plan": lambda: self._social_care(child, who, "child-protection" if fact else "child-in-need"),
            "looked-after": lambda: self._social_care(child, who, "looked-after" if fact else "child-in-need"),
            "refuge": lambda: self._household(child, who, refuge=fact),
            "housing": lambda: self._household(child, who, refuge=False) if fact else None,
            "weak-housing": lambda: self._household(child, who, refuge=False, stale=True) if fact else None,
            "shield": lambda: self._social_care(child, who, "early-help", shielded=fact),
            "weak-record": lambda: self._police(child, who, stale=True) if fact else None,
            "missing-nhs-number": lambda: self._youth_justice(child, who, nhs=not fact),
            # The record the linker cannot accept ("Abbie", no NHS number): a shield on it must still count.
            "shield-unlinked": lambda: self._social_care(
                child,
                Demographics("Abbie", family, dob, address.postcode, address),
                "early-help",
                shielded=fact,
                nhs=False,
            ),
        }
        builders[kind]()
        return child

    def _nhs_number(self) -> str:
        while True:
            first = f"{self.rng.randint(800_000_000, 899_999_999)}"  # apart from the population's 4xx-7xx
            check = nhs_check_digit(first)
            value = first + str(check) if check is not None else ""
            if value and value not in self.pop.by_nhs:
                return value

    def _involve(self, child: Child, agency: str, practitioner: str) -> None:
        child.involved.add(practitioner)
        child.involved_by.setdefault(agency, set()).add(practitioner)

    def _health(self, child: Child, who: Demographics) -> None:
        nurse = self.roles["school-nurse"]
        self.pop.health[child.nhs_number] = HealthRecord(
            child.nhs_number, who, child.gender, child.gp_practice, False, None, nurse
        )
        self.pop.truth.add("health", child.nhs_number, child.index)
        self._involve(child, "health", nurse)

    def _education(self, child: Child, who: Demographics) -> None:
        school = self.secondary
        upn = with_upn_check_letter(f"823{school.urn[-4:]}16{child.index % 1000:03d}")
        child.upn, child.school_urn = upn, school.urn
        self.pop.education[upn] = EducationRecord(
            upn, child.nhs_number, who, school.urn, 96.0, [], "none", school.dsl_id
        )
        self.pop.truth.add("education", upn, child.index)
        self._involve(child, "education", school.dsl_id)

    def _camhs(self, child: Child) -> None:
        child.camhs_id = f"CR{child.index:07d}"
        clinician = self.roles["camhs-clinician"]
        self.pop.camhs[child.camhs_id] = CamhsRecord(
            child.camhs_id, child.nhs_number, "open", clinician, REFERENCE_DATE - dt.timedelta(days=90)
        )
        self.pop.truth.add("camhs", child.camhs_id, child.index)
        self._involve(child, "camhs", clinician)

    def _consent(self, child: Child, who: Demographics, *, consented: bool) -> None:
        self._camhs(child)
        if consented:  # social care holds a record only to hold the consent: it must not show through
            recorded = REFERENCE_DATE - dt.timedelta(days=30)
            child.consents.append(Consent("camhs", ("gp",), ("safeguarding", "routine-care"), recorded))
            self._social_care(child, who, None)

    def _social_care(
        self, child: Child, who: Demographics, status: str | None, *, shielded: bool = False, nhs: bool = True
    ) -> None:
        child.social_care_id = f"{child.index + 500000:07d}"
        child.social_care_status = status
        child.shielded = shielded
        worker = self.roles["social-worker"] if status not in (None, "early-help") else None
        lead = self.roles["early-help-worker"] if status == "early-help" else worker
        self.pop.social_care[child.social_care_id] = SocialCareRecord(
            person_id=child.social_care_id,
            nhs_number=child.nhs_number if nhs else None,
            who=who,
            caf_status="open" if status == "early-help" else None,
            lead_professional=lead,
            status=status if status != "early-help" else None,
            plan_start=REFERENCE_DATE - dt.timedelta(days=120) if status not in (None, "early-help") else None,
            social_worker=worker,
            consents=list(child.consents),
            shielded=shielded,
            cross_refs={"HouseholdRef": child.household_ref, "UPN": child.upn or ""},
        )
        self.pop.truth.add("social-care", child.social_care_id, child.index)
        for p in (worker, lead):
            if p:
                self._involve(child, "social-care", p)
        if shielded:
            child.kinds.add("shielded")

    def _police(self, child: Child, who: Demographics, *, stale: bool = False) -> None:
        child.police_ref = f"PN-{child.index:06d}"
        officer = self.roles["police-officer"]
        copy = who
        if stale:  # the police know her as "Hattie": linked by name and date of birth, only as probable
            copy = Demographics("Hattie", who.family, who.dob, who.postcode, who.address)
            child.differences["police"] = {"name"}
        child.copies["police"] = copy
        notifications: list[dict[str, object]] = [
            {"kind": "domestic-abuse", "date": REFERENCE_DATE - dt.timedelta(days=40), "officer": officer}
        ]
        self.pop.police[child.police_ref] = PoliceRecord(child.police_ref, copy, notifications)
        self.pop.truth.add("police", child.police_ref, child.index)
        self._involve(child, "police", officer)

    def _youth_justice(self, child: Child, who: Demographics, *, nhs: bool) -> None:
        child.yj_id = f"YJ{child.index:06d}"
        worker = self.roles["yot-worker"]
        orders: list[dict[str, object]] = [
            {"kind": "referral-order", "start": REFERENCE_DATE - dt.timedelta(days=200), "months": 6}
        ]
        self.pop.youth_justice[child.yj_id] = YouthJusticeRecord(
            child.yj_id, child.nhs_number if nhs else None, who, orders, worker
        )
        self.pop.truth.add("youth-justice", child.yj_id, child.index)
        self._involve(child, "youth-justice", worker)

    def _household(self, child: Child, who: Demographics, *, refuge: bool, stale: bool = False) -> None:
        officer = self.roles["housing-officer"]
        if stale:  # housing knows her as "Hattie": linked by name and date of birth, only as probable
            who = Demographics("Hattie", who.family, who.dob, who.postcode, who.address)
            child.differences["housing"] = {"name"}
        child.copies["housing"] = who
        self.pop.households[child.household_ref] = Household(
            ref=child.household_ref,
            address=who.address,
            tenancy_start=REFERENCE_DATE - dt.timedelta(days=300),
            temporary=True,
            refuge=refuge,
            members=[who],
            officer_id=officer,
        )
        self.pop.truth.add("housing", child.household_ref, child.index)
        self._involve(child, "housing", officer)
        if refuge:
            child.kinds.add("refuge")
