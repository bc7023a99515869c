"""Keys' limits across hosts, counted in Redis (docs/SHARED_STATE.md, "Limits in Redis"
and "When a store is down").

Two gateway "hosts" (harness/fleet.py: each its own config, host-wide limits table and
usage database) behind one nginx, and a private redis-server (harness/redis_server.py)
that the tests stop and start again to stand in for an outage. Each host is one instance,
so nginx's round robin alternates between the hosts request by request.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import signal
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.assertions import bearer
from harness.fcgi_client import FastCGIClient, whole_request
from harness.fleet import Fleet
from harness.gateway import base_env
from harness.probes import sample_values
from harness.redis_server import RedisServer, available
from harness.usage_shapes import OPENAI_CHAT
from harness.waiting import wait_until

if os.environ.get("GATEWAY_TRANSPORT") == "urlsession":
    pytest.skip(
        "shared limits do not depend on the upstream transport: run once, under GATEWAY_TRANSPORT=curl",
        allow_module_level=True,
    )
if (reason := available()) is not None:
    pytest.skip(reason, allow_module_level=True)

TOKENS = OPENAI_CHAT.counts.input + OPENAI_CHAT.counts.output  # one answer's tokens
TPM = TOKENS + 10  # one answer leaves 10 tokens: the 2nd request is admitted, the 3rd is not
LEASE_TTL = 15  # RedisLimiter.leaseTTL: a dead host's parallel slots expire within it

ALIASES = ("s-rpm", "s-par", "s-tpm", "s-free", "s-load", "s-fallback", "s-back", "s-closed", "s-kill")
KEYS = {alias: "sk-" + secrets.token_hex(24) for alias in ALIASES}

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  limits_file: {limits}
  usage_db: {db}
  redis_url: os.environ/ITEST_REDIS_URL
  shared_state_failure: {failure}
  keys:
    - key_alias: s-rpm
      key_hash: {hash:s-rpm}
      rpm_limit: 6
    - key_alias: s-par
      key_hash: {hash:s-par}
      max_parallel_requests: 2
    - key_alias: s-tpm
      key_hash: {hash:s-tpm}
      tpm_limit: {tpm}
    - key_alias: s-free
      key_hash: {hash:s-free}
    - key_alias: s-load
      key_hash: {hash:s-load}
      rpm_limit: 100000
      max_parallel_requests: 64
    - key_alias: s-fallback
      key_hash: {hash:s-fallback}
      rpm_limit: 2
    - key_alias: s-back
      key_hash: {hash:s-back}
      rpm_limit: 3
    - key_alias: s-closed
      key_hash: {hash:s-closed}
      rpm_limit: 1000
    - key_alias: s-kill
      key_hash: {hash:s-kill}
      max_parallel_requests: 2
  pass_through_endpoints:
    - path: /echo
      target: {upstream}/echo/shared
    - path: /slow
      target: {upstream}/slow
    - path: /openai
      usage: openai
      include_subpath: true
      target: {upstream}/replay/openai-chat
"""


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def as_key(alias: str) -> list[tuple[str, str]]:
    return bearer(KEYS[alias])


def render(mock, failure: str) -> str:
    text = CONFIG.replace("{upstream}", mock.url).replace("{failure}", failure).replace("{tpm}", str(TPM))
    for alias, key in KEYS.items():
        text = text.replace(f"{{hash:{alias}}}", digest(key))
    return text


class Setup:
    """A Redis and a two-host fleet in a private directory, torn down together."""

    def __init__(self, binary: Path, mock, canaries, failure: str = "open") -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="fcgi-itest-shared-"))
        self.dir.chmod(0o755)
        self.redis = RedisServer(self.dir).start()
        env = base_env(self.dir, {"LITELLM_MASTER_KEY": canaries.master_key, "ITEST_REDIS_URL": self.redis.url})
        self.fleet = Fleet(self.dir, binary, [render(mock, failure)] * 2, env)
        self.fleet.start()

    def gauges(self) -> list[float]:
        return [v for host in self.fleet.hosts for text in host.metrics()
                for v in sample_values(text, "fcgi_pass_through_shared_store_up", store="redis")]

    def wait_gauges(self, value: float, timeout: float) -> float:
        started = time.monotonic()
        wait_until(lambda: self.gauges() == [value, value], timeout, f"shared_store_up{{store=redis}} {value} on both hosts",
                   interval=0.1)
        return time.monotonic() - started

    def close(self) -> None:
        try:
            self.fleet.close()
        finally:
            self.redis.stop()
            leaked = self.leaks()
            failures = [f for g in self.fleet.gateways if (f := g.failure())]
            shutil.rmtree(self.dir, ignore_errors=True)
        assert not failures, "\n".join(failures)
        assert not leaked, leaked

    def leaks(self) -> list[str]:
        """Client keys and the Redis password must appear in no log."""
        logs = self.fleet.logs_text() + "".join(p.read_text(errors="replace") for p in self.fleet.nginx.log_files()
                                                if p.exists())
        secrets_ = {**{f"key {a}": k for a, k in KEYS.items()}, "the redis password": self.redis.password}
        return [f"{what} in a log" for what, value in secrets_.items() if value in logs]


@pytest.fixture(scope="module")
def shared(gateway_binary, mock, canaries):
    setup = Setup(gateway_binary, mock, canaries)
    try:
        yield setup
    finally:
        setup.close()


@pytest.fixture
def fresh(gateway_binary, mock, canaries):
    made: list[Setup] = []

    def make(failure: str = "open") -> Setup:
        made.append(Setup(gateway_binary, mock, canaries, failure))
        return made[-1]

    try:
        yield make
    finally:
        for setup in made:
            setup.close()


def chat(fleet, alias: str, tag: str):
    body = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()
    return fleet.request("POST", f"/openai/v1/chat/completions?{tag}", as_key(alias) + [("Content-Type", "application/json")],
                         body)


def rate_limited(resp, message: str) -> None:
    """The shape of a host-wide refusal (docs/KEYS.md): 429, LiteLLM's envelope, Retry-After."""
    assert resp.status == 429, resp
    error = json.loads(resp.body)["error"]
    assert error == {"message": message, "type": "rate_limit_error", "param": None, "code": "429"}, error
    assert resp.header("Retry-After") is not None, resp.headers


def served_by_both(fleet, marker: str) -> None:
    lines = [line for line in fleet.nginx.access_lines() if marker in line]
    served = {fleet.nginx.upstream_addr(line) for line in lines}
    assert served == {g.nginx_server for g in fleet.gateways}, served


# ==================================================================================================
# 1. Limits hold across hosts.
# ==================================================================================================


@pytest.mark.timeout_s(30)
def test_rpm_limit_holds_exactly_across_two_hosts(shared, mock):
    fleet = shared.fleet
    resps = [fleet.request("GET", f"/echo?rpm={i}", as_key("s-rpm")) for i in range(7)]
    assert [r.status for r in resps] == [200] * 6 + [429], resps
    assert [r.header("x-ratelimit-remaining-requests") for r in resps] == ["5", "4", "3", "2", "1", "0", "0"]
    rate_limited(resps[6], "Rate limit exceeded for this key: rpm_limit allows 6 requests per minute. Retry later.")
    assert 50 <= int(resps[6].header("Retry-After")) <= 60, resps[6].headers
    assert resps[6].header("x-litellm-key-alias") == "s-rpm"
    served_by_both(fleet, "rpm=")
    assert len(mock.requests_to("/echo/shared")) == 6


@pytest.mark.timeout_s(30)
def test_parallel_limit_holds_across_two_hosts(shared, mock):
    fleet = shared.fleet
    with fleet.exchange("GET", "/slow?delay=2&par=a", as_key("s-par")) as first:
        with fleet.exchange("GET", "/slow?delay=2&par=b", as_key("s-par")) as second:
            mock.wait_for_requests(2)
            refused = [fleet.request("GET", f"/echo?par={i}", as_key("s-par")) for i in range(2)]
            for resp in refused:
                rate_limited(resp, "Rate limit exceeded for this key: max_parallel_requests allows 2 requests at once. "
                                   "Retry later.")
                assert resp.header("Retry-After") == "1"
            assert second.read_head().read_rest().status == 200
        assert first.read_head().read_rest().status == 200
    served_by_both(fleet, "par=")
    # Both slots given back at once, whichever host held them.
    assert [fleet.request("GET", f"/echo?par=after{i}", as_key("s-par")).status for i in range(2)] == [200, 200]


@pytest.mark.timeout_s(30)
def test_tpm_limit_holds_across_two_hosts(shared, mock):
    """Counted per host, the 3rd request (the 2nd on its host) would see 1290 < 1300 tokens
    and pass; counted in Redis it sees 2580."""
    resps = []
    for i in range(3):
        resps.append(chat(shared.fleet, "s-tpm", f"tpm={i}"))
        time.sleep(0.05)  # the tokens are charged as the answer ends
    assert [r.status for r in resps] == [200, 200, 429], resps
    assert resps[1].header("x-ratelimit-remaining-tokens") == str(TPM - TOKENS), resps[1].headers
    rate_limited(resps[2], f"Rate limit exceeded for this key: tpm_limit allows {TPM} tokens per minute. Retry later.")
    served_by_both(shared.fleet, "tpm=")


@pytest.mark.timeout_s(30)
def test_redis_keys_carry_the_digest_never_the_key_or_alias(shared, mock):
    shared.fleet.request("GET", "/echo?scan", as_key("s-rpm"))
    names = shared.redis.keys()
    assert names, "no key in Redis"
    for name in names:
        assert name.startswith("fcgi-pass-through:{"), name
        for alias, key in KEYS.items():
            assert key not in name and key[3:19] not in name and alias not in name, name
    digests = {name.split("{", 1)[1].split("}", 1)[0] for name in names}
    assert digests <= {digest(k) for k in KEYS.values()}, digests


# ==================================================================================================
# 2. When Redis is down.
# ==================================================================================================


@pytest.mark.timeout_s(45)
def test_redis_down_mid_load_fails_no_request_and_limits_resume_when_it_returns(fresh, mock):
    setup = fresh("open")
    fleet, redis = setup.fleet, setup.redis
    assert setup.gauges() == [1, 1]
    stop_at = time.monotonic() + 3

    def load(worker: int) -> list[int]:
        statuses = []
        n = 0
        while time.monotonic() < stop_at:
            statuses.append(fleet.request("GET", f"/echo?load={worker}-{n}", as_key("s-load")).status)
            n += 1
        return statuses

    with ThreadPoolExecutor(8) as pool:
        running = [pool.submit(load, w) for w in range(8)]
        time.sleep(1)
        redis.kill()
        statuses = [s for f in running for s in f.result()]
    assert statuses and set(statuses) == {200}, {s: statuses.count(s) for s in set(statuses)}

    setup.wait_gauges(0, 3)
    for host in fleet.hosts:
        wait_until(lambda: "shared store redis unreachable" in host.log_text(), 3, f"{host.name}'s outage line")
        line = next(l for l in host.log_text().splitlines() if "shared store redis unreachable" in l)
        assert f"redis://127.0.0.1:{redis.port}/0" in line, line
    # Meanwhile the limits are host-wide: rpm_limit 2 on each host.
    resps = [fleet.request("GET", f"/echo?fallback={i}", as_key("s-fallback")) for i in range(5)]
    assert [r.status for r in resps] == [200, 200, 200, 200, 429], resps
    assert fleet.request("GET", "/health/readiness").status == 200

    redis.start()
    took = setup.wait_gauges(1, 5)
    assert took <= 5, took
    resps = [fleet.request("GET", f"/echo?back={i}", as_key("s-back")) for i in range(4)]
    assert [r.status for r in resps] == [200, 200, 200, 429], resps
    assert any("reachable again" in host.log_text() for host in fleet.hosts)


@pytest.mark.timeout_s(30)
def test_a_hung_redis_delays_a_request_by_at_most_its_timeout(fresh, mock):
    """Stopped (SIGSTOP), Redis accepts connections and never answers: the request that
    finds it so waits for the 250 ms command timeout, later ones not at all."""
    setup = fresh("open")
    fleet, redis = setup.fleet, setup.redis
    assert fleet.request("GET", "/echo?hung=up", as_key("s-load")).status == 200
    redis.pause()
    try:
        timings = []
        for i in range(6):
            started = time.monotonic()
            assert fleet.request("GET", f"/echo?hung={i}", as_key("s-load")).status == 200
            timings.append(time.monotonic() - started)
        assert max(timings) < 1.0, timings
        setup.wait_gauges(0, 3)
    finally:
        redis.resume()
    setup.wait_gauges(1, 5)


@pytest.mark.timeout_s(30)
def test_fail_closed_answers_503_for_limited_keys_only(fresh, mock):
    setup = fresh("closed")
    fleet = setup.fleet
    assert fleet.request("GET", "/echo?closed=up", as_key("s-closed")).status == 200
    setup.redis.kill()
    # The first request may be the one that finds Redis gone; it is refused too, never let through.
    resps = [fleet.request("GET", f"/echo?closed={i}", as_key("s-closed")) for i in range(4)]
    for resp in resps:
        assert resp.status == 503, resp
        error = json.loads(resp.body)["error"]
        assert error["code"] == "503" and "shared limit store unavailable" in error["message"].lower(), error
        assert resp.header("Retry-After") == "1"
    assert [fleet.request("GET", f"/echo?free={i}", as_key("s-free")).status for i in range(2)] == [200, 200]
    assert fleet.request("GET", "/health/readiness").status == 200
    setup.wait_gauges(0, 3)
    assert len(mock.requests_to("/echo/shared")) == 3


@pytest.mark.timeout_s(45)
def test_a_host_killed_holding_a_slot_frees_it_within_the_lease_ttl_while_a_live_one_keeps_its(fresh, mock):
    """max_parallel_requests 2: one slot held by a long request on each host, straight
    through its socket. The first host is killed: its slot expires within the lease TTL.
    The second host's request, older than the TTL by then, still holds its slot: its lease
    was refreshed."""
    setup = fresh("open")
    fleet = setup.fleet
    clients = []
    for i, host in enumerate(fleet.hosts):
        client = FastCGIClient(host.gateways[0].socket_path)
        client.send(whole_request("GET", f"/slow?delay=60&kill={i}", {"Authorization": f"Bearer {KEYS['s-kill']}"}))
        clients.append(client)
        mock.wait_for_requests(i + 1)
    held_since = time.monotonic()
    at_once = "Rate limit exceeded for this key: max_parallel_requests allows 2 requests at once. Retry later."
    try:
        rate_limited(fleet.request("GET", "/echo?kill=held", as_key("s-kill")), at_once)
        fleet.hosts[0].kill()
        killed = time.monotonic()
        wait_until(lambda: fleet.request("GET", "/echo?kill=free", as_key("s-kill")).status == 200, LEASE_TTL + 3,
                   "the dead host's slot to expire", interval=0.5)
        assert time.monotonic() - killed <= LEASE_TTL + 2
        time.sleep(max(0.0, held_since + LEASE_TTL + 2 - time.monotonic()))
        with fleet.exchange("GET", "/slow?delay=2&kill=third", as_key("s-kill")) as third:
            wait_until(lambda: any("kill=third" in r.target for r in mock.requests), 5, "the third request upstream")
            rate_limited(fleet.request("GET", "/echo?kill=fourth", as_key("s-kill")), at_once)
            assert third.read_head().read_rest().status == 200
    finally:
        for client in clients:
            client.close()


@pytest.mark.timeout_s(40)
def test_a_reload_that_changes_redis_url_warns_and_keeps_counting_where_it_did(fresh, mock):
    """The Redis settings take effect at restart (docs/SHARED_STATE.md): a reload pointing
    one host at another server is applied otherwise, says so, and both hosts keep counting
    one window in the first server."""
    setup = fresh("open")
    fleet = setup.fleet
    other = RedisServer(setup.dir / "other").start()
    try:
        host = fleet.hosts[0]
        text = host.config_path.read_text()
        assert "redis_url: os.environ/ITEST_REDIS_URL" in text
        host.config_path.write_text(text.replace("redis_url: os.environ/ITEST_REDIS_URL", f"redis_url: {other.url}"))
        for gateway in host.gateways:
            done = gateway.log_text().count("configuration reloaded")
            gateway.signal(signal.SIGHUP)
            wait_until(lambda: gateway.log_text().count("configuration reloaded") > done, 5, "the reload", interval=0.02)
        resps = [fleet.request("GET", f"/echo?moved={i}", as_key("s-back")) for i in range(4)]
        assert [r.status for r in resps] == [200, 200, 200, 429], resps
        served_by_both(fleet, "moved=")
        assert any(digest(KEYS["s-back"]) in name for name in setup.redis.keys())
        assert other.keys() == []
        log = host.log_text()
        assert "redis_url and shared_state_failure changes take effect when the gateway restarts" in log, log[-2000:]
        assert other.password not in fleet.logs_text()
    finally:
        other.stop()
