"""One gateway for the resolver tests: its schema and services over the mock agencies, in process."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from gateway.config import Settings
from gateway.server.app import build_schema
from mocks.population import Population
from support.inprocess import Agencies, services
from tests.unit.resolvers.client import Gateway

CHILDREN = 300


@pytest.fixture(scope="package")
async def gateway(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Gateway]:
    pop = Population.generate(CHILDREN, 1)
    audit = tmp_path_factory.mktemp("audit")
    settings = Settings(mode="development", audit_path=audit, linkage_children=CHILDREN, agency_retries=0)
    schema = build_schema(settings)
    transport = Agencies(pop)
    async with services(transport, settings, schema) as built:
        yield Gateway(schema, built, transport, pop)
