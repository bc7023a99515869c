"""Relaying the upstream's answer (docs/BEHAVIOUR.md §5): status, body, filtered headers, call id, redirects."""

from __future__ import annotations

import gzip
import uuid

import pytest

from harness.gateway import transport
from harness.mock_upstream import (
    GZIP_PLAIN,
    MOCK_DATE,
    MOCK_SERVER,
    big_body,
    chunk_piece,
    status_body,
)

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /status
      target: {upstream}/status
      include_subpath: true
      methods: [GET, POST, HEAD]
    - path: /echo
      target: {upstream}/echo/resp
    - path: /gzip
      target: {upstream}/gzip
    - path: /redirect
      target: {upstream}/redirect
    - path: /big
      target: {upstream}/big
    - path: /chunked
      target: {upstream}/chunked
    - path: /cookie
      target: {upstream}/cookie
    - path: /counter
      target: {upstream}/counter
"""


@pytest.fixture(scope="module")
def stack(stacks):
    return stacks(CONFIG)



# --- status and body ------------------------------------------------------------------


@pytest.mark.parametrize("code", [200, 201, 202, 400, 401, 403, 404, 409, 418, 422, 429, 500, 502, 503, 529])
def test_upstream_status_and_body_are_relayed(stack, mock, key, code):
    resp = stack.request("POST", f"/status/{code}", key, b"{}")
    assert resp.status == code, resp
    assert resp.complete
    assert resp.body == status_body(code)
    assert resp.header("Content-Type") == "application/json; charset=utf-8"
    assert resp.header("X-RateLimit-Remaining") == "42"
    assert resp.header("X-Custom-Upstream") == "kept-value"
    assert resp.header("Retry-After") == "7"


def test_204_has_no_body(stack, mock, key):
    resp = stack.request("GET", "/status/204", key)
    assert resp.status == 204
    assert resp.body == b""


def test_head_keeps_the_status_and_sends_no_body(stack, mock, key):
    resp = stack.request("HEAD", "/status/200", key)
    assert resp.status == 200
    assert resp.body == b""
    assert mock.only_request().method == "HEAD"


# --- response headers ---------------------------------------------------------------------


def test_upstream_cannot_set_server_date_hop_by_hop_or_steer_nginx(stack, mock, key):
    resp = stack.request("GET", "/status/200", key, timeout=5)
    # X-Accel-Redirect would make nginx serve another location; X-Accel-Limit-Rate: 1
    # would throttle this body to 1 byte/s and blow the 5 s timeout.
    assert resp.status == 200 and resp.complete, resp
    assert resp.body == status_body(200)
    assert resp.header("Server") != MOCK_SERVER
    assert MOCK_DATE not in resp.header_values("Date")
    names = resp.header_names()
    for name in ("keep-alive", "x-hop-resp", "status"):
        assert name not in names, f"{name} relayed"
    assert not [n for n in names if n.startswith("x-accel-")]


def test_call_id_is_nginxs_request_id(stack, mock, key):
    marker = uuid.uuid4().hex
    resp = stack.request("GET", f"/echo?marker={marker}", key)
    assert resp.status == 200
    call_id = resp.header("x-litellm-call-id")
    assert call_id, resp.headers
    assert call_id == stack.call_id_from_access_log(marker)


def test_call_ids_differ_between_requests(stack, mock, key):
    ids = {stack.request("GET", "/echo", key).header("x-litellm-call-id") for _ in range(3)}
    assert len(ids) == 3 and None not in ids


def test_set_cookie_is_relayed_but_never_replayed(stack, mock, key):
    resp = stack.request("GET", "/cookie", key)
    assert resp.status == 200
    assert any("itest_session=cookie-from-upstream" in v for v in resp.header_values("Set-Cookie"))
    mock.reset()
    assert stack.request("GET", "/echo", key).status == 200
    assert mock.only_request().header("Cookie") is None


def test_responses_are_not_cached(stack, mock, key):
    first = stack.request("GET", "/counter", key)
    second = stack.request("GET", "/counter", key)
    assert first.status == second.status == 200
    assert first.body != second.body
    assert len(mock.requests) == 2


# --- bodies ---------------------------------------------------------------------------


def test_gzip_arrives_without_stale_headers(stack, mock, key):
    """URLSession decodes it (and drops the encoding and the compressed length); the curl
    transport passes the compressed bytes on with the upstream's own headers."""
    resp = stack.request("GET", "/gzip", key)
    assert resp.status == 200 and resp.complete, resp
    if transport() == "urlsession":
        assert resp.body == GZIP_PLAIN
        assert resp.header("Content-Encoding") is None
        assert resp.header("Content-Length") in (None, str(len(GZIP_PLAIN)))
    else:
        assert gzip.decompress(resp.body) == GZIP_PLAIN
        assert resp.header("Content-Encoding") == "gzip"
        assert resp.header("Content-Length") == str(len(resp.body))


@pytest.mark.timeout_s(60)
def test_large_body_is_relayed_whole(stack, mock, key):
    size = 3 * 1024 * 1024 + 17
    resp = stack.request("GET", f"/big?bytes={size}&seed=3", key, timeout=30)
    assert resp.status == 200 and resp.complete
    assert resp.body == big_body(size, 3)
    assert resp.header("Content-Length") in (None, str(size))


def test_unknown_length_body_is_relayed_whole(stack, mock, key):
    resp = stack.request("GET", "/chunked?n=6", key)
    assert resp.status == 200 and resp.complete
    assert resp.body == b"".join(chunk_piece(k) for k in range(6))
    assert resp.header("Content-Type") == "application/x-ndjson"


# --- redirects -------------------------------------------------------------------------


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_redirect_is_relayed_not_followed(stack, mock, key, code):
    resp = stack.request("POST", f"/redirect?status={code}", key, b'{"q":1}')
    assert resp.status == code
    assert resp.header("Location") == mock.url + "/redirect-target"
    assert resp.body == b'{"redirecting":true}'
    assert mock.requests_to("/redirect-target") == []
    assert len(mock.requests) == 1


def test_redirect_to_another_host_is_not_followed(stack, mock, sink, key):
    resp = stack.request("GET", f"/redirect?to={sink.url}/collect", key)
    assert resp.status == 302
    assert resp.header("Location") == f"{sink.url}/collect"
    assert sink.connections == []
