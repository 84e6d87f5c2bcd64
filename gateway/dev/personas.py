"""Development personas and their tokens, signed with the local dev key (see gateway/devkeys)."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass

import jwt

from gateway.config import DEV_KEYS
from gateway.pipeline.authenticate import DEV_KID


@dataclass(frozen=True, slots=True)
class Persona:
    name: str
    practitioner_id: str
    role: str
    agency: str
    title: str


# Practitioner ids match the mock directory: the first practitioner of each role is the persona.
PERSONAS: tuple[Persona, ...] = (
    Persona("social-worker", "P000001", "social-worker", "social-care", "Social worker"),
    Persona(
        "teacher", "P000002", "designated-safeguarding-lead", "education", "Teacher / designated safeguarding lead"
    ),
    Persona("gp", "P000003", "gp", "health", "GP"),
    Persona("health-visitor", "P000004", "health-visitor", "health", "Health visitor"),
    Persona("police-officer", "P000006", "police-officer", "police", "Police officer, public protection unit"),
    Persona("housing-officer", "P000007", "housing-officer", "housing", "Housing officer"),
    Persona("yot-worker", "P000008", "yot-worker", "youth-justice", "Youth offending worker"),
    Persona("camhs-clinician", "P000009", "camhs-clinician", "camhs", "CAMHS clinician"),
    Persona("voluntary-worker", "P000012", "voluntary-worker", "voluntary", "Voluntary-sector worker"),
    Persona("auditor", "P000013", "auditor", "council", "Auditor (reads the audit trail, never child data)"),
)


def persona(name: str) -> Persona:
    for p in PERSONAS:
        if p.name == name:
            return p
    raise KeyError(f"unknown persona {name!r}; known: {', '.join(p.name for p in PERSONAS)}")


def dev_token(
    name: str,
    *,
    mfa: bool = False,
    issuer: str = "https://wardgate.dev/issuer",
    audience: str = "wardgate",
    ttl_s: int = 3600,
) -> str:
    p = persona(name)
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": p.practitioner_id,
        "iat": now,
        "nbf": now,
        "exp": now + ttl_s,
        "jti": str(uuid.uuid4()),
        "name": p.title,
        "role": p.role,
        "agency": p.agency,
        "amr": ["pwd", "mfa"] if mfa else ["pwd"],
    }
    key = (DEV_KEYS / "dev-signing-key.pem").read_bytes()
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": DEV_KID})
