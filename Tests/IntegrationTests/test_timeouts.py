"""Upstream timeouts (SPEC §1 `timeout`, `pass_through_request_timeout`; §6 504)."""

from __future__ import annotations

import time

import pytest

from harness.assertions import assert_error_envelope, bearer

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_request_timeout: 2
  pass_through_endpoints:
    - path: /slow
      target: {upstream}/slow
      timeout: 1
    - path: /hang
      target: {upstream}/hang
      timeout: 1
    - path: /slow-default
      target: {upstream}/slow
    - path: /slow-long
      target: {upstream}/slow
      timeout: 5
"""


@pytest.fixture(scope="module")
def stack(stacks):
    return stacks(CONFIG)



def test_endpoint_timeout_is_504_in_about_a_second(stack, mock, key):
    resp = stack.request("GET", "/slow?delay=3", key)
    assert_error_envelope(resp, 504)
    assert 0.8 < resp.elapsed < 2.5, f"504 after {resp.elapsed:.2f}s"


def test_timeout_cancels_the_upstream_request(stack, mock, key):
    started = time.monotonic()
    resp = stack.request("GET", "/hang", key)
    assert_error_envelope(resp, 504)
    rec = mock.only_request()
    assert rec.closed.wait(2), "the upstream connection stayed open after the 504"
    assert rec.closed_at - started < 2.5


def test_general_timeout_applies_without_an_endpoint_timeout(stack, mock, key):
    resp = stack.request("GET", "/slow-default?delay=4", key)
    assert_error_envelope(resp, 504)
    assert 1.8 < resp.elapsed < 3.5, f"504 after {resp.elapsed:.2f}s with a 2 s general timeout"


def test_endpoint_timeout_overrides_the_general_one(stack, mock, key):
    resp = stack.request("GET", "/slow-long?delay=2.5", key)
    assert resp.status == 200, resp
    assert resp.json() == {"slept": 2.5}


def test_a_fast_answer_is_not_affected(stack, mock, key):
    resp = stack.request("GET", "/slow?delay=0.2", key)
    assert resp.status == 200, resp
