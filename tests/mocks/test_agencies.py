"""Each mock agency: its own shape, credential, forwarded headers, OpenAPI document and injected faults."""

from __future__ import annotations

import asyncio
import time
from xml.etree import ElementTree as ET

import httpx
import orjson
import pytest

from mocks.agency import AgencyApp
from mocks.faults import Faults
from mocks.population import Population
from mocks.runner import agency_specs, build_all

ADMIN = {"x-admin-key": "mock-admin"}

FORWARDED = {"x-practitioner-id": "P000001", "x-purpose": "safeguarding", "x-request-id": "test-req"}


@pytest.fixture(scope="module")
def pop() -> Population:
    return Population.generate(children=1500, seed=5)


@pytest.fixture(scope="module")
def apps(pop: Population) -> dict[str, AgencyApp]:
    return build_all(pop)


def client(app: AgencyApp, **kw: object) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://agency", **kw)  # type: ignore[arg-type]


def creds(name: str) -> dict[str, str]:
    spec = next(s for s in agency_specs() if s.name == name)
    c = spec.credential
    if c.scheme == "bearer":
        return {"authorization": f"Bearer {c.secret}"}
    if c.scheme == "api-key":
        return {c.header: c.secret}
    import base64

    return {"authorization": "Basic " + base64.b64encode(f"{c.user}:{c.secret}".encode()).decode()}


async def test_every_agency_rejects_calls_without_its_credential(apps: dict[str, AgencyApp]) -> None:
    paths = {
        "directory": "/directory/services",
        "health": "/fhir/Patient/9434765919",
        "education": "/v1/pupils?nhsNumber=1",
        "social-care": "/api/persons?nhs_number=1",
        "police": "/api/v2/persons/search?surname=A&dob=01-JAN-2015",
        "housing": "/HousingService/HouseholdSearch.asmx/Search?Surname=A&DateOfBirth=01.01.2015",
        "youth-justice": "/yj/api/young-people?nhs=1",
        "camhs": "/camhs/v1/referrals?nhs_number=1",
        "sexual-health": "/api/clients?nhsNumber=1",
    }
    for name, path in paths.items():
        async with client(apps[name]) as c:
            assert (await c.get(path, headers=FORWARDED)).status_code == 401, name
            assert (
                await c.get(path, headers={**FORWARDED, "authorization": "Bearer wrong", "x-api-key": "wrong"})
            ).status_code == 401
            ok = await c.get(path, headers={**FORWARDED, **creds(name)})
            assert ok.status_code in (200, 404), (name, ok.status_code, ok.text)
            doc = (await c.get("/openapi.json")).json()
            assert doc["openapi"].startswith("3.") and doc["paths"], name
            assert doc["components"]["securitySchemes"]["agencyCredential"]


async def test_child_endpoints_require_the_forwarded_practitioner_purpose_and_request(
    apps: dict[str, AgencyApp], pop: Population
) -> None:
    nhs = pop.children[0].nhs_number
    async with client(apps["health"]) as c:
        r = await c.get(f"/fhir/Patient/{nhs}", headers=creds("health"))
        assert r.status_code == 400 and "x-request-id" in r.text
        await c.delete("/__admin/calls", headers=ADMIN)
        assert (await c.get(f"/fhir/Patient/{nhs}", headers={**FORWARDED, **creds("health")})).status_code == 200
        calls = (await c.get("/__admin/calls", headers=ADMIN)).json()["calls"]
        assert calls[-1]["practitioner"] == "P000001" and calls[-1]["purpose"] == "safeguarding"
        assert calls[-1]["requestId"] == "test-req"


async def test_each_agency_speaks_its_own_dialect(apps: dict[str, AgencyApp], pop: Population) -> None:
    child = next(c for c in pop.of_kind("police-known") if c.upn and pop.education[c.upn].nhs_number)
    h = {**FORWARDED}
    async with client(apps["health"]) as c:
        p = (await c.get(f"/fhir/Patient/{child.nhs_number}", headers={**h, **creds("health")})).json()
        assert p["resourceType"] == "Patient" and p["birthDate"] == child.dob.isoformat()
        assert p["identifier"][0]["value"] == child.nhs_number
    async with client(apps["education"]) as c:
        page = (
            await c.get("/v1/pupils", params={"nhsNumber": child.nhs_number}, headers={**h, **creds("education")})
        ).json()
        assert page["meta"]["page"] == 1 and page["data"][0]["upn"] == child.upn
        assert page["data"][0]["dateOfBirth"].count("/") == 2  # DD/MM/YYYY
        school = pop.schools[child.school_urn or ""]
        paged = (
            await c.get(
                "/v1/pupils",
                params={"schoolUrn": school.urn, "pageSize": 5, "page": 2},
                headers={**h, **creds("education")},
            )
        ).json()
        assert paged["meta"]["pageSize"] == 5 and paged["meta"]["page"] == 2 and len(paged["data"]) <= 5
    async with client(apps["police"]) as c:
        r = await c.get("/api/v2/persons/search", params={"nhs": child.nhs_number}, headers={**h, **creds("police")})
        assert r.status_code == 400  # no search by NHS number
        found = (
            await c.get(
                "/api/v2/persons/search",
                params={"surname": child.family, "dob": child.dob.strftime("%d-%b-%Y").upper()},
                headers={**h, **creds("police")},
            )
        ).json()
        assert any(p["person_ref"] == child.police_ref for p in found["results"])
    hh = next(iter(pop.households.values()))
    m = hh.members[0]
    async with client(apps["housing"]) as c:
        r = await c.get(
            "/HousingService/HouseholdSearch.asmx/Search",
            params={"Surname": m.family, "DateOfBirth": m.dob.strftime("%d.%m.%Y")},
            headers={**h, **creds("housing")},
        )
        assert r.headers["content-type"].startswith("application/xml")
        root = ET.fromstring(r.content)
        assert root.tag.endswith("HouseholdSearchResult") and int(root.get("Count") or 0) >= 1
        assert (await c.get("/openapi.json")).json()["paths"]["/HousingService/HouseholdSearch.asmx/Search"]["get"][
            "responses"
        ]["200"]["content"]["application/xml"]


async def _rate(app: AgencyApp, name: str, path: str, n: int) -> tuple[list[int], list[bytes]]:
    statuses, bodies = [], []
    async with client(app) as c:
        for _ in range(n):
            r = await c.get(path, headers={**FORWARDED, **creds(name)})
            statuses.append(r.status_code)
            bodies.append(r.content)
    return statuses, bodies


async def test_injected_error_rate_is_close_to_the_configured_one(pop: Population) -> None:
    app = build_all(pop, {"camhs": Faults(error_rate=0.3, seed=4)})["camhs"]
    statuses, _ = await _rate(app, "camhs", "/camhs/v1/referrals?nhs_number=1", 600)
    share = statuses.count(503) / len(statuses)
    assert 0.25 < share < 0.35


async def test_faults_change_at_run_time_through_the_admin_endpoint(
    apps: dict[str, AgencyApp], pop: Population
) -> None:
    app = apps["sexual-health"]
    async with client(app) as c:
        bad = await c.put("/__admin/faults", headers=ADMIN, content=b'{"error_rate": 2}')
        assert bad.status_code == 422
        assert (await c.put("/__admin/faults", content=b'{"error_rate": 1}')).status_code == 401
        r = await c.put("/__admin/faults", headers=ADMIN, content=b'{"malformed_rate": 1}')
        assert r.json()["malformed_rate"] == 1
        body = (await c.get("/api/clients?nhsNumber=1", headers={**FORWARDED, **creds("sexual-health")})).content
        with pytest.raises(orjson.JSONDecodeError):
            orjson.loads(body)
        await c.put("/__admin/faults", headers=ADMIN, content=b'{"oversized_rate": 1, "oversized_bytes": 300000}')
        big = await c.get("/api/clients?nhsNumber=1", headers={**FORWARDED, **creds("sexual-health")})
        assert len(big.content) >= 300000
        await c.put("/__admin/faults", headers=ADMIN, content=b'{"latency": {"kind": "fixed", "ms": 120}}')
        started = time.perf_counter()
        assert (
            await c.get("/api/clients?nhsNumber=1", headers={**FORWARDED, **creds("sexual-health")})
        ).status_code == 200
        assert time.perf_counter() - started >= 0.12
        await c.put("/__admin/faults", headers=ADMIN, content=b'{"timeout_rate": 1, "hang_seconds": 5}')
        with pytest.raises(TimeoutError):
            async with asyncio.timeout(0.3):
                await c.get("/api/clients?nhsNumber=1", headers={**FORWARDED, **creds("sexual-health")})
        await c.put("/__admin/faults", headers=ADMIN, content=b"{}")
        ok = await c.get("/api/clients?nhsNumber=1", headers={**FORWARDED, **creds("sexual-health")})
        assert ok.status_code == 200 and orjson.loads(ok.content) == {"clients": []}
