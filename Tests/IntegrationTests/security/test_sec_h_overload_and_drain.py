"""Catalogue section H: overload (LIFE-01).

A request no worker thread can take gets a quick 503 with Retry-After from the gateway
instead of waiting in the socket's queue until nginx gives up, and a worker process that
is full leaves connections to a sibling that has a free thread.
"""

from __future__ import annotations

import re
import socket
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import probes
from harness.assertions import assert_error_envelope
from harness.fcgi_client import PARAMS, STDIN, FastCGIClient, begin, params_stream, record, records_for, request_params
from harness.nginx import Nginx
from harness.stack import SNIPPET
from harness.waiting import wait_until

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /echo
      target: {upstream}/echo/overload
      methods: [GET, POST]
    - path: /sse
      target: {upstream}/sse
    - path: /slow
      target: {upstream}/slow
"""


def metric(stack, name: str, **labels: str) -> float:
    text = stack.request("GET", "/metrics").body.decode()
    total = 0.0
    for line in text.splitlines():
        if (line.startswith(name + "{") or line.startswith(name + " ")) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


class HeldThreads:
    """Requests sent straight to the gateway's socket whose body never ends: each keeps a
    thread waiting for the rest of its body, without any upstream request (whose latency
    on a loaded machine would blur what is measured). Closing them frees the threads."""

    def __init__(self, gateway, master_key: str, count: int) -> None:
        params = params_stream(request_params("POST", "/echo", {"Authorization": f"Bearer {master_key}"}, b"{}"))
        self.clients = []
        for _ in range(count):
            client = FastCGIClient(gateway.socket_path)
            client.send(begin() + records_for(params, PARAMS) + record(STDIN, 1, b"{"))
            self.clients.append(client)
        # Accepted, hence each on a thread of its own (a worker process takes a connection only for a free thread).
        wait_until(lambda: probes.listen_queue(gateway)[0] == 0, 5, "the held requests to be accepted")

    def release(self) -> None:
        for client in self.clients:
            client.close()


# --- LIFE-01: overload ----------------------------------------------------------------------------


@pytest.mark.timeout_s(60)
def test_life_01_requests_beyond_the_threads_get_a_quick_503_with_retry_after(fresh_stacks, mock, key, canaries):
    stack = fresh_stacks(CONFIG, threads=4)
    gateway = stack.gateways[0]
    held = HeldThreads(gateway, canaries.master_key, 4)
    try:

        def extra(i: int):
            return stack.request("POST", f"/echo?extra={i}", key, b'{"x":1}', timeout=10)

        with ThreadPoolExecutor(20) as pool:
            results = list(pool.map(extra, range(20)))
        for resp in results:
            assert_error_envelope(resp, 503)
            assert resp.header("Retry-After") == "1", resp
            assert resp.header("x-litellm-call-id"), resp
        # The catalogue asks < 50 ms. nginx's own timing ($request_time), not the test client's:
        # this Python process shares two loaded cores with everything else.
        times = sorted(float(re.search(r"rt=([0-9.]+)", stack.nginx.access_line_with(f"extra={i}")).group(1)) for i in range(20))
        assert times[len(times) // 2] < 0.05, times
        assert times[-1] < 1, times
        assert not mock.requests_to("/echo/overload"), "a refused request reached the upstream"
    finally:
        held.release()
    # Once threads are free again, requests are served; the refusals are counted and logged once.
    wait_until(lambda: stack.request("GET", "/echo", key).status == 200, 5, "a thread to be free again")
    assert metric(stack, "fcgi_pass_through_requests_refused_total", reason="busy") == 20
    assert metric(stack, "fcgi_pass_through_threads") == 4
    warnings = [line for line in gateway.log_text().splitlines() if "every worker thread is busy" in line]
    assert 1 <= len(warnings) <= 3, warnings
    assert "threads=4" in warnings[0] and "reason=busy" in warnings[0]


@pytest.mark.timeout_s(60)
def test_life_01_a_refused_upload_is_read_and_answered_not_reset(fresh_stacks, mock, key, canaries):
    stack = fresh_stacks(CONFIG, threads=2)
    held = HeldThreads(stack.gateways[0], canaries.master_key, 2)
    try:
        body = b"u" * (2 << 20)
        for _ in range(3):
            assert_error_envelope(stack.request("POST", "/echo", key, body, timeout=10), 503)
    finally:
        held.release()
    errors = stack.nginx.error_log.read_text()
    assert "upstream prematurely closed" not in errors and "reset by peer" not in errors, errors[-2000:]


@pytest.mark.timeout_s(60)
def test_life_01_a_full_worker_leaves_connections_to_a_free_one(fresh_stacks, mock, key, canaries):
    """Two workers of two threads share one socket. With three threads busy, one worker is
    full: every new request must still reach the free thread of the other, never a 503."""
    stack = fresh_stacks(CONFIG, threads=2, extra_args=["--workers", "2"])
    supervisor = stack.gateways[0]
    wait_until(lambda: supervisor.log_text().count("ready socket=fd:") >= 2, 20, "both workers to be ready")
    held = HeldThreads(supervisor, canaries.master_key, 3)
    try:
        for i in range(20):
            resp = stack.request("GET", f"/echo?free={i}", key)
            assert resp.status == 200, f"request {i}: {resp!r}"
        fourth = HeldThreads(supervisor, canaries.master_key, 1)
        try:
            # All four threads busy: now the gateway refuses.
            assert_error_envelope(stack.request("GET", "/echo?full=1", key), 503)
        finally:
            fourth.release()
    finally:
        held.release()


def test_life_01_the_listen_backlog_is_at_least_1024(fresh_stacks, mock):
    stack = fresh_stacks(CONFIG)
    _, backlog = probes.listen_queue(stack.gateways[0])
    limit = probes.somaxconn()
    # The kernel caps the backlog at net.core.somaxconn, which a test cannot raise.
    assert backlog == min(1024, limit) or backlog >= 1024, backlog
    if limit < 1024:
        pytest.skip(f"net.core.somaxconn is {limit} on this machine: the effective backlog is {backlog}, not 1024")
    assert backlog >= 1024


@pytest.mark.timeout_s(60)
def test_life_01_a_full_socket_queue_moves_nginx_to_the_other_instance(fresh_stacks, mock, key):
    """An instance whose queue is full makes nginx's connect fail at once (EAGAIN); the
    snippet's second try goes to another instance, since nothing was sent."""
    stack = fresh_stacks(CONFIG, start=False)
    stuck_path = stack.dir / "stuck.sock"
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stuck.bind(str(stuck_path))
    stuck.listen(0)
    fillers = []
    try:
        for _ in range(4):
            filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            filler.setblocking(False)
            try:
                filler.connect(str(stuck_path))
            except BlockingIOError:
                pass
            fillers.append(filler)
        # Same directory as the stack's own nginx, so its logs are scanned like every other.
        stack.nginx = Nginx.for_gateway(
            stack.dir / "nginx", [f"unix:{stuck_path}", stack.gateways[0].nginx_server], SNIPPET)
        stack.start()
        for i in range(6):
            resp = stack.request("GET", f"/echo?q={i}", key)
            assert resp.status == 200 and resp.elapsed < 1, resp
        assert "Resource temporarily unavailable" in stack.nginx.error_log.read_text()
    finally:
        for filler in fillers:
            filler.close()
        stuck.close()
