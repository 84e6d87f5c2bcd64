"""``me``: the practitioner the token names, and nobody without a valid token."""

from __future__ import annotations

from support.tokens import tampered
from tests.unit.resolvers.client import Gateway, codes

ME = "{ me { id role agency twoFactor } }"


async def test_me_is_the_practitioner_the_token_names(gateway: Gateway) -> None:
    body, _ = await gateway.ask(ME, "teacher", mfa=True)
    assert body == {
        "data": {
            "me": {"id": "P000002", "role": "designated-safeguarding-lead", "agency": "education", "twoFactor": True}
        }
    }
    body, _ = await gateway.ask(ME, "gp", mfa=False)
    assert body["data"]["me"] == {"id": "P000003", "role": "gp", "agency": "health", "twoFactor": False}


async def test_me_without_a_valid_token_is_unauthenticated_with_the_reason(gateway: Gateway) -> None:
    body, _ = await gateway.ask(ME)
    assert body["data"] is None
    assert codes(body) == [(["me"], "UNAUTHENTICATED")]
    assert body["errors"][0]["extensions"]["reason"] == "MISSING"
    body, _ = await gateway.ask(ME, token=tampered())
    assert body["data"] is None and codes(body) == [(["me"], "UNAUTHENTICATED")]
    assert body["errors"][0]["extensions"]["reason"] != "MISSING"
