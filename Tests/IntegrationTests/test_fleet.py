"""A fleet as operators run one (docs/SHARED_STATE.md): two gateway "hosts", each with its
own host-wide table, usage database and `host_id`, behind one nginx, sharing one
PostgreSQL (the ledger) and one Redis (the limits). One rpm limit and one budget hold
exactly across both hosts.

Each host is one instance, so nginx's round robin alternates between the hosts request
by request. The upstream transport plays no part: run once, in the curl run.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import pytest

from harness.fleet import Fleet
from harness.gateway import base_env, transport
from harness.key_watch import ClientKeyWatch
from harness.postgres import Postgres, missing_reason
from harness.redis_server import RedisServer, available
from harness.waiting import wait_until

pytestmark = [
    pytest.mark.skipif(
        transport() != "curl", reason="shared state does not depend on the upstream transport: run once, in the curl run"
    ),
    pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or ""),
    pytest.mark.skipif(available() is not None, reason=available() or ""),
]

WATCH = ClientKeyWatch(("f-rpm", "f-budget"))

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  host_id: {host}
  limits_file: {limits}
  usage_db: {db}
  database_url: os.environ/ITEST_PG_URL
  redis_url: os.environ/ITEST_REDIS_URL
  keys:
    - key_alias: f-rpm
      key_hash: {hash:f-rpm}
      rpm_limit: 5
    - key_alias: f-budget
      key_hash: {hash:f-budget}
      max_budget: 0.6
      rpm_limit: 1000
  pass_through_endpoints:
    - path: /echo
      target: {upstream}/echo/fleet
      cost_per_request: 0.25
"""


@pytest.fixture(scope="module")
def fleet(gateway_binary, mock, canaries):
    workdir = Path(tempfile.mkdtemp(prefix="fcgi-itest-fleet-"))
    workdir.chmod(0o755)
    pg = Postgres(workdir / "pg").start()
    redis = RedisServer(workdir).start()
    env = base_env(
        workdir, {"LITELLM_MASTER_KEY": canaries.master_key, "ITEST_PG_URL": pg.url, "ITEST_REDIS_URL": redis.url})
    fleet = Fleet(workdir, gateway_binary, [WATCH.render(CONFIG, upstream=mock.url)] * 2, env)
    try:
        fleet.start()
        WATCH.logs.update(fleet.log_files())
        yield fleet, pg
    finally:
        fleet.close()
        redis.stop()
        pg.close()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(autouse=True)
def _client_keys_never_leave(mock):
    WATCH.begin()
    yield
    WATCH.assert_no_leak(mock)


def test_one_rpm_limit_holds_exactly_across_both_hosts(fleet):
    front, _ = fleet
    statuses = [front.request("POST", f"/echo?rpm={i}", WATCH.as_key("f-rpm"), b"{}").status for i in range(8)]
    # Five in the minute on the whole fleet, alternating hosts; not five per host.
    assert statuses == [200] * 5 + [429] * 3, statuses


def test_one_budget_holds_exactly_across_both_hosts(fleet):
    """The key also has an rpm limit, so Redis admits it after the budget's check."""
    front, pg = fleet
    statuses = []
    for i in range(5):
        resp = front.request("POST", f"/echo?budget={i}", WATCH.as_key("f-budget"), b"{}")
        statuses.append(resp.status)
        if resp.status == 429:
            assert resp.json()["error"]["type"] == "budget_exceeded", resp
        # Past one refresh of the other hosts' spend and one ledger batch.
        time.sleep(1.5)
    # 0.25 a request against 0.60: the third reaches 0.75, on the fleet as a whole.
    assert statuses == [200, 200, 200, 429, 429], statuses
    rows = lambda: pg.psql("SELECT host FROM spend_logs WHERE key_alias = 'f-budget' ORDER BY start_time")  # noqa: E731
    wait_until(lambda: len(rows().split()) == 3, 2, "the budget's three rows in PostgreSQL")
    assert set(rows().split()) == {"host1", "host2"}, "both hosts served the key"
