"""Token attacks: each is refused as UNAUTHENTICATED, in process and over real HTTP with no data."""

from __future__ import annotations

import json
import time

import pytest

from gateway.dev import DEV_KEYS
from gateway.dev.tokens import dev_token
from gateway.errors import AuthError, ConfigError
from gateway.pipeline.authenticate import Authenticator
from support.tokens import ATTACKS, AUDIENCE, ISSUER, b64, claims, signed


def authenticator(**kw: object) -> Authenticator:
    return Authenticator(
        issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256"], jwks_path=DEV_KEYS / "dev-jwks.json", **kw
    )  # type: ignore[arg-type]


@pytest.mark.parametrize("attack", list(ATTACKS))
def test_each_token_attack_is_refused(attack: str) -> None:
    with pytest.raises(AuthError) as err:
        authenticator().authenticate("Bearer " + ATTACKS[attack]())
    assert err.value.code == "UNAUTHENTICATED"


def test_a_good_token_becomes_the_subject_with_two_factors_from_amr() -> None:
    auth = authenticator()
    subject = auth.authenticate("Bearer " + dev_token("police-officer", mfa=True))
    assert (subject.practitioner_id, subject.role, subject.agency, subject.mfa) == (
        "P000006",
        "police-officer",
        "police",
        True,
    )
    assert auth.authenticate("Bearer " + dev_token("police-officer")).mfa is False


def test_symmetric_algorithms_cannot_be_configured() -> None:
    with pytest.raises(ConfigError, match="not allowed"):
        Authenticator(
            issuer=ISSUER, audience=AUDIENCE, algorithms=["ES256", "HS256"], jwks_path=DEV_KEYS / "dev-jwks.json"
        )


def test_production_mode_refuses_the_development_key() -> None:
    with pytest.raises(ConfigError, match="development signing key"):
        authenticator(production=True)


class Clock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_a_remembered_token_still_expires_and_a_refused_one_is_never_remembered() -> None:
    clock = Clock()
    auth = authenticator(leeway_s=0, clock=clock)
    token = signed(exp=int(time.time()) + 2)
    assert auth.authenticate("Bearer " + token).practitioner_id == "P000003"
    assert auth.authenticate("Bearer " + token).practitioner_id == "P000003"  # from the verified-token cache
    clock.now += 2.2
    with pytest.raises(AuthError) as err:
        auth.authenticate("Bearer " + token)
    assert err.value.extensions["reason"] == "EXPIRED"
    # a tampered token is refused every time, however often it is sent after a good one
    good = signed()
    auth.authenticate("Bearer " + good)
    head, _, sig = good.split(".")
    forged = ".".join([head, b64(json.dumps(claims(role="social-worker")).encode()), sig])
    for _ in range(2):
        with pytest.raises(AuthError):
            auth.authenticate("Bearer " + forged)
