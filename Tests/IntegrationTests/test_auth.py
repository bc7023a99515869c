"""Authentication: the master key, where it is read and where it comes from, public
routes, and keeping the key away from the upstream.

docs/BEHAVIOUR.md §1, §3, §4; threat catalogue section A (AUTH-*) in docs/SECURITY.md.
"""

from __future__ import annotations

import re
import statistics
import time
import uuid

import pytest

from harness import probes
from harness.assertions import INVALID_KEY, MALFORMED_KEY, NO_KEY, assert_error_envelope, bearer, echoed
from harness.gateway import EXIT_CONFIG, REPO_ROOT, GatewayProcess, base_env
from harness.http_client import build_request
from harness.keys import CREDENTIAL_HEADERS, KEY_CARRIER_IDS, KEY_HEADERS, key_carriers, one_per_key_header


# ==================================================================================================
# Master-key authentication (docs/BEHAVIOUR.md §4) and keeping the key away from the upstream (§3).
# ==================================================================================================


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


@pytest.mark.parametrize("headers", one_per_key_header(WRONG_KEY), ids=[name.lower() for name in KEY_HEADERS])
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


@pytest.mark.parametrize("index", range(len(KEY_CARRIER_IDS)), ids=KEY_CARRIER_IDS)
def test_each_key_header_is_accepted_and_not_forwarded(stack, mock, canaries, index):
    headers = key_carriers(canaries.master_key)[index] + [("X-Other", "kept")]
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


# ==================================================================================================
# Where the master key comes from, and what happens without one (docs/BEHAVIOUR.md §1, §4).
# ==================================================================================================


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


# ==================================================================================================
# Catalogue section A: master-key authentication (AUTH-01 .. AUTH-06).
#
# docs/BEHAVIOUR.md §4 wins over the catalogue on texts and statuses: LiteLLM's 401 messages, and
# 400 for a key header sent twice.
# ==================================================================================================


RERANK_CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /v1/rerank
      target: {upstream}/echo/rerank
      methods: [POST, GET]
      headers:
        Authorization: "bearer os.environ/COHERE_API_KEY"
    - path: /public
      target: {upstream}/echo/public
      auth: false
    - path: /sse
      target: {upstream}/sse
"""


@pytest.fixture(scope="module")
def rerank_stack(stacks):
    return stacks(RERANK_CONFIG)


def unique_wrong_key() -> str:
    return f"sk-WRONG-{uuid.uuid4().hex}"


def assert_refused_without_upstream(resp, mock, status=401, message=None):
    assert_error_envelope(resp, status, message)
    assert mock.requests == [], "a refused request reached the upstream"


# --- AUTH-01: missing, malformed or wrong keys --------------------------------------------


@pytest.mark.parametrize(
    "headers, message",
    [
        ([], NO_KEY),
        ([("Authorization", "Bearer")], MALFORMED_KEY),
        ([("Authorization", "Basic dXNlcjpwYXNz")], MALFORMED_KEY),
        ([("Authorization", "sk-no-scheme")], MALFORMED_KEY),
        ([("Authorization", "")], NO_KEY),
        ([("x-api-key", "")], NO_KEY),
    ],
    ids=["none", "bearer-without-key", "basic", "no-scheme", "empty-authorization", "empty-x-api-key"],
)
def test_auth_01_missing_or_malformed_key_is_401(rerank_stack, mock, headers, message):
    resp = rerank_stack.request("POST", "/v1/rerank", headers, b"{}")
    assert_refused_without_upstream(resp, mock, 401, message)
    assert resp.header("WWW-Authenticate") == "Bearer"


@pytest.mark.parametrize(
    "make",
    [
        lambda key: key[:-1] + ("0" if key[-1] != "0" else "1"),  # last byte differs
        lambda key: "x" + key[1:],  # first byte differs
        lambda key: key[:-1],  # one byte short
        lambda key: key + "x",  # one byte long
        lambda key: key.upper(),
        lambda key: key[: len(key) // 2],
    ],
    ids=["last-byte", "first-byte", "prefix", "suffix", "upper-case", "half"],
)
def test_auth_01_near_miss_keys_are_401_and_never_echoed(rerank_stack, mock, canaries, make):
    presented = make(canaries.master_key)
    for headers in (bearer(presented), [("x-api-key", presented)], [("x-litellm-api-key", presented)]):
        resp = rerank_stack.request("POST", "/v1/rerank", headers, b"{}")
        assert_refused_without_upstream(resp, mock, 401, INVALID_KEY)
        assert presented.encode() not in resp.body
        # Not even a masked or partial echo (LiteLLM issue #24500).
        assert presented[-8:].encode() not in resp.body and presented[10:18].encode() not in resp.body


def test_auth_01_wrong_key_never_reaches_a_log(rerank_stack, mock):
    presented = unique_wrong_key()
    resp = rerank_stack.request("GET", "/v1/rerank", bearer(presented))
    assert_refused_without_upstream(resp, mock, 401, INVALID_KEY)
    rerank_stack.nginx.access_line_with("/v1/rerank")
    logs = rerank_stack.gateway_logs() + rerank_stack.nginx.logs_text()
    assert presented[9:] not in logs


def test_auth_01_a_100_kib_key_is_refused_by_nginx_or_the_gateway(rerank_stack, mock):
    presented = "sk-" + "k" * (100 << 10)
    resp = rerank_stack.request("GET", "/v1/rerank", bearer(presented))
    # nginx caps a header line at large_client_header_buffers (8 KiB): 400 before the gateway.
    assert resp.status in (400, 401, 431), resp
    assert b"kkkkkkkkkkkkkkkk" not in resp.body
    assert mock.requests == []


def test_auth_01_whitespace_around_the_key_is_not_part_of_it(rerank_stack, mock, canaries):
    """RFC 9110 §5.5: optional whitespace around a field value is not part of it (nginx
    strips it before the gateway sees it); `1*SP` may separate scheme and token (§11.4)."""
    for value in (f"Bearer {canaries.master_key} ", f"Bearer  {canaries.master_key}", f"bearer {canaries.master_key}"):
        assert rerank_stack.request("GET", "/v1/rerank", [("Authorization", value)]).status == 200
    assert len(mock.requests) == 3


# --- AUTH-02: fail closed when the master key is not usable ------------------------------


@pytest.mark.parametrize(
    "config_key, env_value",
    [
        ("master_key: os.environ/LITELLM_MASTER_KEY", None),
        ("master_key: os.environ/LITELLM_MASTER_KEY", ""),
        ("master_key: os.environ/LITELLM_MASTER_KEY", "   "),
        ("", ""),
        ("", "  \t "),
        ("master_key: os.environ/ITEST_TYPO_MASTER_KEY", "sk-set-under-another-name"),
    ],
    ids=["unset", "empty", "whitespace", "fallback-empty", "fallback-whitespace", "typo"],
)
def test_auth_02_unusable_master_key_refuses_to_start_before_binding(gateway_binary, workdir, canaries, config_key, env_value):
    config = workdir / "config.yaml"
    config.write_text(
        "general_settings:\n"
        f"  {config_key}\n"
        "  pass_through_endpoints:\n"
        "    - path: /v1/rerank\n"
        "      target: http://127.0.0.1:9/v1/rerank\n"
    )
    env = base_env(workdir, {} if env_value is None else {"LITELLM_MASTER_KEY": env_value})
    gateway = GatewayProcess(gateway_binary, workdir, "gw", config, env)
    gateway.start()
    code = gateway.wait_exit(15)
    assert code == EXIT_CONFIG, gateway.log_text()
    assert not gateway.socket_path.exists(), "the socket was bound although the gateway refused to start"
    log = gateway.log_text()
    assert "master_key" in log or "LITELLM_MASTER_KEY" in log or "ITEST_TYPO_MASTER_KEY" in log, log
    if env_value and env_value.strip():
        assert env_value not in log


def test_auth_02_no_gateway_means_nginx_answers_502_never_a_pass_through(fresh_stacks, mock):
    stack = fresh_stacks(RERANK_CONFIG)
    stack.gateways[0].stop()
    resp = stack.request("POST", "/v1/rerank", [], b"{}")
    assert resp.status == 502
    assert mock.requests == []


# --- AUTH-03: constant-time comparison ----------------------------------------------------


def test_auth_03_the_key_is_only_compared_as_fixed_length_digests():
    """Lint: no `==`, `hasPrefix` or `contains` on a key in the auth path; the presented
    key is turned into its SHA-256 first, compared with the master key's digest by XOR-ing
    all 32 bytes (no early exit), and client keys are looked up by that digest."""
    auth_dir = REPO_ROOT / "Sources" / "GatewayCore" / "Auth"
    source = "\n".join(p.read_text() for p in sorted(auth_dir.glob("*.swift")))
    for pattern in (r"masterKey\s*==", r"==\s*masterKey", r"masterKey\??\.hasPrefix", r"\.hasPrefix\(masterKey", r"presented\s*=="):
        assert not re.search(pattern, source), f"a key is compared with {pattern}"
    assert "let digest = KeyDigest(of: presented)" in source
    assert "equalInConstantTime(digest, masterDigest)" in source and "keys[digest]" in source
    body = source.split("static func equalInConstantTime", 1)[1].split("\n    }\n", 1)[0]
    assert body.count("^") == 4 and "&&" not in body and body.count("==") == 1, body
    digest = (REPO_ROOT / "Sources" / "GatewayCore" / "Keys" / "KeyDigest.swift").read_text()
    assert "SHA256.hash(key.utf8)" in digest


@pytest.mark.timeout_s(60)
def test_auth_03_rejection_time_does_not_depend_on_a_matching_prefix(rerank_stack, mock, canaries):
    """Black-box smoke check: interleaved wrong keys sharing 0 or all but the last byte
    with the real one are rejected in indistinguishable time. Only a gross leak (an early
    exit costing more than the loopback noise) could fail this."""
    key = canaries.master_key
    near = key[:-1] + ("0" if key[-1] != "0" else "1")
    far = "x" * len(key)
    timings: dict[str, list[float]] = {"near": [], "far": []}
    for i in range(300):
        label, presented = ("near", near) if i % 2 else ("far", far)
        started = time.perf_counter()
        resp = rerank_stack.request("GET", "/v1/rerank", bearer(presented))
        timings[label].append(time.perf_counter() - started)
        assert resp.status == 401
    near_median, far_median = statistics.median(timings["near"]), statistics.median(timings["far"])
    assert abs(near_median - far_median) < 0.5 * min(near_median, far_median), (near_median, far_median)


# --- AUTH-04: duplicate and ambiguous Authorization --------------------------------------


@pytest.mark.parametrize("order", ["valid-first", "invalid-first", "both-valid"])
def test_auth_04_two_authorization_headers_are_refused(rerank_stack, mock, canaries, order):
    valid, invalid = ("Authorization", f"Bearer {canaries.master_key}"), ("Authorization", "Bearer sk-attacker")
    headers = {"valid-first": [valid, invalid], "invalid-first": [invalid, valid], "both-valid": [valid, valid]}[order]
    resp = rerank_stack.request("POST", "/v1/rerank", headers, b"{}")
    # nginx itself refuses a repeated Authorization (it is a unique header there).
    assert resp.status in (400, 401), resp
    assert mock.requests == []


def test_auth_04_a_comma_joined_authorization_is_not_accepted_by_its_first_token(rerank_stack, mock, canaries):
    resp = rerank_stack.request("POST", "/v1/rerank", [("Authorization", f"Bearer {canaries.master_key}, Bearer x")], b"{}")
    assert_refused_without_upstream(resp, mock, 401, INVALID_KEY)


def test_auth_04_a_second_key_header_of_another_kind_is_refused_when_duplicated(rerank_stack, mock, canaries):
    headers = [*bearer(canaries.master_key), ("x-api-key", "a"), ("X-API-KEY", "b")]
    resp = rerank_stack.request("POST", "/v1/rerank", headers, b"{}")
    assert resp.status in (400, 401)
    assert mock.requests == []


# --- AUTH-05: auth before routing, body handling and upstream I/O -------------------------


def test_auth_05_unknown_path_without_a_key_is_not_a_route_oracle(rerank_stack, mock):
    """Unauthenticated callers get 404 for unknown paths and 401 for known ones only when
    no key was sent at all; with a wrong key, both are refused before any upstream I/O."""
    for path in ("/no/such/route", "/v1/rerank"):
        resp = rerank_stack.request("POST", path, bearer(unique_wrong_key()), b"{}")
        assert resp.status in (401, 404)
    assert mock.requests == []


def test_auth_05_wrong_key_on_a_stream_route_opens_no_upstream(rerank_stack, mock):
    resp = rerank_stack.request("GET", "/sse?n=3", bearer(unique_wrong_key()))
    assert_refused_without_upstream(resp, mock, 401, INVALID_KEY)


@pytest.mark.timeout_s(60)
def test_auth_05_a_refused_request_body_is_not_held_in_gateway_memory(fresh_stacks, mock):
    stack = fresh_stacks(RERANK_CONFIG)
    pid = stack.gateways[0].proc.pid
    assert stack.request("GET", "/v1/rerank", bearer(unique_wrong_key())).status == 401
    peak_before = probes.status_field(pid, "VmHWM")
    body = b"b" * (50 << 20)
    resp = stack.request("POST", "/v1/rerank", bearer(unique_wrong_key()) + [("Content-Type", "application/json")], body, timeout=30)
    assert_refused_without_upstream(resp, mock, 401, INVALID_KEY)
    growth = (probes.status_field(pid, "VmHWM") - peak_before) / 1024
    assert growth < 16, f"the gateway's peak memory grew by {growth:.0f} MiB for a refused 50 MiB body"


# --- AUTH-06: Host, X-Forwarded-*, absolute-form never steer auth -------------------------


@pytest.mark.parametrize(
    "extra",
    [
        [("Host", "localhost/public")],
        [("Host", "public.example")],
        [("X-Forwarded-Prefix", "/public")],
        [("X-Original-URL", "/public")],
        [("X-Rewrite-URL", "/public")],
        [("X-Forwarded-Uri", "/public")],
        [("X-Forwarded-Host", "public")],
    ],
    ids=["host-with-path", "host", "x-forwarded-prefix", "x-original-url", "x-rewrite-url", "x-forwarded-uri", "x-forwarded-host"],
)
def test_auth_06_headers_do_not_change_the_decision(rerank_stack, mock, extra):
    resp = rerank_stack.request("POST", "/v1/rerank", extra, b"{}")
    # nginx itself refuses a Host with a path (400); otherwise the gateway's 401.
    assert resp.status in (400, 401), resp
    assert mock.requests == []


@pytest.mark.parametrize("authority", ["http://public.example", "http://127.0.0.1:1", "https://evil"])
def test_auth_06_absolute_form_request_is_decided_on_its_path(rerank_stack, mock, canaries, authority):
    raw = build_request("POST", f"{authority}/v1/rerank", [("Content-Type", "application/json")], b"{}")
    resp = rerank_stack.request("POST", "/", raw=raw)
    assert_refused_without_upstream(resp, mock, 401, NO_KEY)
    raw = build_request("POST", f"{authority}/v1/rerank", bearer(canaries.master_key), b"{}")
    resp = rerank_stack.request("POST", "/", raw=raw)
    assert resp.status == 200
    rec = mock.only_request()
    assert rec.path == "/echo/rerank"
    assert rec.header("Host") == mock.url.split("//", 1)[1]


def test_auth_06_host_header_never_reaches_the_upstream(rerank_stack, mock, canaries):
    resp = rerank_stack.request("GET", "/v1/rerank", bearer(canaries.master_key) + [("Host", "attacker.example")])
    assert resp.status == 200
    assert mock.only_request().header("Host") == mock.url.split("//", 1)[1]
