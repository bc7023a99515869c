"""Catalogue section J: the request log (OBS-01).

One line per request, in gateway-chosen words; nothing a client sends can add a line,
a field or a secret to it. (Upstream status, bytes and time to first byte belong to the
process-model issue's log work.)
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest

from harness.assertions import bearer
from harness.waiting import wait_until

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /mock
      id: mock-route
      target: {upstream}
      include_subpath: true
      methods: [GET, POST]
    - path: /refused
      target: {closed}/x
"""


@pytest.fixture(scope="module")
def stack(stacks):
    return stacks(CONFIG)


@pytest.fixture(scope="module")
def json_stack(stacks):
    return stacks(CONFIG, extra_args=["--log-format", "json"])


def log_line_for(stack, marker: str) -> tuple[str, list[str]]:
    """The request id nginx gave the request with `marker`, and the gateway's lines for it."""
    request_id = stack.call_id_from_access_log(marker)
    lines = wait_until(
        lambda: [line for line in stack.gateway_logs().splitlines() if request_id in line],
        3,
        "a gateway log line with the request id",
    )
    return request_id, lines


@pytest.mark.parametrize(
    "target, fields",
    [
        ("/mock/echo/ok", {"route": "mock-route", "method": "GET", "status": "200"}),
        ("/refused", {"route": "/refused", "method": "GET", "status": "502", "error": None}),
        ("/mock/status/429", {"route": "mock-route", "status": "429"}),
    ],
)
def test_obs_01_one_line_per_request_with_id_route_method_status_and_duration(stack, key, target, fields):
    marker = uuid.uuid4().hex
    stack.request("GET", f"{target}{'&' if '?' in target else '?'}marker={marker}", key)
    request_id, lines = log_line_for(stack, marker)
    assert len(lines) == 1, lines
    line = lines[0]
    for name, value in fields.items():
        assert re.search(rf"\b{name}=" + (re.escape(value) if value else r"\S"), line), (name, line)
    assert re.search(r"\bms=\d+(\.\d+)?\b", line) and f"request_id={request_id}" in line


def test_obs_01_a_client_that_leaves_is_logged_as_gone_never_as_a_success(stack, key):
    marker = uuid.uuid4().hex
    exchange = stack.exchange("GET", f"/mock/slow?delay=5&marker={marker}", key)
    time.sleep(0.3)
    exchange.close()
    request_id, lines = log_line_for(stack, marker)
    assert len(lines) == 1 and "client gone" in lines[0] and "status=499" in lines[0], lines


def test_obs_01_client_supplied_ids_and_values_never_shape_the_log(stack, key, mock):
    marker = uuid.uuid4().hex
    evil = "x\" status=200 route=/admin request_id=forged"
    headers = key + [("X-Request-Id", "forged-id"), ("X-Note", evil), ("User-Agent", evil)]
    resp = stack.request("GET", f"/mock/echo/x?marker={marker}&q=status%3D200%0Aroute", headers)
    request_id, lines = log_line_for(stack, marker)
    assert resp.header("x-litellm-call-id") == request_id != "forged-id"
    text = stack.gateway_logs()
    assert "forged" not in text and "/admin" not in text and marker not in text
    assert len(lines) == 1


def test_obs_01_json_lines_are_one_object_per_request(json_stack, key):
    marker = uuid.uuid4().hex
    json_stack.request("POST", f"/mock/echo/j?marker={marker}", key, b'{"prompt":"private"}')
    _, lines = log_line_for(json_stack, marker)
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["route"] == "mock-route" and entry["status"] == "200" and entry["method"] == "POST"
    assert "private" not in json_stack.gateway_logs()
