"""Development tokens: a persona's claims, signed with the development key (refused in production)."""

from __future__ import annotations

import time
import uuid

import jwt

from gateway.dev import DEV_ISSUER, DEV_KID, DEV_SIGNING_KEY, persona


def dev_token(
    name: str,
    *,
    mfa: bool = False,
    issuer: str = DEV_ISSUER,
    audience: str = "wardgate",
    ttl_s: int = 3600,
) -> str:
    """A signed token for the persona ``name`` (two factors when ``mfa``)."""
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
    return jwt.encode(claims, DEV_SIGNING_KEY.read_bytes(), algorithm="ES256", headers={"kid": DEV_KID})
