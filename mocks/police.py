"""Police: searchable only by surname and date of birth (DD-MON-YYYY); no NHS number is held."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.dev import DEV_SECRETS
from mocks.agency import AgencyApp, Credential, agency_app, require_forwarded
from mocks.faults import Faults
from mocks.openapi import S, arr, document, get, obj, query, ref
from mocks.population import PoliceRecord, Population

CREDENTIAL = Credential("api-key", DEV_SECRETS["WARDGATE_POLICE_SECRET"], header="x-api-key")


def police_date(d: dt.date) -> str:
    return d.strftime("%d-%b-%Y").upper()


def _person(pop: Population, rec: PoliceRecord) -> dict[str, Any]:
    out = []
    for n in rec.notifications:
        officer = pop.practitioners[str(n["officer"])]
        occurred = n["date"]
        assert isinstance(occurred, dt.date)
        out.append(
            {
                "notification_type": str(n["kind"]).upper().replace("-", "_"),
                "occurred_on": police_date(occurred),
                "reporting_officer": {
                    "collar_no": officer.id,
                    "name": officer.name,
                    "unit": officer.team,
                    "phone": officer.phone,
                },
            }
        )
    return {
        "person_ref": rec.person_ref,
        "forename": rec.who.given.upper(),
        "surname": rec.who.family.upper(),
        "date_of_birth": police_date(rec.who.dob),
        "postcode": rec.who.postcode,
        "notifications": out,
    }


def build(pop: Population, *, credential: Credential = CREDENTIAL, faults: Faults | None = None) -> AgencyApp:
    index: dict[tuple[str, str], list[PoliceRecord]] = {}
    for rec in pop.police.values():
        index.setdefault((rec.who.family.upper(), police_date(rec.who.dob)), []).append(rec)

    async def search(request: Request) -> Response:
        if (refused := require_forwarded(request)) is not None:
            return refused
        p = request.query_params
        surname, dob = p.get("surname", "").strip(), p.get("dob", "").strip()
        if not surname or not dob:
            return JSONResponse(
                {"error_code": "E_SEARCH_CRITERIA", "error_text": "surname and dob (DD-MON-YYYY) are both required"},
                400,
            )
        found = index.get((surname.upper(), dob.upper()), [])
        return JSONResponse({"count": len(found), "results": [_person(pop, r) for r in found]})

    routes = [Route("/api/v2/persons/search", search)]
    return agency_app("police", routes, OPENAPI, credential=credential, faults=faults or Faults())


OPENAPI = document(
    "Wardshire Constabulary Safeguarding Notifications API",
    "Persons known to police and their safeguarding notifications. Search needs surname and date of birth "
    "(DD-MON-YYYY, e.g. 04-MAR-2012); there is no search by NHS number.",
    {
        "/api/v2/persons/search": get(
            "searchPersons",
            "Search persons by surname and date of birth",
            [query("surname", "Surname", required=True), query("dob", "DD-MON-YYYY", required=True)],
            "SearchResult",
        )
    },
    {
        "Person": obj(
            {
                "person_ref": S,
                "forename": S,
                "surname": S,
                "date_of_birth": S,
                "postcode": S,
                "notifications": arr(
                    obj(
                        {
                            "notification_type": S,
                            "occurred_on": S,
                            "reporting_officer": obj({"collar_no": S, "name": S, "unit": S, "phone": S}),
                        }
                    )
                ),
            }
        ),
        "SearchResult": obj({"count": {"type": "integer"}, "results": arr(ref("Person"))}),
    },
)
