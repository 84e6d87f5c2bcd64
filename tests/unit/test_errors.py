"""Error codes: every code the gateway can give a client is one it documents."""

from __future__ import annotations

import gateway.errors as errors


def every_subclass(cls: type) -> list[type]:
    return [sub for direct in cls.__subclasses__() for sub in (direct, *every_subclass(direct))]


def test_every_error_class_gives_a_documented_code() -> None:
    classes = every_subclass(errors.WardgateError)
    assert len(classes) > 10
    assert {c.__name__: c.code for c in classes if c.code not in errors.CODES} == {}
