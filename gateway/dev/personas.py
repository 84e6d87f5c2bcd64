"""The development personas, and the practitioner roles the mock council employs, defined once.

The mock directory (``mocks/population.py``) creates each role's first practitioner with the id written
here, so a persona's token names a practitioner the mock agencies know and who works with real children
of the synthetic population.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Role:
    """A practitioner role, the agency it belongs to, its team, and the id of its first practitioner."""

    name: str
    agency: str
    team: str
    first_id: str


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    practitioner_id: str
    role: str
    agency: str
    title: str


ROLES: tuple[Role, ...] = (
    Role("social-worker", "social-care", "Children's Social Care Team", "P000001"),
    Role("designated-safeguarding-lead", "education", "Schools", "P000002"),
    Role("gp", "health", "General Practice", "P000003"),
    Role("health-visitor", "health", "Health Visiting", "P000004"),
    Role("school-nurse", "health", "School Nursing", "P000005"),
    Role("police-officer", "police", "Public Protection Unit", "P000006"),
    Role("housing-officer", "housing", "Housing Options", "P000007"),
    Role("yot-worker", "youth-justice", "Youth Offending Team", "P000008"),
    Role("camhs-clinician", "camhs", "CAMHS Community Team", "P000009"),
    Role("sexual-health-nurse", "sexual-health", "Young People's Clinic", "P000010"),
    Role("early-help-worker", "social-care", "Early Help Hub", "P000011"),
    Role("voluntary-worker", "voluntary", "Wardbury Young Carers", "P000012"),
    Role("auditor", "council", "Information Governance", "P000013"),
)
"""Every role the mock council employs, in the order its directory is built."""

_ROLE = {r.name: r for r in ROLES}


def _persona(name: str, role: str, title: str) -> Persona:
    r = _ROLE[role]
    return Persona(name, r.first_id, r.name, r.agency, title)


PERSONAS: tuple[Persona, ...] = (
    _persona("social-worker", "social-worker", "Social worker"),
    _persona("teacher", "designated-safeguarding-lead", "Teacher / designated safeguarding lead"),
    _persona("gp", "gp", "GP"),
    _persona("health-visitor", "health-visitor", "Health visitor"),
    _persona("police-officer", "police-officer", "Police officer, public protection unit"),
    _persona("housing-officer", "housing-officer", "Housing officer"),
    _persona("yot-worker", "yot-worker", "Youth offending worker"),
    _persona("camhs-clinician", "camhs-clinician", "CAMHS clinician"),
    _persona("voluntary-worker", "voluntary-worker", "Voluntary-sector worker"),
    _persona("auditor", "auditor", "Auditor (reads the audit trail, never child data)"),
)


def persona(name: str) -> Persona:
    """The persona called ``name``; :class:`KeyError` with the known names if there is none."""
    for p in PERSONAS:
        if p.name == name:
            return p
    raise KeyError(f"unknown persona {name!r}; known: {', '.join(p.name for p in PERSONAS)}")
