"""Per-key budgets (`max_budget`, `budget_duration`) and `tpm_limit`, host-wide.

docs/KEYS.md (What a key may do; Budgets: what is counted; Limits across processes;
`GET /key/info`) and docs/USAGE.md (Budgets) are the contract. The upstream is the
recording mock replaying a recorded OpenAI chat answer with usage (harness/usage_shapes.py,
`OPENAI_CHAT`), priced by a price map in the test's own directory, so every admitted
request costs a known C and uses a known number of tokens. Requests go through the private
nginx, which alternates over two instances of two workers each: every count is host-wide.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import signal
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from harness.key_watch import ClientKeyWatch
from harness.probes import wait_for_workers
from harness.usage_shapes import OPENAI_CHAT
from harness.waiting import wait_until

# ==================================================================================================
# Prices, keys, and what one request costs.
# ==================================================================================================

IN_PRICE = 1e-06
OUT_PRICE = 2e-06
PRICES = {
    model: {"input_cost_per_token": IN_PRICE, "output_cost_per_token": OUT_PRICE, "cache_read_input_token_cost": IN_PRICE,
            "litellm_provider": "openai", "mode": "chat"}
    for model in ("gpt-4o", "gpt-4o-2024-08-06")
}
# Cached tokens cost the input price here, so C is input × in + output × out.
C = OPENAI_CHAT.counts.input * IN_PRICE + OPENAI_CHAT.counts.output * OUT_PRICE
TOKENS = OPENAI_CHAT.counts.input + OPENAI_CHAT.counts.output  # 1290: one answer's tokens
TPM = TOKENS + 10  # one answer leaves 10 tokens: the 2nd request is admitted, the 3rd is not


def usd(value: float) -> float:
    """A budget as written in the file (a short decimal)."""
    return float(f"{value:.9g}")


WATCH = ClientKeyWatch(("b-across", "b-burst", "b-tpm", "b-day", "b-reload"))
KEYS = WATCH.by_alias
BUDGET = {"b-across": usd(2.5 * C), "b-burst": usd(1.5 * C), "b-day": usd(1.5 * C)}


@pytest.fixture(autouse=True)
def _client_keys_never_leave(mock):
    WATCH.begin()
    yield
    WATCH.assert_no_leak(mock)


def ledger(db: Path, alias: str) -> list[dict]:
    if not db.exists():
        return []
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=1)
    con.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in con.execute("SELECT * FROM spend_logs WHERE key_alias = ?", (alias,))]
    except sqlite3.OperationalError as error:
        if "no such table" in str(error) or "locked" in str(error):
            return []
        raise
    finally:
        con.close()


def rows_of(db: Path, alias: str, n: int) -> list[dict]:
    """The key's rows once there are n of them (a process's buffer is written within a second)."""
    wait_until(lambda: len(ledger(db, alias)) >= n, 3, f"{n} ledger rows of {alias}", interval=0.05)
    time.sleep(0.3)  # a row too many would show up by now
    return ledger(db, alias)


def approx(value: float, expected: float) -> bool:
    return value == pytest.approx(expected, rel=1e-9, abs=1e-15)


def refusal(resp, error_type: str) -> dict:
    assert resp.status == 429, f"expected 429 {error_type}, got {resp!r}"
    body = json.loads(resp.body)
    assert body["error"]["type"] == error_type, body
    assert body["error"]["code"] == "429", body
    return body["error"]


BUDGET_TEXT = re.compile(r"Budget has been exceeded! Key=(\S+) Current cost: (\S+), Max budget: (\S+)")


def budget_refusal(resp, alias: str, spend: float, max_budget: float) -> None:
    """429 budget_exceeded naming the alias, the spend and the budget; never any part of the key."""
    error = refusal(resp, "budget_exceeded")
    m = BUDGET_TEXT.fullmatch(error["message"])
    assert m, error["message"]
    assert m.group(1) == alias, error["message"]
    assert approx(float(m.group(2)), spend), (error["message"], spend)
    assert m.group(3) == repr(max_budget), (error["message"], max_budget)
    raw = resp.body + "\n".join(f"{k}: {v}" for k, v in resp.headers).encode("latin-1", "replace")
    key = KEYS[alias]
    assert key.encode() not in raw and key[3:19].encode() not in raw and key[-16:].encode() not in raw


def chat_body() -> bytes:
    return json.dumps({"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}).encode()


JSON_CT = [("Content-Type", "application/json")]


def chat(stack, alias: str, tag: str, slow: bool = False, **kwargs):
    # slow: the mock sends the answer in 300-byte chunks 0.5 s apart (about 1 s in all).
    query = f"?{tag}&split=300&interval=0.5" if slow else f"?{tag}"
    return stack.request("POST", f"/openai/v1/chat/completions{query}", WATCH.as_key(alias) + JSON_CT, chat_body(), **kwargs)


# ==================================================================================================
# The stack: two instances of two workers, one table, one ledger.
# ==================================================================================================


CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  model_cost_map: {prices}
  usage_db: {db}
  limits_file: {limits}
  keys:
    - key_alias: b-across
      key_hash: {hash:b-across}
      max_budget: {max_across}
    - key_alias: b-burst
      key_hash: {hash:b-burst}
      max_budget: {max_burst}
      max_parallel_requests: 4
    - key_alias: b-tpm
      key_hash: {hash:b-tpm}
      tpm_limit: {tpm}
    - key_alias: b-day
      key_hash: {hash:b-day}
      max_budget: {max_day}
      budget_duration: 1d
    - key_alias: b-reload
      key_hash: {hash:b-reload}
      max_budget: {max_reload}
  pass_through_endpoints:
    - path: /openai
      id: openai
      usage: openai
      include_subpath: true
      target: {upstream}/replay/openai-chat
      cost_per_request: 0
"""


def start(factory, max_reload: float = 1.5 * C, **kwargs):
    home = factory.workdir()
    prices = home / "prices.json"
    prices.write_text(json.dumps(PRICES))
    db, limits = home / "usage.db", home / "limits"
    values = dict(prices=str(prices), db=str(db), limits=str(limits), tpm=str(TPM), max_across=repr(BUDGET["b-across"]),
                  max_burst=repr(BUDGET["b-burst"]), max_day=repr(BUDGET["b-day"]), max_reload=repr(usd(max_reload)))
    stack = factory(WATCH.render(CONFIG, **values), **kwargs)
    stack.db, stack.values = db, values
    WATCH.add_stack(stack)
    return stack


@pytest.fixture(scope="module")
def budgets(stacks):
    stack = start(stacks, instances=2, threads=8, extra_args=["--workers", "2"])
    for gateway in stack.gateways:
        wait_for_workers(gateway, 2)
    return stack


# ==================================================================================================
# 1. A budget across processes.
# ==================================================================================================


@pytest.mark.timeout_s(30)
def test_budget_across_processes_admits_while_spend_is_below_it(budgets, mock):
    """max_budget 2.5 C: spend 0, C, 2C are below it (200 × 3); 3C is not (429). nginx
    alternates the two instances, so the requests are charged by different processes."""
    resps = [chat(budgets, "b-across", f"across={i}") for i in range(4)]
    assert [r.status for r in resps] == [200, 200, 200, 429], resps
    budget_refusal(resps[3], "b-across", 3 * C, BUDGET["b-across"])
    assert len(mock.requests_to("/replay/openai-chat/v1/chat/completions")) == 3
    served = {budgets.nginx.upstream_addr(line) for line in budgets.nginx.access_lines() if "across=" in line}
    assert served == {g.nginx_server for g in budgets.gateways}, served
    rows = rows_of(budgets.db, "b-across", 3)
    assert len(rows) == 3, rows
    assert approx(sum(r["cost"] for r in rows), 3 * C), [r["cost"] for r in rows]


# ==================================================================================================
# 2. Concurrent requests: the overspend is bounded by the requests in flight.
# ==================================================================================================


@pytest.mark.timeout_s(30)
def test_concurrent_overspend_is_bounded_by_the_requests_in_flight(budgets, mock):
    """A request is admitted while the spend before it is below the budget, and its cost is
    known only when it ends: every request in flight when the spend crosses max_budget is
    still charged. So the overspend is at most (requests in flight) × C, and
    `max_parallel_requests: 4` bounds that at 4 × C. Here max_budget is 1.5 C and 8 requests
    arrive at once at a slow answer (about 1 s): at most 4 are admitted (the rest get the
    parallel 429), all admitted ones are charged, and the next request is refused."""
    with ThreadPoolExecutor(8) as pool:
        wave = list(pool.map(lambda i: chat(budgets, "b-burst", f"burst={i}", slow=True, timeout=20), range(8)))
    admitted = [r for r in wave if r.status == 200]
    refused = [r for r in wave if r.status != 200]
    assert 2 <= len(admitted) <= 4, [r.status for r in wave]
    for resp in refused:
        refusal(resp, "rate_limit_error")
        assert resp.header("Retry-After") == "1", resp.headers
    assert len(mock.requests_to("/replay/openai-chat/v1/chat/completions")) == len(admitted)
    rows = rows_of(budgets.db, "b-burst", len(admitted))
    spend = sum(r["cost"] for r in rows)
    assert approx(spend, len(admitted) * C), (spend, len(admitted))
    assert spend - BUDGET["b-burst"] <= 4 * C
    after = chat(budgets, "b-burst", "burst=after")
    budget_refusal(after, "b-burst", len(admitted) * C, BUDGET["b-burst"])
    assert len(mock.requests_to("/replay/openai-chat/v1/chat/completions")) == len(admitted)


# ==================================================================================================
# 3. tpm_limit.
# ==================================================================================================


@pytest.mark.timeout_s(30)
def test_tpm_limit_counts_the_replayed_tokens(budgets, mock):
    """One answer uses 1290 tokens (1234 in + 56 out); tpm_limit is 1300. Before the 2nd
    request the window holds 1290 < 1300: admitted. Before the 3rd, 2580 ≥ 1300: refused."""
    resps = [chat(budgets, "b-tpm", f"tpm={i}") for i in range(3)]
    assert [r.status for r in resps] == [200, 200, 429], resps
    for resp in resps:
        assert resp.header("x-ratelimit-limit-tokens") == str(TPM), resp.headers
    # What the window had left before each request.
    assert resps[0].header("x-ratelimit-remaining-tokens") == str(TPM), resps[0].headers
    assert resps[1].header("x-ratelimit-remaining-tokens") == str(TPM - TOKENS), resps[1].headers
    refusal(resps[2], "rate_limit_error")
    retry = int(resps[2].header("Retry-After"))
    assert 1 <= retry <= 60, retry
    assert len(mock.requests_to("/replay/openai-chat/v1/chat/completions")) == 2


# ==================================================================================================
# 4. /key/info of a budgeted key.
# ==================================================================================================


def next_midnight_utc(now: dt.datetime) -> str:
    day = now.date() + dt.timedelta(days=1)
    return f"{day.isoformat()}T00:00:00Z"


@pytest.mark.timeout_s(30)
def test_key_info_shows_spend_remaining_budget_and_reset(budgets, mock, key):
    """b-day: max_budget 1.5 C, budget_duration 1d. After one request spend is C and C/2
    remains; after a second (admitted: C < 1.5 C) spend is 2 C and remaining is clamped at 0.
    The window ends at the next midnight UTC."""
    for n in (1, 2):
        before = dt.datetime.now(dt.timezone.utc)
        resp = chat(budgets, "b-day", f"day={n}")
        assert resp.status == 200, resp
        rows = rows_of(budgets.db, "b-day", n)
        assert len(rows) == n, rows
        total = sum(r["cost"] for r in rows)
        assert approx(total, n * C), total
        for headers, query in ((WATCH.as_key("b-day"), ""), (key, "?key_alias=b-day")):
            info_resp = budgets.request("GET", "/key/info" + query, headers)
            assert info_resp.status == 200, info_resp
            info = info_resp.json()["info"]
            after = dt.datetime.now(dt.timezone.utc)
            assert approx(info["spend"], total), (info["spend"], total)
            assert info["max_budget"] == BUDGET["b-day"], info
            assert approx(info["remaining_budget"], max(0.0, BUDGET["b-day"] - info["spend"])), info
            if n == 2:
                assert info["remaining_budget"] == 0, info
            assert info["budget_duration"] == "1d", info
            assert info["budget_reset_at"] in {next_midnight_utc(before), next_midnight_utc(after)}, info
            assert info["tpm_limit"] is None and info["key_alias"] == "b-day", info


# ==================================================================================================
# 5. A reload keeps the spend.
# ==================================================================================================


def reload(stack, max_reload: float) -> None:
    values = {**stack.values, "max_reload": repr(usd(max_reload))}
    stack.config_path.write_text(stack.factory.render(WATCH.render(CONFIG, **values)))
    for gateway in stack.gateways:
        done = gateway.log_text().count("configuration reloaded")
        gateway.signal(signal.SIGHUP)
        wait_until(lambda: gateway.log_text().count("configuration reloaded") > done, 5, "the reload", interval=0.02)


@pytest.mark.timeout_s(40)
def test_reload_keeps_the_spend(fresh_stacks, mock):
    """b-reload starts at max_budget 1.5 C: 200, 200, 429 (spend 2 C). Raised to 10 C by a
    reload: admitted again (spend 3 C). Lowered to 2.5 C: refused, and the message shows the
    spend counted before both reloads (3 C), not a fresh 0."""
    stack = start(fresh_stacks, max_reload=1.5 * C)
    stack.factory = fresh_stacks
    first = [chat(stack, "b-reload", f"reload={i}") for i in range(3)]
    assert [r.status for r in first] == [200, 200, 429], first
    budget_refusal(first[2], "b-reload", 2 * C, usd(1.5 * C))
    reload(stack, 10 * C)
    resp = chat(stack, "b-reload", "reload=raised")
    assert resp.status == 200, resp
    reload(stack, 2.5 * C)
    budget_refusal(chat(stack, "b-reload", "reload=lowered"), "b-reload", 3 * C, usd(2.5 * C))
    assert len(mock.requests_to("/replay/openai-chat/v1/chat/completions")) == 3
    rows = rows_of(stack.db, "b-reload", 3)
    assert len(rows) == 3 and approx(sum(r["cost"] for r in rows), 3 * C), rows
