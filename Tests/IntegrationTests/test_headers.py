"""Headers in both directions: configured, forwarded, hop-by-hop, x-pass-, Host, Proxy,
response header hygiene and size limits.

docs/BEHAVIOUR.md §3, §5; threat catalogue section D (HDR-*) in docs/SECURITY.md.
"""

from __future__ import annotations

import pytest

from harness.assertions import assert_error_envelope
from harness.gateway import EXIT_CONFIG, base_env, run_cli
from harness.mock_upstream import sse_event


# ==================================================================================================
# Headers sent upstream (docs/BEHAVIOUR.md §3): configured, forwarded, hop-by-hop, x-pass-, Host, Proxy.
# ==================================================================================================


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
    # x-litellm-api-key leaves Authorization and x-api-key free for the tests.
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


# ==================================================================================================
# Catalogue section D: header hygiene (HDR-01 .. HDR-07), both directions.
# ==================================================================================================


HYGIENE_CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /fwd
      target: {upstream}/echo/fwd
      forward_headers: true
      headers:
        X-Api-Key: os.environ/SECOND_API_KEY
    - path: /nofwd
      target: {upstream}/echo/nofwd
      headers:
        X-Api-Key: os.environ/SECOND_API_KEY
    - path: /mock
      target: {upstream}
      include_subpath: true
      methods: [GET, POST]
"""


@pytest.fixture(scope="module")
def hygiene_stack(stacks):
    return stacks(HYGIENE_CONFIG)


@pytest.fixture(scope="module")
def underscore_stack(stacks):
    """nginx with `underscores_in_headers on`: names with `_` reach the gateway."""
    return stacks(HYGIENE_CONFIG, nginx_extra="underscores_in_headers on;")


# --- HDR-01: hop-by-hop headers removed both ways ----------------------------------------------

HOP_BY_HOP_REQUEST = [
    ("Connection", "close, TE, X-Foo"),
    ("X-Foo", "1"),
    ("Keep-Alive", "5"),
    ("Proxy-Connection", "x"),
    ("Proxy-Authorization", "Basic eA=="),
    ("TE", "foo"),
    ("TE", "bar, trailers"),
    ("Upgrade", "h2c"),
    ("Trailer", "X-T"),
    ("X-Kept", "end-to-end"),
]


@pytest.mark.parametrize("route", ["/fwd", "/nofwd"])
def test_hdr_01_request_hop_by_hop_headers_never_reach_the_upstream(hygiene_stack, mock, key, route):
    resp = hygiene_stack.request("POST", route, key + HOP_BY_HOP_REQUEST, chunks=[b'{"a":', b"1}"])
    assert resp.status == 200, resp
    rec = mock.only_request()
    names = set(rec.header_names())
    for name in ("keep-alive", "proxy-connection", "proxy-authorization", "te", "upgrade", "trailer", "transfer-encoding", "x-foo"):
        assert name not in names, name
    assert rec.header_values("Connection") in ([], ["keep-alive"], ["close"]), "only the transport's own Connection"
    assert rec.body == b'{"a":1}' and rec.header("Content-Length") == "7"
    if route == "/fwd":
        assert rec.header("X-Kept") == "end-to-end"


def test_hdr_01_websocket_upgrade_is_never_attempted(hygiene_stack, mock, key):
    headers = key + [("Connection", "Upgrade"), ("Upgrade", "websocket"), ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")]
    resp = hygiene_stack.request("GET", "/fwd", headers)
    assert resp.status == 200
    rec = mock.only_request()
    assert rec.header("Upgrade") is None and "upgrade" not in (rec.header("Connection") or "").lower()


def test_hdr_01_response_hop_by_hop_headers_never_reach_the_client(hygiene_stack, mock, key):
    resp = hygiene_stack.request("GET", "/mock/raw?case=hop-by-hop", key)
    assert resp.status == 200 and resp.body == b"ok"
    for name in ("X-Bar", "Keep-Alive", "Proxy-Authenticate", "Upgrade", "Trailer", "Proxy-Connection"):
        assert resp.header(name) is None, name
    # Not hop-by-hop (Go's TestReverseProxy asserts the same).
    assert resp.header("Trailers") == "not-special"
    values = [v.strip() for value in resp.header_values("X-Multi-Value") for v in value.split(",")]
    assert values == ["a", "b"]


# --- HDR-02: upstream response headers cannot drive nginx ---------------------------------------


def test_hdr_02_x_accel_headers_are_stripped_and_no_internal_redirect_happens(hygiene_stack, mock, key):
    resp = hygiene_stack.request("GET", "/mock/status/200", key)
    assert resp.status == 200
    assert resp.body.startswith(b'{"upstream_status":200')
    assert not [name for name in resp.header_names() if name.startswith("x-accel")]
    assert "X-Hop-Resp" not in resp.header_names()
    error_log = hygiene_stack.nginx.error_log.read_text()
    assert "internal-only" not in error_log


def test_hdr_02_an_upstream_status_header_cannot_change_the_status(hygiene_stack, mock, key):
    resp = hygiene_stack.request("GET", "/mock/raw?case=status-header", key)
    assert resp.status == 500
    assert resp.body == b'{"upstream":"fail"}'


def test_hdr_02_a_relative_location_is_relayed_not_followed_by_nginx(hygiene_stack, mock, key):
    resp = hygiene_stack.request("GET", "/mock/redirect?status=200&raw=1&to=/internal", key)
    assert resp.status == 200
    assert resp.header("Location") == "/internal"
    assert resp.body == b'{"redirecting":true}'
    assert len(mock.requests) == 1


def test_hdr_02_an_event_stream_stays_unbuffered_when_the_upstream_asks_for_buffering(hygiene_stack, mock, key):
    with hygiene_stack.exchange("GET", "/mock/sse?n=3&interval=0.3&first_delay=0.05", key) as exchange:
        exchange.read_head()
        assert exchange.header("X-Accel-Buffering") is None
        arrived, event = next(exchange.iter_events())
        assert event == sse_event(0)
        assert arrived - mock.only_request().events_sent_at[0] < 0.25


@pytest.mark.parametrize("count, size", [(20, 1000), (1, 8000)])
def test_hdr_02_large_but_bounded_header_sets_are_relayed(hygiene_stack, mock, key, count, size):
    resp = hygiene_stack.request("GET", f"/mock/headers?count={count}&size={size}", key)
    assert resp.status == 200, resp
    assert resp.header(f"X-Filler-{count - 1}") == "v" * size


@pytest.mark.parametrize(
    "count, size",
    [(40, 1000), (150, 10), (1, 20000)],
    ids=["40-kib-total", "150-fields", "one-20-kib-line"],
)
def test_hdr_02_oversized_header_sets_are_the_gateways_502_not_nginxs(hygiene_stack, mock, key, count, size):
    resp = hygiene_stack.request("GET", f"/mock/headers?count={count}&size={size}", key)
    assert_error_envelope(resp, 502)
    assert "too big header" not in hygiene_stack.nginx.error_log.read_text()


# --- HDR-03: forwarding and identity headers ------------------------------------------------------

IDENTITY = [
    ("X-Forwarded-For", "1.2.3.4"),
    ("Forwarded", "for=1.2.3.4;proto=https"),
    ("X-Real-IP", "1.2.3.4"),
    ("X-Forwarded-Host", "evil.example"),
    ("X-Forwarded-Proto", "https"),
    ("Via", "1.1 attacker"),
    ("Cookie", "session=abc"),
    ("Origin", "https://evil.example"),
    ("Referer", "https://evil.example/page"),
]


def test_hdr_03_identity_headers_are_not_forwarded_by_default(hygiene_stack, mock, key):
    assert hygiene_stack.request("GET", "/nofwd", key + IDENTITY).status == 200
    names = set(mock.only_request().header_names())
    assert not names & {name.lower() for name, _ in IDENTITY}


def test_hdr_03_with_forward_headers_they_pass_unchanged_and_the_gateway_adds_none(hygiene_stack, mock, key):
    """docs/BEHAVIOUR.md §3 forwards the client's end-to-end headers on opted-in routes; the gateway
    itself never adds or appends X-Forwarded-For, Forwarded or Via."""
    assert hygiene_stack.request("GET", "/fwd", key + IDENTITY).status == 200
    rec = mock.only_request()
    for name, value in IDENTITY:
        assert rec.header_values(name) == [value], name
    assert hygiene_stack.request("GET", "/fwd", key).status == 200
    names = set(mock.requests[-1].header_names())
    assert not names & {"x-forwarded-for", "forwarded", "via", "x-real-ip"}


# --- HDR-04: headers Foundation or libcurl would add -------------------------------------------


def test_hdr_04_no_synthesized_content_type_user_agent_or_language(hygiene_stack, mock, key):
    assert hygiene_stack.request("POST", "/nofwd", key, b"raw-bytes").status == 200
    rec = mock.only_request()
    assert rec.header("Content-Type") is None
    assert rec.header("User-Agent") is None and rec.header("Accept-Language") is None
    assert rec.header("Accept") is None


def test_hdr_04_the_clients_user_agent_is_kept_on_forwarding_routes(hygiene_stack, mock, key):
    assert hygiene_stack.request("GET", "/fwd", key + [("User-Agent", "client/1.0")]).status == 200
    assert mock.only_request().header_values("User-Agent") == ["client/1.0"]


# --- HDR-05: underscores and case variants ---------------------------------------------------------


@pytest.mark.parametrize("which", ["default", "underscores_in_headers on"])
def test_hdr_05_underscore_spellings_never_override_or_add_credentials(hygiene_stack, underscore_stack, mock, key, canaries, which):
    target = hygiene_stack if which == "default" else underscore_stack
    headers = key + [("X_Api_Key", "attacker"), ("x_forwarded_for", "9.9.9.9"), ("Content_Length", "5")]
    resp = target.request("POST", "/fwd", headers, b'{"a":1}')
    assert resp.status == 200, resp
    rec = mock.only_request()
    assert rec.header_values("x-api-key") == [canaries.second_key]
    assert rec.header("Content-Length") == "7" and rec.body == b'{"a":1}'
    if which == "default":
        assert rec.header("X-Forwarded-For") is None


# --- HDR-06: response header injection ----------------------------------------------------------


@pytest.mark.parametrize("case", ["bare-cr-header", "obs-fold", "nul-header", "space-in-name"])
def test_hdr_06_invalid_upstream_header_lines_never_become_client_header_lines(hygiene_stack, mock, key, case):
    resp = hygiene_stack.request("GET", f"/mock/raw?case={case}", key)
    assert resp.status in (200, 502), resp
    # Dropped, refused, or (obs-fold, RFC 9112 §5.2) unfolded into its own field's value:
    # never a header line of its own.
    assert resp.header("X-Evil") is None
    for name, value in resp.headers:
        assert "\r" not in value and "\n" not in value and "\0" not in value
    if resp.status == 200:
        assert resp.body == b"ok"


def test_hdr_06_a_configured_header_with_crlf_is_refused_at_start(gateway_binary, workdir):
    config = workdir / "config.yaml"
    config.write_text(
        "general_settings:\n  pass_through_endpoints:\n    - path: /x\n      target: http://127.0.0.1:9/x\n"
        '      headers:\n        X-Static: "a\\r\\nX-Evil: 1"\n'
    )
    result = run_cli(gateway_binary, ["-t", "--config", str(config)], base_env(workdir))
    assert result.returncode == EXIT_CONFIG
    assert "headers.X-Static" in result.stderr and "control character" in result.stderr


# --- HDR-07: large request headers ------------------------------------------------------------------


@pytest.mark.parametrize("size", [7 << 10])
def test_hdr_07_a_large_cookie_within_nginx_limits_is_forwarded(hygiene_stack, mock, key, size):
    cookie = "c=" + "x" * size
    assert hygiene_stack.request("GET", "/fwd", key + [("Cookie", cookie)]).status == 200
    assert mock.only_request().header("Cookie") == cookie


@pytest.mark.parametrize("size", [9 << 10, 16 << 10, 64 << 10])
def test_hdr_07_oversized_header_lines_are_refused_by_nginx(hygiene_stack, mock, key, size):
    resp = hygiene_stack.request("GET", "/fwd", key + [("Cookie", "c=" + "x" * size)])
    assert resp.status in (400, 431, 494), resp
    assert mock.requests == []


def test_hdr_07_two_hundred_headers_are_forwarded(hygiene_stack, mock, key):
    headers = key + [(f"X-Many-{k}", str(k)) for k in range(200)]
    assert hygiene_stack.request("GET", "/fwd", headers).status == 200
    assert mock.only_request().header("X-Many-199") == "199"
