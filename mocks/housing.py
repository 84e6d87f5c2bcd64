"""Housing: a legacy XML web service (dd.mm.yyyy dates, HTTP Basic), searched by surname and date of birth."""

from __future__ import annotations

import datetime as dt
from xml.etree import ElementTree as ET

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gateway.dev import DEV_SECRETS
from mocks.agency import AgencyApp, Credential, agency_app, require_forwarded
from mocks.faults import Faults
from mocks.openapi import document, get, query
from mocks.population import Household, Population

CREDENTIAL = Credential("basic", DEV_SECRETS["WARDGATE_HOUSING_SECRET"], user="wardgate")
NS = "urn:wardshire:housing:v1"
XML = "application/xml"


def housing_date(d: dt.date) -> str:
    return d.strftime("%d.%m.%Y")


def _fault(status: int, text: str) -> Response:
    root = ET.Element("Fault", xmlns=NS)
    ET.SubElement(root, "FaultString").text = text
    return Response(ET.tostring(root, xml_declaration=True, encoding="utf-8"), status, media_type=XML)


def _household(pop: Population, parent: ET.Element, hh: Household) -> None:
    el = ET.SubElement(parent, "Household", Ref=hh.ref)
    addr = ET.SubElement(el, "TenancyAddress")
    ET.SubElement(addr, "Line1").text = hh.address.line1
    ET.SubElement(addr, "Town").text = hh.address.town
    ET.SubElement(addr, "PostCode").text = hh.address.postcode
    ET.SubElement(el, "TenancyStart").text = housing_date(hh.tenancy_start)
    ET.SubElement(el, "TemporaryAccommodation").text = "Y" if hh.temporary else "N"
    ET.SubElement(el, "RefugeFlag").text = "Y" if hh.refuge else "N"
    officer = pop.practitioners[hh.officer_id]
    ET.SubElement(el, "HousingOfficer", Id=officer.id, Name=officer.name, Phone=officer.phone)
    members = ET.SubElement(el, "Members", Count=str(len(hh.members)))
    for m in hh.members:
        mem = ET.SubElement(members, "Member")
        ET.SubElement(mem, "Forename").text = m.given
        ET.SubElement(mem, "Surname").text = m.family
        ET.SubElement(mem, "DateOfBirth").text = housing_date(m.dob)


def build(pop: Population, *, credential: Credential = CREDENTIAL, faults: Faults | None = None) -> AgencyApp:
    index: dict[tuple[str, str], list[Household]] = {}
    for hh in pop.households.values():
        for m in hh.members:
            bucket = index.setdefault((m.family.lower(), housing_date(m.dob)), [])
            if hh not in bucket:
                bucket.append(hh)

    async def search(request: Request) -> Response:
        if (refused := require_forwarded(request)) is not None:
            return refused
        p = request.query_params
        if not p.get("Surname") or not p.get("DateOfBirth"):
            return _fault(400, "Surname and DateOfBirth (dd.mm.yyyy) are required")
        found = index.get((p["Surname"].lower(), p["DateOfBirth"]), [])
        root = ET.Element("HouseholdSearchResult", xmlns=NS, Count=str(len(found)))
        for hh in found:
            _household(pop, root, hh)
        return Response(ET.tostring(root, xml_declaration=True, encoding="utf-8"), media_type=XML)

    async def one(request: Request) -> Response:
        if (refused := require_forwarded(request)) is not None:
            return refused
        hh = pop.households.get(request.query_params.get("HouseholdRef", ""))
        if hh is None:
            return _fault(404, "Household not found")
        root = ET.Element("HouseholdResult", xmlns=NS)
        _household(pop, root, hh)
        return Response(ET.tostring(root, xml_declaration=True, encoding="utf-8"), media_type=XML)

    routes = [
        Route("/HousingService/HouseholdSearch.asmx/Search", search),
        Route("/HousingService/Household.asmx/Get", one),
    ]
    return agency_app("housing", routes, OPENAPI, credential=credential, faults=faults or Faults())


_HOUSEHOLD_XML = {
    "type": "object",
    "xml": {"name": "Household", "namespace": NS},
    "properties": {
        "Ref": {"type": "string", "xml": {"attribute": True}},
        "TenancyAddress": {
            "type": "object",
            "properties": {"Line1": {"type": "string"}, "Town": {"type": "string"}, "PostCode": {"type": "string"}},
        },
        "TenancyStart": {"type": "string", "description": "dd.mm.yyyy"},
        "TemporaryAccommodation": {"type": "string", "enum": ["Y", "N"]},
        "RefugeFlag": {"type": "string", "enum": ["Y", "N"]},
        "HousingOfficer": {
            "type": "object",
            "properties": {k: {"type": "string", "xml": {"attribute": True}} for k in ("Id", "Name", "Phone")},
        },
        "Members": {
            "type": "array",
            "xml": {"wrapped": True},
            "items": {
                "type": "object",
                "xml": {"name": "Member"},
                "properties": {
                    "Forename": {"type": "string"},
                    "Surname": {"type": "string"},
                    "DateOfBirth": {"type": "string", "description": "dd.mm.yyyy"},
                },
            },
        },
    },
}

OPENAPI = document(
    "Wardshire Housing Management System (legacy web service)",
    "Council tenancies, temporary accommodation and refuge placements. XML only (application/xml); dates are "
    "dd.mm.yyyy; HTTP Basic authentication. Search needs Surname and DateOfBirth.",
    {
        "/HousingService/HouseholdSearch.asmx/Search": get(
            "householdSearch",
            "Households with a member of this surname and date of birth",
            [query("Surname", "Surname", required=True), query("DateOfBirth", "dd.mm.yyyy", required=True)],
            "HouseholdSearchResult",
            media=XML,
        ),
        "/HousingService/Household.asmx/Get": get(
            "householdGet",
            "One household by reference",
            [query("HouseholdRef", "Household reference", required=True)],
            "HouseholdResult",
            media=XML,
            not_found=True,
        ),
    },
    {
        "Household": _HOUSEHOLD_XML,
        "HouseholdSearchResult": {
            "type": "object",
            "xml": {"name": "HouseholdSearchResult", "namespace": NS},
            "properties": {
                "Count": {"type": "integer", "xml": {"attribute": True}},
                "Household": {"type": "array", "items": {"$ref": "#/components/schemas/Household"}},
            },
        },
        "HouseholdResult": {
            "type": "object",
            "xml": {"name": "HouseholdResult", "namespace": NS},
            "properties": {"Household": {"$ref": "#/components/schemas/Household"}},
        },
    },
)
