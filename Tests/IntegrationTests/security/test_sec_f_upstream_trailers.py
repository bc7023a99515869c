"""Catalogue UP-07, trailers: a known crash in FoundationNetworking, kept visible.

The curl transport ignores trailer fields and passes; only the URLSession transport
is expected to fail.

swift-corelibs-foundation (Swift 6.3.1) parses trailer fields of a chunked response
as the start of a new header block and forgets the response it had; when the transfer
then completes it stops the process with "Transfer completed, but there's no response"
(NativeProtocol.swift). Any upstream that sends a trailer therefore kills the gateway
instance and every request in flight on it. The gateway cannot intercept trailers
through URLSession; docs/SECURITY.md lists the limit and the mitigation (a supervisor
restarts the instance; nginx moves to the others).

Strict: when a toolchain fixes it, this starts passing and fails as XPASS, so the
limit gets removed from the docs. Each test has its own stack, since the crash ends it.
"""

from __future__ import annotations

import time

import pytest
from harness.gateway import transport

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /mock
      target: {upstream}
      include_subpath: true
"""


@pytest.mark.xfail(
    transport() == "urlsession", strict=True, reason="FoundationNetworking crashes on chunked trailers (docs/SECURITY.md)"
)
@pytest.mark.parametrize("case", ["trailers", "trailers-unannounced"])
def test_up_07_trailers_are_dropped_and_the_gateway_survives(fresh_stacks, mock, key, case):
    stack = fresh_stacks(CONFIG)
    resp = stack.request("GET", f"/mock/raw?case={case}", key)
    time.sleep(0.2)
    assert stack.gateways[0].alive, "the gateway process died"
    assert resp.status == 200 and resp.complete and resp.body.startswith(b"hello")
    for name in ("Trailer", "X-Trailer", "X-Unannounced"):
        assert resp.header(name) is None, name


def test_up_07_an_announced_trailer_that_never_comes_is_harmless(fresh_stacks, mock, key):
    stack = fresh_stacks(CONFIG)
    resp = stack.request("GET", "/mock/raw?case=trailer-announced-only", key)
    assert resp.status == 200 and resp.complete and resp.body == b"hello"
    assert resp.header("Trailer") is None
    assert stack.gateways[0].alive
