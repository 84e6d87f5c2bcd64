"""Types shared by the pipeline's stages. Kept in one module so each stage imports from one place."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

if TYPE_CHECKING:
    from starlette.requests import Request

    from gateway.server.app import Services


class Label(enum.Enum):
    """What kind of information a field is; every schema field carries exactly one."""

    DIRECTORY = "directory"
    IDENTITY = "identity"
    CONTACT = "contact"
    INVOLVEMENT = "involvement"
    SENSITIVE = "sensitive"
    CASE = "case"
    RESTRICTED = "restricted"
    META = "meta"  # about the answer itself (sources, warnings): returned with the child, never about them


class Purpose(enum.Enum):
    SAFEGUARDING = "safeguarding"
    ROUTINE_CARE = "routine-care"
    EMERGENCY = "emergency"
    EDUCATION = "education"
    AUDIT = "audit"


MatchGrade = Literal["certain", "probable", "possible"]
MATCH_ORDER: dict[str, int] = {"certain": 0, "probable": 1, "possible": 2}


@dataclass(frozen=True, slots=True)
class Subject:
    """Who is asking, from their verified token."""

    practitioner_id: str
    role: str
    agency: str
    mfa: bool
    name: str = ""
    token_id: str = ""


class FieldClass(NamedTuple):
    """The facts about a field that a policy decision may depend on. Many fields share one class.

    A tuple, not a dataclass: classes are hashed hundreds of times per request, and tuples hash in C.
    """

    label: str
    agency: str
    coordinate: str  # "Type.field", as in the schema


Action = Literal["allow", "deny", "mask"]


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str
    mask: str | None = None


DENY_UNAVAILABLE = Decision("deny", "POLICY_UNAVAILABLE")


@dataclass(frozen=True, slots=True)
class Completed:
    """An object's answer, already completed as GraphQL would complete it (see ``policy.apply``).

    A resolver returns it in place of a typed object; the executor passes ``data`` through unwalked.
    """

    data: dict[str, Any] | None


@dataclass(slots=True)
class Withheld:
    path: tuple[str | int, ...]
    reason: str
    code: str = "FORBIDDEN_FIELD"


@dataclass(slots=True)
class RequestState:
    """Everything one GraphQL request accumulates on its way through the pipeline."""

    request_id: str
    subject: Subject | None
    auth_error: str | None = None
    withheld: list[Withheld] = field(default_factory=list)
    extra_errors: list[tuple[tuple[str | int, ...], str, dict[str, Any]]] = field(default_factory=list)
    agencies_called: set[str] = field(default_factory=set)
    agencies_ms: float = 0.0  # wall time of the fan-out (the slowest agency chain), for Server-Timing


@dataclass(slots=True)
class Context:
    """The Strawberry context: the injected services plus this request's state."""

    services: Services
    request: Request
    state: RequestState
