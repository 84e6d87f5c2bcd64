"""One deterministic synthetic population, and each agency's imperfect view of it.

Every mock agency serves records drawn from the same :class:`Population`, generated from a seed and a
size. Each agency holds its realistic subset with its realistic errors; the ground truth (which agency
record belongs to which child) is kept beside it for tests and benchmarks::

    pop = Population.generate(children=2000, seed=7)
    child = pop.children[0]
    pop.truth.owner("police", "PN-000123")      # -> child index, or None
    pop.truth.records_of(child.index)          # -> {(agency, record id), ...}

Nothing here is a real person: names, addresses and numbers are invented.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

from gateway.dev import ROLES
from mocks import names
from mocks.identifiers import nhs_check_digit, with_upn_check_letter

REFERENCE_DATE = dt.date(2026, 9, 1)
"""Ages are worked out against this fixed date, so the population never changes with the calendar."""

AGENCIES = ("health", "education", "social-care", "police", "housing", "youth-justice", "camhs", "sexual-health")


@dataclass(frozen=True, slots=True)
class ErrorRates:
    """How often each kind of data-quality error appears in an agency's copy of a record."""

    name_variant: float = 0.03
    typo: float = 0.02
    day_month_swap: float = 0.01
    stale_address: float = 0.06
    missing_nhs_number: float = 0.04
    duplicate: float = 0.01
    deceased_disagreement: float = 0.003


@dataclass(frozen=True, slots=True)
class Address:
    line1: str
    town: str
    postcode: str


@dataclass(frozen=True, slots=True)
class Practitioner:
    id: str
    name: str
    role: str
    agency: str
    team: str
    phone: str
    email: str


@dataclass(frozen=True, slots=True)
class School:
    urn: str
    name: str
    phase: str
    postcode: str
    dsl_id: str


@dataclass(frozen=True, slots=True)
class GpPractice:
    code: str
    name: str
    postcode: str


@dataclass(frozen=True, slots=True)
class Consent:
    service: str
    roles: tuple[str, ...]
    purposes: tuple[str, ...]
    recorded: dt.date


@dataclass(slots=True)
class Child:
    """The truth about one child, as no single agency knows it."""

    index: int
    nhs_number: str
    given: str
    family: str
    dob: dt.date
    gender: str
    address: Address
    previous_address: Address | None
    household_ref: str
    gp_practice: str
    deceased: bool = False
    upn: str | None = None
    school_urn: str | None = None
    social_care_id: str | None = None
    police_ref: str | None = None
    yj_id: str | None = None
    camhs_id: str | None = None
    sexual_health_id: str | None = None
    social_care_status: str | None = None  # "early-help", "child-in-need", "child-protection", "looked-after"
    shielded: bool = False
    consents: list[Consent] = field(default_factory=list)
    involved: set[str] = field(default_factory=set)
    involved_by: dict[str, set[str]] = field(default_factory=dict)  # agency -> practitioners its record names
    # agency -> how its copy of who the child is differs from the truth: "name", "dob", "address"
    differences: dict[str, set[str]] = field(default_factory=dict)
    copies: dict[str, Demographics] = field(default_factory=dict)  # agency -> its copy of who the child is
    kinds: set[str] = field(default_factory=set)

    @property
    def age(self) -> int:
        years = REFERENCE_DATE.year - self.dob.year
        return years - ((REFERENCE_DATE.month, REFERENCE_DATE.day) < (self.dob.month, self.dob.day))

    def facts(self) -> dict[str, object]:
        """The child's facts as `wardgate children` prints them: enough to say "try this child"."""
        return {
            "nhsNumber": self.nhs_number,
            "name": {"given": self.given, "family": self.family},
            "dateOfBirth": self.dob.isoformat(),
            "postcode": self.address.postcode,
            "age": self.age,
            "kinds": sorted(self.kinds),
            "shielded": self.shielded,
            "socialCareStatus": self.social_care_status,
            "consents": [
                {"service": c.service, "roles": list(c.roles), "purposes": list(c.purposes)} for c in self.consents
            ],
            "involvedPractitioners": sorted(self.involved),
            "records": {
                "upn": self.upn,
                "socialCareId": self.social_care_id,
                "policeRef": self.police_ref,
                "youthJusticeId": self.yj_id,
                "camhsReferral": self.camhs_id,
                "sexualHealthClient": self.sexual_health_id,
                "householdRef": self.household_ref,
            },
        }


@dataclass(slots=True)
class Demographics:
    """One agency's copy of who a child is, errors and all."""

    given: str
    family: str
    dob: dt.date
    postcode: str
    address: Address
    # The errors this copy was given, by their ErrorRates names, so benchmarks can score linking per kind.
    errors: frozenset[str] = frozenset()


@dataclass(slots=True)
class HealthRecord:
    nhs_number: str
    who: Demographics
    gender: str
    gp_practice: str
    deceased: bool
    health_visitor: str | None
    school_nurse: str | None


@dataclass(slots=True)
class EducationRecord:
    upn: str
    nhs_number: str | None
    who: Demographics
    school_urn: str
    attendance: float
    exclusions: list[dict[str, object]]
    sen_status: str
    dsl_id: str


@dataclass(slots=True)
class SocialCareRecord:
    person_id: str
    nhs_number: str | None
    who: Demographics
    caf_status: str | None
    lead_professional: str | None
    status: str | None
    plan_start: dt.date | None
    social_worker: str | None
    consents: list[Consent]
    shielded: bool
    cross_refs: dict[str, str]


@dataclass(slots=True)
class PoliceRecord:
    person_ref: str
    who: Demographics
    notifications: list[dict[str, object]]


@dataclass(slots=True)
class Household:
    ref: str
    address: Address
    tenancy_start: dt.date
    temporary: bool
    refuge: bool
    members: list[Demographics]
    officer_id: str


@dataclass(slots=True)
class YouthJusticeRecord:
    yj_id: str
    nhs_number: str | None
    who: Demographics
    orders: list[dict[str, object]]
    worker: str


@dataclass(slots=True)
class CamhsRecord:
    referral_id: str
    nhs_number: str
    status: str
    clinician: str
    opened: dt.date


@dataclass(slots=True)
class SexualHealthRecord:
    client_no: str
    nhs_number: str
    services: list[tuple[str, dt.date]]


class Truth:
    """Which agency record belongs to which child — what the gateway's linking tries to recover."""

    def __init__(self) -> None:
        self._owner: dict[tuple[str, str], int] = {}
        self._records: dict[int, set[tuple[str, str]]] = defaultdict(set)

    def add(self, agency: str, record_id: str, child_index: int) -> None:
        self._owner[(agency, record_id)] = child_index
        self._records[child_index].add((agency, record_id))

    def owner(self, agency: str, record_id: str) -> int | None:
        return self._owner.get((agency, record_id))

    def records_of(self, child_index: int) -> set[tuple[str, str]]:
        return set(self._records.get(child_index, ()))

    def __len__(self) -> int:
        return len(self._owner)


@dataclass
class Population:
    """The whole synthetic world: children, directory data, and every agency's records."""

    seed: int
    size: int
    rates: ErrorRates
    children: list[Child] = field(default_factory=list)
    practitioners: dict[str, Practitioner] = field(default_factory=dict)
    schools: dict[str, School] = field(default_factory=dict)
    gp_practices: dict[str, GpPractice] = field(default_factory=dict)
    health: dict[str, HealthRecord] = field(default_factory=dict)
    education: dict[str, EducationRecord] = field(default_factory=dict)
    social_care: dict[str, SocialCareRecord] = field(default_factory=dict)
    police: dict[str, PoliceRecord] = field(default_factory=dict)
    households: dict[str, Household] = field(default_factory=dict)
    youth_justice: dict[str, YouthJusticeRecord] = field(default_factory=dict)
    camhs: dict[str, CamhsRecord] = field(default_factory=dict)
    sexual_health: dict[str, SexualHealthRecord] = field(default_factory=dict)
    truth: Truth = field(default_factory=Truth)
    by_nhs: dict[str, Child] = field(default_factory=dict)
    # (kind, the twin with the fact, the twin without it): see mocks.twins
    twins: list[tuple[str, Child, Child]] = field(default_factory=list)

    @classmethod
    def generate(cls, children: int = 3000, seed: int = 1, rates: ErrorRates | None = None) -> Population:
        """Build the population; the same (children, seed, rates) always gives the same world."""
        if children < 1:
            raise ValueError("a population needs at least one child")
        pop = cls(seed=seed, size=children, rates=rates or ErrorRates())
        _Generator(pop, random.Random(f"wardgate-population-{seed}")).run()
        return pop

    def child(self, nhs_number: str) -> Child | None:
        return self.by_nhs.get(nhs_number)

    def of_kind(self, kind: str) -> Iterator[Child]:
        return (c for c in self.children if kind in c.kinds)


KINDS = (
    "ordinary",
    "shielded",
    "sensitive-consented",
    "sensitive-not-consented",
    "on-plan",
    "looked-after",
    "police-known",
    "youth-justice",
    "weak-match",
    "conflicting",
    "deceased-disagreement",
    "missing-nhs-number",
    "duplicate",
    "refuge",
)

_CONSENT_ROLES = ("gp", "school-nurse", "designated-safeguarding-lead", "early-help-worker", "health-visitor")


class _Generator:
    """Fills a Population. Kept separate so the dataclass above stays a plain description."""

    def __init__(self, pop: Population, rng: random.Random) -> None:
        self.pop = pop
        self.rng = rng
        self.rates = pop.rates
        self._nhs_seen: set[str] = set()
        self._pool: dict[str, list[str]] = defaultdict(list)

    # -- the directory ---------------------------------------------------------------------------

    def _postcode(self) -> str:
        r = self.rng
        letters = "ABDEFGHJLNPQRSTUWXYZ"
        return f"WG{r.randint(1, 19)} {r.randint(1, 9)}{r.choice(letters)}{r.choice(letters)}"

    def _address(self) -> Address:
        r = self.rng
        return Address(f"{r.randint(1, 180)} {r.choice(names.STREETS)}", r.choice(names.TOWNS), self._postcode())

    def _practitioner(self, role: str, agency: str, team: str, pid: str | None = None) -> str:
        r = self.rng
        pid = pid or f"P{len(self.pop.practitioners) + 1:06d}"
        given = r.choice(names.GIVEN_FEMALE + names.GIVEN_MALE)
        family = r.choice(names.FAMILY)
        self.pop.practitioners[pid] = Practitioner(
            id=pid,
            name=f"{given} {family}",
            role=role,
            agency=agency,
            team=team,
            phone=f"01632 {r.randint(100000, 999999)}",  # Ofcom's drama range: never a real line
            email=f"{given.lower()}.{family.lower()}@{agency}.wardshire.example",
        )
        self._pool[role].append(pid)
        return pid

    def _directory(self) -> None:
        size = self.pop.size
        # Each role's first practitioner has the id gateway.dev gives it: the development personas are them.
        for role in ROLES:
            self._practitioner(role.name, role.agency, role.team, role.first_id)
        counts = {
            "social-worker": max(4, size // 150),
            "early-help-worker": max(2, size // 400),
            "health-visitor": max(2, size // 500),
            "school-nurse": max(2, size // 600),
            "police-officer": max(2, size // 800),
            "housing-officer": max(2, size // 800),
            "yot-worker": max(2, size // 1000),
            "camhs-clinician": max(2, size // 400),
            "sexual-health-nurse": max(2, size // 1500),
            "voluntary-worker": max(2, size // 1000),
        }
        for role in ROLES:
            for _ in range(counts.get(role.name, 0) - 1):
                self._practitioner(role.name, role.agency, role.team)
        for i in range(max(8, size // 350)):
            phase = "primary" if i % 3 else "secondary"
            urn = f"{100000 + i * 7:06d}"
            dsl = self._pool["designated-safeguarding-lead"][0] if i == 0 else None
            if dsl is None:
                dsl = self._practitioner("designated-safeguarding-lead", "education", "Schools")
            town = names.TOWNS[i % len(names.TOWNS)]
            name = f"{town} {'Primary School' if phase == 'primary' else 'Academy'}" + (f" No. {i}" if i >= 6 else "")
            self.pop.schools[urn] = School(urn=urn, name=name, phase=phase, postcode=self._postcode(), dsl_id=dsl)
        for i in range(max(4, size // 1200)):
            code = f"Y{i + 1:05d}"
            town = names.TOWNS[i % len(names.TOWNS)]
            self.pop.gp_practices[code] = GpPractice(code, f"{town} Medical Practice {i + 1}", self._postcode())

    def _assign(self, role: str) -> str:
        pool = self._pool[role]
        # The persona (index 0) gets a fair share of cases, so dev tokens meet children they work with.
        return pool[0] if self.rng.random() < 1 / len(pool) + 0.1 else self.rng.choice(pool)

    # -- identifiers -----------------------------------------------------------------------------

    def _nhs_number(self) -> str:
        r = self.rng
        while True:
            first = f"{r.randint(400_000_000, 799_999_999)}"
            check = nhs_check_digit(first)
            if check is None:
                continue
            value = first + str(check)
            if value not in self._nhs_seen:
                self._nhs_seen.add(value)
                return value

    # -- agency copies, with their errors ----------------------------------------------------------

    def _copy(self, child: Child, *, errors: bool = True, stale_ok: bool = True) -> Demographics:
        r, rates = self.rng, self.rates
        given, family, dob, address = child.given, child.family, child.dob, child.address
        kinds: set[str] = set()
        if errors:
            roll = r.random()
            if roll < rates.name_variant and given in names.VARIANTS:
                given = names.VARIANTS[given]
                kinds.add("name_variant")
            elif roll < rates.name_variant + rates.typo and len(given) > 3:
                i = r.randint(1, len(given) - 2)
                given = given[:i] + given[i + 1] + given[i] + given[i + 2 :]
                if given != child.given:  # swapping a doubled letter changes nothing
                    kinds.add("typo")
            if r.random() < rates.day_month_swap and dob.day <= 12 and dob.day != dob.month:
                dob = dob.replace(month=dob.day, day=dob.month)
                kinds.add("day_month_swap")
            if stale_ok and child.previous_address is not None and r.random() < rates.stale_address * 5:
                address = child.previous_address
                kinds.add("stale_address")
        return Demographics(given, family, dob, address.postcode, address, frozenset(kinds))

    def _note_errors(self, agency: str, child: Child, who: Demographics) -> None:
        differs = {
            name
            for name, same in (
                ("name", who.given == child.given),
                ("dob", who.dob == child.dob),
                ("address", who.postcode == child.address.postcode),
            )
            if not same
        }
        child.copies[agency] = who
        if differs:
            child.differences[agency] = differs
            child.kinds.add("conflicting")  # the agencies disagree about who the child is
        if agency in ("police", "housing") and differs & {"name", "address"}:
            child.kinds.add("weak-match")

    def _involve(self, child: Child, agency: str, practitioner: str) -> None:
        child.involved.add(practitioner)
        child.involved_by.setdefault(agency, set()).add(practitioner)

    # -- the children --------------------------------------------------------------------------------

    def run(self) -> None:
        pop, r = self.pop, self.rng
        self._directory()
        schools_by_phase: dict[str, list[str]] = defaultdict(list)
        for s in pop.schools.values():
            schools_by_phase[s.phase].append(s.urn)
        gp_codes = list(pop.gp_practices)
        index = 0
        household_no = 0
        while index < pop.size:
            household_no += 1
            family = r.choice(names.FAMILY)
            address = self._address()
            moved = r.random() < 0.15
            previous = self._address() if moved else None
            href = f"HH{household_no:07d}"
            siblings = min(pop.size - index, r.choice((1, 1, 1, 2, 2, 3)))
            members: list[Child] = []
            for _ in range(siblings):
                gender = r.choice(("female", "male"))
                given = r.choice(names.GIVEN_FEMALE if gender == "female" else names.GIVEN_MALE)
                age_days = r.randint(30, 18 * 365 - 30)
                child = Child(
                    index=index,
                    nhs_number=self._nhs_number(),
                    given=given,
                    family=family,
                    dob=REFERENCE_DATE - dt.timedelta(days=age_days),
                    gender=gender,
                    address=address,
                    previous_address=previous,
                    household_ref=href,
                    gp_practice=r.choice(gp_codes),
                )
                pop.children.append(child)
                pop.by_nhs[child.nhs_number] = child
                members.append(child)
                index += 1
            self._household(href, address, members)
            for child in members:
                self._child_records(child, schools_by_phase)
        for child in pop.children:
            if not child.kinds:
                child.kinds.add("ordinary")

    def _household(self, href: str, address: Address, members: list[Child]) -> None:
        r, pop = self.rng, self.pop
        if r.random() >= 0.3:  # most families are not council tenants
            return
        temporary = r.random() < 0.07
        refuge = temporary and r.random() < 0.25
        copies = [self._copy(c, stale_ok=False) for c in members]
        pop.households[href] = Household(
            ref=href,
            address=address,
            tenancy_start=REFERENCE_DATE - dt.timedelta(days=r.randint(30, 3000)),
            temporary=temporary,
            refuge=refuge,
            members=copies,
            officer_id=self._assign("housing-officer"),
        )
        for child, who in zip(members, copies, strict=True):
            pop.truth.add("housing", href, child.index)
            self._note_errors("housing", child, who)
            if refuge:
                child.kinds.add("refuge")
            self._involve(child, "housing", pop.households[href].officer_id)

    def _child_records(self, child: Child, schools_by_phase: dict[str, list[str]]) -> None:
        pop, r, rates = self.pop, self.rng, self.rates
        age = child.age
        # Health: everyone is registered with a GP; the GP record is the demographic reference.
        deceased_flag = r.random() < rates.deceased_disagreement
        health_visitor = self._assign("health-visitor") if age < 5 else None
        school_nurse = self._assign("school-nurse") if 5 <= age else None
        pop.health[child.nhs_number] = HealthRecord(
            nhs_number=child.nhs_number,
            who=self._copy(child, errors=False),
            gender=child.gender,
            gp_practice=child.gp_practice,
            deceased=deceased_flag,
            health_visitor=health_visitor,
            school_nurse=school_nurse,
        )
        pop.truth.add("health", child.nhs_number, child.index)
        for p in (health_visitor, school_nurse):
            if p:
                self._involve(child, "health", p)

        # Social care: a few percent are known.
        status: str | None = None
        roll = r.random()
        if roll < 0.010:
            status = "child-protection"
        elif roll < 0.018:
            status = "looked-after"
        elif roll < 0.040:
            status = "child-in-need"
        elif roll < 0.085:
            status = "early-help"
        child.social_care_status = status
        child.shielded = (status is not None and r.random() < 0.12) or r.random() < 0.004
        if status in ("child-protection",):
            child.kinds.add("on-plan")
        if status == "looked-after":
            child.kinds.add("looked-after")
        if child.shielded:
            child.kinds.add("shielded")

        # Education: school-age children.
        if 4 <= age <= 17:
            phase = "primary" if age < 11 else "secondary"
            urn = r.choice(schools_by_phase[phase])
            la = "823"
            upn = with_upn_check_letter(
                f"{la}{urn[-4:]}{(REFERENCE_DATE.year - age + 4) % 100:02d}{child.index % 1000:03d}"
            )
            child.upn, child.school_urn = upn, urn
            who = self._copy(child, stale_ok=True)
            self._note_errors("education", child, who)
            missing_nhs = r.random() < rates.missing_nhs_number
            if missing_nhs:
                child.kinds.add("missing-nhs-number")
            exclusions: list[dict[str, object]] = []
            if r.random() < 0.04:
                for _ in range(r.randint(1, 3)):
                    exclusions.append(
                        {
                            "date": REFERENCE_DATE - dt.timedelta(days=r.randint(10, 600)),
                            "kind": r.choice(("fixed-term", "fixed-term", "permanent")),
                            "days": r.randint(1, 5),
                        }
                    )
            record = EducationRecord(
                upn=upn,
                nhs_number=None if missing_nhs else child.nhs_number,
                who=who,
                school_urn=urn,
                attendance=round(max(40.0, min(100.0, r.gauss(94.5, 5.0))), 1),
                exclusions=exclusions,
                sen_status=r.choices(("none", "sen-support", "ehc-plan"), (85, 12, 3))[0],
                dsl_id=pop.schools[urn].dsl_id,
            )
            pop.education[upn] = record
            pop.truth.add("education", upn, child.index)
            self._involve(child, "education", record.dsl_id)
            if r.random() < rates.duplicate:
                dup_upn = with_upn_check_letter(
                    f"{la}{urn[-4:]}{(REFERENCE_DATE.year - age + 4) % 100:02d}9{child.index % 100:02d}"
                )
                if dup_upn not in pop.education:
                    pop.education[dup_upn] = dataclasses.replace(record, upn=dup_upn, who=self._copy(child))
                    pop.truth.add("education", dup_upn, child.index)
                    child.kinds.add("duplicate")

        # Sensitive services, with or without consent to share.
        if age >= 5 and r.random() < 0.05:
            child.camhs_id = f"CR{child.index:07d}"
            clinician = self._assign("camhs-clinician")
            pop.camhs[child.camhs_id] = CamhsRecord(
                referral_id=child.camhs_id,
                nhs_number=child.nhs_number,
                status=r.choice(("open", "open", "waiting-list", "closed")),
                clinician=clinician,
                opened=REFERENCE_DATE - dt.timedelta(days=r.randint(20, 900)),
            )
            pop.truth.add("camhs", child.camhs_id, child.index)
            self._involve(child, "camhs", clinician)
        if age >= 13 and r.random() < 0.04:
            child.sexual_health_id = f"SH-{child.index:06d}"
            services = [("sexual-health", REFERENCE_DATE - dt.timedelta(days=r.randint(5, 400)))]
            if r.random() < 0.35:
                services.append(("substance-misuse", REFERENCE_DATE - dt.timedelta(days=r.randint(5, 400))))
            pop.sexual_health[child.sexual_health_id] = SexualHealthRecord(
                client_no=child.sexual_health_id, nhs_number=child.nhs_number, services=services
            )
            pop.truth.add("sexual-health", child.sexual_health_id, child.index)
        sensitive = [
            s for s, present in (("camhs", child.camhs_id), ("sexual-health", child.sexual_health_id)) if present
        ]
        if sensitive:
            consented = r.random() < 0.5
            child.kinds.add("sensitive-consented" if consented else "sensitive-not-consented")
            if consented:
                for service in sensitive:
                    child.consents.append(
                        Consent(
                            service=service,
                            roles=(*r.sample(_CONSENT_ROLES, 2), "social-worker"),
                            purposes=("safeguarding", "routine-care"),
                            recorded=REFERENCE_DATE - dt.timedelta(days=r.randint(5, 300)),
                        )
                    )

        # Youth justice: a few older children.
        if age >= 10 and r.random() < 0.02:
            child.yj_id = f"YJ{child.index:06d}"
            worker = self._assign("yot-worker")
            who = self._copy(child)
            self._note_errors("youth-justice", child, who)
            pop.youth_justice[child.yj_id] = YouthJusticeRecord(
                yj_id=child.yj_id,
                nhs_number=child.nhs_number if r.random() > 0.2 else None,
                who=who,
                orders=[
                    {
                        "kind": r.choice(("referral-order", "youth-rehabilitation-order", "youth-caution")),
                        "start": REFERENCE_DATE - dt.timedelta(days=r.randint(30, 700)),
                        "months": r.choice((3, 6, 12)),
                    }
                ],
                worker=worker,
            )
            pop.truth.add("youth-justice", child.yj_id, child.index)
            self._involve(child, "youth-justice", worker)
            child.kinds.add("youth-justice")

        # Police: a few percent, often through the household.
        if r.random() < 0.03 or (status in ("child-protection", "looked-after") and r.random() < 0.5):
            child.police_ref = f"PN-{child.index:06d}"
            officer = self._assign("police-officer")
            who = self._copy(child, stale_ok=True)
            # Police search needs surname and date of birth as recorded; a wrong one would never link.
            who.family, who.dob = child.family, child.dob
            who.errors -= {"day_month_swap"}
            self._note_errors("police", child, who)
            notifications: list[dict[str, object]] = []
            for _ in range(r.randint(1, 4)):
                notifications.append(
                    {
                        "kind": r.choice(
                            ("domestic-abuse", "domestic-abuse", "missing-episode", "concern-for-welfare")
                        ),
                        "date": REFERENCE_DATE - dt.timedelta(days=r.randint(3, 800)),
                        "officer": officer,
                    }
                )
            pop.police[child.police_ref] = PoliceRecord(
                person_ref=child.police_ref, who=who, notifications=notifications
            )
            pop.truth.add("police", child.police_ref, child.index)
            self._involve(child, "police", officer)
            child.kinds.add("police-known")

        if status is not None or child.shielded or child.consents:
            child.social_care_id = f"{child.index + 500000:07d}"
            social_worker = self._assign("social-worker") if status not in (None, "early-help") else None
            lead = self._assign("early-help-worker") if status == "early-help" else social_worker
            who = self._copy(child)
            self._note_errors("social-care", child, who)
            missing_nhs = r.random() < rates.missing_nhs_number
            if missing_nhs:
                child.kinds.add("missing-nhs-number")
            cross_refs = {"HouseholdRef": child.household_ref}
            if child.upn:
                cross_refs["UPN"] = child.upn
            if child.police_ref:
                cross_refs["PoliceRef"] = child.police_ref
            if child.yj_id:
                cross_refs["YJRef"] = child.yj_id
            pop.social_care[child.social_care_id] = SocialCareRecord(
                person_id=child.social_care_id,
                nhs_number=None if missing_nhs else child.nhs_number,
                who=who,
                caf_status=("open" if status == "early-help" else r.choice(("closed", None))) if status else None,
                lead_professional=lead,
                status=status if status != "early-help" else None,
                plan_start=(REFERENCE_DATE - dt.timedelta(days=r.randint(14, 500)))
                if status not in (None, "early-help")
                else None,
                social_worker=social_worker,
                consents=list(child.consents),
                shielded=child.shielded,
                cross_refs=cross_refs,
            )
            pop.truth.add("social-care", child.social_care_id, child.index)
            for p in (social_worker, lead):
                if p:
                    self._involve(child, "social-care", p)

        if deceased_flag:
            child.kinds.update(("deceased-disagreement", "conflicting"))
