"""Development only: the personas, the key that signs their tokens, and the agencies' development secrets.

Everything a developer needs to run the gateway against the mock agencies lives here, in one place, and
production mode refuses all of it: the development signing key (by its key id), the development search
key, and the development credentials of the agencies (see :func:`gateway.config.Settings.production_problems`
and :class:`gateway.agencies.connectors.CredentialSpec`).
"""

from __future__ import annotations

from pathlib import Path

from gateway.dev.personas import PERSONAS, ROLES, Persona, Role, persona

DEV_KEYS = Path(__file__).resolve().parent / "devkeys"
DEV_JWKS = DEV_KEYS / "dev-jwks.json"
DEV_SIGNING_KEY = DEV_KEYS / "dev-signing-key.pem"
DEV_KID = "wardgate-dev-1"
DEV_ISSUER = "https://wardgate.dev/issuer"
DEV_SEARCH_KEY = "wardgate-dev-search-hmac-key"

DEV_SECRETS: dict[str, str] = {
    # environment variable -> the credential the mock agency expects (mocks/ read them from here too)
    "WARDGATE_DIRECTORY_API_KEY": "dev-directory-key",
    "WARDGATE_HEALTH_SECRET": "dev-health-token",
    "WARDGATE_EDUCATION_SECRET": "dev-education-key",
    "WARDGATE_SOCIAL_CARE_SECRET": "dev-socialcare-key",
    "WARDGATE_POLICE_SECRET": "dev-police-key",
    "WARDGATE_HOUSING_SECRET": "dev-housing-password",
    "WARDGATE_YOUTH_JUSTICE_SECRET": "dev-youthjustice-token",
    "WARDGATE_CAMHS_SECRET": "dev-camhs-key",
    "WARDGATE_SEXUAL_HEALTH_SECRET": "dev-sexualhealth-token",
}
"""What each agency's credential is in development, by the environment variable that sets it in production."""

__all__ = [
    "DEV_ISSUER",
    "DEV_JWKS",
    "DEV_KEYS",
    "DEV_KID",
    "DEV_SEARCH_KEY",
    "DEV_SECRETS",
    "DEV_SIGNING_KEY",
    "PERSONAS",
    "ROLES",
    "Persona",
    "Role",
    "persona",
]
