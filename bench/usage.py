#!/usr/bin/env python3
"""`make bench-usage`: what metering a response costs, against the same route unmetered, in one run.

Two endpoints send the seed rerank request to the same upstream (nginx answering Cohere's
rerank JSON, `meta.billed_units.search_units` included):

    plain     /v1/rerank: `usage` none (the default): no metering, cost_per_request only
    metered   /metered/v1/rerank: `usage: cohere`: the answer is read as it passes, its
              search units priced from a model cost map (LiteLLM's format, written for the run)

Both write their ledger row (every forwarded request has one), so the difference is the
metering and pricing. Rounds interleave them per transport. The figure that matters is the
gateway's CPU per request: user + system time of the gateway processes over a wrk run,
divided by its requests. The goal (the usage issue): metering costs at most 5 % more
gateway CPU per request, as the median of per-round ratios. Timing never fails the command.
After the rounds the ledger is read back: its rows of the metered route must carry the
search units (a check that the metering measured is the metering that works).

Knobs (environment): BENCH_TRANSPORTS (curl; curl,urlsession for both), BENCH_ROUNDS (5),
BENCH_SECONDS per load run (5), BENCH_CONNECTIONS (32), BENCH_INSTANCES gateway instances
per transport (2), BENCH_THREADS per instance (64), BENCH_GATEWAY_ARGS extra gateway flags,
BENCH_FRONT_WORKERS nginx workers (auto), BENCH_KEEP=1 keeps the temporary directory, GATEWAY_BIN.
"""
from __future__ import annotations

import json
import os
import shlex
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from keys import check, goal_cell_for, knob  # noqa: E402
from load import wrk  # noqa: E402
from procstat import OtherLoad, cpu_ms  # noqa: E402
from report import _paired, _ratio, table  # noqa: E402
from stack import MASTER_KEY, REPO, Stack  # noqa: E402

GOAL = 1.05  # metered gateway CPU per request ≤ 1.05 × unmetered
PATHS = {"baseline": "/v1/rerank", "metered": "/metered/v1/rerank"}
SCENARIOS = {"baseline": "unmetered", "metered": "metered (usage: cohere)"}
ROWS = [
    ("rps", "req/s", "{:,.0f}"),
    ("p50", "p50 ms", "{:.2f}"),
    ("p99", "p99 ms", "{:.2f}"),
    ("cpu_us", "gateway CPU µs per request", "{:.1f}"),
]
METERED_ENDPOINT = """    - path: /metered/v1/rerank
      target: http://127.0.0.1:{up_http}/v1/rerank
      usage: cohere
      headers:
        Authorization: "bearer os.environ/COHERE_API_KEY"
        content-type: application/json
"""


def load(stack: Stack, transport: str, path: str, connections: int, seconds: float, errors: list[str],
         what: str) -> dict:
    port, pids = stack.ports[f"gateway_{transport}"], stack.gateway_pids(transport)
    before = cpu_ms(pids)
    r = wrk(f"http://127.0.0.1:{port}{path}", connections, seconds, stack.dir / "body.json", MASTER_KEY)
    if r.get("hung"):
        errors.append(f"{what}: wrk did not finish; run left out")
        return {"status": 0}
    if r["errors"]:
        errors.append(f"{what}: {r['errors']} errors of {r['requests']} (non-2xx {r['status']}, "
                      f"connect {r['connect']}, read {r['read']}, timeout {r['timeout']})")
    return {"rps": r["rps"], "p50": r["p50_us"] / 1000, "p99": r["p99_us"] / 1000,
            "cpu_us": (cpu_ms(pids) - before) * 1000 / max(1, r["requests"]), "status": r["status"]}


def main() -> int:
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__)
        return 0
    rounds, seconds, connections = knob("BENCH_ROUNDS", 5), knob("BENCH_SECONDS", 5.0), knob("BENCH_CONNECTIONS", 32)
    instances, threads = knob("BENCH_INSTANCES", 2), knob("BENCH_THREADS", 64)
    gateway_bin = Path(knob("GATEWAY_BIN", str(REPO / ".build/release/fcgi-pass-through")))
    transports = [t.strip() for t in knob("BENCH_TRANSPORTS", "curl").split(",") if t.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="fcgi-bench-usage-"))
    prices = workdir / "model_prices.json"
    prices.write_text(json.dumps({"rerank-english-v3.0": {
        "litellm_provider": "cohere", "mode": "rerank", "input_cost_per_query": 0.002,
        "input_cost_per_token": 0.0, "output_cost_per_token": 0.0}}))
    ledger = workdir / "usage.db"
    settings = f"  model_cost_map: {prices}\n  usage_db: {ledger}\n"
    stack = Stack(workdir, gateway_bin, instances, threads, shlex.split(knob("BENCH_GATEWAY_ARGS", "")),
                  front_workers=knob("BENCH_FRONT_WORKERS", "auto"), transports=transports, extra_settings=settings,
                  extra_endpoints=METERED_ENDPOINT)
    print(f"fcgi-pass-through usage bench: {rounds} rounds × {seconds:g} s per load run, {connections} connections, "
          f"transports {', '.join(transports)}, {instances} gateway instance(s) × {threads} threads per transport, "
          f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.2f}", flush=True)
    started = time.monotonic()
    try:
        stack.start()
        for t in transports:
            for s, path in PATHS.items():
                problem = check(stack.ports[f"gateway_{t}"], MASTER_KEY, path)
                if problem:
                    print(f"{t}, {SCENARIOS[s]}: the check request failed ({problem}); no measurement", file=sys.stderr)
                    return 1
        errors: list[str] = []
        for t in transports:
            for path in PATHS.values():
                load(stack, t, path, connections, 1, errors, "warm-up")
        errors.clear()
        results = {t: {s: [] for s in PATHS} for t in transports}
        other = OtherLoad()
        for i in range(rounds):
            for t in transports:
                for s, path in PATHS.items():
                    results[t][s].append(load(stack, t, path, connections, seconds, errors, f"{t}, {SCENARIOS[s]}"))
            print(f"round {i + 1}/{rounds} done ({time.monotonic() - started:.0f} s)", flush=True)
        rows = [(k, f"{label}, {connections} connections" if k == "rps" else label, fmt) for k, label, fmt in ROWS]
        for t in transports:
            print(f"\nTransport {t}: medians over rounds; the metered cell reads "
                  f"median (− unmetered, ÷ unmetered of the same round)\n")
            print(table(results[t], SCENARIOS, rows, {"p50", "p99", "cpu_us"}))
        print("\nGoal, median of per-round ratios (metered ÷ unmetered, gateway CPU per request):\n")
        print("| goal | " + " | ".join(transports) + " |")
        print("|---|" + "---:|" * len(transports))
        cells = [goal_cell_for(_paired(results[t]["baseline"], results[t]["metered"], "cpu_us", _ratio), GOAL)
                 for t in transports]
        print(f"| metering CPU per request ≤ {GOAL} × unmetered | " + " | ".join(cells) + " |")
        time.sleep(1.5)  # the ledger writers' last tick
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as db:
            by_route = dict(db.execute(
                "SELECT route || ' metered=' || metered || ' units=' || search_units, count(*) FROM spend_logs "
                "GROUP BY route, metered, search_units").fetchall())
        print(f"\nledger rows by route: {by_route}")
        print(f"other processes kept {other.cpus():.2f} of {os.cpu_count()} CPUs busy during the rounds "
              f"(load average at end {os.getloadavg()[0]:.2f}); {time.monotonic() - started:.0f} s")
        for e in errors:
            print("errors:", e)
        return 0
    finally:
        stack.stop()
        if knob("BENCH_KEEP", "") == "1":
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
