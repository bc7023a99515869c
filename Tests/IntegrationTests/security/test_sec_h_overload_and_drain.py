"""Catalogue section H: overload (LIFE-01) and graceful drain (LIFE-02).

LIFE-01: a request no worker thread can take gets a quick 503 with Retry-After from the
gateway instead of waiting in the socket's queue until nginx gives up, and a worker
process that is full leaves connections to a sibling that has a free thread.

LIFE-02: an instance that stops takes what is already queued on its socket before
letting the socket go, so nginx never sees a reset for a request it had handed over
(a 502 that the snippet cannot retry). New connections are refused from the start of
the drain (the socket file is removed), and the snippet retries those elsewhere.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import probes
from harness.assertions import assert_error_envelope
from harness.fcgi_client import PARAMS, STDIN, FastCGIClient, begin, params_stream, record, records_for, request_params
from harness.gateway import EXIT_OK
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


def instance_pids(gateway) -> list[int]:
    """The instance's main process and, under a supervisor, its workers."""
    pid = gateway.proc.pid
    workers = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        workers += [int(p) for p in (task / "children").read_text().split()]
    return [pid, *workers]


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


# --- LIFE-02: drain -------------------------------------------------------------------------------

REQUESTS = 16


@pytest.mark.timeout_s(60)
@pytest.mark.parametrize("workers", [1, 2], ids=["single-process", "supervised"])
def test_life_02_requests_queued_when_sigterm_arrives_are_served_not_reset(fresh_stacks, mock, key, workers):
    """The instance is frozen (SIGSTOP) while nginx hands it requests, so they wait in its
    socket's queue; then it gets SIGTERM. Every queued request must be answered by it,
    though there are more of them than it has threads."""
    extra = ["--workers", str(workers)] if workers > 1 else []
    stack = fresh_stacks(CONFIG, threads=2, extra_args=extra)
    draining = stack.gateways[0]
    if workers > 1:
        wait_until(lambda: draining.log_text().count("ready socket=fd:") == workers, 20, "the workers to be ready")
    pids = instance_pids(draining)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    # kill() returns before every thread has stopped; one still running could accept.
    wait_until(lambda: all(Path(f"/proc/{pid}/stat").read_text().split()[2] == "T" for pid in pids), 5, "the instance to stop")
    exchanges = []
    try:
        # A built-in route: served without an upstream, so only the drain is measured.
        exchanges = [stack.exchange("GET", f"/health/liveness?queued={i}", timeout=20) for i in range(REQUESTS)]
        # More than the instance has threads, so some are still queued when the stop is handled.
        wait_until(lambda: probes.listen_queue(draining)[0] == REQUESTS, 5, "requests to queue on the frozen instance")
        draining.signal(signal.SIGTERM)
        # The supervisor acts first (it refuses new connections, then tells the workers).
        os.kill(pids[0], signal.SIGCONT)
        if workers > 1:
            wait_until(lambda: "stopping: workers drain" in draining.log_text(), 10, "the supervisor to stop")
        for pid in pids[1:]:
            os.kill(pid, signal.SIGCONT)
        statuses = []
        for exchange in exchanges:
            exchange.read_head()
            statuses.append(exchange.read_rest().status)
        assert statuses == [200] * REQUESTS, statuses
    finally:
        for pid in pids:
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        for exchange in exchanges:
            exchange.close()
    assert draining.wait_exit(timeout=15) == EXIT_OK
    assert not draining.socket_path.exists()
    assert "prematurely closed" not in stack.nginx.error_log.read_text()


@pytest.mark.timeout_s(150)
@pytest.mark.parametrize(
    "workers, listen", [(1, "unix"), (2, "unix"), (1, "tcp")], ids=["single-process", "supervised", "single-process-tcp"]
)
def test_life_02_steady_load_across_a_sigterm_sees_no_error_and_streams_complete(fresh_stacks, mock, key, workers, listen):
    extra = ["--workers", str(workers)] if workers > 1 else []
    stack = fresh_stacks(CONFIG, instances=2, threads=16, extra_args=extra, listen=listen)
    draining, other = stack.gateways
    streams = [stack.exchange("GET", "/sse?n=6&interval=0.25", key, timeout=30) for _ in range(6)]
    stop = threading.Event()
    results: list[tuple[int, str]] = []
    lock = threading.Lock()

    def load(client: int) -> None:
        n = 0
        while not stop.is_set():
            n += 1
            try:
                # Errors are what counts here, not latency: a loaded machine may be slow.
                status = stack.request("GET", f"/echo?c={client}&n={n}", key, timeout=30).status
                outcome = ""
            except OSError as error:
                status, outcome = 0, repr(error)
            with lock:
                results.append((status, outcome))

    try:
        for exchange in streams:
            exchange.read_head()
        with ThreadPoolExecutor(8) as pool:
            clients = [pool.submit(load, c) for c in range(8)]
            try:
                wait_until(lambda: len(results) >= 100, 20, "the load to get going")
                draining.signal(signal.SIGTERM)
                wait_until(lambda: "stopping" in draining.log_text(), 10, "the drain to start")
                settled = len(results)
                wait_until(lambda: len(results) >= settled + 100, 20, "load after the drain started")
            finally:
                # Before the pool's exit waits for the clients, whatever happened.
                stop.set()
            for client in clients:
                client.result()
        failures = [r for r in results if r[0] != 200]
        assert not failures, f"{len(failures)} of {len(results)} requests failed: {failures[:5]}"
        for exchange in streams:
            resp = exchange.read_rest()
            assert resp.complete and resp.body.count(b"data: ") == 6, resp
    finally:
        stop.set()
        for exchange in streams:
            exchange.close()
    assert draining.wait_exit(timeout=15) == EXIT_OK
    if listen == "unix":
        assert not draining.socket_path.exists()
    errors = stack.nginx.error_log.read_text()
    assert "prematurely closed" not in errors and "reset by peer" not in errors, errors[-2000:]
