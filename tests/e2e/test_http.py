"""GraphQL over HTTP on a real gateway: every refusal is a GraphQL response with a code, the GraphQL response
media type when a client prefers it, and a request line in the text log that carries its fields."""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.dev.tokens import dev_token
from support.processes import free_port_block, stop
from support.stack import Stack, start_gateway

GQL = "application/graphql-response+json"
PREFERS_GQL = {"accept": f"{GQL}, application/json;q=0.9"}


def post(s: Stack, body: bytes | str, **headers: str) -> httpx.Response:
    auth = {"authorization": "Bearer " + dev_token("social-worker", mfa=True), "content-type": "application/json"}
    return httpx.post(s.gateway + "/graphql", content=body, headers={**auth, **headers}, timeout=10)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"query": "{ me { id } }"', "the request body is not JSON"),
        (b'[{"query": "{ me { id } }"}, {"query": "{ me { id } }"}]', "a JSON array (batch) is not accepted"),
        (b'{"query": 42}', "`query` must be a string"),
    ],
    ids=["malformed JSON", "a batch", "query not a string"],
)
def test_a_body_that_cannot_be_run_is_a_graphql_error_with_a_code(stack: Stack, body: bytes, says: str) -> None:
    for headers, media_type in (({}, "application/json"), (PREFERS_GQL, GQL)):
        r = post(stack, body, **headers)
        assert r.status_code == 400
        assert r.headers["content-type"] == media_type
        [error] = r.json()["errors"]
        assert error["extensions"]["code"] == "BAD_REQUEST" and says in error["message"]
        assert ("data" in r.json()) is (media_type == "application/json")


def test_request_errors_are_400_without_data_for_clients_that_prefer_the_graphql_media_type(stack: Stack) -> None:
    requests = {
        "does not parse": '{"query": "{ me { id "}',
        "does not validate": '{"query": "{ me { nmae } }"}',
        "variables do not coerce": '{"query": "query($id: ID!) { child(id: $id) { id } }", "variables": {"id": {}}}',
    }
    for what, body in requests.items():
        json_answer = post(stack, body)
        assert json_answer.status_code == 200 and json_answer.json()["data"] is None, what  # unchanged for JSON
        r = post(stack, body, **PREFERS_GQL)
        assert r.status_code == 400, what
        assert r.headers["content-type"] == GQL
        assert "data" not in r.json() and r.json()["errors"], what
    ok = post(stack, '{"query": "{ me { id } }"}', **PREFERS_GQL)
    assert ok.status_code == 200 and ok.headers["content-type"] == GQL and ok.json()["data"]["me"]["id"]


def test_json_stays_the_default(stack: Stack) -> None:
    for accept in (None, "*/*", "application/json", f"application/json, {GQL}", "text/html;q=0.1, */*"):
        headers = {"accept": accept} if accept else {}
        r = post(stack, '{"query": "{ me { id } }"}', **headers)
        assert r.status_code == 200 and r.headers["content-type"] == "application/json", accept


@pytest.fixture
def text_logs(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    workdir = tmp_path_factory.mktemp("text-logs")
    port = free_port_block(1)
    gateway = start_gateway(port, stack.agencies, workdir / "audit.jsonl", workdir, log_format="text")
    try:
        log = Path(gateway.log.name)  # type: ignore[attr-defined]
        yield dataclasses.replace(stack, gateway=f"http://127.0.0.1:{port}", gateway_log=log)
    finally:
        stop(gateway)


def test_the_text_log_request_line_has_route_status_time_and_request_id(text_logs: Stack) -> None:
    r = post(text_logs, '{"query": "{ me { id } }"}', **{"x-request-id": "text-log-check-1"})
    assert r.status_code == 200
    pattern = re.compile(
        r"INFO gateway\.request request method=POST route=/graphql status=200 ms=[0-9.]+ "
        r"requestId=text-log-check-1 practitioner=P000001$",
        re.M,
    )
    assert text_logs.gateway_log is not None
    deadline = time.monotonic() + 5
    while not pattern.search(log := text_logs.gateway_log.read_text()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert pattern.search(log), log[-2000:]
