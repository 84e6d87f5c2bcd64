"""Authenticate: a bearer JWT, verified against a JWKS, becomes the request's :class:`Subject`.

Issuer, audience, expiry and not-before are checked; only the configured algorithms are accepted (never
``none``, never an HMAC algorithm a public key could be abused as the secret for); keys are chosen by
``kid`` from a JWKS file or URL (cached, refreshed on an unknown ``kid`` for key rotation). Failures
are :class:`~gateway.errors.AuthError` with a reason; the caller answers ``UNAUTHENTICATED``.

A practitioner's app sends the same token with every request, and checking its ES256 signature is
about 0.25 ms of CPU, a tenth of a child profile's budget. So a token that passed every check is
remembered (by its exact text) until the earlier of its own expiry and ``VERIFIED_TTL_S``, which bounds
how long a key removed from the JWKS keeps working. Failures are never remembered.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
from cachetools import TLRUCache

from gateway.dev import DEV_KID
from gateway.errors import AuthError, ConfigError
from gateway.types import Subject

_SYMMETRIC = {"HS256", "HS384", "HS512", "none"}
VERIFIED_TTL_S = 60.0
VERIFIED_MAX = 10_000


def _until(_token: str, entry: tuple[Subject, float], now: float) -> float:
    return min(entry[1], now + VERIFIED_TTL_S)


class Authenticator:
    def __init__(
        self,
        *,
        issuer: str,
        audience: str,
        algorithms: list[str],
        jwks_path: Path | None = None,
        jwks_url: str | None = None,
        leeway_s: int = 30,
        production: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if bad := _SYMMETRIC.intersection(algorithms):
            raise ConfigError(f"algorithms {sorted(bad)} are not allowed for bearer tokens")
        self.issuer, self.audience, self.algorithms, self.leeway = issuer, audience, algorithms, leeway_s
        self.clock = clock  # seconds since the epoch; expiry, not-before and the remembered tokens read it
        self._client: jwt.PyJWKClient | None = None
        self._keys: dict[str, jwt.PyJWK] = {}
        if jwks_url:
            self._client = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=300)
        elif jwks_path:
            try:
                keyset = jwt.PyJWKSet.from_dict(json.loads(jwks_path.read_text()))
            except (OSError, ValueError, jwt.PyJWKSetError) as exc:
                raise ConfigError(f"cannot read JWKS {jwks_path}: {exc}") from exc
            self._keys = {k.key_id: k for k in keyset.keys if k.key_id}
        else:
            raise ConfigError("configure jwks_path or jwks_url")
        # token text -> (subject, expiry incl. leeway): only tokens that passed every check
        self._verified: TLRUCache[str, tuple[Subject, float]] = TLRUCache(VERIFIED_MAX, _until, timer=clock)
        if production and DEV_KID in self._keys:
            raise ConfigError("production mode refuses the development signing key (kid wardgate-dev-1)")

    def _key(self, token: str) -> jwt.PyJWK:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise AuthError("malformed token", reason="MALFORMED") from exc
        if header.get("alg") not in self.algorithms:
            raise AuthError("token algorithm not allowed", reason="ALGORITHM")
        kid = header.get("kid")
        if not isinstance(kid, str):
            raise AuthError("token has no key id", reason="UNKNOWN_KEY")
        if self._client is not None:
            try:
                return self._client.get_signing_key(kid)
            except jwt.PyJWKClientError as exc:
                raise AuthError("unknown signing key", reason="UNKNOWN_KEY") from exc
        key = self._keys.get(kid)
        if key is None:
            raise AuthError("unknown signing key", reason="UNKNOWN_KEY")
        return key

    def authenticate(self, authorization: str | None) -> Subject:
        if not authorization or not authorization.startswith("Bearer "):
            raise AuthError("a bearer token is required", reason="MISSING")
        token = authorization[7:].strip()
        known = self._verified.get(token)
        if known is not None:
            return known[0]
        key = self._key(token)
        try:
            claims = jwt.decode(
                token,
                key=key,
                algorithms=self.algorithms,
                audience=self.audience,
                issuer=self.issuer,
                options={
                    "require": ["exp", "iat", "iss", "aud", "sub"],
                    # checked below against this authenticator's clock, as PyJWT would against its own
                    "verify_exp": False,
                    "verify_nbf": False,
                    "verify_iat": False,
                },
            )
            self._check_times(claims)
        except jwt.ExpiredSignatureError as exc:
            raise AuthError("token expired", reason="EXPIRED") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthError("token not yet valid", reason="NOT_YET_VALID") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthError("token is for another audience", reason="AUDIENCE") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthError("token from an unknown issuer", reason="ISSUER") from exc
        except jwt.InvalidTokenError as exc:
            raise AuthError("token rejected", reason="INVALID") from exc
        role, agency = claims.get("role"), claims.get("agency")
        if not isinstance(role, str) or not isinstance(agency, str):
            raise AuthError("token lacks role or agency", reason="CLAIMS")
        amr = claims.get("amr") or []
        subject = Subject(
            practitioner_id=str(claims["sub"]),
            role=role,
            agency=agency,
            mfa=isinstance(amr, list) and ("mfa" in amr or "otp" in amr or "hwk" in amr),
            name=str(claims.get("name", "")),
            token_id=str(claims.get("jti", "")),
        )
        self._verified[token] = (subject, float(claims["exp"]) + self.leeway)
        return subject

    def _check_times(self, claims: dict[str, Any]) -> None:
        """Expiry, not-before and issued-at against :attr:`clock`, with the configured leeway (PyJWT's rules)."""
        now = self.clock()
        exp, nbf, iat = _number(claims, "exp"), _number(claims, "nbf"), _number(claims, "iat")
        if exp is not None and exp <= now - self.leeway:
            raise jwt.ExpiredSignatureError("expired")
        if nbf is not None and nbf > now + self.leeway:
            raise jwt.ImmatureSignatureError("not yet valid")
        if iat is not None and iat > now + self.leeway:
            raise jwt.ImmatureSignatureError("issued in the future")


def _number(claims: dict[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise jwt.InvalidTokenError(f"{name} must be a number")
    return float(value)


def require_subject(subject: Subject | None, auth_error: str | None) -> Subject:
    """The authenticated practitioner, or ``UNAUTHENTICATED`` with why the token was refused."""
    if subject is None:
        raise AuthError("authentication required", reason=auth_error or "MISSING")
    return subject
