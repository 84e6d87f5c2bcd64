"""The access rules (docs/access-rules.md) written out in Python, independently of the Rego, for the
end-to-end suites that check the gateway's answers against them (the policy matrix and the non-interference twins).

The rule parameters (purposes per role, roles, masks, address fields) come from the policy's data file;
the facts about a child from the mock population's ground truth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from gateway.config import PROJECT_ROOT
from gateway.dev import Persona
from gateway.pipeline.linkage import FellegiSunterMatcher, NameAliases, Person, load_weights
from mocks.population import Child as TrueChild
from support.stack import CHILDREN

RULES = json.loads((PROJECT_ROOT / "policies/wardgate/config/data.json").read_text())
SECTION_AGENCY = {
    "name": "health",
    "dateOfBirth": "health",
    "gender": "health",
    "deceased": "health",
    "address": "health",
    "gp": "health",
    "school": "education",
    "education": "education",
    "earlyHelp": "social-care",
    "socialCare": "social-care",
    "police": "police",
    "housing": "housing",
    "youthJustice": "youth-justice",
    "mentalHealth": "camhs",
    "sexualHealth": "sexual-health",
}
INVOLVEMENT_LABEL = {  # every agency whose connector adds involvements, and their label
    "health": "involvement",
    "education": "involvement",
    "social-care": "involvement",
    "camhs": "sensitive",
    "sexual-health": "sensitive",
    "police": "restricted",
    "youth-justice": "restricted",
    "housing": "case",
}
PRESENCE = {  # how sensitive it is that an agency holds a record at all (each connector's presence_label)
    "health": "identity",
    "education": "involvement",
    "social-care": "involvement",
    "police": "restricted",
    "housing": "case",
    "youth-justice": "restricted",
    "camhs": "sensitive",
    "sexual-health": "sensitive",
}
CORE = {"health", "social-care", "housing"}  # asked for every child: the spine and the facts agencies
DATA_QUALITY = {"conflicting", "deceased-disagreement", "missing-nhs-number", "duplicate", "weak-match"}
JUSTIFICATION = "Section 47 enquiry opened this morning; risk of significant harm"


@dataclass(frozen=True)
class Ask:
    persona: Persona
    purpose: str
    mfa: bool
    break_glass: bool
    child: TrueChild


# Which records link weakly is record linkage's decision (tested on its own in tests/unit/pipeline/linkage):
# the rules take it as given, from the same matcher and weights the gateway uses for this population.
MATCHER = FellegiSunterMatcher(load_weights(), NameAliases.load(), children=CHILDREN)


def _person(d: Any) -> Person:
    return Person(d.given, d.family, d.dob, d.postcode if hasattr(d, "postcode") else d.address.postcode)


def weak_records(c: TrueChild) -> set[str]:
    """Agencies (linked by name and date of birth: police, housing) whose record of the child links below
    certain."""
    return {
        agency
        for agency in ("police", "housing")
        if agency in c.copies and MATCHER.match(_person(c), _person(c.copies[agency])).grade not in ("certain", None)
    }


def involved(ask: Ask) -> bool:
    """Involvement is the persona's own agency's record naming them, linked with certainty."""
    agency = ask.persona.agency
    return ask.persona.practitioner_id in ask.child.involved_by.get(agency, set()) and agency not in weak_records(
        ask.child
    )


def need_to_know(ask: Ask, agency: str, override: bool) -> tuple[str, str]:
    role, purpose = ask.persona.role, ask.purpose
    if agency == ask.persona.agency:
        return "allow", "OWN_AGENCY"
    if involved(ask) and purpose == "safeguarding":
        return "allow", "INVOLVED"
    if role in RULES["restricted_roles"] and purpose == "safeguarding":
        return "allow", "SAFEGUARDING_ROLE"
    if override:
        return "allow", "BREAK_GLASS"
    if (role in RULES["restricted_roles"] or involved(ask)) and purpose != "safeguarding":
        return "deny", "SAFEGUARDING_PURPOSE_REQUIRED"
    return "deny", "NOT_NEED_TO_KNOW"


def visible(ask: Ask, agency: str) -> bool:
    """May the requester know that ``agency`` holds a record on the child? (No weak-match rule applies.)"""
    return base_rule(ask, PRESENCE[agency], agency, "*", child_weak=False)[0] != "deny"


def seen_weak(ask: Ask) -> set[str]:
    """The weak records this requester may know exist: only these count for them (rule 6)."""
    return {a for a in weak_records(ask.child) if visible(ask, a)}


def rule(ask: Ask, label: str, agency: str, coordinate: str) -> tuple[str, str]:
    """The access rules for one field: (allow | deny | mask:KIND, reason)."""
    weak = seen_weak(ask)
    action, reason = base_rule(ask, label, agency, coordinate, child_weak=bool(weak & CORE))
    # A weakly linked record's own fields: no more than identity, and only what would have been shown.
    if action != "deny" and agency in weak and label not in ("identity", "meta", "directory"):
        return "deny", "WEAK_MATCH"
    return action, reason


def base_rule(ask: Ask, label: str, agency: str, coordinate: str, *, child_weak: bool) -> tuple[str, str]:
    role, purpose, c = ask.persona.role, ask.purpose, ask.child
    if purpose not in RULES["purposes"].get(role, []):
        return "deny", "PURPOSE_NOT_PERMITTED"
    if ask.persona.agency not in RULES["role_agencies"].get(role, []):
        return "deny", "ROLE_NOT_OF_AGENCY"
    if label == "meta":
        return "allow", "META"
    if role == "auditor":
        return "deny", "AUDITOR_NO_CHILD_DATA"
    if label == "directory":
        return "allow", "DIRECTORY"
    override = ask.break_glass and role in RULES["child_protection_roles"] and purpose == "safeguarding"
    if c.shielded and not override and coordinate not in RULES["shielded_visible_fields"]:
        return "deny", "SHIELDED"
    refuge_known = ask.mfa and need_to_know(ask, RULES["refuge_agency"], override)[0] == "allow"
    if "refuge" in c.kinds and coordinate in RULES["address_fields"] and not refuge_known:
        return "deny", "PROTECTED_ADDRESS"
    if child_weak and label not in ("identity", "meta"):
        return "deny", "WEAK_MATCH"
    mask = RULES["masked_for_role"].get(role, {}).get(coordinate)
    if mask == "withhold":
        return "deny", "NOT_NEED_TO_KNOW"
    if mask:
        return f"mask:{mask}", "MASKED_FOR_ROLE"
    if label in ("identity", "contact", "involvement"):
        return "allow", label.upper()
    if label == "sensitive":
        if any(k.service == agency and role in k.roles and purpose in k.purposes for k in c.consents):
            return "allow", "CONSENTED"
        return ("allow", "BREAK_GLASS") if override else ("deny", "NO_CONSENT")
    if label == "restricted" and not ask.mfa:
        return "deny", "TWO_FACTOR_REQUIRED"
    return need_to_know(ask, agency, override)


def holds(c: TrueChild) -> dict[str, bool]:
    """Sections the child certainly has a record for, from the ground truth."""
    return {
        "name": True,
        "dateOfBirth": True,
        "address": True,
        "police": bool(c.police_ref),
        "youthJustice": bool(c.yj_id),
        "mentalHealth": bool(c.camhs_id),
        "sexualHealth": bool(c.sexual_health_id),
    }
