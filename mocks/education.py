"""Education: pupil records keyed by UPN, paged REST JSON, DD/MM/YYYY dates, API key in X-API-Key."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.dev import DEV_SECRETS
from mocks.agency import AgencyApp, Credential, agency_app, paged, require_forwarded
from mocks.faults import Faults
from mocks.openapi import NS, I, N, S, arr, document, get, obj, path_param, query, ref
from mocks.population import EducationRecord, Population

CREDENTIAL = Credential("api-key", DEV_SECRETS["WARDGATE_EDUCATION_SECRET"], header="x-api-key")
_SEN = {"none": "NONE", "sen-support": "SEN_SUPPORT", "ehc-plan": "EHC_PLAN"}


def _date(d: object) -> str:
    assert isinstance(d, dt.date)
    return d.strftime("%d/%m/%Y")


def _pupil(pop: Population, rec: EducationRecord) -> dict[str, Any]:
    school = pop.schools[rec.school_urn]
    dsl = pop.practitioners[rec.dsl_id]
    return {
        "upn": rec.upn,
        "nhsNumber": rec.nhs_number,
        "forename": rec.who.given,
        "surname": rec.who.family,
        "dateOfBirth": _date(rec.who.dob),
        "homePostcode": rec.who.postcode,
        "school": {"urn": school.urn, "name": school.name, "phase": school.phase.upper()},
        "attendance": {"percentage": rec.attendance, "period": "2025/26"},
        "exclusions": [
            {"startDate": _date(e["date"]), "type": str(e["kind"]).upper().replace("-", "_"), "days": e["days"]}
            for e in rec.exclusions
        ],
        "senProvision": _SEN[rec.sen_status],
        "safeguarding": {"dsl": {"staffId": dsl.id, "name": dsl.name, "phone": dsl.phone, "email": dsl.email}},
    }


def build(pop: Population, *, credential: Credential = CREDENTIAL, faults: Faults | None = None) -> AgencyApp:
    by_nhs: dict[str, list[EducationRecord]] = {}
    by_demo: dict[tuple[str, str], list[EducationRecord]] = {}
    for rec in pop.education.values():
        if rec.nhs_number:
            by_nhs.setdefault(rec.nhs_number, []).append(rec)
        by_demo.setdefault((rec.who.family.lower(), _date(rec.who.dob)), []).append(rec)

    async def one(request: Request) -> Response:
        if (refused := require_forwarded(request)) is not None:
            return refused
        rec = pop.education.get(request.path_params["upn"])
        if rec is None:
            return JSONResponse({"errors": [{"status": "404", "title": "Pupil not found"}]}, 404)
        return JSONResponse({"data": _pupil(pop, rec)})

    async def search(request: Request) -> Response:
        if (refused := require_forwarded(request)) is not None:
            return refused
        p = request.query_params
        if p.get("nhsNumber"):
            found = by_nhs.get(p["nhsNumber"], [])
        elif p.get("surname") and p.get("dateOfBirth"):
            found = by_demo.get((p["surname"].lower(), p["dateOfBirth"]), [])
        elif p.get("schoolUrn"):
            found = [r for r in pop.education.values() if r.school_urn == p["schoolUrn"]]
        else:
            return JSONResponse(
                {"errors": [{"status": "400", "title": "Give nhsNumber, surname and dateOfBirth, or schoolUrn"}]}, 400
            )
        page, meta = paged(found, request)
        links = {"self": str(request.url)}
        if meta["page"] < meta["totalPages"]:
            links["next"] = str(request.url.include_query_params(page=meta["page"] + 1))
        return JSONResponse({"data": [_pupil(pop, r) for r in page], "meta": meta, "links": links})

    routes = [Route("/v1/pupils/{upn}", one), Route("/v1/pupils", search)]
    return agency_app("education", routes, OPENAPI, credential=credential, faults=faults or Faults())


_STAFF = obj({"staffId": S, "name": S, "phone": S, "email": S})
_PUPIL = obj(
    {
        "upn": S,
        "nhsNumber": NS,
        "forename": S,
        "surname": S,
        "dateOfBirth": {"type": "string", "description": "DD/MM/YYYY"},
        "homePostcode": S,
        "school": obj({"urn": S, "name": S, "phase": S}),
        "attendance": obj({"percentage": N, "period": S}),
        "exclusions": arr(obj({"startDate": S, "type": S, "days": I})),
        "senProvision": {"type": "string", "enum": list(_SEN.values())},
        "safeguarding": obj({"dsl": _STAFF}),
    }
)

OPENAPI = document(
    "Wardshire Pupil Information Service",
    "Pupil enrolment, attendance, exclusions and SEN provision. Keyed by Unique Pupil Number (education use "
    "only). Dates are DD/MM/YYYY. Search results are paged with page and pageSize (max 100).",
    {
        "/v1/pupils/{upn}": get(
            "getPupil", "A pupil by UPN", [path_param("upn", "Unique Pupil Number")], "PupilResponse", not_found=True
        ),
        "/v1/pupils": get(
            "searchPupils",
            "Search pupils by NHS number, by surname and date of birth, or by school",
            [
                query("nhsNumber", "NHS number, where the school recorded it"),
                query("surname", "Surname (exact, case-insensitive)"),
                query("dateOfBirth", "DD/MM/YYYY"),
                query("schoolUrn", "School URN"),
                query("page", "1-based page", kind="integer"),
                query("pageSize", "Page size, at most 100", kind="integer"),
            ],
            "PupilPage",
        ),
    },
    {
        "Pupil": _PUPIL,
        "PupilResponse": obj({"data": ref("Pupil")}),
        "PupilPage": obj(
            {
                "data": arr(ref("Pupil")),
                "meta": obj({"page": I, "pageSize": I, "totalCount": I, "totalPages": I}),
                "links": obj({"self": S, "next": S}),
            }
        ),
    },
)
