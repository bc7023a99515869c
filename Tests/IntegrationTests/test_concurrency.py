"""Many requests at once: each gets its own answer; streams do not wait for each other."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness.assertions import bearer, echoed

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /echo
      target: {upstream}/echo/concurrent
      forward_headers: true
    - path: /sse
      target: {upstream}/sse
    - path: /slow
      target: {upstream}/slow
"""

CLIENTS = 50
STREAMS = 10


@pytest.fixture(scope="module")
def stack(stacks):
    # More threads than clients: beyond its threads the gateway answers 503 (LIFE-01).
    return stacks(CONFIG, threads=CLIENTS + 8)


@pytest.mark.timeout_s(60)
def test_fifty_concurrent_requests_each_get_their_own_answer(stack, mock, canaries):
    barrier = threading.Barrier(CLIENTS, timeout=10)

    def one(i: int):
        body = f'{{"client":{i},"pad":"{"p" * i}"}}'.encode()
        barrier.wait()
        resp = stack.request("POST", "/echo", bearer(canaries.master_key) + [("X-Client", str(i))], body, timeout=30)
        return i, body, resp

    with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
        results = list(pool.map(one, range(CLIENTS)))

    for i, body, resp in results:
        got = echoed(resp)
        assert got["body"] == body, f"client {i} got another request's answer"
        assert [v for k, v in got["headers"] if k.lower() == "x-client"] == [str(i)]
    assert len(mock.requests) == CLIENTS


@pytest.mark.timeout_s(30)
def test_concurrent_streams_to_one_host_do_not_queue(stack, mock, canaries):
    """More streams than URLSession's default six connections per host."""
    def one(_):
        with stack.exchange("GET", "/sse?n=3&interval=0.5", bearer(canaries.master_key), timeout=15) as exchange:
            exchange.read_head()
            return exchange.status, len(list(exchange.iter_events()))

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=STREAMS) as pool:
        futures = [pool.submit(one, i) for i in range(STREAMS)]
        mock.wait_for_requests(STREAMS, timeout=1.5)
        results = [f.result() for f in futures]
    assert results == [(200, 3)] * STREAMS
    assert time.monotonic() - started < 3.0


def test_a_slow_request_does_not_block_others(stack, mock, canaries):
    key = bearer(canaries.master_key)
    with ThreadPoolExecutor(max_workers=1) as pool:
        slow = pool.submit(stack.request, "GET", "/slow?delay=2", key)
        mock.wait_for_requests(1)
        quick = stack.request("POST", "/echo", key, b"{}")
        assert quick.status == 200
        assert quick.elapsed < 1.0
        assert slow.result().status == 200
