"""Mock agencies: eight supplier-shaped systems and a council directory over one synthetic population.

Each agency is its own Starlette app with its own identifiers, record shape, field names, date
format, search API and credential (see the README, "The mock agencies"). They all draw on one
deterministic :class:`~mocks.population.Population`; :mod:`mocks.runner` serves them on loopback.
"""

from mocks.agency import AgencyApp, Credential
from mocks.faults import Faults, Latency
from mocks.population import ErrorRates, Population

__all__ = ["AgencyApp", "Credential", "ErrorRates", "Faults", "Latency", "Population"]
