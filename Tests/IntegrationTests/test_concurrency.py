"""Many requests at once: each gets its own answer; streams do not wait for each other."""

from __future__ import annotations

import os
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


# A launcher that takes 1,100 descriptors before exec'ing the gateway, so every
# connection the gateway accepts (and every upstream socket) has a number above 1023.
HIGH_FD_LAUNCHER = """
import os, resource, sys
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
for _ in range(1100):
    os.set_inheritable(os.open("/dev/null", os.O_RDONLY), True)
os.execv(sys.argv[1], sys.argv[1:])
"""


def test_connections_above_fd_1023_are_served_and_closed(fresh_stacks, key):
    """A process serving a thousand streams holds descriptors past 1023, where a select()
    fd_set ends. Debian's libfcgi waits for the peer at close with poll() (the
    CVE-2012-6687 fix), and the gateway's own waits use poll(): nothing breaks there."""
    import resource
    import sys

    if resource.getrlimit(resource.RLIMIT_NOFILE)[1] < 2048:
        pytest.skip("the hard limit on open files is below 2048")
    stack = fresh_stacks(CONFIG, start=False)
    gateway = stack.gateways[0]
    gateway.args = [sys.executable, "-c", HIGH_FD_LAUNCHER, *gateway.args]
    stack.start()
    for n in range(20):
        resp = stack.request("POST", "/echo", key, f'{{"n": {n}}}'.encode())
        assert resp.status == 200 and echoed(resp)["body"] == f'{{"n": {n}}}'.encode(), resp
    with stack.exchange("GET", "/sse?n=3&interval=0.01", key) as exchange:
        exchange.read_head()
        assert exchange.read_rest().complete
    assert gateway.alive, gateway.log_text()
    fds = [int(name) for name in os.listdir(f"/proc/{gateway.proc.pid}/fd")]
    assert max(fds) > 1023
