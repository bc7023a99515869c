"""Gateway logs (SPEC §7): stderr, one line per event, never a secret or a body; the
request id nginx passes in lets an access-log line be followed into the gateway's log."""

from __future__ import annotations

import json
import uuid

import pytest

from harness.assertions import bearer
from harness.waiting import wait_until

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
