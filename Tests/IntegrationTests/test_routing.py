"""Routing and paths (SPEC §2): exact and subpath matches, specificity, methods, traversal."""

from __future__ import annotations

import pytest

from harness.assertions import assert_error_envelope, bearer

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /v1/rerank
      target: {upstream}/echo/rerank
    - path: /sub
      target: {upstream}/echo/base
      include_subpath: true
    - path: /sub-slash
      target: {upstream}/echo/base-slash/
      include_subpath: true
    - path: /api
      target: {upstream}/echo/general
      include_subpath: true
    - path: /api/special
      target: {upstream}/echo/special
      include_subpath: true
    - path: /kb
      target: {upstream}/echo/kb-read
      methods: [GET]
    - path: /kb
      target: {upstream}/echo/kb-write
      methods: [POST]
    - path: /post-only
      target: {upstream}/echo/post-only
      methods: [POST]
    - path: /with-head
      target: {upstream}/echo/with-head
      methods: [GET, HEAD, OPTIONS]
"""


@pytest.fixture(scope="module")
def stack(stacks):
    return stacks(CONFIG)



def upstream_target(stack, mock, key, target, method="GET"):
    resp = stack.request(method, target, key)
    assert resp.status == 200, resp
    return mock.only_request().target


def allow_set(resp) -> set[str]:
    return {m.strip().upper() for m in (resp.header("Allow") or "").split(",") if m.strip()}


# --- matching ---------------------------------------------------------------------------


def test_exact_path(stack, mock, key):
    assert upstream_target(stack, mock, key, "/v1/rerank") == "/echo/rerank"


@pytest.mark.parametrize("target", ["/v1/rerankX", "/v1/rerank/extra", "/v1", "/", "/nothing/here"])
def test_no_route_is_404(stack, mock, key, target):
    assert_error_envelope(stack.request("GET", target, key), 404)
    assert mock.requests == []


@pytest.mark.parametrize(
    "client, upstream",
    [
        ("/sub", "/echo/base"),
        ("/sub/", "/echo/base/"),
        ("/sub/a/b", "/echo/base/a/b"),
        ("/sub/a/b/", "/echo/base/a/b/"),
        ("/sub/a%20b/c%3Fd/%41", "/echo/base/a%20b/c%3Fd/%41"),
        ("/sub/v1:rerank@x~y", "/echo/base/v1:rerank@x~y"),
        ("/sub-slash/a", "/echo/base-slash/a"),
        ("/sub-slash/a/", "/echo/base-slash/a/"),
        ("/sub/a?x=1&y=%2F", "/echo/base/a?x=1&y=%2F"),
    ],
)
def test_subpath_is_appended_as_the_client_encoded_it(stack, mock, key, client, upstream):
    assert upstream_target(stack, mock, key, client) == upstream


def test_subpath_matches_only_at_a_segment_boundary(stack, mock, key):
    assert_error_envelope(stack.request("GET", "/subX", key), 404)
    assert_error_envelope(stack.request("GET", "/sub-slashX/a", key), 404)
    assert mock.requests == []


@pytest.mark.parametrize(
    "client, upstream",
    [
        ("/api/special", "/echo/special"),
        ("/api/special/x", "/echo/special/x"),
        ("/api/other", "/echo/general/other"),
        ("/api/specialX", "/echo/general/specialX"),
        ("/api", "/echo/general"),
    ],
)
def test_most_specific_route_wins_whatever_the_order(stack, mock, key, client, upstream):
    assert upstream_target(stack, mock, key, client) == upstream


def test_query_containing_dots_is_not_a_path(stack, mock, key):
    assert upstream_target(stack, mock, key, "/sub/a?x=../../etc&y=%2e%2e%2f") == "/echo/base/a?x=../../etc&y=%2e%2e%2f"


# --- methods ----------------------------------------------------------------------------


def test_same_path_routes_by_method(stack, mock, key):
    assert upstream_target(stack, mock, key, "/kb", "GET") == "/echo/kb-read"
    mock.reset()
    assert upstream_target(stack, mock, key, "/kb", "POST") == "/echo/kb-write"


def test_method_not_listed_is_405_with_allow(stack, mock, key):
    resp = stack.request("PUT", "/kb", key, b"{}")
    assert_error_envelope(resp, 405)
    assert allow_set(resp) == {"GET", "POST"}
    resp = stack.request("GET", "/post-only", key)
    assert_error_envelope(resp, 405)
    assert allow_set(resp) == {"POST"}
    assert mock.requests == []


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
def test_head_and_options_are_not_default_methods(stack, mock, key, method):
    resp = stack.request(method, "/v1/rerank", key)
    assert resp.status == 405
    assert allow_set(resp) == {"GET", "POST", "PUT", "DELETE", "PATCH"}
    assert mock.requests == []


@pytest.mark.parametrize("method", ["HEAD", "OPTIONS"])
def test_head_and_options_when_listed(stack, mock, key, method):
    resp = stack.request(method, "/with-head", key)
    assert resp.status == 200, resp
    rec = mock.only_request()
    assert rec.method == method and rec.path == "/echo/with-head"


def test_default_methods_are_routed(stack, mock, key):
    for method in ("GET", "POST", "PUT", "DELETE", "PATCH"):
        mock.reset()
        resp = stack.request(method, "/v1/rerank", key, b"{}" if method != "GET" else None)
        assert resp.status == 200, resp
        assert mock.only_request().method == method


# --- unsafe paths -----------------------------------------------------------------------

UNSAFE = [
    "/sub/../v1/rerank",
    "/sub/a/../b",
    "/sub/a/..",
    "/sub/./a",
    "/sub/a/.",
    "/sub/%2e%2e/x",
    "/sub/%2E%2E/x",
    "/sub/.%2e/x",
    "/sub/%2e./x",
    "/sub/%2e/x",
    "/sub/a/%2e%2e",
    "/sub/a%2fb",
    "/sub/a%2Fb",
    "/sub/..%2fetc",
    "/sub/a%5cb",
    "/sub/a%5C..%5Cb",
    "/sub//a",
    "/sub/a//b",
    "/sub/a/b//",
    "/sub-slash//a",
]


@pytest.mark.parametrize("target", UNSAFE)
def test_unsafe_subpath_is_400_and_nothing_is_forwarded(stack, mock, key, target):
    resp = stack.request("GET", target, key)
    assert_error_envelope(resp, 400)
    assert target.encode() not in resp.body, "the raw path is reflected in the error"
    assert mock.requests == []


@pytest.mark.parametrize("target", ["/sub/../../../etc/passwd", "/sub/%2e%2e/%2e%2e/%2e%2e/etc/passwd"])
def test_traversal_above_the_root_never_reaches_the_upstream(stack, mock, key, target):
    resp = stack.request("GET", target, key)
    assert resp.status == 400, resp
    assert mock.requests == []


@pytest.mark.parametrize("target", ["/x/../v1/rerank", "/v1/./rerank", "//v1/rerank", "/v1//rerank"])
def test_dot_and_empty_segments_before_the_route_are_refused(stack, mock, key, target):
    resp = stack.request("GET", target, key)
    assert resp.status in (400, 404), resp
    assert mock.requests == []
