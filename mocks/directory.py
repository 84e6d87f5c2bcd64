"""The council's service directory: services, schools, GP practices and practitioner contacts.

Non-sensitive reference data, and the only data the gateway may cache. Needs the API key but no
practitioner or purpose headers.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.dev import DEV_SECRETS
from mocks.agency import AgencyApp, Credential, agency_app, paged
from mocks.faults import Faults
from mocks.names import SERVICES
from mocks.openapi import I, S, arr, document, get, obj, path_param, query, ref
from mocks.population import Population

CREDENTIAL = Credential("api-key", DEV_SECRETS["WARDGATE_DIRECTORY_API_KEY"], header="x-api-key")


def build(pop: Population, *, credential: Credential = CREDENTIAL, faults: Faults | None = None) -> AgencyApp:
    services = [{"id": i, "name": n, "agency": a, "category": c} for i, n, a, c in SERVICES]
    schools = [
        {"urn": s.urn, "name": s.name, "phase": s.phase, "postcode": s.postcode, "dslId": s.dsl_id}
        for s in pop.schools.values()
    ]
    practices = [{"code": g.code, "name": g.name, "postcode": g.postcode} for g in pop.gp_practices.values()]
    people = {
        p.id: {
            "id": p.id,
            "name": p.name,
            "role": p.role,
            "agency": p.agency,
            "team": p.team,
            "phone": p.phone,
            "email": p.email,
        }
        for p in pop.practitioners.values()
    }

    def listing(items: list[dict[str, object]]) -> object:
        async def endpoint(request: Request) -> Response:
            page, meta = paged(items, request, default_size=100, max_size=1000)
            return JSONResponse({"items": page, **meta})

        return endpoint

    async def practitioner(request: Request) -> Response:
        found = people.get(request.path_params["pid"])
        if found is None:
            return JSONResponse({"error": "not found"}, 404)
        return JSONResponse(found)

    async def practitioners(request: Request) -> Response:
        role = request.query_params.get("role")
        items = [p for p in people.values() if role is None or p["role"] == role]
        page, meta = paged(items, request, default_size=100, max_size=1000)
        return JSONResponse({"items": page, **meta})

    routes = [
        Route("/directory/services", listing(services)),  # type: ignore[arg-type]
        Route("/directory/schools", listing(schools)),  # type: ignore[arg-type]
        Route("/directory/gp-practices", listing(practices)),  # type: ignore[arg-type]
        Route("/directory/practitioners/{pid}", practitioner),
        Route("/directory/practitioners", practitioners),
    ]
    return agency_app("directory", routes, OPENAPI, credential=credential, faults=faults or Faults())


_PAGE = {"page": I, "pageSize": I, "totalCount": I, "totalPages": I}
_PAGING = [query("page", "1-based page", kind="integer"), query("pageSize", "at most 1000", kind="integer")]
OPENAPI = document(
    "Wardshire Children's Services Directory",
    "Services, schools, GP practices and the practitioner contact directory. Non-sensitive; ISO dates.",
    {
        "/directory/services": get("listServices", "Services", _PAGING, "ServicePage", forwarded=False),
        "/directory/schools": get("listSchools", "Schools", _PAGING, "SchoolPage", forwarded=False),
        "/directory/gp-practices": get("listGpPractices", "GP practices", _PAGING, "GpPracticePage", forwarded=False),
        "/directory/practitioners": get(
            "listPractitioners",
            "Practitioners",
            [query("role", "Filter by role"), *_PAGING],
            "PractitionerPage",
            forwarded=False,
        ),
        "/directory/practitioners/{pid}": get(
            "getPractitioner",
            "A practitioner",
            [path_param("pid", "Practitioner id")],
            "Practitioner",
            forwarded=False,
            not_found=True,
        ),
    },
    {
        "Service": obj({"id": S, "name": S, "agency": S, "category": S}),
        "School": obj({"urn": S, "name": S, "phase": S, "postcode": S, "dslId": S}),
        "GpPractice": obj({"code": S, "name": S, "postcode": S}),
        "Practitioner": obj({"id": S, "name": S, "role": S, "agency": S, "team": S, "phone": S, "email": S}),
        "ServicePage": obj({"items": arr(ref("Service")), **_PAGE}),
        "SchoolPage": obj({"items": arr(ref("School")), **_PAGE}),
        "GpPracticePage": obj({"items": arr(ref("GpPractice")), **_PAGE}),
        "PractitionerPage": obj({"items": arr(ref("Practitioner")), **_PAGE}),
    },
)
