"""A stand-in for an OPA server: the parts of OPA's REST API the gateway uses, evaluated with regopy.

The real OPA binary cannot be installed on the machines the tests run on, so this speaks the same
protocol — ``PUT/GET /v1/policies/{id}``, ``PUT/GET /v1/data/{path}``, ``POST /v1/data/{path}`` with
``{"input": ...}`` answering ``{"result": ...}`` (or ``{}`` when undefined), ``GET /health`` — so the
gateway's OPA engine runs over real HTTP exactly as it would against a sidecar.

Faults, for fail-closed tests (``PUT /__admin/faults`` with header ``X-Admin-Key: mock-admin``)::

    {"mode": "ok"}            answer normally
    {"mode": "slow", "delayMs": 800}
    {"mode": "error"}         500 with OPA's error shape
    {"mode": "malformed"}     200 with a result that is not a decision
    {"mode": "forget"}        drop every pushed policy and document, as a restarted OPA would

``GET /__admin/calls`` counts decision queries, so a test can see one evaluation per request.

    python -m mocks.opa --port 8181
"""

from __future__ import annotations

import argparse
import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import regopy
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

ADMIN_KEY = "mock-admin"


@dataclass
class OpaState:
    modules: dict[str, str] = field(default_factory=dict)
    data: dict[str, Any] = field(default_factory=dict)
    mode: str = "ok"
    delay_ms: int = 0
    decision_queries: int = 0
    _compiled: dict[str, Any] = field(default_factory=dict)  # query path -> (interpreter, bundle)

    def interpreter(self, modules: dict[str, str]) -> Any:
        interp = regopy.Interpreter()
        for name, text in modules.items():
            interp.add_module(name, text)
        interp.add_data_json(json.dumps(self.data))
        return interp

    def invalidate(self) -> None:
        self._compiled.clear()

    def evaluate(self, path: str, policy_input: Any) -> tuple[bool, Any]:
        """(defined, value) of ``data.<path>`` for this input."""
        query = "data." + path.replace("/", ".")
        package = ".".join(path.split("/")[:-1])
        if not any(f"package {package}" in text for text in self.modules.values()):
            return False, None  # as OPA: a document no policy defines is undefined, not an error
        entry = self._compiled.get(path)
        if entry is None:
            interp = self.interpreter(self.modules)
            entry = (interp, interp.build(query, [path]))
            self._compiled[path] = entry
        interp, bundle = entry
        interp.set_input_term(json.dumps(policy_input))
        output = interp.query_bundle(bundle)
        if not output.ok():
            raise RuntimeError(str(output))
        result = json.loads(str(output))
        expressions = result.get("expressions") if isinstance(result, dict) else None
        if not expressions:
            return False, None
        return True, expressions[0]


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def opa_app(state: OpaState | None = None) -> Starlette:
    state = state or OpaState()

    async def faulted() -> Response | None:
        if state.mode == "slow":
            await asyncio.sleep(state.delay_ms / 1000)
        elif state.mode == "error":
            return _error(500, "internal_error", "evaluation failed")
        return None

    async def health(request: Request) -> Response:
        if state.mode == "error":
            return _error(500, "internal_error", "unhealthy")
        return JSONResponse({})

    async def put_policy(request: Request) -> Response:
        policy_id = request.path_params["id"]
        text = (await request.body()).decode("utf-8", errors="replace")
        candidate = {**state.modules, policy_id: text}
        try:
            state.interpreter(candidate).query("true")
        except Exception as exc:
            return _error(400, "invalid_parameter", f"error(s) occurred while compiling module(s): {exc}")
        state.modules = candidate
        state.invalidate()
        return JSONResponse({})

    async def list_policies(request: Request) -> Response:
        return JSONResponse({"result": [{"id": k, "raw": v} for k, v in state.modules.items()]})

    async def put_data(request: Request) -> Response:
        parts = [p for p in request.path_params["path"].split("/") if p]
        try:
            doc = json.loads(await request.body())
        except ValueError:
            return _error(400, "invalid_parameter", "body is not JSON")
        if not parts:
            if not isinstance(doc, dict):
                return _error(400, "invalid_parameter", "root document must be an object")
            state.data = doc
        else:
            node = state.data
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = doc
        state.invalidate()
        return Response(status_code=204)

    async def get_data(request: Request) -> Response:
        node: Any = state.data
        for part in [p for p in request.path_params["path"].split("/") if p]:
            if not isinstance(node, dict) or part not in node:
                return JSONResponse({})
            node = node[part]
        return JSONResponse({"result": node})

    async def post_data(request: Request) -> Response:
        state.decision_queries += 1
        fault = await faulted()
        if fault is not None:
            return fault
        try:
            body = json.loads(await request.body() or b"{}")
        except ValueError:
            return _error(400, "invalid_parameter", "body is not JSON")
        if state.mode == "malformed":
            return JSONResponse({"result": {"fields": "allow everything", "obligations": None}})
        path = request.path_params["path"].strip("/")
        try:
            defined, value = state.evaluate(path, body.get("input"))
        except Exception as exc:
            return _error(500, "internal_error", str(exc))
        return JSONResponse({"result": value} if defined else {})

    def admin(request: Request) -> bool:
        return request.headers.get("x-admin-key") == ADMIN_KEY

    async def faults(request: Request) -> Response:
        if not admin(request):
            return _error(403, "forbidden", "admin key required")
        if request.method == "PUT":
            spec = await request.json()
            mode = spec.get("mode", "ok")
            if mode not in ("ok", "slow", "error", "malformed", "forget"):
                return _error(400, "invalid_parameter", f"unknown mode {mode!r}")
            if mode == "forget":
                state.modules, state.data, mode = {}, {}, "ok"
                state.invalidate()
            state.mode, state.delay_ms = mode, int(spec.get("delayMs", 0))
        return JSONResponse({"mode": state.mode, "delayMs": state.delay_ms})

    async def calls(request: Request) -> Response:
        if not admin(request):
            return _error(403, "forbidden", "admin key required")
        if request.method == "DELETE":
            state.decision_queries = 0
        return JSONResponse({"decisionQueries": state.decision_queries})

    app = Starlette(
        routes=[
            Route("/health", health),
            Route("/v1/policies", list_policies),
            Route("/v1/policies/", list_policies),
            Route("/v1/policies/{id:path}", put_policy, methods=["PUT"]),
            Route("/v1/data/{path:path}", put_data, methods=["PUT"]),
            Route("/v1/data/{path:path}", get_data, methods=["GET"]),
            Route("/v1/data/{path:path}", post_data, methods=["POST"]),
            Route("/__admin/faults", faults, methods=["GET", "PUT"]),
            Route("/__admin/calls", calls, methods=["GET", "DELETE"]),
        ]
    )
    app.state.opa = state
    return app


def main() -> None:
    parser = argparse.ArgumentParser(description="An OPA REST API stand-in for tests")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8181)
    args = parser.parse_args()

    async def serve() -> None:
        config = uvicorn.Config(opa_app(), host=args.host, port=args.port, log_level="warning")
        server = uvicorn.Server(config)
        task = asyncio.create_task(server.serve())
        while not server.started:
            if task.done():
                raise SystemExit(f"the OPA stand-in could not start on {args.host}:{args.port}")
            await asyncio.sleep(0.02)
        print(f"opa http://{args.host}:{args.port}", flush=True)
        print("ready", flush=True)
        await task

    asyncio.run(serve())


if __name__ == "__main__":
    main()
