"""Policy engines: the same Rego files, evaluated in-process (regopy) or by an OPA sidecar.

    PolicyEngine
    ├── EmbeddedEngine   regopy, compiled once per revision; the default
    └── OpaEngine        a real OPA server over its REST API (opa-python-client's async client)

An engine answers one question, :meth:`PolicyEngine.evaluate`, with the raw document at
``data.wardgate.access.decision``; the policy stage checks its shape and treats anything else as deny.
Any failure is raised as :class:`~gateway.errors.PolicyUnavailable`.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import regopy
from opa_client.opa_async import AsyncOpaClient

from gateway.errors import ConfigError, PolicyUnavailable

log = logging.getLogger("gateway.engines")

QUERY = "data.wardgate.access.decision"
ENTRYPOINT = "wardgate/access/decision"

# Constructs the embedded engine is known to get wrong (where it and OPA disagree, or it lacks a built-in);
# refused at load.
_HAZARDS = (
    ("sort(", "sort() of a set returns a set in regopy; index it and the rule is undefined"),
    (" with input as", "`with input as` can crash regopy; keep tests in the case table instead"),
    ("http.send", "http.send is not available in the embedded engine"),
    ("net.cidr", "net.cidr_* built-ins are missing from the embedded engine"),
    ("json.match_schema", "json.match_schema is missing from the embedded engine"),
    ("strings.render_template", "strings.render_template is missing from the embedded engine"),
    ("graphql.", "graphql.* built-ins are missing from the embedded engine"),
    ("rego.metadata", "rego.metadata.* is missing from the embedded engine"),
    ("time.parse_rfc3339_ns", "time.parse_rfc3339_ns errors in the embedded engine"),
    ("trace(", "trace() is missing from the embedded engine"),
)


@dataclass(frozen=True, slots=True)
class PolicyBundle:
    """The policy files as loaded from disk: modules, merged data, and a revision hash."""

    modules: dict[str, str]
    data: dict[str, Any]
    revision: str
    documents: dict[str, Any]  # each data.json by its path under ``data`` ("wardgate/config"), for pushing to OPA

    @property
    def named_fields(self) -> frozenset[str]:
        """Every ``Type.field`` the policy names anywhere, in Rego or data.

        Only these fields are decided by name; every other field is decided by its label and agency
        alone, which is what lets ~100 fields collapse into a couple of dozen classes.
        """
        text = "\n".join(self.modules.values()) + json.dumps(self.data)
        return frozenset(_NAMED_FIELD.findall(text))

    @classmethod
    def load(cls, root: Path) -> PolicyBundle:
        if not root.is_dir():
            raise ConfigError(f"policy directory {root} does not exist")
        modules: dict[str, str] = {}
        data: dict[str, Any] = {}
        documents: dict[str, Any] = {}
        digest = hashlib.sha256()
        for path in sorted(root.rglob("*")):
            if path.suffix not in (".rego", ".json") or path.name.endswith("_test.rego"):
                continue
            rel = path.relative_to(root)
            text = path.read_text(encoding="utf-8")
            digest.update(str(rel).encode() + b"\0" + text.encode() + b"\0")
            if path.suffix == ".rego":
                problems = check_rego(text)
                if problems:
                    raise ConfigError(f"{path}: " + "; ".join(problems))
                modules[str(rel)] = text
            elif path.name == "data.json":
                try:
                    doc = json.loads(text)
                except json.JSONDecodeError as exc:
                    raise ConfigError(f"{path}: not valid JSON: {exc}") from exc
                if not isinstance(doc, dict) or not rel.parent.parts:
                    raise ConfigError(f"{path}: data files hold one JSON object, in a directory naming its path")
                node = data
                for part in rel.parent.parts:
                    node = node.setdefault(part, {})
                node.update(doc)
                documents["/".join(rel.parent.parts)] = doc
        if not modules:
            raise ConfigError(f"no .rego files under {root}")
        return cls(modules, data, digest.hexdigest()[:12], documents)


_NAMED_FIELD = re.compile(r'"([A-Z][A-Za-z0-9]*\.[a-z][A-Za-z0-9]*)"')
# A field's name may only be compared with names written out, never computed on: a rule that picks
# fields by a pattern would silently not apply to fields it does not name (see named_fields).
_FIELD_COMPUTED = re.compile(
    r"\b(startswith|endswith|contains|indexof|substring|split|trim\w*|replace|lower|upper|sprintf|concat|"
    r"regex\.\w+|glob\.\w+|strings\.\w+)\([^)]*\.field\b"
)


def check_rego(text: str) -> list[str]:
    """Problems a policy file has for the engines here: Rego v1 required, known regopy hazards refused."""
    problems = []
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    if "import rego.v1" not in code and "rego.v1" not in code:
        problems.append("write Rego v1 (add `import rego.v1`)")
    for needle, why in _HAZARDS:
        if needle in code:
            problems.append(why)
    if _FIELD_COMPUTED.search(code):
        problems.append('compare a field only with names written out ("Type.field"), not with string functions')
    return problems


_REGO_ERROR = re.compile(r"\(error \d+:(?P<file>[^|\s]+)\|(?P<offset>\d+)\|\d+\s+\(errormsg \d+:(?P<message>[^)]*)\)")


def rego_errors(text: str, modules: dict[str, str]) -> str:
    """regopy's error (an S-expression naming byte offsets) as ``file:line:column: message``, joined by ``; ``."""
    found = []
    for m in _REGO_ERROR.finditer(text):
        source, offset = modules.get(m["file"], ""), int(m["offset"])
        line = source.count("\n", 0, offset) + 1
        column = offset - source.rfind("\n", 0, offset)
        found.append(f"{m['file']}:{line}:{column}: {m['message']}")
    return "; ".join(found) if found else " ".join(text.split())


class PolicyEngine(abc.ABC):
    """Evaluates the decision document for one input."""

    revision: str = "none"

    @abc.abstractmethod
    async def evaluate(self, policy_input: dict[str, Any]) -> Any:
        """The raw value of ``data.wardgate.access.decision`` for this input."""

    @abc.abstractmethod
    async def load(self, bundle: PolicyBundle) -> None:
        """Make ``bundle`` the policy in force; raise :class:`ConfigError` and keep the old one if it is invalid."""

    async def ready(self) -> bool:
        return self.revision != "none"

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        pass


class EmbeddedEngine(PolicyEngine):
    """regopy in-process. The bundle is compiled once per revision, then evaluated per input.

    Used only from the event loop's thread: regopy interpreters must not be shared between threads.
    """

    def __init__(self) -> None:
        self._interpreter: Any = None
        self._bundle: Any = None

    async def load(self, bundle: PolicyBundle) -> None:
        interpreter = regopy.Interpreter()
        interpreter.log_level = regopy.LogLevel.NONE  # else it prints its own error report on stdout
        try:
            for name, text in bundle.modules.items():
                interpreter.add_module(name, text)
            interpreter.add_data_json(json.dumps(bundle.data))
            compiled = interpreter.build(QUERY, [ENTRYPOINT])
            # A trial evaluation: a policy that cannot answer an empty request is not put in force.
            interpreter.set_input_term(json.dumps({"classes": {}}))
            probe = interpreter.query_bundle(compiled)
            if not probe.ok():
                raise ConfigError(f"policy does not evaluate: {rego_errors(str(probe), bundle.modules)}")
        except (regopy.RegoError, RuntimeError) as exc:
            raise ConfigError(f"policy does not compile: {rego_errors(str(exc), bundle.modules)}") from exc
        self._interpreter, self._bundle, self.revision = interpreter, compiled, bundle.revision

    async def evaluate(self, policy_input: dict[str, Any]) -> Any:
        if self._interpreter is None:
            raise PolicyUnavailable("no policy loaded")
        try:
            self._interpreter.set_input_term(json.dumps(policy_input))
            output = self._interpreter.query_bundle(self._bundle)
            if not output.ok():
                raise PolicyUnavailable("policy evaluation failed")
            result = json.loads(str(output))
            return result["expressions"][0] if result.get("expressions") else None
        except PolicyUnavailable:
            raise
        except Exception as exc:  # regopy raises its own and RuntimeErrors; all mean no decision
            raise PolicyUnavailable("policy evaluation failed") from exc


class OpaEngine(PolicyEngine):
    """A real OPA server (sidecar) through opa-python-client's async client.

    On load, pushes every module (``PUT /v1/policies/wardgate/...``) and each data document
    (``PUT /v1/data/<its directory>``) unless ``push=False``, in which case OPA is expected to load the
    same files as a bundle and the gateway only checks that it answers. Each evaluation is one
    ``POST /v1/data/wardgate/access/decision`` under ``timeout`` seconds, with no retries: a decision
    that cannot be had within the budget is a deny, not a wait.

    If OPA answers without a result (it restarted and lost pushed policies), that request is denied
    and the policy is pushed again in the background.
    """

    def __init__(self, *, url: str, timeout: float = 0.25, push: bool = True) -> None:
        parsed = urlparse(url)
        self.url = url.rstrip("/")
        self.host = parsed.hostname or "127.0.0.1"
        self.port = parsed.port or 8181
        self.ssl = parsed.scheme == "https"
        self.timeout = timeout
        self.push = push
        self._client: Any = None
        self._bundle: PolicyBundle | None = None
        self._repush: asyncio.Task[None] | None = None

    async def _open(self) -> Any:
        if self._client is None:
            client = AsyncOpaClient(host=self.host, port=self.port, ssl=self.ssl, timeout=self.timeout, retries=0)
            await client.__aenter__()  # opens its aiohttp session; closed in aclose()
            self._client = client
        return self._client

    async def load(self, bundle: PolicyBundle) -> None:
        try:
            client = await self._open()
            async with asyncio.timeout(max(2.0, self.timeout * 8)):
                if self.push:
                    for name, text in bundle.modules.items():
                        await client.update_policy_from_string(
                            text, "wardgate/" + name.removesuffix(".rego"), rego_compat=False
                        )
                    for path, doc in bundle.documents.items():
                        await client.update_or_create_data(doc, path)
                probe = await client.query_rule({"classes": {}}, "wardgate/access/decision")
        except Exception as exc:
            raise ConfigError(f"OPA at {self.url} refused the policy or is unreachable: {exc!r}") from exc
        if not isinstance(probe, dict) or not isinstance(probe.get("result"), dict):
            raise ConfigError(f"OPA at {self.url} does not answer {QUERY}")
        self._bundle = bundle
        self.revision = bundle.revision

    async def evaluate(self, policy_input: dict[str, Any]) -> Any:
        try:
            client = await self._open()
            async with asyncio.timeout(self.timeout):
                answer = await client.query_rule(policy_input, "wardgate/access/decision")
        except Exception as exc:  # timeouts, connection errors, OPA errors: all mean no decision
            raise PolicyUnavailable("policy engine did not answer") from exc
        if not isinstance(answer, dict):
            raise PolicyUnavailable("policy engine answered nonsense")
        if "result" not in answer:
            self._push_again()
            raise PolicyUnavailable("policy engine has no decision document loaded")
        return answer["result"]

    def _push_again(self) -> None:
        if not self.push or self._bundle is None or (self._repush is not None and not self._repush.done()):
            return
        bundle = self._bundle

        async def push() -> None:
            try:
                await self.load(bundle)
                log.info("policy pushed to OPA again", extra={"revision": bundle.revision})
            except ConfigError as exc:
                log.warning("could not push the policy to OPA again", extra={"reason": str(exc)})

        self._repush = asyncio.get_running_loop().create_task(push())

    async def ready(self) -> bool:
        try:
            client = await self._open()
            async with asyncio.timeout(self.timeout * 4):
                return bool(await client.check_health()) and self.revision != "none"
        except Exception:
            return False

    async def aclose(self) -> None:
        if self._repush is not None:
            self._repush.cancel()
        if self._client is not None:
            await self._client.close_connection()
            self._client = None
