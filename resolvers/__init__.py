"""GraphQL resolvers: one module per root field family. The pipeline stages they drive live in ``gateway``."""

from __future__ import annotations

import strawberry

from gateway.graphql.schema import D, I, M, labelled
from gateway.graphql.schema import LabelDirective as _LabelDirective  # noqa: F401 - registers the directive
from resolvers.accesslog import resolve_access_log
from resolvers.child import resolve_child
from resolvers.directory import resolve_gp_practices, resolve_practitioner, resolve_schools, resolve_services
from resolvers.me import resolve_me
from resolvers.search import resolve_search_children

_child = resolve_child
_search = resolve_search_children


@strawberry.type(description="Wardgate: one child, asked of every agency live, checked field by field.")
class Query:
    child = labelled(I, "One child's profile by NHS number, for a declared purpose.", resolver=_child)
    search_children = labelled(I, "Candidates by name and date of birth (identity only).", resolver=_search)
    services = labelled(D, "The council's service directory.", resolver=resolve_services)
    schools = labelled(D, resolver=resolve_schools)
    gp_practices = labelled(D, resolver=resolve_gp_practices)
    practitioner = labelled(D, resolver=resolve_practitioner)
    me = labelled(M, resolver=resolve_me)
    access_log = labelled(M, "Who looked at a child's record, when and why (auditors).", resolver=resolve_access_log)
