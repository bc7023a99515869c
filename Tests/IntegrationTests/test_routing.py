"""Routing, paths and query strings: matching, methods, traversal and path normalisation,
query replace, merge and defaults.

docs/BEHAVIOUR.md §2, §3; threat catalogue section C (PATH-*, QRY-*, ROUTE-*) in docs/SECURITY.md.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, quote, unquote

import pytest

from harness.assertions import assert_error_envelope, bearer
from harness.gateway import transport
from harness.http_client import build_request


# ==================================================================================================
# Routing and paths (docs/BEHAVIOUR.md §2): exact and subpath matches, specificity, methods, traversal.
# ==================================================================================================


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


# ==================================================================================================
# Query strings (docs/BEHAVIOUR.md §3): replace by default, merge when asked, defaults underneath.
# ==================================================================================================


QUERY_CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /q-replace
      target: "{upstream}/echo/q?setLang=en&fixed=1"
    - path: /q-plain
      target: "{upstream}/echo/plain"
    - path: /q-merge
      target: "{upstream}/echo/q?setLang=en&a=1"
      merge_query_params: true
    - path: /q-defaults
      target: "{upstream}/echo/q"
      default_query_params:
        a: "1"
        b: "2"
    - path: /q-all
      target: "{upstream}/echo/q?b=20&t=1"
      merge_query_params: true
      default_query_params:
        a: "1"
        b: "2"
        c: "3"
"""


@pytest.fixture(scope="module")
def query_stack(stacks):
    return stacks(QUERY_CONFIG)


def upstream_query(stack, mock, canaries, target) -> str | None:
    resp = stack.request("GET", target, bearer(canaries.master_key))
    assert resp.status == 200, resp
    return mock.only_request().query


def rfc3986_query(raw: str) -> str:
    """`raw` with only the characters RFC 3986 forbids in a query percent-encoded
    (e.g. `[` `]`, which nginx accepts but URLs may not carry raw)."""
    return quote(raw, safe="!$&'()*+,;=:@/?%")


def params(query: str | None) -> list[tuple[str, str]]:
    return sorted(parse_qsl(query or "", keep_blank_values=True))


def test_client_query_replaces_the_targets(query_stack, mock, canaries):
    assert upstream_query(query_stack, mock, canaries, "/q-replace?q=1") == "q=1"


def test_target_query_is_kept_when_the_client_sends_none(query_stack, mock, canaries):
    assert upstream_query(query_stack, mock, canaries, "/q-replace") == "setLang=en&fixed=1"


@pytest.mark.parametrize(
    "raw",
    [
        "b=2&a=1&a=3",
        "sp=%20x+y&empty=&flag",
        "enc=%2F%26%3D%25&utf=%C3%A9",
        "list[]=1&list[]=2&obj[k]=v",
        "x=a/b?c",
    ],
)
def test_client_query_is_forwarded_as_written(query_stack, mock, canaries, raw):
    # URLSession's URL type escapes what RFC 3986 forbids in a query (`[`, `]`); libcurl
    # sends what the gateway hands it.
    expected = rfc3986_query(raw) if transport() == "urlsession" else raw
    assert upstream_query(query_stack, mock, canaries, f"/q-plain?{raw}") == expected


def test_merge_adds_the_clients_parameters(query_stack, mock, canaries):
    got = upstream_query(query_stack, mock, canaries, "/q-merge?q=1")
    assert params(got) == sorted([("setLang", "en"), ("a", "1"), ("q", "1")])


def test_merge_client_wins(query_stack, mock, canaries):
    got = upstream_query(query_stack, mock, canaries, "/q-merge?a=9")
    assert params(got) == sorted([("setLang", "en"), ("a", "9")])


def test_defaults_apply_without_a_client_query(query_stack, mock, canaries):
    assert params(upstream_query(query_stack, mock, canaries, "/q-defaults")) == [("a", "1"), ("b", "2")]


def test_client_overrides_defaults(query_stack, mock, canaries):
    assert params(upstream_query(query_stack, mock, canaries, "/q-defaults?a=9")) == [("a", "9"), ("b", "2")]


def test_precedence_defaults_then_target_then_client(query_stack, mock, canaries):
    got = upstream_query(query_stack, mock, canaries, "/q-all?c=30")
    assert params(got) == sorted([("a", "1"), ("b", "20"), ("t", "1"), ("c", "30")])


# ==================================================================================================
# Catalogue section C: routing, path normalisation, query handling
# (PATH-01 .. PATH-05, QRY-01, ROUTE-01).
#
# The gateway's policy (docs/BEHAVIOUR.md §2): one path view, the raw REQUEST_URI, for auth, routing
# and forwarding; anything an upstream could read as another path is refused with 400.
# ==================================================================================================


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
PATHS_CONFIG = "general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n  pass_through_endpoints:" + ROUTES


def reversed_config() -> str:
    entries = ROUTES.strip("\n").split("\n    - ")
    entries = [entries[0].removeprefix("    - ")] + entries[1:]
    body = "".join("\n    - " + entry for entry in reversed(entries))
    return "general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n  pass_through_endpoints:" + body + "\n"


@pytest.fixture(scope="module")
def paths_stack(stacks):
    return stacks(PATHS_CONFIG)


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
def test_path_01_traversal_never_leaves_the_target_path(paths_stack, mock, key, target):
    status, upstream = forwarded(paths_stack, mock, key, target)
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
def test_path_02_route_and_forwarded_path_come_from_one_view(paths_stack, mock, key, target, expected):
    status, upstream = forwarded(paths_stack, mock, key, target)
    if expected == 400:
        assert (status, upstream) == (400, None)
    else:
        assert (status, upstream) == (200, expected)


def test_path_02_unauthenticated_traversal_to_a_public_looking_path_is_refused_before_auth(paths_stack, mock):
    resp = paths_stack.request("GET", "/v1/files/%2e%2e/%2e%2e/health/liveness")
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
    paths_stack, reordered_stack, mock, key, target, expected, which
):
    status, upstream = forwarded(paths_stack if which == "file-order" else reordered_stack, mock, key, target)
    if expected is None:
        assert (status, upstream) == (404, None), "paths are case-sensitive"
    else:
        assert (status, upstream) == (200, expected)


def test_path_03_a_raw_fragment_marker_never_routes(paths_stack, mock, key):
    resp = paths_stack.request("GET", "/v1/rerank#x", key)
    assert resp.status == 400
    assert mock.requests == []


# --- PATH-04: the client cannot change the authority ---------------------------------------


@pytest.mark.parametrize(
    "target",
    ["/bare/@127.0.0.1:1/x", "/bare/:8080@127.0.0.1:1", "/bare//127.0.0.1:1/x", "/bare/%40127.0.0.1:1", "/bare/x@y"],
)
def test_path_04_subpath_can_never_become_an_authority(paths_stack, mock, sink, key, target):
    status, upstream = forwarded(paths_stack, mock, key, target.replace("127.0.0.1:1", sink.url.split("//")[1]))
    assert status in (200, 400, 404)
    if upstream is not None:
        assert upstream.startswith("/")
    assert sink.connections == []


@pytest.mark.parametrize("backslashes", ["/bare/\\\\sink/x", "/bare/%5c%5csink"])
def test_path_04_backslash_authority_is_refused(paths_stack, mock, key, backslashes):
    raw = build_request("GET", backslashes, key)
    resp = paths_stack.request("GET", "/", raw=raw)
    assert resp.status == 400
    assert mock.requests == []


def test_path_04_absolute_form_and_host_never_change_the_upstream(paths_stack, mock, sink, key):
    host = sink.url.split("//")[1]
    raw = build_request("GET", f"{sink.url}/v1/rerank", key, host=host)
    assert paths_stack.request("GET", "/", raw=raw).status == 200
    assert paths_stack.request("GET", "/v1/rerank", key + [("Host", host)]).status == 200
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
def test_path_05_control_bytes_and_broken_escapes_are_400(paths_stack, mock, key, target, statuses):
    raw = build_request("GET", target, key)
    resp = paths_stack.request("GET", "/", raw=raw)
    assert resp.status in statuses, resp
    assert mock.requests == []


@pytest.mark.parametrize("target, upstream", [("/v1/files/%20", "/echo/files/%20"), ("/v1/files/%C3%A9", "/echo/files/%C3%A9")])
def test_path_05_encoded_space_and_utf8_are_forwarded_as_written(paths_stack, mock, key, target, upstream):
    assert forwarded(paths_stack, mock, key, target) == (200, upstream)


def test_path_05_raw_utf8_is_refused(paths_stack, mock, key):
    raw = build_request("GET", "/v1/files/é", key).replace(b"\xc3\xa9", "é".encode())
    resp = paths_stack.request("GET", "/", raw=raw)
    assert resp.status == 400
    assert mock.requests == []


def test_path_05_long_paths(paths_stack, mock, key):
    long_path = "/v1/files/" + "a" * (7 << 10)
    status, upstream = forwarded(paths_stack, mock, key, long_path)
    assert (status, upstream) == (200, "/echo/files/" + "a" * (7 << 10))
    too_long = "/v1/files/" + "a" * (9 << 10)
    resp = paths_stack.request("GET", too_long, key)
    assert resp.status in (400, 414)
    assert len(mock.requests) == 1


# --- QRY-01: query strings -------------------------------------------------------------------


@pytest.mark.parametrize("raw", ["a=1&a=2;b=3", "a=1&b=%41", "x=%E2%82%AC&y", "q=%0d%0a"])
def test_qry_01_client_query_is_forwarded_byte_exact(paths_stack, mock, key, raw):
    assert forwarded(paths_stack, mock, key, f"/v1/rerank?{raw}") == (200, f"/echo/rerank?{raw}")


@pytest.mark.parametrize("raw", ["a=1&a=%zz&b=3", "a=%", "a=%1"])
def test_qry_01_malformed_escapes_are_refused_not_repaired(paths_stack, mock, key, raw):
    resp = paths_stack.request("GET", f"/v1/rerank?{raw}", key)
    assert_error_envelope(resp, 400)
    assert mock.requests == []


def test_qry_01_an_8_kib_query_is_forwarded_whole(paths_stack, mock, key):
    query = "q=" + "x" * (7 << 10)
    assert forwarded(paths_stack, mock, key, f"/v1/rerank?{query}") == (200, f"/echo/rerank?{query}")


def test_qry_01_secret_query_param_is_never_duplicated(paths_stack, mock, key, canaries):
    """docs/BEHAVIOUR.md §3: the client's query replaces the target's (so it can drop the key, never
    learn it); with merging the client wins per key. Never `key=secret&key=attacker`."""
    for route in ("/gemini", "/gemini-merge"):
        status, upstream = forwarded(paths_stack, mock, key, f"{route}?key=attacker&x=1")
        assert status == 200
        query = upstream.split("?", 1)[1]
        assert query.count("key=") == 1 and "key=attacker" in query and canaries.second_key not in query
    status, upstream = forwarded(paths_stack, mock, key, "/gemini-merge?x=1")
    assert upstream.endswith(f"?key={canaries.second_key}&api-version=1&x=1")


# --- ROUTE-01: methods ------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "FOO"])
def test_route_01_unconfigured_methods_are_405_with_allow(paths_stack, mock, key, method):
    resp = paths_stack.request(method, "/post-only", key)
    assert resp.status == 405
    assert resp.header("Allow") == "POST"
    assert mock.requests == []


@pytest.mark.parametrize("method", ["TRACE", "CONNECT"])
def test_route_01_trace_and_connect_are_never_forwarded(paths_stack, mock, key, method):
    target = "127.0.0.1:443" if method == "CONNECT" else "/post-only"
    raw = build_request(method, target, key)
    resp = paths_stack.request(method, "/", raw=raw)
    assert resp.status in (400, 405), resp
    assert mock.requests == []


def test_route_01_get_with_a_body_is_forwarded_or_400_never_502(paths_stack, mock, key):
    resp = paths_stack.request("GET", "/get-only", key + [("Content-Type", "application/json")], b'{"q":1}')
    if transport() == "urlsession":
        # FoundationNetworking refuses to send one: a clear 400, and nothing half-sent.
        assert_error_envelope(resp, 400)
        assert mock.requests == []
    else:
        assert resp.status == 200, resp
        [rec] = mock.requests
        assert rec.method == "GET" and rec.body == b'{"q":1}'
