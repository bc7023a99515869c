"""Processes and their lifecycle: several instances, signals and reload, the supervisor and
its workers, overload and graceful drain, hostile socket paths, transport teardown and
FastCGI protocol robustness.

docs/BEHAVIOUR.md §7; threat catalogue section H (LIFE-*) in docs/SECURITY.md.
"""

from __future__ import annotations

import os
import random
import re
import signal
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness import probes
from harness.probes import children, sample_values, wait_for_workers
from harness.assertions import assert_error_envelope, bearer
from harness.fcgi_client import (
    ABORT_REQUEST,
    GET_VALUES,
    GET_VALUES_RESULT,
    KEEP_CONN,
    PARAMS,
    STDIN,
    UNKNOWN_TYPE,
    FastCGIClient,
    begin,
    name_value,
    params_stream,
    record,
    records_for,
    request_params,
    status_of,
    whole_request,
)
from harness.gateway import EXIT_OK, GatewayProcess, base_env, sanitized, transport
from harness.http_client import Exchange
from harness.nginx import Nginx
from harness.stack import SNIPPET
from harness.waiting import wait_until


# ==================================================================================================
# Several instances behind one upstream block, signals and reload (docs/BEHAVIOUR.md §7).
# ==================================================================================================


CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /echo
      target: {upstream}/echo/lifecycle
    - path: /slow
      target: {upstream}/slow
"""

RELOADED = CONFIG + """
    - path: /added
      target: {upstream}/echo/added
"""

BROKEN = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /echo
      target: "not a url"
"""


def served_by(stack, key, count: int) -> set[str]:
    addresses = set()
    for i in range(count):
        marker = f"spread-{time.monotonic_ns()}-{i}"
        assert stack.request("GET", f"/echo?m={marker}", key).status == 200
        addresses.add(stack.nginx.upstream_addr(stack.nginx.access_line_with(marker)))
    return addresses


@pytest.mark.timeout_s(60)
def test_two_instances_both_serve(fresh_stacks, mock, canaries):
    stack = fresh_stacks(CONFIG, instances=2)
    addresses = served_by(stack, bearer(canaries.master_key), 6)
    assert addresses == {g.nginx_server for g in stack.gateways}


@pytest.mark.timeout_s(60)
def test_requests_still_succeed_when_one_instance_is_gone(fresh_stacks, mock, canaries):
    stack = fresh_stacks(CONFIG, instances=2)
    stack.gateways[0].kill()
    key = bearer(canaries.master_key)
    for _ in range(6):
        assert stack.request("GET", "/echo", key).status == 200
    assert served_by(stack, key, 2) == {stack.gateways[1].nginx_server}


@pytest.mark.timeout_s(30)
def test_sigterm_finishes_in_flight_requests_and_exits_0(fresh_stacks, mock, canaries):
    stack = fresh_stacks(CONFIG)
    gateway = stack.gateways[0]
    with stack.exchange("GET", "/slow?delay=1.5", bearer(canaries.master_key)) as exchange:
        mock.wait_for_requests(1)
        gateway.signal(signal.SIGTERM)
        exchange.read_head()
        resp = exchange.read_rest()
    assert resp.status == 200 and resp.json() == {"slept": 1.5}
    assert gateway.wait_exit(timeout=10) == EXIT_OK


@pytest.mark.timeout_s(30)
@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_stop_signal_when_idle_exits_0_promptly(fresh_stacks, mock, sig):
    stack = fresh_stacks(CONFIG)
    gateway = stack.gateways[0]
    gateway.signal(sig)
    assert gateway.wait_exit(timeout=5) == EXIT_OK


@pytest.mark.timeout_s(30)
@pytest.mark.parametrize("listen", ["tcp", "inherited"])
def test_listening_on_tcp_and_on_an_inherited_socket(fresh_stacks, mock, canaries, listen):
    stack = fresh_stacks(CONFIG, listen=listen)
    resp = stack.request("GET", "/echo", bearer(canaries.master_key))
    assert resp.status == 200, resp
    assert mock.only_request().path == "/echo/lifecycle"


@pytest.mark.timeout_s(60)
def test_two_tcp_instances_both_serve(fresh_stacks, mock, canaries):
    stack = fresh_stacks(CONFIG, instances=2, listen="tcp")
    assert served_by(stack, bearer(canaries.master_key), 6) == {g.nginx_server for g in stack.gateways}


@pytest.mark.timeout_s(30)
def test_sighup_reloads_the_config(fresh_stacks, mock, canaries):
    stack = fresh_stacks(CONFIG)
    key = bearer(canaries.master_key)
    assert stack.request("GET", "/added", key).status == 404
    stack.config_path.write_text(fresh_stacks.render(RELOADED))
    stack.gateways[0].signal(signal.SIGHUP)
    wait_until(lambda: stack.request("GET", "/added", key).status == 200, 5, "the reloaded route to serve", interval=0.1)
    assert mock.requests_to("/echo/added")


@pytest.mark.timeout_s(30)
def test_sighup_with_a_bad_config_keeps_the_old_one(fresh_stacks, mock, canaries):
    stack = fresh_stacks(CONFIG)
    gateway = stack.gateways[0]
    key = bearer(canaries.master_key)
    before = gateway.log_path.stat().st_size
    stack.config_path.write_text(fresh_stacks.render(BROKEN))
    gateway.signal(signal.SIGHUP)
    wait_until(lambda: gateway.log_path.stat().st_size > before, 5, "the gateway to report the rejected config")
    assert gateway.alive
    for _ in range(3):
        resp = stack.request("GET", "/echo", key)
        assert resp.status == 200, resp
    report = gateway.log_path.read_bytes()[before:].decode(errors="replace")
    assert "target" in report or "pass_through_endpoints" in report, report


# ==================================================================================================
# The process model (docs/OPERATIONS.md: run it like nginx and php-fpm): a supervisor with worker
# processes sharing one socket, recycling, drain with streams in flight, reload in every
# worker, crash recovery, instance-wide metrics, and resources returning to baseline.
# ==================================================================================================


PROCESS_CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /echo
      target: {upstream}/echo/process
    - path: /sse
      target: {upstream}/sse
    - path: /slow
      target: {upstream}/slow
"""

PROCESS_RELOADED = PROCESS_CONFIG + """
    - path: /added
      target: {upstream}/echo/added
"""

PROCESS_BROKEN = PROCESS_CONFIG + """
    - path: /broken
      target: "not a url"
"""

PROMETHEUS_SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.]+(e[+-]?[0-9]+)?|[+-]Inf|NaN)$'
)


def supervised(fresh_stacks, workers: int = 2, threads: int = 4, extra: list[str] | None = None):
    """A stack of one supervised instance with every worker ready, and its supervisor."""
    stack = fresh_stacks(PROCESS_CONFIG, threads=threads, extra_args=["--workers", str(workers), *(extra or [])])
    wait_for_workers(stack.gateways[0], workers)
    return stack, stack.gateways[0]


def scrape(stack) -> str:
    resp = stack.request("GET", "/metrics")
    assert resp.status == 200, resp
    text = resp.body.decode()
    bad = [line for line in text.splitlines() if line and not line.startswith("#") and not PROMETHEUS_SAMPLE.match(line)]
    assert not bad, f"not Prometheus text format: {bad[:3]}"
    return text


def echo_count(stack) -> int:
    return int(sum(sample_values(scrape(stack), "fcgi_pass_through_requests_total", route="/echo", status="200")))


def run_requests(stack, key, count: int, concurrency: int, path: str = "/echo") -> list[int]:
    with ThreadPoolExecutor(concurrency) as pool:
        return list(pool.map(lambda i: stack.request("GET", f"{path}?i={i}", key).status, range(count)))


@pytest.mark.timeout_s(60)
@pytest.mark.xfail(
    transport() == "urlsession",
    reason="URLSession on Linux can hold a live upstream's head or body for seconds in full-suite runs on two cores "
    "(seen here: an /echo with ttfb_ms 24665 and streams with nothing after their first event, in every worker of "
    "both instances, while the curl run of the same suite passed); the curl transport runs it strictly",
    strict=False,
)
def test_sigterm_during_20_streams_completes_them_while_the_other_instance_takes_new_requests(fresh_stacks, mock, key):
    stack = fresh_stacks(PROCESS_CONFIG, instances=2, threads=8, extra_args=["--workers", "2"])
    draining, other = stack.gateways
    # Regression (a hang seen under load): with one worker still starting, streams beyond the
    # other's threads waited in the socket's queue, unanswered, and were lost in the drain.
    for gateway in stack.gateways:
        wait_for_workers(gateway, 2)
    exchanges = [stack.exchange("GET", "/sse?n=8&interval=0.25", key) for _ in range(20)]
    try:
        for exchange in exchanges:
            exchange.read_head()
        draining.signal(signal.SIGTERM)
        # Once the supervisor has shut the socket, every new request must go elsewhere.
        wait_until(lambda: "stopping: workers drain" in draining.log_text(), 10, "the supervisor to stop accepting")
        for i in range(10):
            marker = f"during-drain-{i}"
            assert stack.request("GET", f"/echo?m={marker}", key).status == 200
            line = stack.nginx.access_line_with(marker)
            # nginx may try the draining instance first: it refuses the connection, and the
            # snippet's second try (error_page 502 → @fcgi_pass_through_next, " : " in the
            # log) goes to the other instance, since nothing was sent.
            assert re.split(r", | : ", stack.nginx.upstream_addr(line))[-1] == other.nginx_server, line
        for exchange in exchanges:
            resp = exchange.read_rest()
            assert resp.complete, f"a stream was cut by the drain: {resp!r}"
            assert resp.body.count(b"data: ") == 8
    finally:
        for exchange in exchanges:
            exchange.close()
    assert draining.wait_exit(timeout=15) == EXIT_OK


@pytest.mark.timeout_s(60)
def test_sighup_with_a_valid_config_reaches_every_worker_and_spares_requests_in_flight(fresh_stacks, mock, key):
    stack = fresh_stacks(PROCESS_CONFIG, threads=4, extra_args=["--workers", "3"])
    supervisor = stack.gateways[0]
    assert stack.request("GET", "/added", key).status == 404
    with stack.exchange("GET", "/slow?delay=1.5", key) as exchange:
        mock.wait_for_requests(1)
        stack.config_path.write_text(fresh_stacks.render(PROCESS_RELOADED))
        supervisor.signal(signal.SIGHUP)
        wait_until(lambda: supervisor.log_text().count("configuration reloaded") >= 3, 10, "all three workers to reload")
        exchange.read_head()
        resp = exchange.read_rest()
    assert resp.status == 200 and resp.json() == {"slept": 1.5}
    # Every worker serves the new route: enough requests to reach all three.
    statuses = run_requests(stack, key, 30, 6, path="/added")
    assert statuses == [200] * 30


@pytest.mark.timeout_s(60)
def test_sighup_with_a_broken_config_keeps_the_old_one_and_logs_why(fresh_stacks, mock, key):
    stack, supervisor = supervised(fresh_stacks)
    stack.config_path.write_text(fresh_stacks.render(PROCESS_BROKEN))
    supervisor.signal(signal.SIGHUP)
    # The supervisor checks the file before any worker sees it: rejected once, by it.
    wait_until(lambda: "[supervisor] reload rejected" in supervisor.log_text(), 10, "the supervisor to reject the config")
    assert "pass_through_endpoints[3].target" in supervisor.log_text()
    assert run_requests(stack, key, 20, 4) == [200] * 20
    assert supervisor.alive
    assert "configuration reloaded" not in supervisor.log_text()
    assert "[worker-0] reload rejected" not in supervisor.log_text()


def kill_a_worker_and_wait_for_its_replacement(supervisor) -> None:
    wait_until(lambda: len(children(supervisor.proc.pid)) == 2, 10, "two workers")
    before = children(supervisor.proc.pid)
    ready = supervisor.log_text().count("ready socket=fd:")
    os.kill(before[0], signal.SIGKILL)
    wait_until(lambda: supervisor.log_text().count("ready socket=fd:") > ready, 20, "the replacement to be ready")
    assert len(children(supervisor.proc.pid)) == 2 and children(supervisor.proc.pid) != before


@pytest.mark.timeout_s(60)
@pytest.mark.parametrize("reload", [False, True], ids=["file-broken", "file-broken-and-reload-rejected"])
def test_a_worker_restarted_while_the_file_is_broken_serves_the_last_good_config(fresh_stacks, mock, key, reload):
    stack, supervisor = supervised(fresh_stacks)
    stack.config_path.write_text("general_settings: [this is: not, valid\n")
    if reload:
        supervisor.signal(signal.SIGHUP)
        wait_until(lambda: "reload rejected" in supervisor.log_text(), 10, "the reload to be rejected")
    kill_a_worker_and_wait_for_its_replacement(supervisor)
    assert "worker died" in supervisor.log_text() and "exit 78" not in supervisor.log_text()
    # Enough requests to reach both workers, the replacement included.
    assert run_requests(stack, key, 30, 6) == [200] * 30


@pytest.mark.timeout_s(60)
def test_a_worker_restarted_after_a_reload_serves_the_reloaded_config(fresh_stacks, mock, key):
    stack, supervisor = supervised(fresh_stacks)
    stack.config_path.write_text(fresh_stacks.render(PROCESS_RELOADED))
    supervisor.signal(signal.SIGHUP)
    wait_until(lambda: supervisor.log_text().count("configuration reloaded") >= 2, 10, "both workers to reload")
    # The file changes again without a reload: a restarted worker must not pick that up.
    stack.config_path.write_text(fresh_stacks.render(PROCESS_CONFIG))
    kill_a_worker_and_wait_for_its_replacement(supervisor)
    assert run_requests(stack, key, 30, 6, path="/added") == [200] * 30


@pytest.mark.timeout_s(120)
def test_workers_recycled_while_the_file_is_broken_keep_serving(fresh_stacks, mock, key):
    stack, supervisor = supervised(fresh_stacks, threads=8, extra=["--max-requests", "20"])
    stack.config_path.write_text(fresh_stacks.render(PROCESS_BROKEN))
    statuses = run_requests(stack, key, 120, 4)
    assert statuses == [200] * 120, {s: statuses.count(s) for s in set(statuses)}
    assert supervisor.log_text().count("worker retired") >= 4
    assert "worker died" not in supervisor.log_text()


@pytest.mark.timeout_s(120)
def test_max_requests_50_under_500_requests_recycles_with_zero_failures(fresh_stacks, mock, key):
    # Headroom over the 16 clients: at exactly full capacity a client's next request can
    # arrive before the thread that answered its last one is free again, and beyond its
    # threads the gateway answers 503 (LIFE-01).
    stack = fresh_stacks(PROCESS_CONFIG, threads=12, extra_args=["--workers", "2", "--max-requests", "50"])
    wait_for_workers(stack.gateways[0], 2)
    statuses = run_requests(stack, key, 500, 16)
    assert statuses.count(200) == 500, {s: statuses.count(s) for s in set(statuses)}
    supervisor = stack.gateways[0]
    # Each worker retires after accepting 50 connections. Scrapes below are connections
    # too, so read the count of retirements from the supervisor's log before scraping.
    wait_until(lambda: supervisor.log_text().count("worker retired") >= 9, 10, "the retirements to be reaped")
    retired = supervisor.log_text().count("worker retired")
    assert 9 <= retired <= 10, retired
    time.sleep(0.6)  # workers publish their counters every 250 ms
    assert echo_count(stack) == 500
    assert "worker died" not in supervisor.log_text()


@pytest.mark.timeout_s(60)
def test_a_worker_killed_with_sigkill_is_restarted(fresh_stacks, mock, key):
    stack = fresh_stacks(PROCESS_CONFIG, threads=8, extra_args=["--workers", "2"])
    supervisor = stack.gateways[0]
    wait_until(lambda: len(children(supervisor.proc.pid)) == 2, 10, "two workers")
    before = children(supervisor.proc.pid)
    os.kill(before[0], signal.SIGKILL)
    wait_until(
        lambda: len(children(supervisor.proc.pid)) == 2 and children(supervisor.proc.pid) != before, 10, "a replacement worker")
    assert "worker died, restarting" in supervisor.log_text()
    assert run_requests(stack, key, 40, 8) == [200] * 40
    wait_until(lambda: "fcgi_pass_through_worker_restarts_total 1" in scrape(stack), 5, "the restart to be counted")


@pytest.mark.timeout_s(60)
def test_metrics_count_every_request_whichever_worker_answers_the_scrape(fresh_stacks, mock, key):
    stack = fresh_stacks(PROCESS_CONFIG, threads=6, extra_args=["--workers", "3"])
    wait_for_workers(stack.gateways[0], 3)
    assert run_requests(stack, key, 90, 9) == [200] * 90
    time.sleep(0.6)  # workers publish their counters every 250 ms
    counts = [echo_count(stack) for _ in range(9)]
    assert counts == [90] * 9
    text = scrape(stack)
    assert sample_values(text, "fcgi_pass_through_workers_alive") == [3]
    assert sample_values(text, "fcgi_pass_through_request_duration_seconds_count", route="/echo") == [90]
    assert sample_values(text, "fcgi_pass_through_upstream_first_byte_seconds_count", route="/echo") == [90]


def resources(pid: int) -> tuple[int, int]:
    return probes.fd_count(pid), probes.threads(pid)


@pytest.mark.timeout_s(90)
def test_fds_and_threads_return_to_baseline_after_load(fresh_stacks, mock, key):
    stack = fresh_stacks(PROCESS_CONFIG, threads=24)
    pid = stack.gateways[0].proc.pid

    def load() -> None:
        assert run_requests(stack, key, 200, 16) == [200] * 200
        streams = [stack.exchange("GET", "/sse?n=3&interval=0.05", key) for _ in range(8)]
        for exchange in streams:
            with exchange:
                exchange.read_head()
                assert exchange.read_rest().complete

    load()  # warm-up: thread pool, upstream connection pool
    # Every thread busy at once, so each holds what it keeps between requests (the curl
    # transport's per-thread handles and warm upstream connection): that is state, not a
    # leak, and bounded by the thread count.
    with ThreadPoolExecutor(24) as pool:
        assert set(pool.map(lambda _: stack.request("GET", "/slow?delay=0.3", key).status, range(24))) == {200}
    time.sleep(0.5)
    baseline = resources(pid)
    for _ in range(3):
        load()
    time.sleep(0.5)
    fds, threads = resources(pid)
    # The pool has one thread more than can serve at once (the one watching the socket), so
    # one thread may serve for the first time after the baseline: its transport state (the
    # curl multi handle's wake-up pair and a warm upstream connection) is 3 fds. A leak per
    # request would grow by hundreds over these 624 requests.
    assert fds <= baseline[0] + 2 + 3, f"fds grew from {baseline[0]} to {fds}"
    assert threads <= baseline[1] + 2, f"threads grew from {baseline[1]} to {threads}"


# ==================================================================================================
# Catalogue section H: overload (LIFE-01) and graceful drain (LIFE-02).
#
# LIFE-01: a request no worker thread can take gets a quick 503 with Retry-After from the
# gateway instead of waiting in the socket's queue until nginx gives up, and a worker
# process that is full leaves connections to a sibling that has a free thread.
#
# LIFE-02: an instance that stops takes what is already queued on its socket before
# letting the socket go, so nginx never sees a reset for a request it had handed over
# (a 502 that the snippet cannot retry). New connections are refused from the start of
# the drain (the socket file is removed), and the snippet retries those elsewhere.
# ==================================================================================================


OVERLOAD_CONFIG = """
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
    return [pid, *children(pid)]


def metric(stack, name: str, **labels: str) -> float:
    """The sum of a metric's samples with these labels (no format check: see scrape)."""
    return sum(sample_values(stack.request("GET", "/metrics").body.decode(), name, **labels))


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
    stack = fresh_stacks(OVERLOAD_CONFIG, threads=4)
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
    stack = fresh_stacks(OVERLOAD_CONFIG, threads=2)
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
    stack = fresh_stacks(OVERLOAD_CONFIG, threads=2, extra_args=["--workers", "2"])
    supervisor = stack.gateways[0]
    wait_for_workers(supervisor, 2)
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
    stack = fresh_stacks(OVERLOAD_CONFIG)
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
    stack = fresh_stacks(OVERLOAD_CONFIG, start=False)
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
    stack = fresh_stacks(OVERLOAD_CONFIG, threads=2, extra_args=extra)
    draining = stack.gateways[0]
    if workers > 1:
        wait_until(lambda: draining.log_text().count("ready socket=fd:") == workers, 20, "the workers to be ready")
    pids = instance_pids(draining)
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    frozen = set(pids)

    def thaw(pid: int) -> None:
        os.kill(pid, signal.SIGCONT)
        frozen.discard(pid)

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
        thaw(pids[0])
        if workers > 1:
            wait_until(lambda: "stopping: workers drain" in draining.log_text(), 10, "the supervisor to stop")
        for pid in pids[1:]:
            thaw(pid)
        statuses = []
        for exchange in exchanges:
            exchange.read_head()
            statuses.append(exchange.read_rest().status)
        assert statuses == [200] * REQUESTS, statuses
    finally:
        # Only what is still frozen (after a failure above): a SIGCONT that reaches a worker
        # exiting under LeakSanitizer discards the SIGSTOP its ptrace attach sends, and the
        # leak check then waits for that stop for ever.
        for pid in list(frozen):
            try:
                thaw(pid)
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
@pytest.mark.xfail(
    transport() == "urlsession",
    reason="URLSession on Linux can hold requests to a live upstream for seconds (time to the upstream's head of "
    "2-20 s seen in full-suite runs on two cores, before and after this test's drain), so the steady load this "
    "test needs does not always get going; the curl transport runs it strictly",
    strict=False,
)
def test_life_02_steady_load_across_a_sigterm_sees_no_error_and_streams_complete(fresh_stacks, mock, key, workers, listen):
    extra = ["--workers", str(workers)] if workers > 1 else []
    stack = fresh_stacks(OVERLOAD_CONFIG, instances=2, threads=16, extra_args=extra, listen=listen)
    draining, other = stack.gateways
    streams = [stack.exchange("GET", "/sse?n=6&interval=0.25", key, timeout=30) for _ in range(6)]
    stop = threading.Event()
    # (when it finished, status, error): the load's timeline, to tell a stall from slowness.
    results: list[tuple[float, int, str]] = []
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
                results.append((time.monotonic(), status, outcome))

    def stall_report(since: float) -> str:
        """Completions per second since `since`, both instances' log tails and queues."""
        with lock:
            times = [t for t, _, _ in results if t >= since]
        per_second = [0] * (int(time.monotonic() - since) + 1)
        for t in times:
            per_second[int(t - since)] += 1
        return (
            f"completions per second after SIGTERM: {per_second}\n"
            f"listen queue of the other instance: {probes.listen_queue(other)}\n"
            f"other instance's log tail:\n{other.log_text()[-3000:]}\n"
            f"draining instance's log tail:\n{draining.log_text()[-1500:]}"
        )

    try:
        for exchange in streams:
            exchange.read_head()
        with ThreadPoolExecutor(8) as pool:
            clients = [pool.submit(load, c) for c in range(8)]
            try:
                wait_until(lambda: len(results) >= 100, 20, "the load to get going")
                signalled = time.monotonic()
                draining.signal(signal.SIGTERM)
                wait_until(lambda: "stopping" in draining.log_text(), 10, "the drain to start")
                settled = len(results)
                try:
                    wait_until(lambda: len(results) >= settled + 100, 20, "load after the drain started")
                except AssertionError as stalled:
                    raise AssertionError(f"{stalled}\n{stall_report(signalled)}") from None
                # The other instance never stalls: no second after the signal without a
                # completion (a slow build is slow, not stopped).
                with lock:
                    after = [t for t, _, _ in results if t >= signalled]
                gaps = [b - a for a, b in zip([signalled] + after, after)]
                bound = 6.0 if sanitized() else 3.0
                assert max(gaps) < bound, f"the load stalled for {max(gaps):.1f} s\n{stall_report(signalled)}"
            finally:
                # Before the pool's exit waits for the clients, whatever happened.
                stop.set()
            for client in clients:
                client.result()
        failures = [r[1:] for r in results if r[1] != 200]
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


# ==================================================================================================
# Catalogue section H: process robustness (LIFE-03 .. LIFE-05).
#
# LIFE-01 (overload cap) and LIFE-02 (graceful drain) are in the section above.
# ==================================================================================================


ROBUSTNESS_CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /mock
      target: {upstream}
      include_subpath: true
      methods: [GET, POST]
    - path: /refused
      target: {closed}/x
    - path: /tls
      target: "{tls}/x"
    - path: /timeout
      target: {upstream}/hang
      timeout: 0.3
"""


@pytest.fixture(scope="module")
def robustness_stack(stacks, mock):
    # The LIFE-04 storm runs 32 requests at once, and the ones it abandons keep their thread
    # until the gateway notices: room for both, since beyond its threads the gateway answers
    # 503 (LIFE-01) and the request would not reach the transport.
    return stacks(ROBUSTNESS_CONFIG.replace("{tls}", mock.url.replace("http://", "https://")), threads=64)


@pytest.fixture
def gateway(robustness_stack):
    return robustness_stack.gateways[0]


def serves(stack, key) -> bool:
    return stack.request("GET", "/mock/echo/alive", key).status == 200


def in_flight(stack) -> int:
    text = stack.request("GET", "/metrics").body.decode()
    return int(re.search(r"^fcgi_pass_through_requests_in_flight (\d+)$", text, re.MULTILINE).group(1))


# --- LIFE-03: a hostile socket path -----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["symlink-to-file", "symlink-to-dir", "regular-file", "dangling-symlink"])
def test_life_03_an_existing_non_socket_path_is_refused_and_left_alone(gateway_binary, workdir, kind):
    victim = workdir / "victim"
    path = workdir / "gw.sock"
    if kind == "symlink-to-file":
        victim.write_text("precious")
        path.symlink_to(victim)
    elif kind == "symlink-to-dir":
        victim.mkdir()
        path.symlink_to(victim)
    elif kind == "regular-file":
        path.write_text("precious")
    else:
        path.symlink_to(workdir / "nowhere")
    config = workdir / "config.yaml"
    config.write_text("general_settings:\n  pass_through_endpoints: []\n")
    gateway = GatewayProcess(gateway_binary, workdir, "gw", config, base_env(workdir))
    gateway.start()
    assert gateway.wait_exit(15) != 0
    assert "gw.sock" in gateway.log_text()
    assert path.is_symlink() or path.read_text() == "precious"
    if kind == "symlink-to-file":
        assert victim.read_text() == "precious"


# --- LIFE-04: transport teardown races ------------------------------------------------------------


@pytest.mark.timeout_s(60)
def test_life_04_a_storm_of_failing_and_abandoned_requests_leaves_nothing_behind(robustness_stack, mock, key, gateway):
    """64 requests at 32 at a time: connection refused, TLS failure, upstream timeout,
    resets, and clients that leave after a millisecond. The transport must not crash,
    deadlock or keep anything."""
    pid = gateway.proc.pid
    # The same concurrency, all succeeding first: the transport's pool of kept-alive
    # connections to the mock is part of the baseline, not a leak. Slow answers keep every
    # thread busy at once, so each holds what it keeps between requests (the curl
    # transport's per-thread handles): state bounded by the thread count.
    with ThreadPoolExecutor(max_workers=64) as pool:
        warm = pool.map(lambda _: robustness_stack.request("GET", "/mock/slow?delay=0.3", key).status, range(64))
        assert set(warm) == {200}
    base_fds, base_threads = probes.fd_count(pid), probes.threads(pid)
    targets = ["/refused", "/tls", "/timeout", "/mock/reset-mid-body", "/mock/close-before-head?rst=1", "/mock/sse?n=20"]
    rng = random.Random(4)

    def one(i: int):
        target = targets[i % len(targets)]
        if i % 3 == 0:
            exchange = Exchange(robustness_stack.port, "GET", target, key, timeout=5)
            time.sleep(rng.random() * 0.01)
            exchange.close(reset=i % 2 == 0)
            return None
        return robustness_stack.request("GET", target, key, timeout=10).status

    with ThreadPoolExecutor(max_workers=32) as pool:
        statuses = [s for s in pool.map(one, range(64)) if s is not None]
    # 503: a few may still find every thread busy on a loaded machine (LIFE-01).
    assert set(statuses) <= {200, 502, 503, 504}, set(statuses)
    assert gateway.alive
    assert serves(robustness_stack, key)
    probes.settle(lambda: in_flight(robustness_stack) - 1, 0, 10, "the in-flight gauge to drain")
    probes.settle(lambda: probes.fd_count(pid), base_fds + 4, 10, "descriptors back to baseline")
    # libdispatch parks idle worker threads for a while: a small allowance, not a leak per request.
    probes.settle(lambda: probes.threads(pid), base_threads + 8, 10, "threads back to baseline")


# --- LIFE-05: FastCGI protocol robustness ---------------------------------------------------------


def ask(gateway, data: bytes, request_id: int = 1, close_after: bool = False):
    with FastCGIClient(gateway.socket_path) as client:
        client.send(data)
        if close_after:
            return None
        return client.response(request_id)


def test_life_05_params_split_byte_by_byte_and_padded_records(robustness_stack, gateway, key):
    params = params_stream(request_params("GET", "/health/liveness"))
    data = begin() + b"".join(record(PARAMS, 1, params[i : i + 1], padding=i % 8) for i in range(len(params)))
    data += record(PARAMS, 1) + record(STDIN, 1, padding=7)
    stdout, ended = ask(gateway, data)
    assert ended and status_of(stdout) == 200 and stdout.endswith(b'"I\'m alive!"')


def test_life_05_a_one_mib_param_is_handled_with_bounded_memory(robustness_stack, gateway, key):
    pid = gateway.proc.pid
    before = probes.rss_kib(pid)
    params = params_stream(request_params("GET", "/health/liveness", {"X-Huge": "h" * (1 << 20)}))
    stdout, ended = ask(gateway, begin() + records_for(params, PARAMS) + record(STDIN, 1))
    assert ended and status_of(stdout) in (200, 400, 413, 431, 500)
    assert probes.rss_kib(pid) - before < 32 * 1024
    assert serves(robustness_stack, key)


@pytest.mark.parametrize(
    "data",
    [
        record(PARAMS, 1, name_value(b"REQUEST_URI", b"/")) + record(PARAMS, 1),
        record(STDIN, 1, b"stdin before begin"),
        record(99, 1, b"unknown type for a request"),
        begin() + record(PARAMS, 1, b"\xff\xff\xff\xff\x01garbage"),
        begin() + record(PARAMS, 1, name_value(b"REQUEST_URI", b"/"))[:11],
        record(PARAMS, 1, b"x", version=0),
        b"\x01",
    ],
    ids=["params-before-begin", "stdin-before-begin", "unknown-type", "bad-name-value-length", "closed-mid-record",
         "bad-version", "one-byte"],
)
def test_life_05_malformed_record_sequences_never_crash_the_gateway(robustness_stack, gateway, key, data):
    ask(gateway, data, close_after=True)
    time.sleep(0.1)
    assert gateway.alive
    assert serves(robustness_stack, key)


@pytest.mark.parametrize(
    "management, reply",
    [(record(GET_VALUES, 0, name_value(b"FCGI_MPXS_CONNS", b"")), GET_VALUES_RESULT), (record(99, 0, b"x" * 8), UNKNOWN_TYPE)],
    ids=["get-values", "unknown-type"],
)
def test_life_05_management_records_are_answered_and_do_not_derail_the_request(gateway, management, reply):
    """libfcgi answers management records (request id 0) as it reads the next request."""
    with FastCGIClient(gateway.socket_path) as client:
        client.send(management + whole_request("GET", "/health/liveness"))
        records = []
        while (rec := client.read_record()) is not None:
            records.append(rec)
            if rec[0] == 3:  # FCGI_END_REQUEST
                break
    assert (reply, 0) in [(rtype, rid) for rtype, rid, _ in records]
    stdout = b"".join(content for rtype, rid, content in records if rtype == 6 and rid == 1)
    # After an unknown type libfcgi may drop the connection; the request is then not served.
    assert status_of(stdout) == 200 or (reply == UNKNOWN_TYPE and stdout == b"")


def test_life_05_stdin_without_its_end_holds_a_thread_only_while_connected(robustness_stack, mock, gateway, key, canaries):
    pid = gateway.proc.pid
    base_threads = probes.threads(pid)
    clients = []
    for _ in range(3):
        client = FastCGIClient(gateway.socket_path)
        params = params_stream(request_params("POST", "/mock/echo/x", {"Authorization": f"Bearer {canaries.master_key}"}, b"{}"))
        client.send(begin() + records_for(params, PARAMS) + record(STDIN, 1, b"{"))
        clients.append(client)
    assert serves(robustness_stack, key)
    for client in clients:
        client.close()
    # The cut bodies were never forwarded (regression: a connection lost mid-body used
    # to send the partial body upstream as if it were whole).
    time.sleep(0.3)
    assert not [r for r in mock.requests if r.path == "/echo/x"]
    probes.settle(lambda: probes.threads(pid), base_threads + 8, 10, "threads back to baseline")
    assert serves(robustness_stack, key)


def test_life_05_abort_request_or_a_closed_connection_cancels_the_upstream(robustness_stack, mock, gateway, canaries):
    headers = {"Authorization": f"Bearer {canaries.master_key}"}
    for how in ("abort", "close"):
        mock.reset()
        client = FastCGIClient(gateway.socket_path)
        client.send(whole_request("GET", "/mock/hang", headers))
        rec = mock.wait_for_requests(1)[0]
        if how == "abort":
            client.send(record(ABORT_REQUEST, 1))
        else:
            client.close()
        assert rec.closed.wait(2), f"the upstream stayed open after FCGI_{how.upper()}"
        client.close()


def test_life_05_multiplexed_request_ids_are_refused_not_mixed(robustness_stack, mock, gateway, canaries):
    headers = {"Authorization": f"Bearer {canaries.master_key}"}
    with FastCGIClient(gateway.socket_path) as client:
        # The second request's records arrive while the first waits for a slow upstream:
        # bytes on the connection that are not its end nor FCGI_ABORT_REQUEST are no
        # departure, so the first request is answered in full.
        client.send(whole_request("GET", "/mock/slow?delay=0.5", headers, flags=KEEP_CONN))
        mock.wait_for_requests(1)
        client.send(begin(2) + records_for(params_stream(request_params("GET", "/mock/echo/two", headers)), PARAMS, 2)
                    + record(STDIN, 2))
        stdout, ended = client.response(1)
        assert ended and status_of(stdout) == 200 and b'"slept": 0.5' in stdout, stdout
    assert [r.path for r in mock.requests][:1] == ["/slow"]


@pytest.mark.parametrize("keep", [True, False], ids=["keep-conn", "no-keep-conn"])
def test_life_05_keep_conn_on_and_off_both_work(robustness_stack, mock, gateway, canaries, keep):
    headers = {"Authorization": f"Bearer {canaries.master_key}"}
    with FastCGIClient(gateway.socket_path) as client:
        client.send(whole_request("GET", "/mock/echo/first", headers, flags=KEEP_CONN if keep else 0))
        stdout, ended = client.response(1)
        assert ended and status_of(stdout) == 200
        if keep:
            client.send(whole_request("GET", "/mock/echo/second", headers, flags=KEEP_CONN))
            stdout, ended = client.response(1)
            assert ended and status_of(stdout) == 200 and b"/echo/second" in stdout
        else:
            assert client.read_record() is None, "the connection stayed open without FCGI_KEEP_CONN"
