"""Where the master key comes from, and what happens without one (SPEC §1, §4)."""

from __future__ import annotations

import pytest

from harness.assertions import NO_KEY, assert_error_envelope, bearer

NO_MASTER_KEY = """
general_settings:
  pass_through_endpoints:
    - path: /open
      target: {upstream}/echo/open
      forward_headers: true
"""

KEY_FROM_ENV_FALLBACK = """
general_settings:
  pass_through_endpoints:
    - path: /guarded
      target: {upstream}/echo/guarded
"""

CUSTOM_KEY_HEADER = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  litellm_key_header_name: X-Gateway-Key
  pass_through_endpoints:
    - path: /custom-header
      target: {upstream}/echo/custom-header
      forward_headers: true
"""


@pytest.fixture(scope="module")
def open_stack(stacks):
    return stacks(NO_MASTER_KEY, master_key_env=False)


@pytest.fixture(scope="module")
def env_key_stack(stacks):
    return stacks(KEY_FROM_ENV_FALLBACK, master_key_env=True)


@pytest.fixture(scope="module")
def custom_header_stack(stacks):
    return stacks(CUSTOM_KEY_HEADER)


def test_without_a_master_key_nothing_needs_a_key(open_stack, mock):
    resp = open_stack.request("POST", "/open", body=b"{}")
    assert resp.status == 200, resp
    assert mock.only_request().path == "/echo/open"


def test_without_a_master_key_client_credentials_pass_through(open_stack, mock):
    resp = open_stack.request("GET", "/open", [("Authorization", "Bearer upstream-token-of-the-client")])
    assert resp.status == 200, resp
    assert mock.only_request().header("Authorization") == "Bearer upstream-token-of-the-client"


def test_master_key_falls_back_to_the_environment(env_key_stack, mock, canaries):
    assert_error_envelope(env_key_stack.request("GET", "/guarded"), 401, NO_KEY)
    assert mock.requests == []
    resp = env_key_stack.request("GET", "/guarded", bearer(canaries.master_key))
    assert resp.status == 200, resp


def test_custom_key_header_carries_the_key(custom_header_stack, mock, canaries):
    resp = custom_header_stack.request("GET", "/custom-header", [("X-Gateway-Key", canaries.master_key)])
    assert resp.status == 200, resp
    rec = mock.only_request()
    assert rec.header("X-Gateway-Key") is None


def test_custom_key_header_replaces_the_standard_list(custom_header_stack, mock, canaries):
    for headers in (bearer(canaries.master_key), [("x-litellm-api-key", canaries.master_key)]):
        resp = custom_header_stack.request("GET", "/custom-header", headers)
        assert_error_envelope(resp, 401, NO_KEY)
    assert mock.requests == []
