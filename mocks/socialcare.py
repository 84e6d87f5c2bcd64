"""Children's social care: PascalCase JSON, YYYYMMDD dates, subscription key header."""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.dev import DEV_SECRETS
from mocks.agency import AgencyApp, Credential, agency_app, require_forwarded
from mocks.faults import Faults
from mocks.openapi import NS, S, arr, document, get, obj, path_param, query, ref
from mocks.population import Population, SocialCareRecord

CREDENTIAL = Credential("api-key", DEV_SECRETS["WARDGATE_SOCIAL_CARE_SECRET"], header="ocp-apim-subscription-key")
_STATUS = {"child-in-need": "CIN", "child-protection": "CP", "looked-after": "LAC"}
_SERVICE = {"camhs": "CAMHS", "sexual-health": "SEXUAL_HEALTH"}


def _d(d: dt.date | None) -> str | None:
    return d.strftime("%Y%m%d") if d else None


def _worker(pop: Population, pid: str | None) -> dict[str, str] | None:
    if not pid:
        return None
    p = pop.practitioners[pid]
    return {"WorkerId": p.id, "WorkerName": p.name, "Team": p.team, "Phone": p.phone, "Role": p.role}


def _person(pop: Population, rec: SocialCareRecord) -> dict[str, Any]:
    return {
        "PersonId": rec.person_id,
        "NHSNumber": rec.nhs_number,
        "Forename": rec.who.given,
        "Surname": rec.who.family,
        "DateOfBirth": _d(rec.who.dob),
        "PostCode": rec.who.postcode,
        "EarlyHelp": {
            "CAFStatus": rec.caf_status.upper() if rec.caf_status else None,
            "LeadProfessional": _worker(pop, rec.lead_professional),
        },
        "LegalStatus": _STATUS.get(rec.status or ""),
        "PlanStartDate": _d(rec.plan_start),
        "AllocatedWorker": _worker(pop, rec.social_worker),
        "Consents": [
            {
                "Service": _SERVICE[c.service],
                "SharedWithRoles": list(c.roles),
                "Purposes": list(c.purposes),
                "RecordedOn": _d(c.recorded),
            }
            for c in rec.consents
        ],
        "ShieldFlag": "Y" if rec.shielded else "N",
        "CrossReferences": dict(rec.cross_refs),
    }


def build(pop: Population, *, credential: Credential = CREDENTIAL, faults: Faults | None = None) -> AgencyApp:
    by_nhs: dict[str, list[SocialCareRecord]] = {}
    by_demo: dict[tuple[str, str], list[SocialCareRecord]] = {}
    for rec in pop.social_care.values():
        if rec.nhs_number:
            by_nhs.setdefault(rec.nhs_number, []).append(rec)
        by_demo.setdefault((rec.who.family.lower(), _d(rec.who.dob) or ""), []).append(rec)

    async def one(request: Request) -> Response:
        if (refused := require_forwarded(request)) is not None:
            return refused
        rec = pop.social_care.get(request.path_params["person_id"])
        if rec is None:
            return JSONResponse({"Message": "Person not found", "Code": "SC404"}, 404)
        return JSONResponse({"Person": _person(pop, rec)})

    async def search(request: Request) -> Response:
        if (refused := require_forwarded(request)) is not None:
            return refused
        p = request.query_params
        if p.get("nhs_number"):
            found = by_nhs.get(p["nhs_number"], [])
        elif p.get("surname") and p.get("dob"):
            found = by_demo.get((p["surname"].lower(), p["dob"]), [])
        else:
            return JSONResponse({"Message": "Search needs nhs_number, or surname and dob", "Code": "SC400"}, 400)
        return JSONResponse({"Persons": [_person(pop, r) for r in found], "Count": len(found)})

    routes = [Route("/api/persons/{person_id}", one), Route("/api/persons", search)]
    return agency_app("social-care", routes, OPENAPI, credential=credential, faults=faults or Faults())


_WORKER = {"nullable": True, **obj({"WorkerId": S, "WorkerName": S, "Team": S, "Phone": S, "Role": S})}
OPENAPI = document(
    "Wardshire Children's Social Care Case Management API",
    "People known to children's social care: early help (CAF), legal status, allocated worker, consents and the "
    "shield flag. Dates are YYYYMMDD.",
    {
        "/api/persons/{person_id}": get(
            "getPerson",
            "A person by local id",
            [path_param("person_id", "Local person id")],
            "PersonResponse",
            not_found=True,
        ),
        "/api/persons": get(
            "searchPersons",
            "Search by NHS number, or by surname and date of birth",
            [query("nhs_number", "NHS number"), query("surname", "Surname"), query("dob", "YYYYMMDD")],
            "PersonList",
        ),
    },
    {
        "Person": obj(
            {
                "PersonId": S,
                "NHSNumber": NS,
                "Forename": S,
                "Surname": S,
                "DateOfBirth": S,
                "PostCode": S,
                "EarlyHelp": obj({"CAFStatus": NS, "LeadProfessional": _WORKER}),
                "LegalStatus": {"type": "string", "nullable": True, "enum": ["CIN", "CP", "LAC"]},
                "PlanStartDate": NS,
                "AllocatedWorker": _WORKER,
                "Consents": arr(obj({"Service": S, "SharedWithRoles": arr(S), "Purposes": arr(S), "RecordedOn": S})),
                "ShieldFlag": {"type": "string", "enum": ["Y", "N"]},
                "CrossReferences": {"type": "object", "additionalProperties": S},
            }
        ),
        "PersonResponse": obj({"Person": ref("Person")}),
        "PersonList": obj({"Persons": arr(ref("Person")), "Count": {"type": "integer"}}),
    },
)
