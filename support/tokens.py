"""Forged and broken bearer tokens: the attacks a gateway must refuse, for unit and end-to-end tests alike."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from gateway.dev import DEV_KID, DEV_SIGNING_KEY

ISSUER, AUDIENCE = "https://wardgate.dev/issuer", "wardgate"
PRIVATE = DEV_SIGNING_KEY.read_bytes()


def claims(**changes: object) -> dict[str, object]:
    now = int(time.time())
    base: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "P000003",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "role": "gp",
        "agency": "health",
        "amr": ["pwd"],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def signed(**changes: object) -> str:
    return jwt.encode(claims(**changes), PRIVATE, algorithm="ES256", headers={"kid": DEV_KID})


def alg_none() -> str:
    header = b64(json.dumps({"alg": "none", "typ": "JWT", "kid": DEV_KID}).encode())
    return f"{header}.{b64(json.dumps(claims(role='social-worker')).encode())}."


def hs256_with_the_public_key() -> str:
    public = ec.EllipticCurvePublicKey  # the verifier's own public key, used as an HMAC secret
    key = serialization.load_pem_private_key(PRIVATE, None).public_key()
    assert isinstance(key, public)
    secret = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    head = b64(json.dumps({"alg": "HS256", "typ": "JWT", "kid": DEV_KID}).encode())
    body = b64(json.dumps(claims()).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{b64(sig)}"


def wrong_key() -> str:
    other = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims(), other, algorithm="ES256", headers={"kid": DEV_KID})


def unknown_kid() -> str:
    return jwt.encode(claims(), PRIVATE, algorithm="ES256", headers={"kid": "rotated-away"})


def tampered() -> str:
    head, body, sig = signed().split(".")
    payload = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    payload["role"], payload["amr"] = "social-worker", ["pwd", "mfa"]
    return f"{head}.{b64(json.dumps(payload).encode())}.{sig}"


ATTACKS: dict[str, Callable[[], str]] = {
    "alg none": alg_none,
    "HS256 signed with the public key": hs256_with_the_public_key,
    "signed with another key": wrong_key,
    "unknown kid": unknown_kid,
    "expired": lambda: signed(iat=int(time.time()) - 7200, nbf=int(time.time()) - 7200, exp=int(time.time()) - 3600),
    "not yet valid": lambda: signed(nbf=int(time.time()) + 3600),
    "wrong issuer": lambda: signed(iss="https://evil.example/issuer"),
    "wrong audience": lambda: signed(aud="another-service"),
    "tampered payload": tampered,
    "no expiry": lambda: signed(exp=None),
    "not a JWT": lambda: "not.a.token",
}
