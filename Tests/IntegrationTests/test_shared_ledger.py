"""The spend ledger in a shared PostgreSQL (docs/SHARED_STATE.md, "The ledger in PostgreSQL").

Two gateway hosts (two stacks: their own nginx, gateway, `host_id`, `usage_db` and limits
table) write to one throwaway PostgreSQL this module starts in its own directory
(harness/postgres.py). Host A names the server in LiteLLM's `DATABASE_URL`, host B in
`general_settings.database_url`. Rows of both reach PostgreSQL within a second and every
host lists them; a server stopped for ten seconds under load fails no request and loses
no row nor writes one twice; a gateway started while the server is away serves, and its
rows arrive once the server is back. The server's password never shows in what the
gateways log or answer.

The upstream transport plays no part here: these tests run once, in the curl run of the
suite, and are skipped in the urlsession run.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import shutil
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import make_workdir
from harness.assertions import bearer
from harness.gateway import base_env, run_cli, transport
from harness.postgres import Postgres, missing_reason
from harness.probes import sample_values
from harness.waiting import wait_until

pytestmark = [
    pytest.mark.skipif(
        transport() != "curl",
        reason="the shared ledger does not depend on the upstream transport: run once, in the curl run",
    ),
    pytest.mark.skipif(missing_reason() is not None, reason=missing_reason() or ""),
]

KEY = "sk-" + secrets.token_hex(24)
# Keys with a budget: every request costs cost_per_request, 0.25.
BUDGET_KEY = "sk-" + secrets.token_hex(24)  # 0.6: three requests on the fleet, then refused
LOAD_KEY = "sk-" + secrets.token_hex(24)  # 2.0: eight requests on the fleet, under concurrent load
ROOMY_KEY = "sk-" + secrets.token_hex(24)  # 100: a budget no test reaches
JSON_CT = [("Content-Type", "application/json")]
BODY = json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()

HOST = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  host_id: {host}
  {database_url}
  keys:
    - key_alias: shared-a
      key_hash: {hash}
    - key_alias: shared-budget
      key_hash: {budget_hash}
      max_budget: 0.6
    - key_alias: shared-load
      key_hash: {load_hash}
      max_budget: 2.0
    - key_alias: shared-roomy
      key_hash: {roomy_hash}
      max_budget: 100
  pass_through_endpoints:
    - path: /openai
      provider: openai
      target: {upstream}/replay/openai-chat
      cost_per_request: 0.25
"""


@pytest.fixture(scope="module")
def pg():
    workdir = make_workdir()
    server = Postgres(workdir).start()
    try:
        yield server
    finally:
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)


def host(factory, pg: Postgres, name: str, canaries, in_config: bool, failure: str = "open"):
    """A gateway host whose ledger is `pg`: named in the config or in `DATABASE_URL`."""
    env = {"OPENAI_API_KEY": canaries.upstream_key}
    if in_config:
        env["LEDGER_URL"] = pg.url
        line = "database_url: os.environ/LEDGER_URL"
    else:
        env["DATABASE_URL"] = pg.url
        line = ""
    config = HOST.replace("{host}", name).replace("{database_url}", line + f"\n  shared_state_failure: {failure}")
    config = config.replace("{hash}", hashlib.sha256(KEY.encode()).hexdigest())
    config = config.replace("{budget_hash}", hashlib.sha256(BUDGET_KEY.encode()).hexdigest())
    config = config.replace("{load_hash}", hashlib.sha256(LOAD_KEY.encode()).hexdigest())
    config = config.replace("{roomy_hash}", hashlib.sha256(ROOMY_KEY.encode()).hexdigest())
    return factory(config, env=env)


@pytest.fixture(scope="module")
def hosts(stacks, pg, canaries):
    return host(stacks, pg, "host-a", canaries, in_config=False), host(stacks, pg, "host-b", canaries, in_config=True)


def send(stack, headers, tag: str) -> str:
    resp = stack.request("POST", f"/openai/v1/chat/completions?t={tag}", headers + JSON_CT, BODY, timeout=10)
    assert resp.status == 200, resp
    return resp.header("x-litellm-call-id")


def rows_in_pg(pg: Postgres, ids: list[str]) -> dict[str, str]:
    """request id -> host, for those of `ids` PostgreSQL holds."""
    quoted = ",".join("'" + i.replace("'", "''") + "'" for i in ids)
    out = pg.psql(f"SELECT request_id, host FROM spend_logs WHERE request_id IN ({quoted})")
    return dict(line.split("|", 1) for line in out.splitlines() if line)


def spool_count(stack) -> int:
    db = Path(stack.dir) / "usage.db"
    if not db.exists():
        return 0
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
            return connection.execute("SELECT count(*) FROM spool").fetchone()[0]
    except sqlite3.OperationalError:  # created, not migrated yet
        return 0


def store_up(stack) -> list[float]:
    text = stack.request("GET", "/metrics").body.decode()
    return sample_values(text, "fcgi_pass_through_shared_store_up", store="postgresql")


def assert_no_password(pg: Postgres, *texts: str) -> None:
    for text in texts:
        assert pg.password not in text, "the database password leaked"


def test_rows_of_both_hosts_reach_postgresql_and_every_host_lists_them(hosts, pg, canaries, gateway_binary):
    a, b = hosts
    master = bearer(canaries.master_key)
    ids = {"host-a": [], "host-b": []}
    for i in range(4):
        ids["host-a"].append(send(a, bearer(KEY) if i % 2 else master, f"a{i}"))
        ids["host-b"].append(send(b, bearer(KEY) if i % 2 else master, f"b{i}"))
    everything = ids["host-a"] + ids["host-b"]
    wait_until(lambda: len(rows_in_pg(pg, everything)) == len(everything), 1.0, "every row in PostgreSQL", interval=0.05)
    assert rows_in_pg(pg, everything) == {i: name for name, mine in ids.items() for i in mine}
    for stack in (a, b):
        resp = stack.request("GET", "/spend/logs?summarize=false", master)
        assert resp.status == 200, resp
        assert {r["request_id"] for r in resp.json()} >= set(everything)
        assert_no_password(pg, resp.body.decode())
        summary = stack.request("GET", "/spend/logs", master)
        assert summary.status == 200 and sum(d["spend"] for d in summary.json()) >= 0.25 * len(everything), summary
        # /key/info's spend is the key's on every host: 4 requests at 0.25.
        info = stack.request("GET", "/key/info", bearer(KEY))
        assert info.status == 200, info
        assert info.json()["info"]["spend"] == pytest.approx(1.0), info.json()
        wait_until(lambda: store_up(stack) == [1.0], 2, "the gauge to show postgresql up")
        log = stack.gateway_logs()
        assert "spend ledger in PostgreSQL" in log and "gw:***@127.0.0.1" in log, log
        assert_no_password(pg, log, stack.request("GET", "/metrics").body.decode())
    # Nothing spooled while the server answers: the local files hold no rows.
    assert spool_count(a) == 0 and spool_count(b) == 0
    # The usage report against the URL, given or from DATABASE_URL.
    workdir = Path(a.dir)
    given = run_cli(gateway_binary, ["usage", "--db", pg.url, "--by", "key"], base_env(workdir))
    from_env = run_cli(gateway_binary, ["usage", "--by", "key"], base_env(workdir, {"DATABASE_URL": pg.url}))
    for result in (given, from_env):
        assert result.returncode == 0, result
        assert "shared-a" in result.stdout, result.stdout
        total = [line for line in result.stdout.splitlines() if line.startswith("total")][0].split()
        assert int(total[1]) >= len(everything), result.stdout
        assert_no_password(pg, result.stdout + result.stderr)


@pytest.mark.timeout_s(60)
def test_postgresql_stopped_for_ten_seconds_under_load_loses_and_doubles_nothing(hosts, pg, canaries):
    a, b = hosts
    master = bearer(canaries.master_key)
    before = pg.scalar("SELECT count(*) FROM spend_logs")
    ok: list[str] = []
    failed: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def load(worker: int) -> None:
        # About 8 requests a second per worker, 32 in all, alternating hosts.
        n = 0
        while not stop.is_set():
            stack = (a, b)[(worker + n) % 2]
            try:
                resp = stack.request("POST", f"/openai/v1/chat/completions?w={worker}&n={n}", master + JSON_CT, BODY, timeout=10)
                with lock:
                    (ok if resp.status == 200 else failed).append(resp.header("x-litellm-call-id") or str(resp.status))
            except OSError as error:
                with lock:
                    failed.append(repr(error))
            n += 1
            time.sleep(0.12)

    with ThreadPoolExecutor(4) as pool:
        futures = [pool.submit(load, w) for w in range(4)]
        time.sleep(2)
        pg.stop()
        down_at = time.monotonic()
        wait_until(lambda: store_up(a) == [0.0] and store_up(b) == [0.0], 4, "the gauge to show postgresql down")
        for stack in (a, b):
            assert stack.request("GET", "/health/readiness").status == 200
        wait_until(lambda: time.monotonic() - down_at >= 10, 12, "ten seconds of outage", interval=0.2)
        spooled = spool_count(a) + spool_count(b)
        pg.start()
        wait_until(lambda: store_up(a) == [1.0] and store_up(b) == [1.0], 5, "the gauge to show postgresql up")
        time.sleep(1)
        stop.set()
        for future in futures:
            future.result()
    assert not failed, failed[:5]
    assert len(ok) > 300, len(ok)
    assert spooled > 0, "rows were spooled while the server was away"
    total = lambda: pg.scalar("SELECT count(*) FROM spend_logs")  # noqa: E731
    wait_until(lambda: total() == before + len(ok), 5, f"all {len(ok)} rows in PostgreSQL")
    assert len(rows_in_pg(pg, ok)) == len(ok)
    assert pg.scalar("SELECT count(DISTINCT request_id) FROM spend_logs") == total()
    wait_until(lambda: spool_count(a) == 0 and spool_count(b) == 0, 3, "both spools empty")
    # /metrics counts what went through the spools: every spooled row replayed, once.
    counted = {}

    def spool_metrics_settled() -> bool:
        for stack in (a, b):
            text = stack.request("GET", "/metrics").body.decode()
            counted[stack] = (sum(sample_values(text, "fcgi_pass_through_ledger_rows_spooled_total")),
                              sum(sample_values(text, "fcgi_pass_through_ledger_rows_replayed_total")))
        return all(spooled_n == replayed_n for spooled_n, replayed_n in counted.values())

    wait_until(spool_metrics_settled, 5, "the spooled and replayed counters to agree")
    assert sum(n for n, _ in counted.values()) >= spooled, counted
    for stack in (a, b):
        log = stack.gateway_logs()
        down = [line for line in log.splitlines() if "PostgreSQL cannot be reached" in line]
        assert down and "store=postgresql" in down[0] and "gw:***@127.0.0.1" in down[0], log[-3000:]
        assert "PostgreSQL reached again" in log
        assert_no_password(pg, log)


@pytest.mark.timeout_s(40)
def test_a_gateway_started_while_postgresql_is_away_serves_and_its_rows_arrive_later(fresh_stacks, pg, canaries):
    pg.stop()
    try:
        c = host(fresh_stacks, pg, "host-c", canaries, in_config=True)
        ids = [send(c, bearer(canaries.master_key), f"c{i}") for i in range(5)]
        wait_until(lambda: store_up(c) == [0.0], 2, "the gauge to show postgresql down")
        wait_until(lambda: spool_count(c) == len(ids), 2, "the rows in the local spool")
    finally:
        pg.start()
    wait_until(lambda: len(rows_in_pg(pg, ids)) == len(ids), 5, "the spooled rows in PostgreSQL")
    assert set(rows_in_pg(pg, ids).values()) == {"host-c"}
    wait_until(lambda: spool_count(c) == 0, 2, "the spool empty")
    wait_until(lambda: store_up(c) == [1.0], 3, "the gauge to show postgresql up")
    assert_no_password(pg, c.gateway_logs())


def spend_in_pg(pg: Postgres, alias: str) -> float:
    return float(pg.psql(f"SELECT coalesce(sum(cost), 0) FROM spend_logs WHERE key_alias = '{alias}'").strip())


def test_one_budget_holds_exactly_across_both_hosts(hosts, pg):
    """Requests a second and a half apart (one refresh and one writer batch): each host
    knows the other's spend, so the fleet allows exactly the requests the budget covers."""
    a, b = hosts
    statuses = []
    for i, stack in enumerate((a, b, a, b, a)):
        resp = stack.request("POST", f"/openai/v1/chat/completions?budget={i}", bearer(BUDGET_KEY) + JSON_CT, BODY, timeout=10)
        statuses.append(resp.status)
        if resp.status == 429:
            body = resp.json()["error"]
            assert body["type"] == "budget_exceeded", body
        time.sleep(1.5)
    # 0.25 each against 0.6: the third request reaches 0.75; the fourth and fifth are refused.
    assert statuses == [200, 200, 200, 429, 429], statuses
    wait_until(lambda: spend_in_pg(pg, "shared-budget") == pytest.approx(0.75), 2, "the three rows in PostgreSQL")


@pytest.mark.timeout_s(60)
def test_overspend_under_concurrent_load_stays_within_the_stated_bound(hosts, pg):
    """Four clients per host spend one key's budget at once. The fleet may go over by the
    requests in flight on every host plus what the other host spent in one refresh
    interval (1 s of refresh and 250 ms of its writer): measured and checked here."""
    a, b = hosts
    lock = threading.Lock()
    admitted: dict[str, list[float]] = {"host-a": [], "host-b": []}  # finish times of 200s
    refused = {"host-a": 0, "host-b": 0}
    started = time.monotonic()

    def client(name: str, stack) -> None:
        while time.monotonic() - started < 20:
            resp = stack.request("POST", "/openai/v1/chat/completions?load=1", bearer(LOAD_KEY) + JSON_CT, BODY, timeout=10)
            with lock:
                if resp.status == 200:
                    admitted[name].append(time.monotonic())
                else:
                    assert resp.status == 429 and resp.json()["error"]["type"] == "budget_exceeded", resp
                    refused[name] += 1
                    if refused[name] >= 3:
                        return

    clients = 4
    with ThreadPoolExecutor(2 * clients) as pool:
        futures = [pool.submit(client, name, stack) for name, stack in (("host-a", a), ("host-b", b)) for _ in range(clients)]
        for future in futures:
            future.result()
    total = sum(len(v) for v in admitted.values())
    budget, cost = 2.0, 0.25
    overspend = total * cost - budget
    # The bound: every client's request in flight, plus the busier host's requests in any
    # 1.25 s (what the other host may not have seen yet).
    def most_in(times: list[float], window: float) -> int:
        return max((sum(1 for t in times if start <= t < start + window) for start in times), default=0)
    bound = 2 * clients * cost + max(most_in(v, 1.25) for v in admitted.values()) * cost
    print(f"budget {budget}: {total} requests admitted ({admitted['host-a'].__len__()} + {admitted['host-b'].__len__()}), "
          f"overspend {overspend:.2f} USD, bound {bound:.2f} USD")
    assert total * cost >= budget, "the budget was reachable"
    assert overspend <= bound, (overspend, bound)
    wait_until(lambda: spend_in_pg(pg, "shared-load") == pytest.approx(total * cost), 3, "every admitted row in PostgreSQL")


@pytest.mark.timeout_s(40)
def test_with_shared_state_failure_closed_a_budgeted_key_gets_503_while_postgresql_is_away(fresh_stacks, pg, canaries):
    d = host(fresh_stacks, pg, "host-d", canaries, in_config=True, failure="closed")
    assert send(d, bearer(ROOMY_KEY), "d-before")
    pg.stop()
    try:
        wait_until(lambda: store_up(d) == [0.0], 3, "the gauge to show postgresql down")
        resp = d.request("POST", "/openai/v1/chat/completions?d=closed", bearer(ROOMY_KEY) + JSON_CT, BODY, timeout=10)
        assert resp.status == 503, resp
        assert resp.header("retry-after") == "1"
        assert "Shared limit store unavailable" in resp.json()["error"]["message"]
        # Keys without a budget, and the master key, do not depend on the ledger.
        assert send(d, bearer(KEY), "d-key")
        assert send(d, bearer(canaries.master_key), "d-master")
        assert d.request("GET", "/health/readiness").status == 200
    finally:
        pg.start()
    wait_until(lambda: store_up(d) == [1.0], 5, "the gauge to show postgresql up")
    assert send(d, bearer(ROOMY_KEY), "d-after")
