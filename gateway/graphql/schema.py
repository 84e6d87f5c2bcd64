"""The GraphQL schema: every field carries a ``@label`` saying what kind of information it is.

Labels are metadata only (a schema directive, visible in the SDL); the policy stage reads them, via
:mod:`gateway.graphql.labels`, to decide each field. Leaf fields are plain attributes. The types describe the
answer; ``child`` and ``searchChildren`` build it already completed, while applying the policy
(:func:`gateway.pipeline.policy.complete.complete`), and the executor passes it through.
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
    """A field with its label: a plain attribute (``None`` unless a default is given), or a resolver's."""
    if "resolver" not in kwargs and "default_factory" not in kwargs:
        kwargs.setdefault("default", None)
    return strawberry.field(directives=[LabelDirective(name=label.value)], description=description, **kwargs)


# One function per label, so that the schema below reads as what each field is.


def directory(description: str | None = None, **kwargs: Any) -> Any:
    """Reference data anyone authenticated may see; the only data the gateway caches."""
    return labelled(Label.DIRECTORY, description, **kwargs)


def identity(description: str | None = None, **kwargs: Any) -> Any:
    """Who the child is: name, date of birth, gender, NHS number."""
    return labelled(Label.IDENTITY, description, **kwargs)


def contact(description: str | None = None, **kwargs: Any) -> Any:
    """Where the child can be found: withheld when the child is shielded or in a refuge."""
    return labelled(Label.CONTACT, description, **kwargs)


def involvement(description: str | None = None, **kwargs: Any) -> Any:
    """Which services and practitioners work with the child."""
    return labelled(Label.INVOLVEMENT, description, **kwargs)


def sensitive(description: str | None = None, **kwargs: Any) -> Any:
    """Sensitive services (mental health, sexual health): the young person's consent, or break-glass."""
    return labelled(Label.SENSITIVE, description, **kwargs)


def case(description: str | None = None, **kwargs: Any) -> Any:
    """Case data (plans, attendance, housing status): need-to-know."""
    return labelled(Label.CASE, description, **kwargs)


def restricted(description: str | None = None, **kwargs: Any) -> Any:
    """Police, youth justice, refuge: need-to-know, safeguarding, two factors."""
    return labelled(Label.RESTRICTED, description, **kwargs)


def meta(description: str | None = None, **kwargs: Any) -> Any:
    """About the answer itself (sources, grade, warnings), never about the child."""
    return labelled(Label.META, description, **kwargs)


PurposeEnum = strawberry.enum(Purpose, name="Purpose", description="Why the practitioner is asking; recorded.")


@strawberry.enum(description="How sure the gateway is that linked records are this child's.")
class MatchGrade(enum.Enum):
    CERTAIN = "certain"
    PROBABLE = "probable"
    POSSIBLE = "possible"


@strawberry.type(description="A practitioner as other agencies' records name them.")
class PractitionerRef:
    id: str | None = directory()
    name: str | None = directory()
    team: str | None = directory()
    phone: str | None = directory()


@strawberry.type
class Name:
    given: str | None = identity()
    family: str | None = identity()


@strawberry.type
class Address:
    line1: str | None = contact()
    town: str | None = contact()
    postcode: str | None = contact("May be masked to the postcode district.")


@strawberry.type
class GpRegistration:
    practice_code: str | None = contact()
    practice_name: str | None = contact()


@strawberry.type
class SchoolEnrolment:
    urn: str | None = contact()
    name: str | None = contact()


@strawberry.type(description="A service or practitioner working with the child.")
class Involvement:
    agency: str | None = involvement()
    service: str | None = involvement()
    role: str | None = involvement()
    status: str | None = involvement()
    since: dt.date | None = involvement()
    is_lead_professional: bool | None = involvement()
    practitioner: PractitionerRef | None = involvement()


@strawberry.type(description="Early help (the Common Assessment Framework) and its lead professional.")
class EarlyHelp:
    caf_status: str | None = involvement()
    lead_professional: PractitionerRef | None = involvement()


@strawberry.type(description="Child in need, child protection plan or looked-after status.")
class SocialCareStatus:
    legal_status: str | None = case()
    plan_start_date: dt.date | None = case()
    allocated_worker: PractitionerRef | None = involvement()


@strawberry.type
class Exclusion:
    date: dt.date | None = case()
    kind: str | None = case()
    days: int | None = case()


@strawberry.type
class EducationRecord:
    attendance_percent: float | None = case()
    exclusions: list[Exclusion] | None = case()
    sen_status: str | None = case()
    safeguarding_lead: PractitionerRef | None = involvement()


@strawberry.type
class PoliceNotification:
    kind: str | None = restricted()
    date: dt.date | None = restricted()
    officer: PractitionerRef | None = restricted()


@strawberry.type
class PoliceInformation:
    notifications: list[PoliceNotification] | None = restricted()


@strawberry.type
class HousingInformation:
    tenancy_address: Address | None = contact()
    tenancy_start: dt.date | None = case()
    temporary_accommodation: bool | None = case()
    refuge: bool | None = restricted()
    household_size: int | None = case()
    housing_officer: PractitionerRef | None = involvement()


@strawberry.type
class YouthJusticeOrder:
    kind: str | None = restricted()
    start: dt.date | None = restricted()
    months: int | None = restricted()


@strawberry.type
class YouthJustice:
    orders: list[YouthJusticeOrder] | None = restricted()
    worker: PractitionerRef | None = restricted()


@strawberry.type
class CamhsReferral:
    status: str | None = sensitive()
    opened_on: dt.date | None = sensitive()
    clinician: PractitionerRef | None = sensitive()


@strawberry.type
class MentalHealth:
    referrals: list[CamhsReferral] | None = sensitive()


@strawberry.type
class SexualHealthService:
    service: str | None = sensitive()
    since: dt.date | None = sensitive()


@strawberry.type
class SexualHealth:
    services: list[SexualHealthService] | None = sensitive()


@strawberry.type(description="How one agency answered for this request. Never says whether it holds a record.")
class Source:
    agency: str = meta()
    status: str = meta("ok, not-called, unavailable, timeout, bad-response or circuit-open")
    latency_ms: float | None = meta()


@strawberry.type
class ConflictValue:
    agency: str | None = identity()
    value: str | None = identity()


@strawberry.type(description="Agencies disagree about this field; both values are returned, neither is chosen.")
class Conflict:
    field: str = identity()
    values: list[ConflictValue] = identity()


@strawberry.type(description="One child's profile, assembled live from every agency and checked field by field.")
class Child:
    id: strawberry.ID = identity("The NHS number.", default=strawberry.ID(""))
    name: Name | None = identity()
    date_of_birth: dt.date | None = identity()
    gender: str | None = identity()
    deceased: bool | None = identity()
    address: Address | None = contact()
    gp: GpRegistration | None = contact()
    school: SchoolEnrolment | None = contact()
    involvements: list[Involvement] | None = involvement()
    early_help: EarlyHelp | None = involvement()
    social_care: SocialCareStatus | None = case()
    education: EducationRecord | None = case()
    police: PoliceInformation | None = restricted()
    housing: HousingInformation | None = case()
    youth_justice: YouthJustice | None = restricted()
    mental_health: MentalHealth | None = sensitive()
    sexual_health: SexualHealth | None = sensitive()
    match_grade: MatchGrade | None = meta()
    sources: list[Source] = meta(default_factory=list)
    conflicts: list[Conflict] = identity(default_factory=list)
    warnings: list[str] = meta(default_factory=list)


@strawberry.type(description="A candidate from searchChildren. Identity only; open it with child(id:).")
class ChildMatch:
    id: strawberry.ID = identity(default=strawberry.ID(""))
    name: Name | None = identity()
    date_of_birth: dt.date | None = identity()
    gender: str | None = identity()
    match_grade: MatchGrade = meta(default=MatchGrade.POSSIBLE)
    score: float = meta(default=0.0)


@strawberry.type
class Service:
    id: str = directory()
    name: str = directory()
    agency: str = directory()
    category: str = directory()


@strawberry.type
class School:
    urn: str = directory()
    name: str = directory()
    phase: str = directory()
    postcode: str = directory()


@strawberry.type
class GpPractice:
    code: str = directory()
    name: str = directory()
    postcode: str = directory()


@strawberry.type
class Practitioner:
    id: str = directory()
    name: str = directory()
    role: str = directory()
    agency: str = directory()
    team: str = directory()
    phone: str = directory()
    email: str = directory()


@strawberry.type(description="The practitioner the token belongs to.")
class Me:
    id: str = meta()
    role: str = meta()
    agency: str = meta()
    two_factor: bool = meta()


@strawberry.type(description="A field withheld from a practitioner, and why (a path, never a value).")
class WithheldField:
    path: str = meta()
    reason: str = meta()


@strawberry.type(description="One access to a child's record, from the audit trail. For auditors.")
class AccessRecord:
    at: str = meta()
    kind: str = meta("child.read, break-glass.refused, policy.explain, alert")
    request_id: str | None = meta(default=None)
    practitioner: str | None = meta(default=None)
    role: str | None = meta(default=None)
    agency: str | None = meta(default=None)
    purpose: str | None = meta(default=None)
    break_glass: str | None = meta("The justification given, if break-glass was used.", default=None)
    agencies_called: list[str] = meta(default_factory=list)
    fields_returned: list[str] = meta("Paths of the fields returned, never their values.", default_factory=list)
    fields_withheld: list[WithheldField] = meta(default_factory=list)
    policy_revision: str | None = meta(default=None)
