"""Logs for people (WARDGATE_LOG_FORMAT=text) carry every field the JSON lines carry."""

from __future__ import annotations

import json
import logging

from pythonjsonlogger.json import JsonFormatter

from gateway.server.logs import JSON_FORMAT, RENAMED, TextFormatter


def request_record() -> logging.LogRecord:
    record = logging.LogRecord("gateway.request", logging.INFO, __file__, 1, "request", None, None)
    extra = {"method": "POST", "route": "/graphql", "status": 200, "ms": 3.25, "requestId": "r-1", "practitioner": None}
    record.__dict__.update(extra)
    return record


def test_the_text_request_line_has_the_json_lines_fields() -> None:
    text = TextFormatter().format(request_record())
    as_json = json.loads(JsonFormatter(JSON_FORMAT, rename_fields=RENAMED).format(request_record()))
    assert text.endswith("INFO gateway.request request method=POST route=/graphql status=200 ms=3.25 requestId=r-1")
    for key in ("method", "route", "status", "ms", "requestId"):
        assert f"{key}={as_json[key]}" in text


def test_values_with_spaces_are_quoted_and_lists_joined() -> None:
    record = logging.LogRecord("gateway.app", logging.INFO, __file__, 1, "gateway ready", None, None)
    record.__dict__.update({"agencies": ["health", "police"], "why": "two words"})
    assert TextFormatter().format(record).endswith('gateway ready agencies=health,police why="two words"')
