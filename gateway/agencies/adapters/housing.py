"""The housing system's legacy XML, turned into one plain record per (household, member).

Search results list households; the person searched for is one member among several. Emitting one
record per member lets the matcher grade each member against the child, like any other agency.
"""

from __future__ import annotations

from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree

NS = "{urn:wardshire:housing:v1}"


def _text(el: Element | None, tag: str) -> str | None:
    if el is None:
        return None
    child = el.find(NS + tag)
    return child.text if child is not None else None


def decode(body: bytes) -> dict[str, Any]:
    """Parse a HouseholdSearchResult or HouseholdResult (entity expansion and DTDs refused)."""
    root = ElementTree.fromstring(body, forbid_dtd=True)
    if root.tag == NS + "Fault":
        raise ValueError("housing service returned a fault")
    records: list[dict[str, Any]] = []
    for hh in root.iter(NS + "Household"):
        address = hh.find(NS + "TenancyAddress")
        officer = hh.find(NS + "HousingOfficer")
        members = hh.findall(f"{NS}Members/{NS}Member")
        base = {
            "ref": hh.get("Ref"),
            "address": {
                "line1": _text(address, "Line1"),
                "town": _text(address, "Town"),
                "postcode": _text(address, "PostCode"),
            },
            "tenancyStart": _text(hh, "TenancyStart"),
            "temporary": _text(hh, "TemporaryAccommodation"),
            "refuge": _text(hh, "RefugeFlag"),
            "memberCount": len(members),
            "officer": None
            if officer is None
            else {"id": officer.get("Id"), "name": officer.get("Name"), "phone": officer.get("Phone")},
        }
        for m in members:
            member = {"forename": _text(m, "Forename"), "surname": _text(m, "Surname"), "dob": _text(m, "DateOfBirth")}
            records.append({**base, "member": member})
    return {"households": records}
