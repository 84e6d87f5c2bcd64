"""GraphQL resolvers: one module per root field family. The pipeline stages they drive live in ``gateway``."""

from __future__ import annotations

import strawberry

from gateway.graphql import schema as labelled
from resolvers.accesslog import resolve_access_log
from resolvers.child import resolve_child
from resolvers.directory import resolve_gp_practices, resolve_practitioner, resolve_schools, resolve_services
from resolvers.me import resolve_me
from resolvers.search import resolve_search_children


@strawberry.type(description="Wardgate: one child, asked of every agency live, checked field by field.")
class Query:
    child = labelled.identity("One child's profile by NHS number, for a declared purpose.", resolver=resolve_child)
    search_children = labelled.identity(
        "Candidates by name and date of birth (identity only).", resolver=resolve_search_children
    )
    services = labelled.directory("The council's service directory.", resolver=resolve_services)
    schools = labelled.directory(resolver=resolve_schools)
    gp_practices = labelled.directory(resolver=resolve_gp_practices)
    practitioner = labelled.directory(resolver=resolve_practitioner)
    me = labelled.meta(resolver=resolve_me)
    access_log = labelled.meta("Who looked at a child's record, when and why (auditors).", resolver=resolve_access_log)
