"""The NHS number check the gateway applies to every child id before calling anyone."""

from __future__ import annotations

_WEIGHTS = (10, 9, 8, 7, 6, 5, 4, 3, 2)


def nhs_number_is_valid(value: str) -> bool:
    """Ten digits whose last is the modulus-11 check digit of the first nine."""
    if len(value) != 10 or not value.isdigit():
        return False
    check = 11 - sum(int(d) * w for d, w in zip(value[:9], _WEIGHTS, strict=True)) % 11
    return (0 if check == 11 else check) == int(value[9]) and check != 10
