"""Catalogue UP-03 across gateway instances: nginx must never send a request to a
second instance once the first one may have passed it upstream, yet must still move on
when an instance refuses the connection (stopped, draining).
"""

from __future__ import annotations

import re
import signal
import time

import pytest

from harness import probes
from harness.gateway import REPO_ROOT

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /mock
      target: {upstream}
      include_subpath: true
      methods: [GET, HEAD, POST, PUT, DELETE, PATCH, OPTIONS]
"""


@pytest.mark.timeout_s(40)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS", "POST"])
def test_up_03_nginx_never_replays_a_request_an_instance_may_have_forwarded(fresh_stacks, mock, key, method):
    """Regression (snippet retried idempotent requests): with `fastcgi_next_upstream error`
    nginx sent a GET, PUT, DELETE or OPTIONS to the next instance when the first died
    before answering, although the first had already forwarded it."""
    stack = fresh_stacks(CONFIG, instances=2)
    pids = [g.proc.pid for g in stack.gateways]
    exchange = stack.exchange(method, "/mock/hang", key, b"{}" if method in ("POST", "PUT") else None, timeout=5)
    rec = mock.wait_for_requests(1)[0]
    owner = probes.owner_of_tcp_port(pids, rec.peer_port)
    assert owner is not None, "no instance holds the upstream connection"
    next(g for g in stack.gateways if g.proc.pid == owner).proc.send_signal(signal.SIGKILL)
    exchange.read_head()
    assert exchange.status == 502
    exchange.close()
    time.sleep(0.5)  # a replay would reach the mock at once
    assert len(mock.requests_to("/hang")) == 1, "nginx sent the request to a second instance"


@pytest.mark.timeout_s(40)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_up_03_a_refused_connection_still_moves_on_to_the_next_instance(fresh_stacks, mock, key, method):
    stack = fresh_stacks(CONFIG, instances=2)
    stack.gateways[0].kill()
    for _ in range(4):
        resp = stack.request(method, "/mock/echo/failover", key, b"{}" if method == "POST" else None)
        assert resp.status == 200, resp
    assert len(mock.requests) == 4
    if method == "POST":
        assert [r.body for r in mock.requests] == [b"{}"] * 4, "the retry lost the request body"
    # The retry stays invisible to the client: the answer is the second instance's.
    assert "connect() to unix:" in stack.nginx.error_log.read_text()


def test_up_03_the_snippet_retries_only_in_its_named_location_with_the_same_params():
    snippet = (REPO_ROOT / "nginx" / "fcgi-pass-through.conf").read_text()
    code = "\n".join(line.split("#")[0].rstrip() for line in snippet.splitlines() if line.split("#")[0].strip())
    assert re.search(r"^\s*fastcgi_next_upstream off;", code, re.MULTILINE)
    blocks = re.findall(r"location (/|@fcgi_pass_through_next) \{(.*?)\n\}", code, re.DOTALL)
    assert [name for name, _ in blocks] == ["/", "@fcgi_pass_through_next"]
    params = [sorted(re.findall(r"fastcgi_param .*;", body)) for _, body in blocks]
    assert params[0] and params[0] == params[1], "the two locations must pass the gateway the same params"
