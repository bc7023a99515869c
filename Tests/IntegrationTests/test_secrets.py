"""Secrets: the master key and injected upstream keys never leave where they belong,
through headers, redirects, errors, logs, metrics, proxies or cookies.

docs/BEHAVIOUR.md §3; threat catalogue section B (SEC-01 .. SEC-07) in docs/SECURITY.md.
The canary scan after every test (harness/leaks.py) already fails a test whose
traffic or logs carry a secret; these tests drive every path a secret could take.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from harness import probes
from harness.assertions import assert_error_envelope, bearer
from harness.gateway import EXIT_CONFIG, REPO_ROOT, base_env, run_cli
from harness.keys import CREDENTIAL_HEADERS, key_carriers

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /inject/authorization
      target: {upstream}/echo/authorization
      forward_headers: true
      headers:
        Authorization: "Bearer os.environ/COHERE_API_KEY"
    - path: /inject/x-api-key
      target: {upstream}/echo/x-api-key
      forward_headers: true
      headers:
        X-Api-Key: os.environ/SECOND_API_KEY
    - path: /inject/api-key
      target: {upstream}/echo/api-key
      forward_headers: true
      headers:
        api-key: os.environ/SECOND_API_KEY
    - path: /inject/x-goog-api-key
      target: {upstream}/echo/x-goog-api-key
      forward_headers: true
      headers:
        x-goog-api-key: os.environ/SECOND_API_KEY
    - path: /inject/none
      target: {upstream}/echo/none
      forward_headers: true
    - path: /inject-nofwd/x-api-key
      target: {upstream}/echo/nofwd
      headers:
        X-Api-Key: os.environ/SECOND_API_KEY
    - path: /mock
      target: {upstream}
      include_subpath: true
      headers:
        Authorization: "Bearer os.environ/COHERE_API_KEY"
    - path: /reflect-x-api-key
      target: {upstream}/reflect-key
      headers:
        x-api-key: os.environ/SECOND_API_KEY
    - path: /query-key
      target: "{closed}/v1beta/models?key=os.environ/SECOND_API_KEY"
    - path: /query-key-ok
      target: "{upstream}/echo/gemini?key=os.environ/SECOND_API_KEY"
      merge_query_params: true
    - path: /tls-fail
      target: "{tls}/v1/x?key=os.environ/SECOND_API_KEY"
      headers:
        Authorization: "Bearer os.environ/COHERE_API_KEY"
    - path: /timeout
      target: "{upstream}/hang?key=os.environ/SECOND_API_KEY"
      timeout: 0.5
      headers:
        Authorization: "Bearer os.environ/COHERE_API_KEY"
"""


@pytest.fixture(scope="module")
def stack(stacks, mock):
    return stacks(CONFIG.replace("{tls}", mock.url.replace("http://", "https://")))


@pytest.fixture(scope="module")
def debug_stack(stacks, mock):
    return stacks(CONFIG.replace("{tls}", mock.url.replace("http://", "https://")), extra_args=["--log-level", "debug"])


# --- SEC-01: the master key never reaches the upstream ----------------------------------


@pytest.mark.parametrize("injected", ["authorization", "x-api-key", "api-key", "x-goog-api-key", "none"])
def test_sec_01_master_key_never_reaches_the_upstream(stack, mock, canaries, injected):
    expected = canaries.upstream_key if injected == "authorization" else canaries.second_key
    for headers in key_carriers(canaries.master_key):
        resp = stack.request("POST", f"/inject/{injected}", headers + [("Content-Type", "application/json")], b"{}")
        assert resp.status == 200, (headers, resp)
    for rec in mock.requests:
        seen = rec.target + json.dumps(rec.headers)
        assert canaries.master_key not in seen and canaries.master_key.encode() not in rec.body
        if injected == "none":
            assert not set(rec.header_names()) & set(CREDENTIAL_HEADERS)
        else:
            values = rec.header_values(injected)
            prefix = "Bearer " if injected == "authorization" else ""
            assert values == [prefix + expected], values
    assert len(mock.requests) == 7


def test_sec_01_a_header_carrying_the_master_key_in_any_form_is_not_forwarded(stack, mock, canaries):
    key = canaries.master_key
    headers = bearer(key) + [("X-Debug", f"prefix {key} suffix"), ("X-Other", key), ("X-Kept", "fine")]
    assert stack.request("GET", "/inject/none", headers).status == 200
    rec = mock.only_request()
    assert rec.header("X-Kept") == "fine"
    assert rec.header("X-Debug") is None and rec.header("X-Other") is None


# --- SEC-02: the client cannot override, duplicate or strip an injected secret -----------


ATTEMPTS = {
    "same-name": [("X-Api-Key", "attacker")],
    "lower-case": [("x-api-key", "attacker")],
    "two-spellings": [("X-API-KEY", "a"), ("X-Api-Key", "b")],
    "underscore": [("X_Api_Key", "attacker")],
    "x-pass": [("x-pass-x-api-key", "attacker")],
    "connection-names-it": [("Connection", "X-Api-Key, Authorization")],
    "connection-close-and-it": [("Connection", "close, x-api-key")],
    "empty-first-connection": [("Connection", ""), ("Connection", "X-Api-Key")],
    "connection-and-value": [("Connection", "x-api-key"), ("x-api-key", "attacker")],
}


@pytest.mark.parametrize("route", ["/inject/x-api-key", "/inject-nofwd/x-api-key"])
@pytest.mark.parametrize("attempt", list(ATTEMPTS), ids=list(ATTEMPTS))
def test_sec_02_injected_secret_cannot_be_overridden_duplicated_or_stripped(stack, mock, canaries, route, attempt):
    headers = [("x-litellm-api-key", canaries.master_key), *ATTEMPTS[attempt]]
    resp = stack.request("GET", route, headers)
    # A key header sent twice is ambiguous: refused before the upstream (docs/BEHAVIOUR.md §4).
    if attempt == "two-spellings":
        assert resp.status == 400 and mock.requests == []
        return
    assert resp.status == 200, resp
    assert mock.only_request().header_values("x-api-key") == [canaries.second_key]


@pytest.mark.parametrize("attempt", ["Authorization", "close, authorization", "keep-alive, Authorization, TE"])
def test_sec_02_connection_cannot_strip_an_injected_authorization(stack, mock, canaries, attempt):
    headers = [("x-litellm-api-key", canaries.master_key), ("Connection", attempt), ("Authorization", "Bearer attacker")]
    assert stack.request("GET", "/inject/authorization", headers).status == 200
    assert mock.only_request().header_values("Authorization") == [f"Bearer {canaries.upstream_key}"]


# --- SEC-03: redirects are relayed, never followed ------------------------------------------


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("to", ["sink", "protocol-relative", "same-host"])
def test_sec_03_redirects_are_relayed_and_never_followed(stack, mock, sink, key, code, to):
    host = sink.url.split("//", 1)[1]
    location = {"sink": f"{sink.url}/steal", "protocol-relative": f"//{host}/steal", "same-host": "/echo/followed"}[to]
    resp = stack.request("POST", f"/mock/redirect?status={code}&raw=1&to={quote(location, safe='')}", key, b"{}")
    assert resp.status == code
    assert resp.header("Location") == location
    assert resp.body == b'{"redirecting":true}'
    assert len(mock.requests) == 1, [r.target for r in mock.requests]
    assert sink.connections == []


def test_sec_03_a_chain_of_redirects_is_one_request(stack, mock, sink, key):
    resp = stack.request("GET", "/mock/redirect-chain?n=25", key)
    assert resp.status == 302
    assert resp.header("Location").endswith("/redirect-chain?n=24")
    assert len(mock.requests) == 1


# --- SEC-04: no secret in logs, error bodies or metrics ---------------------------------------


def assert_gateway_error_is_generic(resp, status, canaries):
    error = assert_error_envelope(resp, status)
    text = json.dumps(error)
    for fragment in ("key=", "127.0.0.1", "http", canaries.second_key, canaries.upstream_key, canaries.master_key):
        assert fragment not in text, f"{fragment!r} in a gateway error body: {text}"


@pytest.mark.parametrize(
    "path, status",
    [("/query-key", 502), ("/tls-fail", 502), ("/timeout", 504), ("/mock/close-before-head?rst=1", 502)],
    ids=["refused", "tls", "timeout", "reset"],
)
@pytest.mark.parametrize("which", ["info", "debug"])
def test_sec_04_failures_keep_secrets_and_urls_out_of_bodies_and_logs(stack, debug_stack, canaries, path, status, which):
    target = stack if which == "info" else debug_stack
    resp = target.request("POST", path, bearer(canaries.master_key), b'{"prompt":"x"}')
    assert_gateway_error_is_generic(resp, status, canaries)
    log = target.gateway_logs()
    assert "key=" not in log and "/v1beta" not in log and "prompt" not in log
    # The line says what failed, in the gateway's words.
    assert f"status={status}" in log.splitlines()[-1], log


def test_sec_04_upstream_echoing_the_injected_key_is_redacted(stack, mock, canaries):
    resp = stack.request("POST", "/reflect-x-api-key?status=401", bearer(canaries.master_key), b"{}")
    assert resp.status == 401
    assert canaries.second_key.encode() not in resp.body
    for name in ("X-Echo-Key", "WWW-Authenticate"):
        assert canaries.second_key not in (resp.header(name) or "")
    assert b"[REDACTED]" in resp.body
    length = resp.header("Content-Length")
    assert length is None or int(length) == len(resp.body)
    # The upstream did get the key: the redaction is on the way back only.
    assert mock.only_request().header("x-api-key") == canaries.second_key


def test_sec_04_redaction_spans_chunk_boundaries_of_a_stream(stack, mock, canaries):
    """The upstream's answer is forwarded unchanged apart from the secret itself."""
    resp = stack.request("GET", "/query-key-ok?x=1", bearer(canaries.master_key))
    assert resp.status == 200
    body = json.loads(resp.body)
    assert canaries.second_key not in json.dumps(body)
    assert body["path"] == "/echo/gemini" and body["query"].endswith("&x=1")


def test_sec_04_metrics_carry_no_secret(stack, canaries):
    stack.request("GET", "/query-key", bearer(canaries.master_key))
    resp = stack.request("GET", "/metrics")
    assert resp.status == 200
    assert b"key=" not in resp.body and b"CANARY" not in resp.body


def test_sec_04_invalid_header_value_from_config_names_the_place_not_the_value(gateway_binary, workdir):
    config = workdir / "config.yaml"
    config.write_text(
        "general_settings:\n  pass_through_endpoints:\n    - path: /x\n      target: http://127.0.0.1:9/x\n"
        "      headers:\n        Authorization: \"Bearer os.environ/ITEST_BAD_SECRET\"\n"
    )
    secret = "bad-secret-value-0123456789"
    result = run_cli(gateway_binary, ["-t", "--config", str(config)], base_env(workdir, {"ITEST_BAD_SECRET": secret + "\r\nX-Evil: 1"}))
    assert result.returncode == EXIT_CONFIG
    assert "ITEST_BAD_SECRET" in result.stderr and "headers.Authorization" in result.stderr
    assert secret not in result.stderr + result.stdout and "X-Evil" not in result.stderr


# --- SEC-05: httpoxy ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["Proxy", "proxy", "PROXY"])
@pytest.mark.parametrize("route", ["/inject/none", "/tls-fail"])
def test_sec_05_client_proxy_header_never_selects_an_outbound_proxy(stack, mock, sink, key, name, route):
    resp = stack.request("GET", route, key + [(name, sink.url)])
    assert resp.status in (200, 502)
    assert sink.connections == []
    for rec in mock.requests:
        assert rec.header("Proxy") is None


def test_sec_05_gateway_environment_holds_no_proxy_settings(stack, mock, sink, key):
    stack.request("GET", "/inject/none", key + [("Proxy", sink.url)])
    env = probes.environ(stack.gateways[0].proc.pid)
    assert not {"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"} & set(env)


def test_sec_05_snippet_blanks_http_proxy_and_the_sources_never_setenv():
    snippet = (REPO_ROOT / "nginx" / "fcgi-pass-through.conf").read_text()
    assert 'fastcgi_param HTTP_PROXY        "";' in snippet
    sources = "\n".join(p.read_text() for p in (REPO_ROOT / "Sources").rglob("*.swift"))
    for call in ("setenv(", "putenv(", "FCGX_Accept(", "fcgi_stdio"):
        assert call not in sources, f"{call} in Sources: FastCGI params must never reach the environment"


# --- SEC-06: no shared cookie jar or cache ------------------------------------------------------


def test_sec_06_a_cookie_set_for_one_client_is_never_sent_for_another(stack, mock, canaries):
    a = stack.request("GET", "/mock/cookie", bearer(canaries.master_key))
    assert "itest_session=cookie-from-upstream" in (a.header("Set-Cookie") or "")
    mock.reset()
    b = stack.request("GET", "/mock/echo/b", bearer(canaries.master_key))
    assert b.status == 200
    assert mock.only_request().header("Cookie") is None


def test_sec_06_cacheable_answers_are_fetched_every_time(stack, mock, canaries):
    bodies = {stack.request("GET", "/mock/counter", bearer(canaries.master_key)).body for _ in range(3)}
    assert len(bodies) == 3
    assert len(mock.requests) == 3
    for rec in mock.requests:
        assert rec.header("If-None-Match") is None and rec.header("If-Modified-Since") is None


# --- SEC-07: secret values validated at start-up ------------------------------------------------


@pytest.mark.parametrize(
    "value, problem",
    [
        ("value-0123456789\n", "control character"),
        ("value-0123456789\r\nX-Evil: 1", "control character"),
        (" value-0123456789", "whitespace"),
        ("value-0123456789\t", "whitespace"),
        ("v" * (64 << 10), "longer than"),
        ("valüe-0123456789", "non-ASCII"),
        ("", "empty"),
    ],
    ids=["trailing-lf", "crlf-injection", "leading-space", "tab", "64-kib", "non-ascii", "empty"],
)
def test_sec_07_unusable_secret_refuses_to_start_naming_the_variable(gateway_binary, workdir, value, problem):
    """A NUL cannot be tested: execve cannot put one in an environment variable."""
    config = workdir / "config.yaml"
    config.write_text(
        "general_settings:\n  pass_through_endpoints:\n    - path: /x\n      target: http://127.0.0.1:9/x\n"
        "      headers:\n        x-api-key: os.environ/ITEST_SECRET\n"
    )
    socket_path = workdir / "gw.sock"
    result = run_cli(
        gateway_binary, ["--config", str(config), "--socket", f"unix:{socket_path}"], base_env(workdir, {"ITEST_SECRET": value})
    )
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert not socket_path.exists()
    assert "ITEST_SECRET" in result.stderr and problem in result.stderr, result.stderr
    if value.strip():
        assert value.strip()[:16] not in result.stderr + result.stdout
