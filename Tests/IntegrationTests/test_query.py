"""Query strings (SPEC §3): replace by default, merge when asked, defaults underneath."""

from __future__ import annotations

from urllib.parse import parse_qsl, quote

import pytest

from harness.assertions import bearer
from harness.gateway import transport

CONFIG = """
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
def stack(stacks):
    return stacks(CONFIG)


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


def test_client_query_replaces_the_targets(stack, mock, canaries):
    assert upstream_query(stack, mock, canaries, "/q-replace?q=1") == "q=1"


def test_target_query_is_kept_when_the_client_sends_none(stack, mock, canaries):
    assert upstream_query(stack, mock, canaries, "/q-replace") == "setLang=en&fixed=1"


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
def test_client_query_is_forwarded_as_written(stack, mock, canaries, raw):
    # URLSession's URL type escapes what RFC 3986 forbids in a query (`[`, `]`); libcurl
    # sends what the gateway hands it.
    expected = rfc3986_query(raw) if transport() == "urlsession" else raw
    assert upstream_query(stack, mock, canaries, f"/q-plain?{raw}") == expected


def test_merge_adds_the_clients_parameters(stack, mock, canaries):
    got = upstream_query(stack, mock, canaries, "/q-merge?q=1")
    assert params(got) == sorted([("setLang", "en"), ("a", "1"), ("q", "1")])


def test_merge_client_wins(stack, mock, canaries):
    got = upstream_query(stack, mock, canaries, "/q-merge?a=9")
    assert params(got) == sorted([("setLang", "en"), ("a", "9")])


def test_defaults_apply_without_a_client_query(stack, mock, canaries):
    assert params(upstream_query(stack, mock, canaries, "/q-defaults")) == [("a", "1"), ("b", "2")]


def test_client_overrides_defaults(stack, mock, canaries):
    assert params(upstream_query(stack, mock, canaries, "/q-defaults?a=9")) == [("a", "9"), ("b", "2")]


def test_precedence_defaults_then_target_then_client(stack, mock, canaries):
    got = upstream_query(stack, mock, canaries, "/q-all?c=30")
    assert params(got) == sorted([("a", "1"), ("b", "20"), ("t", "1"), ("c", "30")])
