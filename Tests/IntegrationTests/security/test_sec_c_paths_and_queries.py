"""Catalogue section C: routing, path normalisation, query handling
(PATH-01 .. PATH-05, QRY-01, ROUTE-01).

The gateway's policy (SPEC §2): one path view, the raw REQUEST_URI, for auth, routing
and forwarding; anything an upstream could read as another path is refused with 400.
"""

from __future__ import annotations

from urllib.parse import unquote

import pytest

from harness.assertions import assert_error_envelope, bearer
from harness.gateway import transport
from harness.http_client import build_request

ROUTES = """
    - path: /v1/rerank
      target: {upstream}/echo/rerank
    - path: /v1
      target: {upstream}/echo/v1
      include_subpath: true
    - path: /v1/rerank/admin
      target: {upstream}/echo/admin
    - path: /v1/files
      target: {upstream}/echo/files
      include_subpath: true
    - path: /bare
      target: {upstream}
      include_subpath: true
    - path: /gemini
      target: "{upstream}/echo/gemini?key=os.environ/SECOND_API_KEY&api-version=1"
    - path: /gemini-merge
      target: "{upstream}/echo/gemini?key=os.environ/SECOND_API_KEY&api-version=1"
      merge_query_params: true
    - path: /post-only
      target: {upstream}/echo/post-only
      methods: [POST]
    - path: /get-only
      target: {upstream}/echo/get-only
      methods: [GET]
"""
CONFIG = "general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n  pass_through_endpoints:" + ROUTES


def reversed_config() -> str:
    entries = ROUTES.strip("\n").split("\n    - ")
    entries = [entries[0].removeprefix("    - ")] + entries[1:]
    body = "".join("\n    - " + entry for entry in reversed(entries))
    return "general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n  pass_through_endpoints:" + body + "\n"


@pytest.fixture(scope="module")
def stack(stacks):
    return stacks(CONFIG)


@pytest.fixture(scope="module")
def reordered_stack(stacks):
    return stacks(reversed_config())


def forwarded(stack, mock, key, target, method="GET"):
    """(status, upstream path or None)."""
    mock.reset()
    resp = stack.request(method, target, key)
    records = mock.requests
    assert len(records) <= 1
    return resp.status, (records[0].target if records else None)


def decoded_twice(path: str) -> str:
    return unquote(unquote(path))


# --- PATH-01: traversal in forwarded subpaths -------------------------------------------

TRAVERSALS = [
    "/v1/files/../../admin",
    "/v1/files/./x",
    "/v1/files/%2e%2e/admin",
    "/v1/files/%2E%2E/admin",
    "/v1/files/%2e./admin",
    "/v1/files/.%2e/admin",
    "/v1/files/..%2fadmin",
    "/v1/files/x%2f..%2f..%2fadmin",
    "/v1/files/x%5c..%5cadmin",
    "/v1/files/..\\admin",
    "/v1/files/%252e%252e%252fadmin",
    "/v1/files/%252e%252e/admin",
    "/v1/files/%00",
    "/v1/files/;/..",
    "/v1/files/..;/admin",
    "/v1/files/%2e%2e;x/admin",
]


@pytest.mark.parametrize("target", TRAVERSALS)
def test_path_01_traversal_never_leaves_the_target_path(stack, mock, key, target):
    status, upstream = forwarded(stack, mock, key, target)
    if upstream is None:
        assert status == 400, status
    else:
        for view in (upstream.split("?")[0], decoded_twice(upstream.split("?")[0])):
            assert view.startswith("/echo/files/") and "/.." not in view and "\\" not in view, upstream


# --- PATH-02: the same path view for auth, routing and forwarding ---------------------------

# (request path, expected route's upstream path, or 400 when refused)
VIEWS = [
    ("/v1/rerank", "/echo/rerank"),
    ("/v1/rerank/%2e%2e/other", 400),
    ("//v1/rerank", 400),
    ("/v1//rerank", 400),
    ("/v1/rerank/.", 400),
    ("/v1/./rerank", 400),
    ("/v1/rerank%2F", 400),
    ("/v1/rerank%2Fadmin", 400),
    ("/v1/rerank/admin", "/echo/admin"),
    ("/v1/rerank%2fadmin", 400),
    ("/v1/re%72ank", "/echo/rerank"),
]


@pytest.mark.parametrize("target, expected", VIEWS)
def test_path_02_route_and_forwarded_path_come_from_one_view(stack, mock, key, target, expected):
    status, upstream = forwarded(stack, mock, key, target)
    if expected == 400:
        assert (status, upstream) == (400, None)
    else:
        assert (status, upstream) == (200, expected)


def test_path_02_unauthenticated_traversal_to_a_public_looking_path_is_refused_before_auth(stack, mock):
    resp = stack.request("GET", "/v1/files/%2e%2e/%2e%2e/health/liveness")
    assert resp.status == 400
    assert mock.requests == []


# --- PATH-03: prefix boundaries, case, file order ------------------------------------------


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/v1/rerankX", "/echo/v1/rerankX"),
        ("/v1/rerank-admin", "/echo/v1/rerank-admin"),
        ("/v1/rerank/", "/echo/v1/rerank/"),
        ("/v1/rerank?x", "/echo/rerank?x"),
        ("/v1/rerank/admin/more", "/echo/v1/rerank/admin/more"),
        ("/V1/RERANK", None),
        ("/v1/files", "/echo/files"),
        ("/v1/filesX", "/echo/v1/filesX"),
    ],
)
@pytest.mark.parametrize("which", ["file-order", "reversed"])
def test_path_03_longest_match_on_a_segment_boundary_whatever_the_order(
    stack, reordered_stack, mock, key, target, expected, which
):
    status, upstream = forwarded(stack if which == "file-order" else reordered_stack, mock, key, target)
    if expected is None:
        assert (status, upstream) == (404, None), "paths are case-sensitive"
    else:
        assert (status, upstream) == (200, expected)


def test_path_03_a_raw_fragment_marker_never_routes(stack, mock, key):
    resp = stack.request("GET", "/v1/rerank#x", key)
    assert resp.status == 400
    assert mock.requests == []


# --- PATH-04: the client cannot change the authority ---------------------------------------


@pytest.mark.parametrize(
    "target",
    ["/bare/@127.0.0.1:1/x", "/bare/:8080@127.0.0.1:1", "/bare//127.0.0.1:1/x", "/bare/%40127.0.0.1:1", "/bare/x@y"],
)
def test_path_04_subpath_can_never_become_an_authority(stack, mock, sink, key, target):
    status, upstream = forwarded(stack, mock, key, target.replace("127.0.0.1:1", sink.url.split("//")[1]))
    assert status in (200, 400, 404)
    if upstream is not None:
        assert upstream.startswith("/")
    assert sink.connections == []


@pytest.mark.parametrize("backslashes", ["/bare/\\\\sink/x", "/bare/%5c%5csink"])
def test_path_04_backslash_authority_is_refused(stack, mock, key, backslashes):
    raw = build_request("GET", backslashes, key)
    resp = stack.request("GET", "/", raw=raw)
    assert resp.status == 400
    assert mock.requests == []


def test_path_04_absolute_form_and_host_never_change_the_upstream(stack, mock, sink, key):
    host = sink.url.split("//")[1]
    raw = build_request("GET", f"{sink.url}/v1/rerank", key, host=host)
    assert stack.request("GET", "/", raw=raw).status == 200
    assert stack.request("GET", "/v1/rerank", key + [("Host", host)]).status == 200
    for rec in mock.requests:
        assert rec.header("Host") == mock.url.split("//")[1]
    assert sink.connections == []


# --- PATH-05: control characters and encoding edge cases ------------------------------------


@pytest.mark.parametrize(
    "target, statuses",
    [
        ("/v1/files/%0d%0aX-Injected:%201", (400,)),
        ("/v1/files/%0a", (400,)),
        ("/v1/files/%00", (400,)),
        ("/v1/files/%7f", (400,)),
        ("/v1/files/a%", (400,)),
        ("/v1/files/a%1", (400,)),
        ("/v1/files/a%zz", (400,)),
        ("/v1/files/%ff", (400,)),
        ("/v1/files/a b", (400,)),
        ("/v1/files/a\tb", (400,)),
    ],
)
def test_path_05_control_bytes_and_broken_escapes_are_400(stack, mock, key, target, statuses):
    raw = build_request("GET", target, key)
    resp = stack.request("GET", "/", raw=raw)
    assert resp.status in statuses, resp
    assert mock.requests == []


@pytest.mark.parametrize("target, upstream", [("/v1/files/%20", "/echo/files/%20"), ("/v1/files/%C3%A9", "/echo/files/%C3%A9")])
def test_path_05_encoded_space_and_utf8_are_forwarded_as_written(stack, mock, key, target, upstream):
    assert forwarded(stack, mock, key, target) == (200, upstream)


def test_path_05_raw_utf8_is_refused(stack, mock, key):
    raw = build_request("GET", "/v1/files/é", key).replace(b"\xc3\xa9", "é".encode())
    resp = stack.request("GET", "/", raw=raw)
    assert resp.status == 400
    assert mock.requests == []


def test_path_05_long_paths(stack, mock, key):
    long_path = "/v1/files/" + "a" * (7 << 10)
    status, upstream = forwarded(stack, mock, key, long_path)
    assert (status, upstream) == (200, "/echo/files/" + "a" * (7 << 10))
    too_long = "/v1/files/" + "a" * (9 << 10)
    resp = stack.request("GET", too_long, key)
    assert resp.status in (400, 414)
    assert len(mock.requests) == 1


# --- QRY-01: query strings -------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["a=1&a=2;b=3", "a=1&b=%41", "x=%E2%82%AC&y", "q=%0d%0a"])
def test_qry_01_client_query_is_forwarded_byte_exact(stack, mock, key, raw):
    assert forwarded(stack, mock, key, f"/v1/rerank?{raw}") == (200, f"/echo/rerank?{raw}")


@pytest.mark.parametrize("raw", ["a=1&a=%zz&b=3", "a=%", "a=%1"])
def test_qry_01_malformed_escapes_are_refused_not_repaired(stack, mock, key, raw):
    resp = stack.request("GET", f"/v1/rerank?{raw}", key)
    assert_error_envelope(resp, 400)
    assert mock.requests == []


def test_qry_01_an_8_kib_query_is_forwarded_whole(stack, mock, key):
    query = "q=" + "x" * (7 << 10)
    assert forwarded(stack, mock, key, f"/v1/rerank?{query}") == (200, f"/echo/rerank?{query}")


def test_qry_01_secret_query_param_is_never_duplicated(stack, mock, key, canaries):
    """SPEC §3: the client's query replaces the target's (so it can drop the key, never
    learn it); with merging the client wins per key. Never `key=secret&key=attacker`."""
    for route in ("/gemini", "/gemini-merge"):
        status, upstream = forwarded(stack, mock, key, f"{route}?key=attacker&x=1")
        assert status == 200
        query = upstream.split("?", 1)[1]
        assert query.count("key=") == 1 and "key=attacker" in query and canaries.second_key not in query
    status, upstream = forwarded(stack, mock, key, "/gemini-merge?x=1")
    assert upstream.endswith(f"?key={canaries.second_key}&api-version=1&x=1")


# --- ROUTE-01: methods ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "FOO"])
def test_route_01_unconfigured_methods_are_405_with_allow(stack, mock, key, method):
    resp = stack.request(method, "/post-only", key)
    assert resp.status == 405
    assert resp.header("Allow") == "POST"
    assert mock.requests == []


@pytest.mark.parametrize("method", ["TRACE", "CONNECT"])
def test_route_01_trace_and_connect_are_never_forwarded(stack, mock, key, method):
    target = "127.0.0.1:443" if method == "CONNECT" else "/post-only"
    raw = build_request(method, target, key)
    resp = stack.request(method, "/", raw=raw)
    assert resp.status in (400, 405), resp
    assert mock.requests == []


def test_route_01_get_with_a_body_is_forwarded_or_400_never_502(stack, mock, key):
    resp = stack.request("GET", "/get-only", key + [("Content-Type", "application/json")], b'{"q":1}')
    if transport() == "urlsession":
        # FoundationNetworking refuses to send one: a clear 400, and nothing half-sent.
        assert_error_envelope(resp, 400)
        assert mock.requests == []
    else:
        assert resp.status == 200, resp
        [rec] = mock.requests
        assert rec.method == "GET" and rec.body == b'{"q":1}'
