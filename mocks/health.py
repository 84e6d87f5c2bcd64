"""GP / NHS demographics: a FHIR-like Patient API keyed by NHS number (ISO dates, bearer token)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from gateway.dev import DEV_SECRETS
from mocks.agency import AgencyApp, Credential, agency_app, require_forwarded
from mocks.faults import Faults
from mocks.openapi import B, S, arr, document, get, obj, path_param, query, ref
from mocks.population import HealthRecord, Population

CREDENTIAL = Credential("bearer", DEV_SECRETS["WARDGATE_HEALTH_SECRET"])
NHS_SYSTEM = "https://fhir.nhs.uk/Id/nhs-number"
FHIR_JSON = "application/fhir+json"


def _outcome(status: int, code: str, text: str) -> Response:
    body = {"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": code, "diagnostics": text}]}
    return JSONResponse(body, status, media_type=FHIR_JSON)


def _patient(pop: Population, rec: HealthRecord) -> dict[str, Any]:
    who = rec.who
    gp = pop.gp_practices[rec.gp_practice]
    contained = []
    for role, pid in (("health-visitor", rec.health_visitor), ("school-nurse", rec.school_nurse)):
        if pid:
            p = pop.practitioners[pid]
            contained.append(
                {
                    "resourceType": "PractitionerRole",
                    "id": role,
                    "code": [{"text": role}],
                    "practitioner": {"identifier": {"value": p.id}, "display": p.name},
                    "organization": {"display": p.team},
                    "telecom": [{"system": "phone", "value": p.phone}],
                }
            )
    return {
        "resourceType": "Patient",
        "id": rec.nhs_number,
        "meta": {"versionId": "1"},
        "identifier": [{"system": NHS_SYSTEM, "value": rec.nhs_number}],
        "name": [{"use": "official", "family": who.family, "given": [who.given]}],
        "gender": rec.gender,
        "birthDate": who.dob.isoformat(),
        "deceasedBoolean": rec.deceased,
        "address": [
            {"use": "home", "line": [who.address.line1], "city": who.address.town, "postalCode": who.address.postcode}
        ],
        "generalPractitioner": [
            {
                "type": "Organization",
                "identifier": {"system": "https://fhir.nhs.uk/Id/ods-organization-code", "value": gp.code},
                "display": gp.name,
            }
        ],
        "contained": contained,
    }


def build(pop: Population, *, credential: Credential = CREDENTIAL, faults: Faults | None = None) -> AgencyApp:
    by_demographics: dict[tuple[str, str], list[HealthRecord]] = {}
    for rec in pop.health.values():
        by_demographics.setdefault((rec.who.family.lower(), rec.who.dob.isoformat()), []).append(rec)

    async def read(request: Request) -> Response:
        if (refused := require_forwarded(request)) is not None:
            return refused
        rec = pop.health.get(request.path_params["nhs"])
        if rec is None:
            return _outcome(404, "not-found", "No Patient with that NHS number")
        return JSONResponse(_patient(pop, rec), media_type=FHIR_JSON)

    async def search(request: Request) -> Response:
        if (refused := require_forwarded(request)) is not None:
            return refused
        params = request.query_params
        if "identifier" in params:
            value = params["identifier"].rpartition("|")[2]
            found = [r for r in (pop.health.get(value),) if r is not None]
        elif params.get("family") and params.get("birthdate"):
            found = by_demographics.get((params["family"].lower(), params["birthdate"]), [])
            if given := params.get("given", "").lower():
                found = [r for r in found if r.who.given.lower().startswith(given[:3])]
        else:
            return _outcome(400, "invalid", "Search needs identifier, or family and birthdate")
        bundle = {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(found),
            "entry": [{"resource": _patient(pop, r), "search": {"mode": "match"}} for r in found[:50]],
        }
        return JSONResponse(bundle, media_type=FHIR_JSON)

    routes = [Route("/fhir/Patient/{nhs}", read), Route("/fhir/Patient", search)]
    return agency_app("health", routes, OPENAPI, credential=credential, faults=faults or Faults())


_PATIENT = obj(
    {
        "resourceType": S,
        "id": S,
        "identifier": arr(obj({"system": S, "value": S})),
        "name": arr(obj({"use": S, "family": S, "given": arr(S)})),
        "gender": {"type": "string", "enum": ["male", "female", "other", "unknown"]},
        "birthDate": {"type": "string", "format": "date"},
        "deceasedBoolean": B,
        "address": arr(obj({"use": S, "line": arr(S), "city": S, "postalCode": S})),
        "generalPractitioner": arr(obj({"type": S, "identifier": obj({"system": S, "value": S}), "display": S})),
        "contained": arr(
            obj(
                {
                    "resourceType": S,
                    "id": S,
                    "code": arr(obj({"text": S})),
                    "practitioner": obj({"identifier": obj({"value": S}), "display": S}),
                    "organization": obj({"display": S}),
                    "telecom": arr(obj({"system": S, "value": S})),
                }
            )
        ),
    }
)

OPENAPI = document(
    "Wardshire GP Connect (FHIR R4 subset)",
    "Patient demographics and registered GP, keyed by NHS number. Dates are ISO 8601.",
    {
        "/fhir/Patient/{nhs}": get(
            "readPatient",
            "Read a Patient by NHS number",
            [path_param("nhs", "NHS number")],
            "Patient",
            media=FHIR_JSON,
            not_found=True,
        ),
        "/fhir/Patient": get(
            "searchPatient",
            "Search Patients by identifier, or by family name and birth date",
            [
                query("identifier", "system|value, e.g. https://fhir.nhs.uk/Id/nhs-number|9434765919"),
                query("family", "Family name (exact, case-insensitive)"),
                query("given", "Given name (first three letters are compared)"),
                query("birthdate", "YYYY-MM-DD"),
            ],
            "Bundle",
            media=FHIR_JSON,
        ),
    },
    {
        "Patient": _PATIENT,
        "Bundle": obj(
            {
                "resourceType": S,
                "type": S,
                "total": {"type": "integer"},
                "entry": arr(obj({"resource": ref("Patient"), "search": obj({"mode": S})})),
            }
        ),
    },
)
