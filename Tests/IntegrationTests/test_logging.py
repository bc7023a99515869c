"""Observability: the gateway's log lines, one per request, never a secret, a body or
anything a client can shape.

docs/BEHAVIOUR.md §7; threat catalogue section J (OBS-*) in docs/SECURITY.md.
"""

from __future__ import annotations

import json
import re
import time
import uuid

import pytest

from harness.assertions import bearer
from harness.waiting import wait_until


# ==================================================================================================
# Gateway logs (docs/BEHAVIOUR.md §7): stderr, one line per event, never a secret or a body; the
# request id nginx passes in lets an access-log line be followed into the gateway's log.
# ==================================================================================================


CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /echo
      target: {upstream}/echo/logged
      forward_headers: true
      headers:
        Authorization: "bearer os.environ/COHERE_API_KEY"
    - path: /unreachable
      target: {closed}/x
"""


@pytest.fixture(scope="module")
def text_stack(stacks):
    return stacks(CONFIG)


@pytest.fixture(scope="module")
def json_stack(stacks):
    return stacks(CONFIG, extra_args=["--log-format", "json"])


def new_log(gateway, since: int) -> str:
    return gateway.log_path.read_bytes()[since:].decode(errors="replace")


def logged_request(stack, canaries, target: str, since: int) -> tuple[str, str]:
    """Sends a request carrying canaries in its body and headers; returns (request id, new log)."""
    body_canary = f"BODY-CANARY-{uuid.uuid4().hex}"
    header_canary = f"HEADER-CANARY-{uuid.uuid4().hex}"
    marker = uuid.uuid4().hex
    headers = bearer(canaries.master_key) + [("X-Private", header_canary), ("Content-Type", "application/json")]
    stack.request("POST", f"{target}?marker={marker}", headers, json.dumps({"secret": body_canary}).encode())
    request_id = stack.call_id_from_access_log(marker)
    gateway = stack.gateways[0]

    def log_with_request_id() -> str | None:
        text = new_log(gateway, since)
        return text if request_id in text else None

    text = wait_until(log_with_request_id, 3, "a gateway log line with the request id")
    assert body_canary not in text, "a request body was logged"
    assert header_canary not in text, "a client header value was logged"
    return request_id, text


@pytest.mark.parametrize("target", ["/echo", "/unreachable"])
def test_request_is_logged_with_its_id_and_without_body_or_secrets(text_stack, mock, canaries, target):
    since = text_stack.gateways[0].log_path.stat().st_size
    request_id, text = logged_request(text_stack, canaries, target, since)
    lines = [line for line in text.splitlines() if request_id in line]
    assert lines, text
    if target == "/echo":
        # The body was read and forwarded: its size is in the line (never its content).
        assert any(f"bytes_in={len(json.dumps({'secret': 'BODY-CANARY-' + 32 * 'x'}))}" in line for line in lines), lines


def test_json_log_lines_parse(json_stack, mock, canaries):
    since = json_stack.gateways[0].log_path.stat().st_size
    request_id, text = logged_request(json_stack, canaries, "/echo", since)
    lines = [line for line in text.splitlines() if line.strip()]
    for line in lines:
        assert isinstance(json.loads(line), dict), line
    assert any(request_id in line for line in lines)


# ==================================================================================================
# Catalogue section J: the request log (OBS-01).
#
# One line per request, in gateway-chosen words; nothing a client sends can add a line,
# a field or a secret to it. (Upstream status, bytes and time to first byte belong to the
# process-model issue's log work.)
# ==================================================================================================


OBS_CONFIG = """
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
def obs_stack(stacks):
    return stacks(OBS_CONFIG)


@pytest.fixture(scope="module")
def obs_json_stack(stacks):
    return stacks(OBS_CONFIG, extra_args=["--log-format", "json"])


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
def test_obs_01_one_line_per_request_with_id_route_method_status_and_duration(obs_stack, key, target, fields):
    marker = uuid.uuid4().hex
    obs_stack.request("GET", f"{target}{'&' if '?' in target else '?'}marker={marker}", key)
    request_id, lines = log_line_for(obs_stack, marker)
    assert len(lines) == 1, lines
    line = lines[0]
    for name, value in fields.items():
        assert re.search(rf"\b{name}=" + (re.escape(value) if value else r"\S"), line), (name, line)
    assert re.search(r"\bms=\d+(\.\d+)?\b", line) and f"request_id={request_id}" in line


def test_obs_01_a_client_that_leaves_is_logged_as_gone_never_as_a_success(obs_stack, key):
    marker = uuid.uuid4().hex
    exchange = obs_stack.exchange("GET", f"/mock/slow?delay=5&marker={marker}", key)
    time.sleep(0.3)
    exchange.close()
    request_id, lines = log_line_for(obs_stack, marker)
    assert len(lines) == 1 and "client gone" in lines[0] and "status=499" in lines[0], lines


def test_obs_01_client_supplied_ids_and_values_never_shape_the_log(obs_stack, key, mock):
    marker = uuid.uuid4().hex
    evil = "x\" status=200 route=/admin request_id=forged"
    headers = key + [("X-Request-Id", "forged-id"), ("X-Note", evil), ("User-Agent", evil)]
    resp = obs_stack.request("GET", f"/mock/echo/x?marker={marker}&q=status%3D200%0Aroute", headers)
    request_id, lines = log_line_for(obs_stack, marker)
    assert resp.header("x-litellm-call-id") == request_id != "forged-id"
    text = obs_stack.gateway_logs()
    assert "forged" not in text and "/admin" not in text and marker not in text
    assert len(lines) == 1


def test_obs_01_json_lines_are_one_object_per_request(obs_json_stack, key):
    marker = uuid.uuid4().hex
    obs_json_stack.request("POST", f"/mock/echo/j?marker={marker}", key, b'{"prompt":"private"}')
    _, lines = log_line_for(obs_json_stack, marker)
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["route"] == "mock-route" and entry["status"] == "200" and entry["method"] == "POST"
    assert "private" not in obs_json_stack.gateway_logs()
