"""Youth justice, CAMHS and the sexual-health / substance-misuse service: three small suppliers.

Each has its own id, naming and date format: youth justice uses camelCase and ISO date-times,
CAMHS snake_case and US-style MM/DD/YYYY dates, the sexual-health service plain ISO dates.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.dev import DEV_SECRETS
from mocks.agency import AgencyApp, Credential, agency_app, require_forwarded
from mocks.faults import Faults
from mocks.openapi import NS, I, S, arr, document, get, obj, query, ref
from mocks.population import Population, YouthJusticeRecord

YJ_CREDENTIAL = Credential("bearer", DEV_SECRETS["WARDGATE_YOUTH_JUSTICE_SECRET"])
CAMHS_CREDENTIAL = Credential("api-key", DEV_SECRETS["WARDGATE_CAMHS_SECRET"], header="x-api-key")
SH_CREDENTIAL = Credential("bearer", DEV_SECRETS["WARDGATE_SEXUAL_HEALTH_SECRET"])


def _iso_dt(d: object) -> str:
    assert isinstance(d, dt.date)
    return f"{d.isoformat()}T00:00:00Z"


def _yj_item(pop: Population, rec: YouthJusticeRecord) -> dict[str, Any]:
    worker = pop.practitioners[rec.worker]
    return {
        "id": rec.yj_id,
        "nhs": rec.nhs_number,
        "name": {"first": rec.who.given, "last": rec.who.family},
        "born": _iso_dt(rec.who.dob),
        "orders": [
            {
                "orderType": str(o["kind"]).upper().replace("-", "_"),
                "startedAt": _iso_dt(o["start"]),
                "lengthMonths": o["months"],
            }
            for o in rec.orders
        ],
        "caseWorker": {
            "ref": worker.id,
            "displayName": worker.name,
            "team": worker.team,
            "contactNumber": worker.phone,
        },
    }


def build_youth_justice(
    pop: Population, *, credential: Credential = YJ_CREDENTIAL, faults: Faults | None = None
) -> AgencyApp:
    by_nhs: dict[str, list[YouthJusticeRecord]] = {}
    by_demo: dict[tuple[str, str], list[YouthJusticeRecord]] = {}
    for rec in pop.youth_justice.values():
        if rec.nhs_number:
            by_nhs.setdefault(rec.nhs_number, []).append(rec)
        by_demo.setdefault((rec.who.family.lower(), rec.who.dob.isoformat()), []).append(rec)

    async def search(request: Request) -> Response:
        if (refused := require_forwarded(request)) is not None:
            return refused
        p = request.query_params
        if p.get("nhs"):
            found = by_nhs.get(p["nhs"], [])
        elif p.get("lastName") and p.get("born"):
            found = by_demo.get((p["lastName"].lower(), p["born"][:10]), [])
        else:
            return JSONResponse({"title": "Bad Request", "detail": "nhs, or lastName and born, required"}, 400)
        return JSONResponse({"items": [_yj_item(pop, r) for r in found], "total": len(found)})

    doc = document(
        "Wardshire Youth Justice Case Management",
        "Young people with youth justice orders and their case workers. Dates are ISO 8601 date-times (UTC).",
        {
            "/yj/api/young-people": get(
                "searchYoungPeople",
                "Young people by NHS number, or by last name and birth date",
                [query("nhs", "NHS number"), query("lastName", "Last name"), query("born", "YYYY-MM-DD")],
                "YoungPeople",
            )
        },
        {
            "YoungPerson": obj(
                {
                    "id": S,
                    "nhs": NS,
                    "name": obj({"first": S, "last": S}),
                    "born": {"type": "string", "format": "date-time"},
                    "orders": arr(obj({"orderType": S, "startedAt": S, "lengthMonths": I})),
                    "caseWorker": obj({"ref": S, "displayName": S, "team": S, "contactNumber": S}),
                }
            ),
            "YoungPeople": obj({"items": arr(ref("YoungPerson")), "total": I}),
        },
    )
    routes = [Route("/yj/api/young-people", search)]
    return agency_app("youth-justice", routes, doc, credential=credential, faults=faults or Faults())


def build_camhs(
    pop: Population, *, credential: Credential = CAMHS_CREDENTIAL, faults: Faults | None = None
) -> AgencyApp:
    by_nhs: dict[str, list[dict[str, Any]]] = {}
    for rec in pop.camhs.values():
        c = pop.practitioners[rec.clinician]
        by_nhs.setdefault(rec.nhs_number, []).append(
            {
                "referral_id": rec.referral_id,
                "nhs_number": rec.nhs_number,
                "referral_status": rec.status.upper().replace("-", "_"),
                "opened_date": rec.opened.strftime("%m/%d/%Y"),
                "clinician": {"clinician_id": c.id, "full_name": c.name, "team": c.team, "phone": c.phone},
            }
        )

    async def referrals(request: Request) -> Response:
        if (refused := require_forwarded(request)) is not None:
            return refused
        nhs = request.query_params.get("nhs_number")
        if not nhs:
            return JSONResponse({"error": "nhs_number is required"}, 400)
        found = by_nhs.get(nhs, [])
        return JSONResponse({"referrals": found, "result_count": len(found)})

    doc = document(
        "CAMHS Referral Management (Wardshire)",
        "Child and adolescent mental health referrals and the allocated clinician. Sensitive service. "
        "Dates are MM/DD/YYYY.",
        {
            "/camhs/v1/referrals": get(
                "listReferrals",
                "Referrals for an NHS number",
                [query("nhs_number", "NHS number", required=True)],
                "Referrals",
            )
        },
        {
            "Referral": obj(
                {
                    "referral_id": S,
                    "nhs_number": S,
                    "referral_status": {"type": "string", "enum": ["OPEN", "WAITING_LIST", "CLOSED"]},
                    "opened_date": {"type": "string", "description": "MM/DD/YYYY"},
                    "clinician": obj({"clinician_id": S, "full_name": S, "team": S, "phone": S}),
                }
            ),
            "Referrals": obj({"referrals": arr(ref("Referral")), "result_count": I}),
        },
    )
    routes = [Route("/camhs/v1/referrals", referrals)]
    return agency_app("camhs", routes, doc, credential=credential, faults=faults or Faults())


def build_sexual_health(
    pop: Population, *, credential: Credential = SH_CREDENTIAL, faults: Faults | None = None
) -> AgencyApp:
    by_nhs: dict[str, list[dict[str, Any]]] = {}
    for rec in pop.sexual_health.values():
        by_nhs.setdefault(rec.nhs_number, []).append(
            {
                "clientNo": rec.client_no,
                "services": [{"service": s.upper().replace("-", "_"), "since": d.isoformat()} for s, d in rec.services],
            }
        )

    async def clients(request: Request) -> Response:
        if (refused := require_forwarded(request)) is not None:
            return refused
        nhs = request.query_params.get("nhsNumber")
        if not nhs:
            return JSONResponse({"message": "nhsNumber is required"}, 400)
        return JSONResponse({"clients": by_nhs.get(nhs, [])})

    doc = document(
        "Young People's Sexual Health and Substance Misuse Service",
        "Whether a young person is involved with the service, and which part of it. Involvement only; no "
        "clinical detail. Sensitive service. Dates are ISO 8601.",
        {
            "/api/clients": get(
                "findClients", "Clients by NHS number", [query("nhsNumber", "NHS number", required=True)], "Clients"
            )
        },
        {
            "Client": obj(
                {
                    "clientNo": S,
                    "services": arr(
                        obj({"service": {"type": "string", "enum": ["SEXUAL_HEALTH", "SUBSTANCE_MISUSE"]}, "since": S})
                    ),
                }
            ),
            "Clients": obj({"clients": arr(ref("Client"))}),
        },
    )
    routes = [Route("/api/clients", clients)]
    return agency_app("sexual-health", routes, doc, credential=credential, faults=faults or Faults())
