"""Several instances behind one upstream block, signals and reload (SPEC §7)."""

from __future__ import annotations

import signal
import time

import pytest

from harness.assertions import bearer
from harness.gateway import EXIT_OK
from harness.waiting import wait_until

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
