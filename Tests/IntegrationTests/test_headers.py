"""Headers sent upstream (SPEC §3): configured, forwarded, hop-by-hop, x-pass-, Host, Proxy."""

from __future__ import annotations

import pytest

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /fwd
      target: {upstream}/echo/fwd
      forward_headers: true
      headers:
        X-Configured: from-config
        Authorization: "Bearer os.environ/COHERE_API_KEY"
    - path: /nofwd
      target: {upstream}/echo/nofwd
      headers:
        X-Configured: from-config
    - path: /fwd-plain
      target: {upstream}/echo/fwd-plain
      forward_headers: true
"""


@pytest.fixture(scope="module")
def stack(stacks):
    return stacks(CONFIG)


@pytest.fixture
def key(canaries):
    # x-litellm-api-key leaves Authorization free for the tests.
    return [("x-litellm-api-key", canaries.master_key)]


def upstream_after(stack, mock, path, headers, body=None, method="GET"):
    resp = stack.request(method, path, headers, body)
    assert resp.status == 200, resp
    return mock.only_request()


# --- configured headers and forward_headers ----------------------------------------------


def test_without_forward_headers_only_configured_headers_go_upstream(stack, mock, key):
    rec = upstream_after(stack, mock, "/nofwd", key + [("X-Foo", "client-value"), ("User-Agent", "itest-client/1.0")])
    assert rec.header_values("X-Configured") == ["from-config"]
    assert rec.header("X-Foo") is None
    assert rec.header("User-Agent") != "itest-client/1.0"


def test_forward_headers_sends_client_headers_with_their_values(stack, mock, key):
    headers = key + [("X-Foo", "1"), ("X-Case", "MiXeD Value"), ("User-Agent", "itest-client/1.0"), ("Accept", "text/plain")]
    rec = upstream_after(stack, mock, "/fwd-plain", headers)
    assert rec.header("X-Foo") == "1"
    assert rec.header("X-Case") == "MiXeD Value"
    assert rec.header("User-Agent") == "itest-client/1.0"
    assert rec.header("Accept") == "text/plain"


def test_configured_header_wins_over_the_clients(stack, mock, key, canaries):
    headers = key + [("x-configured", "from-client"), ("Authorization", "Bearer attacker-chosen")]
    rec = upstream_after(stack, mock, "/fwd", headers)
    assert rec.header_values("X-Configured") == ["from-config"]
    assert rec.header_values("Authorization") == [f"Bearer {canaries.upstream_key}"]


def test_configured_authorization_is_sent_although_the_key_came_in_authorization(stack, mock, canaries):
    rec = upstream_after(stack, mock, "/fwd", [("Authorization", f"Bearer {canaries.master_key}")])
    assert rec.header_values("Authorization") == [f"Bearer {canaries.upstream_key}"]


# --- never forwarded -------------------------------------------------------------------


def test_hop_by_hop_headers_and_connection_listed_names_are_dropped(stack, mock, key):
    headers = key + [
        ("Connection", "close, X-Hop-Listed"),
        ("X-Hop-Listed", "must-not-pass"),
        ("Keep-Alive", "timeout=5"),
        ("Proxy-Authorization", "Basic cHJveHk6c2VjcmV0"),
        ("Proxy-Connection", "keep-alive"),
        ("TE", "trailers"),
        ("Trailer", "X-Checksum"),
        ("Upgrade", "websocket"),
        ("X-End-To-End", "kept"),
    ]
    rec = upstream_after(stack, mock, "/fwd-plain", headers)
    for name in ("X-Hop-Listed", "Keep-Alive", "Proxy-Authorization", "Proxy-Connection", "TE", "Trailer", "Upgrade"):
        assert rec.header(name) is None, f"{name} was forwarded"
    connection = (rec.header("Connection") or "").lower()
    assert "x-hop-listed" not in connection and "close" not in connection
    assert rec.header("X-End-To-End") == "kept"


def test_host_is_not_forwarded(stack, mock, key):
    rec = upstream_after(stack, mock, "/fwd-plain", key + [("Host", "client.example.test")])
    assert rec.header_values("Host") == [f"127.0.0.1:{mock.port}"]


def test_accept_encoding_is_not_forwarded(stack, mock, key):
    rec = upstream_after(stack, mock, "/fwd-plain", key + [("Accept-Encoding", "x-itest-encoding, br")])
    assert "x-itest-encoding" not in (rec.header("Accept-Encoding") or "")


def test_content_length_describes_the_forwarded_body(stack, mock, key):
    rec = upstream_after(stack, mock, "/fwd-plain", key, body=b"abc", method="POST")
    assert rec.body == b"abc"
    assert rec.header_values("Content-Length") in (["3"], []), rec.headers


def test_proxy_header_never_selects_an_outbound_proxy(stack, mock, sink, key):
    resp = stack.request("GET", "/fwd-plain", key + [("Proxy", sink.url)])
    assert resp.status == 200, resp
    assert mock.only_request().path == "/echo/fwd-plain"
    assert sink.connections == []
    assert all(sink.url not in v for _, v in mock.only_request().headers)


# --- x-pass- --------------------------------------------------------------------------


def test_x_pass_header_is_sent_without_its_prefix(stack, mock, key):
    headers = key + [("x-pass-anthropic-beta", "b1"), ("X-Pass-OpenAI-Beta", "assistants=v2")]
    rec = upstream_after(stack, mock, "/nofwd", headers)
    assert rec.header_values("anthropic-beta") == ["b1"]
    assert rec.header_values("openai-beta") == ["assistants=v2"]
    assert not [n for n in rec.header_names() if n.startswith("x-pass-")]


@pytest.mark.parametrize(
    "name, value",
    [
        ("authorization", "Bearer pass-marker-authorization"),
        ("api-key", "pass-marker-api-key"),
        ("x-api-key", "pass-marker-x-api-key"),
        ("x-goog-api-key", "pass-marker-x-goog-api-key"),
        ("host", "evil.example.test"),
        ("content-length", "7"),
        ("accept-encoding", "pass-marker-accept-encoding"),
        ("x-amz-security-token", "pass-marker-x-amz-security-token"),
        ("x-amz-date", "20260101T000000Z"),
    ],
)
def test_x_pass_cannot_set_credential_or_framing_headers(stack, mock, key, name, value):
    rec = upstream_after(stack, mock, "/nofwd", key + [(f"x-pass-{name}", value)])
    assert value not in rec.header_values(name), f"x-pass-{name} was honoured"
    assert all(v != value for _, v in rec.headers)


def test_configured_header_wins_over_x_pass(stack, mock, key):
    rec = upstream_after(stack, mock, "/fwd", key + [("x-pass-x-configured", "from-x-pass")])
    assert rec.header_values("X-Configured") == ["from-config"]
