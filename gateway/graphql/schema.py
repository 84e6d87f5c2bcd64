"""The GraphQL schema: every field carries a ``@label`` saying what kind of information it is.

Labels are metadata only (a schema directive, visible in the SDL); the policy stage reads them, via
:mod:`gateway.graphql.labels`, to decide each field. Leaf fields are plain attributes. The types describe the
answer; ``child`` and ``searchChildren`` build it already completed, while applying the policy
(:func:`gateway.pipeline.policy.decide.apply`), and the executor passes it through.
"""

from __future__ import annotations

import datetime as dt
import enum
from typing import Any

import strawberry
from strawberry.schema_directive import Location

from gateway.types import Label, Purpose


@strawberry.schema_directive(locations=[Location.FIELD_DEFINITION], name="label")
class LabelDirective:
    """What kind of information a field holds (directory, identity, contact, involvement, ...)."""

    name: str


def labelled(label: Label, description: str | None = None, **kwargs: Any) -> Any:
    """A plain-attribute field with its label."""
    return strawberry.field(directives=[LabelDirective(name=label.value)], description=description, **kwargs)


def _f(label: Label, description: str | None = None) -> Any:
    return labelled(label, description, default=None)


I, C, V, S, K, R, D, M = (
    Label.IDENTITY,
    Label.CONTACT,
    Label.INVOLVEMENT,
    Label.SENSITIVE,
    Label.CASE,
    Label.RESTRICTED,
    Label.DIRECTORY,
    Label.META,
)

PurposeEnum = strawberry.enum(Purpose, name="Purpose", description="Why the practitioner is asking; recorded.")


@strawberry.enum(description="How sure the gateway is that linked records are this child's.")
class MatchGrade(enum.Enum):
    CERTAIN = "certain"
    PROBABLE = "probable"
    POSSIBLE = "possible"


@strawberry.type(description="A practitioner as other agencies' records name them.")
class PractitionerRef:
    id: str | None = _f(D)
    name: str | None = _f(D)
    team: str | None = _f(D)
    phone: str | None = _f(D)


@strawberry.type
class Name:
    given: str | None = _f(I)
    family: str | None = _f(I)


@strawberry.type
class Address:
    line1: str | None = _f(C)
    town: str | None = _f(C)
    postcode: str | None = _f(C, "May be masked to the postcode district.")


@strawberry.type
class GpRegistration:
    practice_code: str | None = _f(C)
    practice_name: str | None = _f(C)


@strawberry.type
class SchoolEnrolment:
    urn: str | None = _f(C)
    name: str | None = _f(C)


@strawberry.type(description="A service or practitioner working with the child.")
class Involvement:
    agency: str | None = _f(V)
    service: str | None = _f(V)
    role: str | None = _f(V)
    status: str | None = _f(V)
    since: dt.date | None = _f(V)
    is_lead_professional: bool | None = _f(V)
    practitioner: PractitionerRef | None = _f(V)


@strawberry.type(description="Early help (the Common Assessment Framework) and its lead professional.")
class EarlyHelp:
    caf_status: str | None = _f(V)
    lead_professional: PractitionerRef | None = _f(V)


@strawberry.type(description="Child in need, child protection plan or looked-after status.")
class SocialCareStatus:
    legal_status: str | None = _f(K)
    plan_start_date: dt.date | None = _f(K)
    allocated_worker: PractitionerRef | None = _f(V)


@strawberry.type
class Exclusion:
    date: dt.date | None = _f(K)
    kind: str | None = _f(K)
    days: int | None = _f(K)


@strawberry.type
class EducationRecord:
    attendance_percent: float | None = _f(K)
    exclusions: list[Exclusion] | None = _f(K)
    sen_status: str | None = _f(K)
    safeguarding_lead: PractitionerRef | None = _f(V)


@strawberry.type
class PoliceNotification:
    kind: str | None = _f(R)
    date: dt.date | None = _f(R)
    officer: PractitionerRef | None = _f(R)


@strawberry.type
class PoliceInformation:
    notifications: list[PoliceNotification] | None = _f(R)


@strawberry.type
class HousingInformation:
    tenancy_address: Address | None = _f(C)
    tenancy_start: dt.date | None = _f(K)
    temporary_accommodation: bool | None = _f(K)
    refuge: bool | None = _f(R)
    household_size: int | None = _f(K)
    housing_officer: PractitionerRef | None = _f(V)


@strawberry.type
class YouthJusticeOrder:
    kind: str | None = _f(R)
    start: dt.date | None = _f(R)
    months: int | None = _f(R)


@strawberry.type
class YouthJustice:
    orders: list[YouthJusticeOrder] | None = _f(R)
    worker: PractitionerRef | None = _f(R)


@strawberry.type
class CamhsReferral:
    status: str | None = _f(S)
    opened_on: dt.date | None = _f(S)
    clinician: PractitionerRef | None = _f(S)


@strawberry.type
class MentalHealth:
    referrals: list[CamhsReferral] | None = _f(S)


@strawberry.type
class SexualHealthService:
    service: str | None = _f(S)
    since: dt.date | None = _f(S)


@strawberry.type
class SexualHealth:
    services: list[SexualHealthService] | None = _f(S)


@strawberry.type(description="How one agency answered for this request. Never says whether it holds a record.")
class Source:
    agency: str = labelled(M)
    status: str = labelled(M, "ok, not-called, unavailable, timeout, bad-response or circuit-open")
    latency_ms: float | None = _f(M)


@strawberry.type
class ConflictValue:
    agency: str | None = _f(I)
    value: str | None = _f(I)


@strawberry.type(description="Agencies disagree about this field; both values are returned, neither is chosen.")
class Conflict:
    field: str = labelled(I)
    values: list[ConflictValue] = labelled(I)


@strawberry.type(description="One child's profile, assembled live from every agency and checked field by field.")
class Child:
    id: strawberry.ID = labelled(I, "The NHS number.", default=strawberry.ID(""))
    name: Name | None = _f(I)
    date_of_birth: dt.date | None = _f(I)
    gender: str | None = _f(I)
    deceased: bool | None = _f(I)
    address: Address | None = _f(C)
    gp: GpRegistration | None = _f(C)
    school: SchoolEnrolment | None = _f(C)
    involvements: list[Involvement] | None = _f(V)
    early_help: EarlyHelp | None = _f(V)
    social_care: SocialCareStatus | None = _f(K)
    education: EducationRecord | None = _f(K)
    police: PoliceInformation | None = _f(R)
    housing: HousingInformation | None = _f(K)
    youth_justice: YouthJustice | None = _f(R)
    mental_health: MentalHealth | None = _f(S)
    sexual_health: SexualHealth | None = _f(S)
    match_grade: MatchGrade | None = _f(M)
    sources: list[Source] = labelled(M, default_factory=list)
    conflicts: list[Conflict] = labelled(I, default_factory=list)
    warnings: list[str] = labelled(M, default_factory=list)


@strawberry.type(description="A candidate from searchChildren. Identity only; open it with child(id:).")
class ChildMatch:
    id: strawberry.ID = labelled(I, default=strawberry.ID(""))
    name: Name | None = _f(I)
    date_of_birth: dt.date | None = _f(I)
    gender: str | None = _f(I)
    match_grade: MatchGrade = labelled(M, default=MatchGrade.POSSIBLE)
    score: float = labelled(M, default=0.0)


@strawberry.type
class Service:
    id: str = labelled(D)
    name: str = labelled(D)
    agency: str = labelled(D)
    category: str = labelled(D)


@strawberry.type
class School:
    urn: str = labelled(D)
    name: str = labelled(D)
    phase: str = labelled(D)
    postcode: str = labelled(D)


@strawberry.type
class GpPractice:
    code: str = labelled(D)
    name: str = labelled(D)
    postcode: str = labelled(D)


@strawberry.type
class Practitioner:
    id: str = labelled(D)
    name: str = labelled(D)
    role: str = labelled(D)
    agency: str = labelled(D)
    team: str = labelled(D)
    phone: str = labelled(D)
    email: str = labelled(D)


@strawberry.type(description="The practitioner the token belongs to.")
class Me:
    id: str = labelled(M)
    role: str = labelled(M)
    agency: str = labelled(M)
    two_factor: bool = labelled(M)


@strawberry.type(description="A field withheld from a practitioner, and why (a path, never a value).")
class WithheldField:
    path: str = labelled(M)
    reason: str = labelled(M)


@strawberry.type(description="One access to a child's record, from the audit trail. For auditors.")
class AccessRecord:
    at: str = labelled(M)
    kind: str = labelled(M, "child.read, break-glass.refused, policy.explain, alert")
    request_id: str | None = labelled(M, default=None)
    practitioner: str | None = labelled(M, default=None)
    role: str | None = labelled(M, default=None)
    agency: str | None = labelled(M, default=None)
    purpose: str | None = labelled(M, default=None)
    break_glass: str | None = labelled(M, "The justification given, if break-glass was used.", default=None)
    agencies_called: list[str] = labelled(M, default_factory=list)
    fields_returned: list[str] = labelled(M, "Paths of the fields returned, never their values.", default_factory=list)
    fields_withheld: list[WithheldField] = labelled(M, default_factory=list)
    policy_revision: str | None = labelled(M, default=None)
