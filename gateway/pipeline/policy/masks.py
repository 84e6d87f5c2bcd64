"""The masks a policy may ask for: a reduced value instead of the whole one (``"action": "mask"``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MASKS: dict[str, Callable[[Any], Any]] = {
    "postcode-district": lambda v: str(v).split()[0] if v else v,
    "initial": lambda v: (str(v)[:1] + ".") if v else v,
}
"""Mask name (as the policy writes it) -> how a value is reduced."""
