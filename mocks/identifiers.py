"""Identifier schemes the agencies use, with their check characters.

>>> nhs_number_is_valid("9434765919")
True
>>> upn_is_valid(with_upn_check_letter("823201115001"))
True
"""

from __future__ import annotations

from gateway.identifiers import nhs_check_digit, nhs_number_is_valid

__all__ = ["nhs_check_digit", "nhs_number_is_valid", "upn_check_letter", "upn_is_valid", "with_upn_check_letter"]

# The DfE's check-letter alphabet leaves out I, O and S, which are easily misread.
_UPN_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"


def upn_check_letter(twelve_digits: str) -> str:
    """The check letter of a Unique Pupil Number: digits weighted 2..13, modulo 23."""
    total = sum(int(d) * w for d, w in zip(twelve_digits, range(2, 14), strict=True))
    return _UPN_LETTERS[total % 23]


def with_upn_check_letter(twelve_digits: str) -> str:
    return upn_check_letter(twelve_digits) + twelve_digits


def upn_is_valid(value: str) -> bool:
    """True for a check letter followed by twelve digits that it checks."""
    if len(value) != 13 or not value[1:].isdigit():
        return False
    return value[0] == upn_check_letter(value[1:])
