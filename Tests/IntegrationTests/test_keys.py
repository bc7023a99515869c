"""Client keys ("virtual keys"): declared under `general_settings.keys`, checked before any
upstream I/O, limited host-wide, revocable by reload, described by `/key/info`, named in
logs and metrics and never shown anywhere.

docs/KEYS.md is the contract. Every test goes through the private nginx with the
project's snippet, real gateway processes and the recording mock upstream.

The suite's canary scan (conftest.py) knows only the master key and the upstream keys;
the client keys of this module are scanned for by `_client_keys_never_leave` below, after
every test, in the same places: the new part of every gateway and nginx log of this
module's stacks, every byte a client received, and everything the upstream received.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import secrets
import signal
import statistics
import subprocess
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.assertions import INVALID_KEY, NO_KEY, assert_error_envelope, bearer, echoed
from harness.gateway import EXIT_CONFIG, EXIT_OK, base_env, run_cli
from harness.key_watch import ClientKeyWatch, digest, new_key
from harness.keys import KEY_CARRIER_IDS, key_carriers
from harness.leaks import record_output
from harness.probes import children, sample_values, wait_for_workers
from harness.waiting import wait_until


# ==================================================================================================
# Keys of this run, and the scan that keeps them out of everything that leaves the gateway.
# ==================================================================================================


WATCH = ClientKeyWatch()


@pytest.fixture(autouse=True)
def _client_keys_never_leave(mock):
    WATCH.begin()
    yield
    WATCH.assert_no_leak(mock)


def unknown_key() -> str:
    """A well-formed key that no entry names (watched: it must not be logged either)."""
    return WATCH.add_key(new_key(), "an unknown key")


KEYS = {
    alias: WATCH.add_key(new_key(), alias)
    for alias in (
        "k-good", "k-routes", "k-models", "k-expired", "k-blocked", "k-rpm1", "k-par1", "k-info", "k-env", "k-plain", "k-tz",
        "l-rpm1", "l-rpm3", "l-rpm10", "l-rpm10b", "l-par2", "l-par2-abort", "l-par2-kill",
        "r-gone", "r-block", "r-count", "r-new",
    )
}


def render_keys(template: str, limits: Path | None = None) -> str:
    """Fills {hash:ALIAS}, {key:ALIAS} and {limits}; the factory fills {upstream} and friends."""
    text = re.sub(r"\{hash:([\w-]+)\}", lambda m: digest(KEYS[m.group(1)]), template)
    text = re.sub(r"\{key:([\w-]+)\}", lambda m: KEYS[m.group(1)], text)
    if limits is not None:
        text = text.replace("{limits}", str(limits))
    return text


def start_stack(factory, template: str, **kwargs):
    """A stack with its limits table in a private directory; its logs join the key scan."""
    limits = factory.workdir() / "limits"
    stack = factory(render_keys(template, limits), **kwargs)
    WATCH.add_stack(stack)
    stack.limits_path = limits
    return stack


# ==================================================================================================
# Helpers: refusals, metrics, workers.
# ==================================================================================================


def envelope(resp, status: int, message: str | None = None, error_type: str | None = None) -> dict:
    """The gateway's error envelope (assertions.assert_error_envelope) with the `type` that
    docs/KEYS.md names for a key refusal; `None` leaves the type to a dedicated test."""
    assert resp.status == status, f"expected {status}, got {resp!r}"
    content_type = resp.header("Content-Type") or ""
    assert content_type.split(";")[0].strip() == "application/json", f"Content-Type {content_type!r}"
    body = json.loads(resp.body)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["param"] is None and error["code"] == str(status), error
    assert isinstance(error["message"], str) and error["message"], error
    assert isinstance(error["type"], str) and error["type"], error
    if error_type is not None:
        assert error["type"] == error_type, error
    if message is not None:
        assert error["message"] == message, error
    return error


def assert_not_echoed(resp, *keys: str) -> None:
    raw = resp.body + "\n".join(f"{k}: {v}" for k, v in resp.headers).encode("latin-1", "replace")
    for key in keys:
        assert key.encode() not in raw and key[3:19].encode() not in raw, "the presented key is echoed back"


def assert_untouched_upstream(mock) -> None:
    assert mock.requests == [], f"a refused request reached the upstream: {[r.target for r in mock.requests]}"


def no_key_in_upstream(mock, *keys: str) -> None:
    for rec in mock.requests:
        for name, value in rec.headers:
            for key in keys:
                assert key not in value, f"the client key went upstream in {name} to {rec.target}"
        assert all(key not in rec.target for key in keys)


def process_holding(peer_port: int, upstream_port: int, pids: list[int]) -> int | None:
    """The process whose TCP connection to the upstream has local port `peer_port` (what the
    mock recorded as the request's peer): its socket inode in /proc/net/tcp, then the fd."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if int(local.rsplit(":", 1)[1], 16) == peer_port and int(remote.rsplit(":", 1)[1], 16) == upstream_port:
                inodes.add(inode)
    for pid in pids:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                link = os.readlink(fd)
            except OSError:
                continue
            if link.startswith("socket:[") and link[8:-1] in inodes:
                return pid
    return None


# ==================================================================================================
# One instance with a key of every kind.
# ==================================================================================================


MAIN = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  limits_file: {limits}
  keys:
    - key_alias: k-good
      key_hash: {hash:k-good}
    - key_alias: k-routes
      key_hash: {hash:k-routes}
      allowed_routes: ["/p/*", "/exact"]
    - key_alias: k-models
      key_hash: {hash:k-models}
      models: ["claude-*", "gpt-4o", "gemini-1.5-pro"]
    - key_alias: k-expired
      key_hash: {hash:k-expired}
      expires: 2020-01-01
    - key_alias: k-blocked
      key_hash: {hash:k-blocked}
      blocked: true
    - key_alias: k-rpm1
      key_hash: {hash:k-rpm1}
      rpm_limit: 1
    - key_alias: k-par1
      key_hash: {hash:k-par1}
      max_parallel_requests: 1
    - key_alias: k-info
      key_hash: {hash:k-info}
      allowed_routes: ["/exact", "/v1/chat/*"]
      models: ["rerank-english-v3.0", "claude-*"]
      rpm_limit: 1000
      max_parallel_requests: 50
      expires: "2099-01-31T00:00:00Z"
      blocked: false
      metadata: {team: search, owner: alice@example.com}
    - key_alias: k-env
      key: os.environ/ITEST_CLIENT_KEY
    - key_alias: k-plain
      key: {key:k-plain}
    - key_alias: k-tz
      key_hash: {hash:k-tz}
      expires: 2099-01-31 09:00:00 +02:00
  pass_through_endpoints:
    - path: /echo
      target: {upstream}/echo/keys
      forward_headers: true
    - path: /p
      target: {upstream}/echo/p
      include_subpath: true
    - path: /pX
      target: {upstream}/echo/px
    - path: /exact
      target: {upstream}/echo/exact
    - path: /other
      target: {upstream}/echo/other
    - path: /v1/chat/completions
      target: {upstream}/echo/chat
    - path: /gemini
      target: {upstream}/echo/gemini
      include_subpath: true
    - path: /slow
      target: {upstream}/slow
    - path: /public
      target: {upstream}/echo/public
      auth: false
      forward_headers: true
    - path: /custom
      target: {upstream}/echo/custom
      forward_headers: true
      headers:
        litellm_user_api_key: x-my-key
"""


@pytest.fixture(scope="module")
def main(stacks):
    return start_stack(stacks, MAIN, env={"ITEST_CLIENT_KEY": KEYS["k-env"]})


def as_key(alias: str) -> list[tuple[str, str]]:
    return bearer(KEYS[alias])


def chat(model) -> bytes:
    return json.dumps({"model": model, "messages": [{"role": "user", "content": "hi"}]}).encode()


JSON = [("Content-Type", "application/json")]


# --- 1. every refusal, its status and message; none contacts the upstream or echoes the key ------


def test_unknown_key_is_401_with_litellms_text(main, mock):
    presented = unknown_key()
    for headers in (bearer(presented), [("x-api-key", presented)], [("x-litellm-api-key", presented)]):
        resp = main.request("POST", "/echo", headers + JSON, chat("gpt-4o"))
        assert_error_envelope(resp, 401, INVALID_KEY)
        assert resp.header("WWW-Authenticate") == "Bearer"
        assert resp.header("x-litellm-key-alias") is None
        assert_not_echoed(resp, presented)
    # A real key with one byte more or less is another, unknown key.
    for presented in (KEYS["k-good"] + "0", KEYS["k-good"][:-1]):
        assert_error_envelope(main.request("GET", "/echo", bearer(presented)), 401, INVALID_KEY)
    assert_untouched_upstream(mock)


def test_expired_key_is_401_expired_key_naming_alias_and_time(main, mock):
    resp = main.request("GET", "/echo", as_key("k-expired"))
    error = envelope(resp, 401, error_type="expired_key")
    # `expires: 2020-01-01`: a YAML date without a zone is midnight UTC.
    assert re.fullmatch(r"Authentication Error\b.* Key k-expired expired at 2020-01-01T00:00:00Z \(expires\)\.", error["message"]), error
    assert resp.header("WWW-Authenticate") == "Bearer"
    assert_not_echoed(resp, KEYS["k-expired"])
    assert_untouched_upstream(mock)


def test_blocked_key_is_401_naming_alias(main, mock):
    resp = main.request("GET", "/echo", as_key("k-blocked"))
    assert_error_envelope(resp, 401, "Authentication Error - Key k-blocked is blocked (blocked: true).")
    assert resp.header("WWW-Authenticate") == "Bearer"
    assert_not_echoed(resp, KEYS["k-blocked"])
    assert_untouched_upstream(mock)


ROUTE_REFUSED = "This key is not allowed to call this route (allowed_routes)."


@pytest.mark.parametrize(
    "target, allowed",
    [
        ("/p", True),
        ("/p/x", True),
        ("/p/x/y", True),
        ("/exact", True),
        ("/%70/x", True),  # /p/x, encoded: the decoded path is what matches
        ("/pX", False),  # `/p/*` is a segment boundary, not a prefix
        ("/p%58", False),  # /pX, encoded
        ("/other", False),
        ("/%6Fther", False),  # /other, encoded
        ("/echo", False),
        ("/v1/chat/completions", False),
    ],
)
def test_route_outside_allowed_routes_is_403(main, mock, target, allowed):
    resp = main.request("GET", target, as_key("k-routes"))
    if allowed:
        assert resp.status == 200, resp
        assert len(mock.requests) == 1
        assert resp.header("x-litellm-key-alias") == "k-routes"
    else:
        envelope(resp, 403, ROUTE_REFUSED)
        assert resp.header("x-litellm-key-alias") == "k-routes"
        assert_not_echoed(resp, KEYS["k-routes"])
        assert_untouched_upstream(mock)


@pytest.mark.parametrize(
    "target",
    ["/p%2F..%2Fother", "/p/%2e%2e/other", "/p/%252e%252e/other", "/exact/../other", "/exact%2F..%2Fother", "/%2570/x"],
)
def test_encoded_tricks_reach_nothing_the_pattern_does_not_name(main, mock, target):
    """Paths that decode (once or twice) to somewhere outside `/p/*` and `/exact`: refused
    as unsafe (400), as outside the key's routes (403) or as no route (404)."""
    resp = main.request("GET", target, as_key("k-routes"))
    assert resp.status in (400, 403, 404), resp
    assert_untouched_upstream(mock)


@pytest.mark.parametrize(
    "target, body, model",
    [
        ("/v1/chat/completions", chat("gpt-4"), "gpt-4"),
        ("/v1/chat/completions", chat("claude"), "claude"),  # `claude-*` needs the dash
        ("/v1/chat/completions", chat("gpt-4o-mini"), "gpt-4o-mini"),  # no `*`: exact name
        ("/gemini/v1beta/models/gemini-pro:generateContent", b'{"contents":[]}', "gemini-pro"),
        ("/gemini/v1beta/models/gemini-1.5-pro:generateContent", chat("gpt-4"), "gpt-4"),  # both named: each checked
        ("/gemini/v1/projects/p/locations/l/publishers/google/models/gemini-pro:generateContent", b"{}", "gemini-pro"),
    ],
    ids=["body", "prefix-needs-dash", "exact-name", "gemini-path", "path-ok-body-not", "vertex-path"],
)
def test_model_outside_models_is_403_naming_it(main, mock, target, body, model):
    resp = main.request("POST", target, as_key("k-models") + JSON, body)
    error = envelope(resp, 403, error_type="key_model_access_denied")
    assert model in error["message"], error
    assert resp.header("x-litellm-key-alias") == "k-models"
    assert_not_echoed(resp, KEYS["k-models"])
    assert_untouched_upstream(mock)


@pytest.mark.parametrize(
    "target, body",
    [
        ("/v1/chat/completions", chat("gpt-4o")),
        ("/v1/chat/completions", chat("claude-3-opus")),
        ("/gemini/v1beta/models/gemini-1.5-pro:generateContent", b'{"contents":[]}'),
        ("/gemini/v1beta/models/gemini-1.5-pro:streamGenerateContent", chat("claude-3-haiku")),
    ],
    ids=["exact", "prefix", "gemini-path", "path-and-body"],
)
def test_models_inside_models_pass_byte_for_byte(main, mock, target, body):
    resp = main.request("POST", target, as_key("k-models") + JSON, body)
    got = echoed(resp)
    assert got["body"] == body
    assert resp.header("x-litellm-key-alias") == "k-models"


@pytest.mark.parametrize(
    "method, body, headers, why",
    [
        ("GET", None, [], "no model"),
        ("POST", b'{"messages":[]}', JSON, "no model"),
        ("POST", b'{"model":5}', JSON, "string"),
        ("POST", b'{"model":["gpt-4o"]}', JSON, "string"),
        ("POST", b'{"model":"gpt-4o","model":"gpt-4"}', JSON, None),
        ("POST", gzip.compress(chat("gpt-4o")), JSON + [("Content-Encoding", "gzip")], "encod|compress"),
    ],
    ids=["no-body", "no-model", "number", "list", "model-twice", "gzip"],
)
def test_model_that_cannot_be_told_is_403_saying_why(main, mock, method, body, headers, why):
    resp = main.request(method, "/v1/chat/completions", as_key("k-models") + headers, body)
    # KEYS.md names no type for this row: the model row's, or §6.1's default for a 4xx.
    error = envelope(resp, 403)
    assert error["type"] in ("key_model_access_denied", "invalid_request_error"), error
    if why:
        assert re.search(why, error["message"].lower()), error
    assert_untouched_upstream(mock)


def test_route_is_checked_before_the_body(main, mock):
    """`k-info` may call /exact and /v1/chat/*: a disallowed route with a disallowed model
    is refused for its route, the body unread."""
    resp = main.request("POST", "/other", as_key("k-info") + JSON, chat("gpt-4"))
    envelope(resp, 403, ROUTE_REFUSED)
    assert_untouched_upstream(mock)


def test_rpm_limit_is_429_with_retry_after_and_the_refused_request_is_not_forwarded(main, mock):
    first = main.request("GET", "/echo?n=1", as_key("k-rpm1"))
    assert first.status == 200, first
    assert first.header("x-ratelimit-limit-requests") == "1"
    assert first.header("x-ratelimit-remaining-requests") == "0"
    second = main.request("GET", "/echo?n=2", as_key("k-rpm1"))
    envelope(second, 429)
    # Seconds until the window lets one through: the first request counts for 60 s.
    assert 50 <= int(second.header("Retry-After")) <= 60, second
    assert second.header("x-litellm-key-alias") == "k-rpm1"
    assert second.header("x-ratelimit-remaining-requests") == "0"
    assert_not_echoed(second, KEYS["k-rpm1"])
    assert [r.target for r in mock.requests] == ["/echo/keys?n=1"]


def test_max_parallel_requests_is_429_with_retry_after_1(main, mock):
    with main.exchange("GET", "/slow?delay=1.5", as_key("k-par1")) as slow:
        mock.wait_for_requests(1)
        resp = main.request("GET", "/echo", as_key("k-par1"))
        envelope(resp, 429)
        assert resp.header("Retry-After") == "1"
        assert resp.header("x-litellm-key-alias") == "k-par1"
        assert_not_echoed(resp, KEYS["k-par1"])
        assert len(mock.requests) == 1
        assert slow.read_head().read_rest().status == 200
    wait_until(lambda: main.request("GET", "/echo", as_key("k-par1")).status == 200, 1, "the slot to be given back")


def test_refusal_types_are_the_ones_keys_md_names(main, mock):
    """LiteLLM's `auth_error` for a route the key may not call; `rate_limit_error` for
    either limit (docs/KEYS.md)."""
    got = {}
    got["403 allowed_routes"] = json.loads(main.request("GET", "/other", as_key("k-routes")).body)["error"]["type"]
    got["429 rpm_limit"] = None
    for _ in range(2):  # k-rpm1's window may still be empty if this test runs alone
        resp = main.request("GET", "/echo", as_key("k-rpm1"))
        if resp.status == 429:
            got["429 rpm_limit"] = resp.json()["error"]["type"]
    with main.exchange("GET", "/slow?delay=1", as_key("k-par1")) as slow:
        wait_until(lambda: mock.requests_to("/slow"), 5, "the slow request upstream")
        got["429 max_parallel_requests"] = main.request("GET", "/echo", as_key("k-par1")).json().get("error", {}).get("type")
        slow.read_head().read_rest()
    expected = {"403 allowed_routes": "auth_error", "429 rpm_limit": "rate_limit_error", "429 max_parallel_requests": "rate_limit_error"}
    assert got == expected


# --- 2. every header carries a key, and none of them reaches the upstream ------------------------


@pytest.mark.parametrize("index", range(len(KEY_CARRIER_IDS)), ids=KEY_CARRIER_IDS)
def test_each_key_header_carries_a_client_key_and_is_not_forwarded(main, mock, index):
    headers = key_carriers(KEYS["k-good"])[index] + [("X-Other", "kept")]
    resp = main.request("POST", "/echo", headers + JSON, chat("any"))
    assert echoed(resp)["path"] == "/echo/keys"
    assert resp.header("x-litellm-key-alias") == "k-good"
    # No rpm_limit, no rate-limit headers.
    assert resp.header("x-ratelimit-limit-requests") is None and resp.header("x-ratelimit-remaining-requests") is None
    assert mock.only_request().header("X-Other") == "kept"
    no_key_in_upstream(mock, KEYS["k-good"])


def test_endpoint_key_header_carries_a_client_key_and_is_not_forwarded(main, mock):
    resp = main.request("GET", "/custom", [("x-my-key", KEYS["k-good"]), ("X-Other", "kept")])
    assert resp.status == 200, resp
    assert resp.header("x-litellm-key-alias") == "k-good"
    rec = mock.only_request()
    assert rec.header("x-my-key") is None and rec.header("X-Other") == "kept"
    no_key_in_upstream(mock, KEYS["k-good"])


def test_a_key_from_the_environment_works(main, mock):
    resp = main.request("GET", "/echo", [("x-api-key", KEYS["k-env"])])
    assert resp.status == 200 and resp.header("x-litellm-key-alias") == "k-env", resp
    no_key_in_upstream(mock, KEYS["k-env"])


@pytest.mark.parametrize("index", range(len(KEY_CARRIER_IDS)), ids=KEY_CARRIER_IDS)
def test_a_client_key_never_reaches_the_upstream_of_an_auth_false_endpoint(main, mock, index):
    keys = [KEYS["k-good"], KEYS["k-blocked"], KEYS["k-expired"], KEYS["k-rpm1"]]
    for key in keys:
        resp = main.request("GET", "/public", key_carriers(key)[index] + [("X-Other", "kept")])
        assert resp.status == 200, resp
        # auth: false looks at no key: no key headers, no limits.
        assert resp.header("x-litellm-key-alias") is None and resp.header("x-ratelimit-limit-requests") is None
    assert [r.header("X-Other") for r in mock.requests] == ["kept"] * len(keys)
    no_key_in_upstream(mock, *keys)


def test_an_auth_false_endpoint_still_forwards_a_clients_own_credentials(main, mock):
    resp = main.request("GET", "/public", [("Authorization", "Bearer client-own-upstream-token")])
    assert resp.status == 200
    assert mock.only_request().header("Authorization") == "Bearer client-own-upstream-token"


# --- 6. /key/info -------------------------------------------------------------------------------


INFO_FIELDS = {
    "key_alias", "spend", "max_budget", "remaining_budget", "budget_duration", "budget_reset_at", "rpm_limit", "tpm_limit",
    "max_parallel_requests", "models", "allowed_routes", "expires", "blocked", "metadata",
}


@pytest.mark.parametrize("query", ["", "?key_alias=k-info"], ids=["own", "own-by-alias"])
def test_key_info_shows_a_key_its_own_entry_in_litellms_shape(main, mock, query):
    resp = main.request("GET", "/key/info" + query, as_key("k-info"))
    assert resp.status == 200, resp
    assert (resp.header("Content-Type") or "").startswith("application/json")
    assert resp.header("x-litellm-key-alias") == "k-info"
    body = resp.json()
    assert set(body) == {"key", "info"}
    assert body["key"] == digest(KEYS["k-info"])
    assert body["info"] == {
        "key_alias": "k-info",
        "spend": 0,
        "max_budget": None,
        "remaining_budget": None,
        "budget_duration": None,
        "budget_reset_at": None,
        "rpm_limit": 1000,
        "tpm_limit": None,
        "max_parallel_requests": 50,
        "models": ["rerank-english-v3.0", "claude-*"],
        "allowed_routes": ["/exact", "/v1/chat/*"],
        "expires": "2099-01-31T00:00:00Z",
        "blocked": False,
        "metadata": {"team": "search", "owner": "alice@example.com"},
    }
    assert_untouched_upstream(mock)


def test_key_info_master_key_names_any_alias(main, mock, key):
    resp = main.request("GET", "/key/info?key_alias=k-good", key)
    assert resp.status == 200, resp
    body = resp.json()
    assert body["key"] == digest(KEYS["k-good"])
    assert set(body["info"]) == INFO_FIELDS
    assert body["info"]["key_alias"] == "k-good" and body["info"]["blocked"] is False
    assert body["info"]["rpm_limit"] is None and body["info"]["max_parallel_requests"] is None
    blocked = main.request("GET", "/key/info?key_alias=k-blocked", key).json()
    assert blocked["info"]["blocked"] is True and blocked["key"] == digest(KEYS["k-blocked"])
    assert_untouched_upstream(mock)


def test_key_info_expires_with_a_zone_is_shown_in_utc(main, mock, key):
    """`expires: 2099-01-31 09:00:00 +02:00` (a YAML timestamp with a zone) is 07:00 UTC."""
    resp = main.request("GET", "/key/info?key_alias=k-tz", key)
    assert resp.status == 200, resp
    assert resp.json()["info"]["expires"] == "2099-01-31T07:00:00Z"
    assert main.request("GET", "/echo", as_key("k-tz")).status == 200


def test_key_info_refusals(main, mock, key):
    envelope(main.request("GET", "/key/info?key_alias=no-such-alias", key), 404)
    envelope(main.request("GET", "/key/info", key), 400)
    resp = main.request("GET", "/key/info?key_alias=k-good", as_key("k-info"))
    envelope(resp, 403)
    assert digest(KEYS["k-good"]).encode() not in resp.body
    # `?key=` is refused whatever it holds, from anyone (a key in a URL ends up in access logs).
    for headers in (key, as_key("k-info")):
        envelope(main.request("GET", "/key/info?key=sk-not-a-key-at-all", headers), 400)
        envelope(main.request("GET", "/key/info?key_alias=k-good&key=sk-not-a-key-at-all", headers), 400)
    assert_error_envelope(main.request("GET", "/key/info"), 401, NO_KEY)
    assert_error_envelope(main.request("GET", "/key/info", bearer(unknown_key())), 401, INVALID_KEY)
    assert main.request("GET", "/key/info", as_key("k-blocked")).status == 401
    assert main.request("GET", "/key/info", as_key("k-expired")).status == 401
    assert_untouched_upstream(mock)


def test_key_info_never_contains_a_key(main, mock, key, canaries):
    answers = [main.request("GET", f"/key/info?key_alias={alias}", key).body for alias in KEYS if alias.startswith("k-")]
    answers += [main.request("GET", "/key/info", as_key(alias)).body for alias in ("k-good", "k-info", "k-env", "k-plain")]
    text = b"\n".join(answers)
    for plain in list(KEYS.values()) + [canaries.master_key]:
        assert plain.encode() not in text and plain[3:19].encode() not in text


# --- 8. the time to refuse a wrong key does not depend on a prefix it shares with a real one ----


@pytest.mark.timeout_s(60)
def test_rejection_time_does_not_depend_on_a_prefix_shared_with_a_client_key(main, mock):
    """Method (as test_auth_03 for the master key): wrong keys of the real key's length,
    sharing 0 or 30 leading characters with `k-good`, interleaved, 150 requests each,
    compared by median. Honest limits: a byte-by-byte compare of plain keys would differ by
    nanoseconds, far below what an HTTP round trip through nginx (milliseconds, with noise)
    can resolve, so it cannot be caught here; that guarantee is the digest comparison
    (unit tests). This catches gross prefix-dependent work only: an index walked by prefix,
    an extra lookup or log line for a near miss, a sleep."""
    real = KEYS["k-good"]
    far = WATCH.add_key(("x" if real[0] != "x" else "y") + secrets.token_hex(len(real))[: len(real) - 1], "far wrong key")
    tail = secrets.token_hex(len(real))[: len(real) - 30]
    if tail[0] == real[30]:
        tail = ("0" if real[30] != "0" else "1") + tail[1:]
    near = WATCH.add_key(real[:30] + tail, "near wrong key")
    assert len(far) == len(near) == len(real) and near[:30] == real[:30] and near[30] != real[30] and far[0] != real[0]
    timings: dict[str, list[float]] = {"near": [], "far": []}
    for i in range(300):
        label, presented = ("near", near) if i % 2 else ("far", far)
        started = time.perf_counter()
        resp = main.request("GET", "/echo", bearer(presented))
        timings[label].append(time.perf_counter() - started)
        assert resp.status == 401
    near_median, far_median = statistics.median(timings["near"]), statistics.median(timings["far"])
    bound = max(0.5 * min(near_median, far_median), 0.002)
    assert abs(near_median - far_median) < bound, (near_median, far_median)
    assert_untouched_upstream(mock)


# --- 10. a key written in plain text works and draws a start-up warning naming its alias -------


def test_plain_text_key_draws_a_startup_warning_naming_the_alias_not_the_key(main, mock):
    log = main.gateway_logs()
    warnings = [line for line in log.splitlines() if " warning " in f" {line} " and "k-plain" in line]
    assert warnings, log[-4000:]
    assert KEYS["k-plain"] not in log and KEYS["k-plain"][3:19] not in log
    # The one from the environment is the recommended form: no such warning.
    assert not [line for line in log.splitlines() if " warning " in f" {line} " and "k-env" in line]
    resp = main.request("GET", "/echo", as_key("k-plain"))
    assert resp.status == 200 and resp.header("x-litellm-key-alias") == "k-plain"
    no_key_in_upstream(mock, KEYS["k-plain"])


# --- 7. no key material in any log or metric; aliases in both ------------------------------------


def test_no_key_in_any_log_or_metric_and_aliases_in_both(main, mock, key, canaries):
    wrong = unknown_key()
    mix = [
        ("GET", "/echo", as_key("k-good")),
        ("GET", "/echo", [("x-api-key", KEYS["k-good"])]),
        ("GET", "/echo", bearer(wrong)),
        ("GET", "/echo", [("x-goog-api-key", wrong)]),
        ("GET", "/echo", as_key("k-expired")),
        ("GET", "/echo", as_key("k-blocked")),
        ("GET", "/other", as_key("k-routes")),
        ("GET", "/echo", as_key("k-rpm1")),
        ("GET", "/echo", as_key("k-rpm1")),
        ("GET", "/public", as_key("k-good")),
        ("GET", "/echo", key),
        ("GET", "/key/info", as_key("k-info")),
    ]
    for method, target, headers in mix:
        main.request(method, target, headers)

    def scraped() -> str | None:
        text = main.request("GET", "/metrics").body.decode()
        ok = sample_values(text, "fcgi_pass_through_requests_total", route="/echo", key_alias="k-good", status="200")
        return text if ok and ok[0] >= 2 else None

    metrics = wait_until(scraped, 5, "the key's requests in /metrics")
    wait_until(lambda: "key_alias=master_key" in main.gateway_logs(), 5, "the master key's request line")

    # Every log of the stack, whole, and the scrape: no key, raw, as Bearer or in part.
    everything = [(p.name, p.read_bytes()) for p in main.log_files() if p.exists()] + [("/metrics", metrics.encode())]
    for label, plain in [(alias, k) for alias, k in KEYS.items()] + [("unknown", wrong), ("master", canaries.master_key)]:
        for where, data in everything:
            for form in (plain, f"Bearer {plain}", plain[3:19], plain[-16:]):
                assert form.encode() not in data, f"{label} key ({form[:6]}...) in {where}"

    # Aliases: in the request lines and as the metric's label; `master_key` for the master key;
    # `-` and no label when no key was needed.
    lines = main.gateway_logs().splitlines()
    for alias in ("k-good", "k-routes", "k-rpm1", "master_key"):
        assert any(re.search(rf"\bkey_alias={re.escape(alias)}(\s|$)", line) for line in lines), alias
    assert any("route=/public" in line and re.search(r"\bkey_alias=-(\s|$)", line) for line in lines)
    for alias, route, status in (("k-good", "/echo", "200"), ("k-routes", "/other", "403"), ("k-rpm1", "/echo", "429"), ("master_key", "/echo", "200")):
        assert sample_values(metrics, "fcgi_pass_through_requests_total", route=route, key_alias=alias, status=status), (alias, route)
    public = [line for line in metrics.splitlines() if line.startswith("fcgi_pass_through_requests_total{") and 'route="/public"' in line]
    assert public and not [line for line in public if "key_alias=" in line], public


# ==================================================================================================
# 3, 4. Limits host-wide: two instances of two workers each count in one table.
# ==================================================================================================


LIMITS = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  limits_file: {limits}
  keys:
    - key_alias: l-rpm1
      key_hash: {hash:l-rpm1}
      rpm_limit: 1
    - key_alias: l-rpm3
      key_hash: {hash:l-rpm3}
      rpm_limit: 3
    - key_alias: l-rpm10
      key_hash: {hash:l-rpm10}
      rpm_limit: 10
    - key_alias: l-rpm10b
      key_hash: {hash:l-rpm10b}
      rpm_limit: 10
    - key_alias: l-par2
      key_hash: {hash:l-par2}
      max_parallel_requests: 2
    - key_alias: l-par2-abort
      key_hash: {hash:l-par2-abort}
      max_parallel_requests: 2
    - key_alias: l-par2-kill
      key_hash: {hash:l-par2-kill}
      max_parallel_requests: 2
  pass_through_endpoints:
    - path: /echo
      target: {upstream}/echo/limits
    - path: /slow
      target: {upstream}/slow
    - path: /public
      target: {upstream}/echo/public
      auth: false
"""


@pytest.fixture(scope="module")
def limited(stacks):
    # 16 threads per worker: 30 requests at once never meet the busy-threads 503 (LIFE-01).
    stack = start_stack(stacks, LIMITS, instances=2, threads=16, extra_args=["--workers", "2"])
    for gateway in stack.gateways:
        wait_for_workers(gateway, 2)
    return stack


def statuses(responses) -> list[int]:
    return [r.status for r in responses]


@pytest.mark.timeout_s(40)
def test_rpm_litellms_table_across_processes(limited, mock):
    """LiteLLM's documented behaviour: rpm 1 → 200, 429; rpm 3 → 200, 200, 200, 429. nginx
    alternates the two instances, so consecutive requests are counted by different processes."""
    one = [limited.request("GET", f"/echo?i={i}", as_key("l-rpm1")) for i in range(2)]
    assert statuses(one) == [200, 429], one
    three = [limited.request("GET", f"/echo?i={i}", as_key("l-rpm3")) for i in range(4)]
    assert statuses(three) == [200, 200, 200, 429], three
    assert [r.header("x-ratelimit-limit-requests") for r in three] == ["3"] * 4
    assert [r.header("x-ratelimit-remaining-requests") for r in three] == ["2", "1", "0", "0"]
    assert [r.header("x-litellm-key-alias") for r in three] == ["l-rpm3"] * 4
    envelope(three[3], 429)
    assert 1 <= int(three[3].header("Retry-After")) <= 60
    assert len(mock.requests) == 1 + 3
    served = {limited.nginx.upstream_addr(line) for line in limited.nginx.access_lines() if "/echo?i=" in line}
    assert served == {g.nginx_server for g in limited.gateways}, served


@pytest.mark.timeout_s(40)
def test_rpm_10_with_30_concurrent_requests_admits_exactly_10(limited, mock, key):
    count = 30
    barrier = threading.Barrier(count, timeout=10)

    def one(i: int):
        barrier.wait()
        return limited.request("GET", f"/echo?c={i}", as_key("l-rpm10"), timeout=20)

    with ThreadPoolExecutor(count) as pool:
        responses = list(pool.map(one, range(count)))
    got = sorted(statuses(responses))
    assert got == [200] * 10 + [429] * 20, got
    admitted = [r for r in responses if r.status == 200]
    # One table, one count: each admitted request saw its own place in the window.
    assert sorted(int(r.header("x-ratelimit-remaining-requests")) for r in admitted) == list(range(10))
    assert {r.header("x-ratelimit-remaining-requests") for r in responses if r.status == 429} == {"0"}
    assert {r.header("x-litellm-key-alias") for r in responses} == {"l-rpm10"}
    assert len(mock.requests_to("/echo/limits")) == 10

    # Another key counts alone.
    other = [limited.request("GET", f"/echo?b={i}", as_key("l-rpm10b")) for i in range(11)]
    assert statuses(other) == [200] * 10 + [429]

    # An auth: false endpoint looks at no key: no limits, no key headers.
    for _ in range(3):
        resp = limited.request("GET", "/public", as_key("l-rpm10"))
        assert resp.status == 200, resp
        assert resp.header("x-litellm-key-alias") is None and resp.header("x-ratelimit-remaining-requests") is None
    # The master key has no limits.
    assert [limited.request("GET", "/echo", key).status for _ in range(3)] == [200] * 3


@pytest.mark.timeout_s(40)
def test_max_parallel_requests_across_processes(limited, mock):
    slow = [limited.exchange("GET", "/slow?delay=2", as_key("l-par2")) for _ in range(2)]
    try:
        mock.wait_for_requests(2)
        third = limited.request("GET", "/echo", as_key("l-par2"))
        envelope(third, 429)
        assert third.header("Retry-After") == "1"
        assert third.header("x-litellm-key-alias") == "l-par2"
        assert len(mock.requests) == 2
        for exchange in slow:
            resp = exchange.read_head().read_rest()
            assert resp.status == 200 and resp.json() == {"slept": 2.0}, resp
    finally:
        for exchange in slow:
            exchange.close()
    # Given back when the requests end (a short poll: the release follows the last byte).
    wait_until(lambda: limited.request("GET", "/echo", as_key("l-par2")).status == 200, 1, "a slot after both ended")


@pytest.mark.timeout_s(40)
def test_parallel_slots_come_back_when_clients_abort(limited, mock):
    slow = [limited.exchange("GET", "/slow?delay=20", as_key("l-par2-abort")) for _ in range(2)]
    records = mock.wait_for_requests(2)
    assert limited.request("GET", "/echo", as_key("l-par2-abort")).status == 429
    for exchange in slow:
        exchange.close()
    wait_until(lambda: limited.request("GET", "/echo", as_key("l-par2-abort")).status == 200, 5, "a slot after the clients left", interval=0.1)
    # The gateway gave up the upstream requests too.
    for rec in records[:2]:
        assert rec.closed.wait(5), f"upstream request {rec.target} still open"


@pytest.mark.timeout_s(40)
def test_parallel_slot_of_a_sigkilled_worker_comes_back_within_5s(limited, mock):
    slow = [limited.exchange("GET", f"/slow?delay=30&k={i}", as_key("l-par2-kill")) for i in range(2)]
    try:
        records = mock.wait_for_requests(2)
        assert limited.request("GET", "/echo", as_key("l-par2-kill")).status == 429
        workers = [pid for gateway in limited.gateways for pid in children(gateway.proc.pid)]
        assert len(workers) == 4, workers
        holder = wait_until(
            lambda: process_holding(records[0].peer_port, mock.port, workers), 5, "the worker holding the first request"
        )
        os.kill(holder, signal.SIGKILL)
        killed_at = time.monotonic()
        wait_until(
            lambda: limited.request("GET", "/echo", as_key("l-par2-kill"), timeout=5).status == 200,
            5,
            "the killed worker's slot to come back",
            interval=0.2,
        )
        assert time.monotonic() - killed_at < 5.5
    finally:
        for exchange in slow:
            exchange.close()
    wait_until(lambda: "worker died" in "".join(g.log_text() for g in limited.gateways), 5, "the supervisor to see it")


# ==================================================================================================
# 5. Reload: a removed or blocked key is refused from the next request on; streams finish.
# ==================================================================================================


RELOAD_BEFORE = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  limits_file: {limits}
  keys:
    - key_alias: r-gone
      key_hash: {hash:r-gone}
    - key_alias: r-block
      key_hash: {hash:r-block}
      max_parallel_requests: 5
    - key_alias: r-count
      key_hash: {hash:r-count}
      rpm_limit: 2
  pass_through_endpoints:
    - path: /echo
      target: {upstream}/echo/reload
    - path: /sse
      target: {upstream}/sse
"""

RELOAD_AFTER = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  limits_file: {limits}
  keys:
    - key_alias: r-block
      key_hash: {hash:r-block}
      max_parallel_requests: 5
      blocked: true
    - key_alias: r-count
      key_hash: {hash:r-count}
      rpm_limit: 2
    - key_alias: r-new
      key_hash: {hash:r-new}
  pass_through_endpoints:
    - path: /echo
      target: {upstream}/echo/reload
    - path: /sse
      target: {upstream}/sse
"""


@pytest.mark.timeout_s(40)
def test_sighup_revokes_keys_from_the_next_request_while_a_stream_of_theirs_finishes(fresh_stacks, mock):
    stack = start_stack(fresh_stacks, RELOAD_BEFORE, extra_args=["--log-format", "json"])
    gateway = stack.gateways[0]
    assert_error_envelope(stack.request("GET", "/echo", as_key("r-new")), 401, INVALID_KEY)
    assert stack.request("GET", "/echo", as_key("r-count")).status == 200
    events = 10
    streams = [stack.exchange("GET", f"/sse?n={events}&interval=0.25", as_key(alias)) for alias in ("r-gone", "r-block")]
    try:
        for stream, alias in zip(streams, ("r-gone", "r-block")):
            stream.read_head()
            assert stream.status == 200 and stream.header("x-litellm-key-alias") == alias, stream.headers
        reloads = gateway.log_text().count("configuration reloaded")
        stack.config_path.write_text(fresh_stacks.render(render_keys(RELOAD_AFTER, stack.limits_path)))
        gateway.signal(signal.SIGHUP)
        wait_until(lambda: gateway.log_text().count("configuration reloaded") > reloads, 5, "the reload", interval=0.02)
        # From the next request on.
        assert_error_envelope(stack.request("GET", "/echo", as_key("r-gone")), 401, INVALID_KEY)
        assert_error_envelope(stack.request("GET", "/echo", as_key("r-block")), 401, "Authentication Error - Key r-block is blocked (blocked: true).")
        resp = stack.request("GET", "/echo", as_key("r-new"))
        assert resp.status == 200 and resp.header("x-litellm-key-alias") == "r-new", resp
        # The streams were still running when the keys were revoked ...
        sse = mock.requests_to("/sse")
        assert len(sse) == 2 and all(len(rec.events_sent_at) < events for rec in sse), [len(r.events_sent_at) for r in sse]
        # ... and finish completely.
        for stream in streams:
            got = stream.read_rest()
            assert got.complete and got.body.count(b"event: tick") == events, got
    finally:
        for stream in streams:
            stream.close()
    # Counts survive the reload (keyed by digest): r-count had 1 of 2 before it.
    after = [stack.request("GET", "/echo", as_key("r-count")) for _ in range(2)]
    assert statuses(after) == [200, 429], after
    assert after[0].header("x-ratelimit-remaining-requests") == "0"
    assert len(mock.requests_to("/echo/reload")) == 1 + 1 + 1
    # JSON log lines carry the alias as a field (a stream's line is written when it ends).
    def logged_aliases() -> set:
        entries = [json.loads(line) for line in gateway.log_text().splitlines() if line.startswith("{")]
        aliases = {entry.get("key_alias") for entry in entries}
        return aliases if {"r-gone", "r-block", "r-new", "r-count"} <= aliases else set()

    wait_until(logged_aliases, 3, "JSON request lines with each alias")


# ==================================================================================================
# 9. `keys new` and `keys hash`; the default place of the limits table.
# ==================================================================================================


CLI_CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  keys:
{entry}
  pass_through_endpoints:
    - path: /echo
      target: {upstream}/echo/cli
    - path: /other
      target: {upstream}/echo/other
    - path: /v1/chat/completions
      target: {upstream}/echo/chat
"""


def keys_hash(binary: Path, key: str, workdir: Path) -> str:
    result = subprocess.run(
        [str(binary), "keys", "hash"], input=key, capture_output=True, text=True, env=base_env(workdir), timeout=15
    )
    record_output("output of keys hash", result.stdout + result.stderr)
    assert result.returncode == EXIT_OK, result
    return result.stdout.strip()


@pytest.mark.timeout_s(40)
def test_keys_new_output_round_trips_and_the_default_limits_file(fresh_stacks, gateway_binary, workdir, mock):
    args = ["keys", "new", "--alias", "cli-team", "--rpm", "5", "--parallel", "3", "--routes", "/echo,/v1/chat/*", "--models", "gpt-4o,claude-*"]
    result = run_cli(gateway_binary, args, base_env(workdir))
    assert result.returncode == EXIT_OK, result
    lines = result.stdout.splitlines()
    key = WATCH.add_key(lines[0].strip(), "keys new's key")
    assert key.startswith("sk-") and len(key) >= 3 + 43, "256 random bits take at least 43 characters"
    entry = textwrap.dedent("\n".join(line for line in lines[1:] if line.strip()))
    assert entry.startswith("- key_alias: cli-team"), entry
    assert key not in entry
    printed_hash = re.search(r"^\s*key_hash:\s*\"?([0-9a-f]{64})\"?\s*$", entry, re.M)
    assert printed_hash and printed_hash.group(1) == digest(key), entry
    assert keys_hash(gateway_binary, key, workdir) == digest(key)
    # Two runs, two keys.
    again = run_cli(gateway_binary, ["keys", "new", "--alias", "other"], base_env(workdir))
    assert again.returncode == EXIT_OK and WATCH.add_key(again.stdout.splitlines()[0].strip(), "second keys new key") != key

    # Pasted under `keys:` as printed; no limits_file: the table goes to its default place.
    stack = fresh_stacks(CLI_CONFIG.replace("{entry}", textwrap.indent(entry, "    ")))
    WATCH.add_stack(stack)
    tag = hashlib.sha256(os.path.realpath(stack.config_path).encode()).hexdigest()[:16]
    default = Path(f"/dev/shm/fcgi-pass-through-{os.getuid()}-{tag}.limits")
    try:
        # The key has `models`: a request must name one of them.
        envelope(stack.request("GET", "/echo", bearer(key)), 403, error_type="key_model_access_denied")
        resp = stack.request("POST", "/echo", bearer(key) + JSON, chat("gpt-4o"))
        assert resp.status == 200, resp
        assert resp.header("x-litellm-key-alias") == "cli-team"
        assert resp.header("x-ratelimit-limit-requests") == "5" and resp.header("x-ratelimit-remaining-requests") == "4"
        envelope(stack.request("GET", "/other", bearer(key)), 403, ROUTE_REFUSED)
        envelope(stack.request("POST", "/v1/chat/completions", bearer(key) + JSON, chat("gpt-4")), 403, error_type="key_model_access_denied")
        assert stack.request("POST", "/v1/chat/completions", bearer(key) + JSON, chat("claude-3")).status == 200
        assert default.exists(), f"no limits table at {default}: {sorted(os.listdir('/dev/shm'))}"
        no_key_in_upstream(mock, key)
    finally:
        stack.close()
        default.unlink(missing_ok=True)


# ==================================================================================================
# Configurations docs/KEYS.md refuses (`-t`, exit 78), next to one it accepts.
# ==================================================================================================


CHECKED = """
general_settings:
  {master}
  keys:
    - key_alias: {alias}
      key_hash: {hash}
{extra}
    - key_alias: second
      key_hash: {hash2}
  pass_through_endpoints:
    - path: /echo
      target: http://127.0.0.1:9/echo
"""


@pytest.mark.parametrize(
    "change, ok",
    [
        ({}, True),
        ({"extra": "      models: []"}, False),
        ({"extra": "      allowed_routes: []"}, False),
        ({"extra": "      max_budget: 10"}, True),
        ({"extra": "      tpm_limit: 1000"}, True),
        ({"extra": "      soft_budget: 10"}, False),
        ({"extra": "      budget_duration: 30d"}, False),
        ({"alias": "second"}, False),
        ({"alias": "master_key"}, False),
        ({"hash": "abc123"}, False),
        ({"master": ""}, False),
    ],
    ids=["good", "empty-models", "empty-routes", "budget", "tpm", "soft-budget", "duration-alone", "duplicate-alias", "reserved-alias", "short-hash", "no-master-key"],
)
def test_config_refusals(gateway_binary, workdir, change, ok):
    values = {
        "master": "master_key: os.environ/LITELLM_MASTER_KEY",
        "alias": "first",
        "hash": digest(new_key()),
        "hash2": digest(new_key()),
        "extra": "",
        **change,
    }
    text = CHECKED
    for name, value in values.items():
        text = text.replace("{" + name + "}", value)
    path = workdir / "config.yaml"
    path.write_text(text)
    master = new_key()
    env = base_env(workdir, {} if change.get("master") == "" else {"LITELLM_MASTER_KEY": master})
    result = run_cli(gateway_binary, ["-t", "--config", str(path)], env)
    output = result.stdout + result.stderr
    assert master not in output
    if ok:
        assert result.returncode == EXIT_OK, output
    else:
        assert result.returncode == EXIT_CONFIG, output
        assert "keys" in output or "master_key" in output, output
