"""The process model (issue: run it like nginx and php-fpm): a supervisor with worker
processes sharing one socket, recycling, drain with streams in flight, reload in every
worker, crash recovery, instance-wide metrics, and resources returning to baseline."""

from __future__ import annotations

import os
import re
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.gateway import EXIT_OK
from harness.waiting import wait_until

CONFIG = """
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

RELOADED = CONFIG + """
    - path: /added
      target: {upstream}/echo/added
"""

BROKEN = CONFIG + """
    - path: /broken
      target: "not a url"
"""

PROMETHEUS_SAMPLE = re.compile(
    r'^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="(\\.|[^"\\])*",?)*\})? (-?[0-9.]+(e[+-]?[0-9]+)?|[+-]Inf|NaN)$'
)


def children(pid: int) -> list[int]:
    """Direct child processes of `pid` (the supervisor's workers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        text = (task / "children").read_text().split()
        found += [int(p) for p in text]
    return sorted(found)


def sample_values(text: str, name: str, **labels: str) -> list[float]:
    values = []
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            values.append(float(line.rsplit(" ", 1)[1]))
    return values


def wait_for_workers(gateway, count: int) -> None:
    """The stack is ready once one worker answers; on a loaded machine another may take
    seconds more. A test that needs every worker's threads waits for all of them."""
    wait_until(lambda: gateway.log_text().count("ready socket=fd:") >= count, 20, f"{count} workers to be ready")


def supervised(fresh_stacks, workers: int = 2, threads: int = 4, extra: list[str] | None = None):
    """A stack of one supervised instance with every worker ready, and its supervisor."""
    stack = fresh_stacks(CONFIG, threads=threads, extra_args=["--workers", str(workers), *(extra or [])])
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
def test_sigterm_during_20_streams_completes_them_while_the_other_instance_takes_new_requests(fresh_stacks, mock, key):
    stack = fresh_stacks(CONFIG, instances=2, threads=8, extra_args=["--workers", "2"])
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
    stack = fresh_stacks(CONFIG, threads=4, extra_args=["--workers", "3"])
    supervisor = stack.gateways[0]
    assert stack.request("GET", "/added", key).status == 404
    with stack.exchange("GET", "/slow?delay=1.5", key) as exchange:
        mock.wait_for_requests(1)
        stack.config_path.write_text(fresh_stacks.render(RELOADED))
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
    stack.config_path.write_text(fresh_stacks.render(BROKEN))
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
    stack.config_path.write_text(fresh_stacks.render(RELOADED))
    supervisor.signal(signal.SIGHUP)
    wait_until(lambda: supervisor.log_text().count("configuration reloaded") >= 2, 10, "both workers to reload")
    # The file changes again without a reload: a restarted worker must not pick that up.
    stack.config_path.write_text(fresh_stacks.render(CONFIG))
    kill_a_worker_and_wait_for_its_replacement(supervisor)
    assert run_requests(stack, key, 30, 6, path="/added") == [200] * 30


@pytest.mark.timeout_s(120)
def test_workers_recycled_while_the_file_is_broken_keep_serving(fresh_stacks, mock, key):
    stack, supervisor = supervised(fresh_stacks, threads=8, extra=["--max-requests", "20"])
    stack.config_path.write_text(fresh_stacks.render(BROKEN))
    statuses = run_requests(stack, key, 120, 4)
    assert statuses == [200] * 120, {s: statuses.count(s) for s in set(statuses)}
    assert supervisor.log_text().count("worker retired") >= 4
    assert "worker died" not in supervisor.log_text()


@pytest.mark.timeout_s(120)
def test_max_requests_50_under_500_requests_recycles_with_zero_failures(fresh_stacks, mock, key):
    # Headroom over the 16 clients: at exactly full capacity a client's next request can
    # arrive before the thread that answered its last one is free again, and beyond its
    # threads the gateway answers 503 (LIFE-01).
    stack = fresh_stacks(CONFIG, threads=12, extra_args=["--workers", "2", "--max-requests", "50"])
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
    stack = fresh_stacks(CONFIG, threads=8, extra_args=["--workers", "2"])
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
    stack = fresh_stacks(CONFIG, threads=6, extra_args=["--workers", "3"])
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
    return len(os.listdir(f"/proc/{pid}/fd")), len(os.listdir(f"/proc/{pid}/task"))


@pytest.mark.timeout_s(90)
def test_fds_and_threads_return_to_baseline_after_load(fresh_stacks, mock, key):
    stack = fresh_stacks(CONFIG, threads=24)
    pid = stack.gateways[0].proc.pid

    def load() -> None:
        assert run_requests(stack, key, 200, 16) == [200] * 200
        streams = [stack.exchange("GET", "/sse?n=3&interval=0.05", key) for _ in range(8)]
        for exchange in streams:
            with exchange:
                exchange.read_head()
                assert exchange.read_rest().complete

    load()  # warm-up: thread pool, upstream connection pool
    time.sleep(0.5)
    baseline = resources(pid)
    for _ in range(3):
        load()
    time.sleep(0.5)
    fds, threads = resources(pid)
    assert fds <= baseline[0] + 2, f"fds grew from {baseline[0]} to {fds}"
    assert threads <= baseline[1] + 2, f"threads grew from {baseline[1]} to {threads}"
