"""Every test runs the gateway in development mode (development keys, personas and agency secrets), as
``wardgate demo`` does; production mode's refusals are tested where they are asked for explicitly."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ["WARDGATE_MODE"] = "development"

E2E = Path(__file__).with_name("e2e")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything under tests/e2e runs real servers: marked ``e2e``, so ``pytest -m "not e2e"`` is the fast half."""
    for item in items:
        if E2E in item.path.parents:
            item.add_marker(pytest.mark.e2e)
