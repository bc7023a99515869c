"""The gateway's own errors (SPEC §6): envelope, status per failure, nothing secret inside."""

from __future__ import annotations

import uuid

import pytest

from harness.assertions import assert_error_envelope, bearer

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /unreachable
      target: "{closed}/v1/x"
      headers:
        Authorization: "Bearer os.environ/COHERE_API_KEY"
    - path: /close-before-head
      target: {upstream}/close-before-head
    - path: /post-only
      target: {upstream}/echo
      methods: [POST]
"""


@pytest.fixture(scope="module")
def stack(stacks):
    return stacks(CONFIG)



def assert_no_secrets(resp, canaries, *extra: bytes):
    for secret in (canaries.master_key.encode(), canaries.upstream_key.encode(), *extra):
        assert secret not in resp.body, "an error response carries a secret or the request body"


def test_404_envelope(stack, mock, key):
    assert_error_envelope(stack.request("GET", "/no/such/route", key), 404)
    assert mock.requests == []


def test_405_envelope_with_allow(stack, mock, key):
    resp = stack.request("DELETE", "/post-only", key)
    assert_error_envelope(resp, 405)
    assert "POST" in (resp.header("Allow") or "")


def test_400_envelope(stack, mock, key):
    resp = stack.request("POST", "/post-only/%2e%2e/x", key, b"{}")
    assert resp.status in (400, 404)
    assert_error_envelope(resp, resp.status)
    assert mock.requests == []


def test_upstream_refusing_connections_is_502(stack, mock, key, canaries):
    body_canary = f"BODY-CANARY-{uuid.uuid4().hex}".encode()
    resp = stack.request("POST", "/unreachable", key + [("Content-Type", "application/json")], b'{"x":"' + body_canary + b'"}')
    assert_error_envelope(resp, 502)
    assert resp.elapsed < 5
    assert_no_secrets(resp, canaries, body_canary)


@pytest.mark.parametrize("how", ["fin", "rst"])
def test_upstream_closing_before_the_status_is_502(stack, mock, key, canaries, how):
    target = "/close-before-head" + ("?rst=1" if how == "rst" else "")
    resp = stack.request("POST", target, key, b"{}")
    assert_error_envelope(resp, 502)
    assert_no_secrets(resp, canaries)
    assert 1 <= len(mock.requests_to("/close-before-head")) <= 2


def test_errors_are_json_for_every_method(stack, mock, key):
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        resp = stack.request(method, "/no/such/route", key, b"{}" if method != "GET" else None)
        assert_error_envelope(resp, 404)
