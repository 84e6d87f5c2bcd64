"""Every test runs the gateway in development mode (development keys, personas and agency secrets), as
``wardgate demo`` does; production mode's refusals are tested where they are asked for explicitly."""

from __future__ import annotations

import os

os.environ["WARDGATE_MODE"] = "development"
