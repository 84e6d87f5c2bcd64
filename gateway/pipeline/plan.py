"""Plan: from what the query selected, which agencies to call.

Only the agencies whose data the query selects are called, plus those policy needs facts from: the
spine (the demographic record every link starts from), every agency that supplies facts (social care:
the shield flag and consents), and the requester's own agency (own-agency and involvement checks).
A lookup that waits on another agency's answer brings that agency in too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from gateway.agencies.connectors import CHILD_SECTIONS, Connector
from gateway.graphql.selection import Sel
from gateway.types import Subject


@dataclass(frozen=True, slots=True)
class Plan:
    agencies: frozenset[str]
    selection: tuple[Sel, ...]


def plan_child(selection: Sequence[Sel], connectors: Mapping[str, Connector], subject: Subject, *, spine: str) -> Plan:
    """The agencies to call for this selection and requester."""
    names = {s.name for s in selection}
    wanted = {spine}
    sections = {CHILD_SECTIONS[n] for n in names if n in CHILD_SECTIONS}
    for agency, connector in connectors.items():
        if connector.facts:
            wanted.add(agency)
        if sections.intersection(connector.sections):
            wanted.add(agency)
        if "involvements" in names and connector.involvements:  # every agency may add involvements
            wanted.add(agency)
        if "conflicts" in names:  # every agency's demographics, and whether it holds a deceased child as alive
            wanted.add(agency)
    if subject.agency in connectors:
        wanted.add(subject.agency)
    frontier = list(wanted)
    while frontier:
        for dep in connectors[frontier.pop()].needs(spine):
            if dep not in wanted:
                wanted.add(dep)
                frontier.append(dep)
    return Plan(frozenset(a for a in wanted if a in connectors), tuple(selection))
