"""Master-key authentication (SPEC §4) and keeping the key away from the upstream (§3)."""

from __future__ import annotations

import pytest

from harness.assertions import (
    CREDENTIAL_HEADERS,
    INVALID_KEY,
    MALFORMED_KEY,
    NO_KEY,
    assert_error_envelope,
    bearer,
    echoed,
)

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /private
      target: {upstream}/echo/private
    - path: /private-fwd
      target: {upstream}/echo/private-fwd
      forward_headers: true
    - path: /public
      target: {upstream}/echo/public
      auth: false
      forward_headers: true
    - path: /public-sub
      target: {upstream}/echo/public-sub
      auth: false
      include_subpath: true
    - path: /custom
      target: {upstream}/echo/custom
      forward_headers: true
      headers:
        litellm_user_api_key: x-my-key
"""

WRONG_KEY = "sk-wrong-0123456789abcdef"


@pytest.fixture(scope="module")
def stack(stacks):
    return stacks(CONFIG)


def key_headers(canaries):
    key = canaries.master_key
    return [
        [("Authorization", f"Bearer {key}")],
        [("x-litellm-api-key", key)],
        [("x-litellm-api-key", f"Bearer {key}")],
        [("API-Key", key)],
        [("x-api-key", key)],
        [("x-goog-api-key", key)],
        [("Ocp-Apim-Subscription-Key", key)],
    ]


def assert_no_credentials_upstream(mock) -> None:
    for rec in mock.requests:
        leaked = [name for name in rec.header_names() if name in CREDENTIAL_HEADERS + ("x-my-key",)]
        assert not leaked, f"credential headers forwarded to {rec.target}: {leaked}"


# --- failures ------------------------------------------------------------------


def test_no_key_is_401_with_litellms_text(stack, mock):
    resp = stack.request("GET", "/private")
    assert_error_envelope(resp, 401, NO_KEY)
    assert mock.requests == []


def test_authorization_without_bearer_is_malformed(stack, mock, canaries):
    resp = stack.request("GET", "/private", [("Authorization", canaries.master_key)])
    assert_error_envelope(resp, 401, MALFORMED_KEY)
    assert mock.requests == []


@pytest.mark.parametrize(
    "headers",
    [
        bearer(WRONG_KEY),
        [("x-litellm-api-key", WRONG_KEY)],
        [("API-Key", WRONG_KEY)],
        [("x-api-key", WRONG_KEY)],
        [("x-goog-api-key", WRONG_KEY)],
        [("Ocp-Apim-Subscription-Key", WRONG_KEY)],
    ],
    ids=["authorization", "x-litellm-api-key", "api-key", "x-api-key", "x-goog-api-key", "ocp-apim"],
)
def test_wrong_key_is_401_invalid_token(stack, mock, headers):
    resp = stack.request("POST", "/private", headers, b"{}")
    assert_error_envelope(resp, 401, INVALID_KEY)
    assert WRONG_KEY.encode() not in resp.body, "the presented key is echoed back"
    assert mock.requests == []


def test_empty_bearer_is_refused(stack, mock):
    resp = stack.request("GET", "/private", [("Authorization", "Bearer ")])
    assert resp.status == 401
    assert mock.requests == []


def test_key_with_a_suffix_is_refused(stack, mock, canaries):
    resp = stack.request("GET", "/private", bearer(canaries.master_key + "x"))
    assert_error_envelope(resp, 401, INVALID_KEY)
    assert mock.requests == []


def test_key_prefix_is_refused(stack, mock, canaries):
    resp = stack.request("GET", "/private", bearer(canaries.master_key[:-1]))
    assert_error_envelope(resp, 401, INVALID_KEY)
    assert mock.requests == []


# --- where the key is read --------------------------------------------------------


@pytest.mark.parametrize("index", range(7), ids=[
    "authorization-bearer", "x-litellm-api-key", "x-litellm-api-key-bearer",
    "api-key", "x-api-key", "x-goog-api-key", "ocp-apim-subscription-key",
])
def test_each_key_header_is_accepted_and_not_forwarded(stack, mock, canaries, index):
    headers = key_headers(canaries)[index] + [("X-Other", "kept")]
    resp = stack.request("POST", "/private-fwd", headers, b'{"a":1}')
    got = echoed(resp)
    assert got["path"] == "/echo/private-fwd"
    rec = mock.only_request()
    assert rec.header("X-Other") == "kept"
    assert_no_credentials_upstream(mock)


def test_x_litellm_api_key_is_read_before_authorization(stack, mock, canaries):
    resp = stack.request("GET", "/private", [("x-litellm-api-key", WRONG_KEY), *bearer(canaries.master_key)])
    assert_error_envelope(resp, 401, INVALID_KEY)
    resp = stack.request("GET", "/private", [("x-litellm-api-key", canaries.master_key), *bearer(WRONG_KEY)])
    assert resp.status == 200, resp


def test_authorization_is_read_before_api_key(stack, mock, canaries):
    resp = stack.request("GET", "/private", [*bearer(WRONG_KEY), ("API-Key", canaries.master_key)])
    assert_error_envelope(resp, 401, INVALID_KEY)
    resp = stack.request("GET", "/private", [("Authorization", canaries.master_key), ("API-Key", canaries.master_key)])
    assert_error_envelope(resp, 401, MALFORMED_KEY)


def test_all_credential_headers_are_removed_on_an_authenticating_endpoint(stack, mock, canaries):
    headers = [
        ("x-litellm-api-key", canaries.master_key),
        ("x-api-key", "some-other-value"),
        ("x-goog-api-key", "another-value"),
        ("Ocp-Apim-Subscription-Key", "third-value"),
    ]
    resp = stack.request("GET", "/private-fwd", headers)
    assert resp.status == 200, resp
    assert_no_credentials_upstream(mock)


def test_endpoint_key_header_authenticates_and_is_not_forwarded(stack, mock, canaries):
    resp = stack.request("GET", "/custom", [("x-my-key", canaries.master_key), ("X-Other", "kept")])
    assert resp.status == 200, resp
    rec = mock.only_request()
    assert rec.header("x-my-key") is None
    assert rec.header("litellm_user_api_key") is None and rec.header("litellm-user-api-key") is None
    assert rec.header("X-Other") == "kept"


def test_endpoint_key_header_is_read_first(stack, mock, canaries):
    resp = stack.request("GET", "/custom", [("x-my-key", WRONG_KEY), *bearer(canaries.master_key)])
    assert_error_envelope(resp, 401, INVALID_KEY)
    assert mock.requests == []


# --- public endpoints -------------------------------------------------------------


def test_auth_false_needs_no_key(stack, mock):
    resp = stack.request("GET", "/public")
    assert echoed(resp)["path"] == "/echo/public"


def test_auth_false_subpaths_need_no_key(stack, mock):
    resp = stack.request("GET", "/public-sub/a/b")
    assert echoed(resp)["path"] == "/echo/public-sub/a/b"


def test_public_endpoint_forwards_a_clients_own_credentials(stack, mock):
    resp = stack.request("GET", "/public", [("Authorization", "Bearer client-own-upstream-token")])
    assert resp.status == 200
    assert mock.only_request().header("Authorization") == "Bearer client-own-upstream-token"


def test_master_key_is_never_forwarded_even_on_a_public_endpoint(stack, mock, canaries):
    key = canaries.master_key
    headers = [*bearer(key), ("X-Note", f"prefix-{key}-suffix"), ("x-api-key", key), ("X-Fine", "kept")]
    resp = stack.request("GET", "/public", headers)
    assert resp.status == 200, resp
    rec = mock.only_request()
    assert rec.header("X-Fine") == "kept"
    assert all(key not in v for _, v in rec.headers)


# --- routing cannot be steered around auth ---------------------------------------------


def test_auth_is_decided_on_the_request_path_not_on_host_or_forwarded_headers(stack, mock):
    headers = [
        ("Host", "localhost:4000"),
        ("X-Original-URL", "/public"),
        ("X-Rewrite-URL", "/public"),
        ("X-Forwarded-Prefix", "/public"),
        ("X-Forwarded-Host", "public.example"),
    ]
    resp = stack.request("GET", "/private", headers)
    assert_error_envelope(resp, 401, NO_KEY)
    assert mock.requests == []


def test_a_public_route_prefix_does_not_open_a_private_neighbour(stack, mock):
    resp = stack.request("GET", "/publicX")
    assert resp.status in (401, 404)
    resp = stack.request("GET", "/public/../private")
    assert resp.status in (400, 401, 404)
    assert mock.requests == []
