#!/usr/bin/env python3
"""`make bench-usage`: what metering a response costs, against the same route unmetered, in one run.

Two endpoints send the seed rerank request to the same upstream (nginx answering Cohere's
rerank JSON, `meta.billed_units.search_units` included), written alike but for `usage`, on
paths of the same shape and length so that routing costs both the same:

    plain     /plain/v1/rerank: `usage` none (the default): no metering, cost_per_request only
    metered   /meter/v1/rerank: `usage: cohere`: the answer is read as it passes, its
              search units priced from a model cost map (LiteLLM's format, written for the run)

Both write their ledger row (every forwarded request has one), so the difference is the
metering and pricing. The two routes are loaded at the same time, each through a gateway
set of its own (two identical sets of BENCH_INSTANCES instances, the same config, the
same ledger file, behind the same nginx): two wrk runs side by side, each with half the
connections. Both routes then meet the same machine at the same moment, and each set's
CPU is its route's alone; which set serves which route alternates from round to round.
Loading one route after the other, as this bench once did, left a single round's ratio
moving by ±0.1 with what else the two cores did in each 5-second window.
The figure that matters is the gateway's CPU per request: user + system time of a set's
gateway processes over its wrk run, divided by its requests. The goal (the usage issue):
metering costs at most 5 % more gateway CPU per request, as the median of per-round
ratios, at each load. Timing never fails the command.

Each round also times server-sent events the same way: BENCH_SSE_STREAMS (10) streams one
after another, each 20 OpenAI chat completion chunks 10 ms apart and a usage chunk, through
/plain/sse (not metered) and /meter/sse (`usage: openai`): the first event's time and the p99
of the events' delays (written upstream → read by the client) should not move beyond the
unmetered route's own spread from round to round. After the rounds the ledger is read
back: the metered routes' rows must carry the search units and tokens (a check that the
metering measured is the metering that works).

Knobs (environment): BENCH_TRANSPORTS (curl; curl,urlsession for both), BENCH_ROUNDS (15),
BENCH_SECONDS per load run (5), BENCH_CONNECTIONS (32,2: each count is a load run per
round, split between the two routes; 32 saturates the two cores, 2 leaves them headroom),
BENCH_INSTANCES gateway instances per set (1), BENCH_THREADS per instance (64), BENCH_GATEWAY_ARGS extra gateway flags,
BENCH_FRONT_WORKERS nginx workers (auto), BENCH_KEEP=1 keeps the temporary directory, GATEWAY_BIN.
"""
from __future__ import annotations

import asyncio
import json
import threading
import os
import shlex
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))

from keys import check, goal_cell_for, knob  # noqa: E402
from keys import load as load_key  # noqa: E402
from procstat import OtherLoad  # noqa: E402
from report import _paired, _ratio, table  # noqa: E402
from sse_client import read_stream  # noqa: E402
from stack import MASTER_KEY, REPO, Stack, remove_workdir  # noqa: E402

GOAL = 1.05  # metered gateway CPU per request ≤ 1.05 × unmetered
PATHS = {"baseline": "/plain/v1/rerank", "metered": "/meter/v1/rerank"}
SCENARIOS = {"baseline": "unmetered", "metered": "metered (usage: cohere)"}
ROWS = [
    ("rps", "req/s", "{:,.0f}"),
    ("p50", "p50 ms", "{:.2f}"),
    ("p99", "p99 ms", "{:.2f}"),
    ("cpu_us", "gateway CPU µs per request", "{:.1f}"),
]
METERED_ENDPOINT = """    - path: /plain/v1/rerank
      target: http://127.0.0.1:{up_http}/v1/rerank
      headers:
        Authorization: "bearer os.environ/COHERE_API_KEY"
        content-type: application/json
        accept: application/json
    - path: /meter/v1/rerank
      target: http://127.0.0.1:{up_http}/v1/rerank
      usage: cohere
      headers:
        Authorization: "bearer os.environ/COHERE_API_KEY"
        content-type: application/json
        accept: application/json
    - path: /plain/sse
      target: http://127.0.0.1:{up_sse}/sse
    - path: /meter/sse
      target: http://127.0.0.1:{up_sse}/sse
      usage: openai
"""
SSE_PATHS = {"baseline": "/plain/sse", "metered": "/meter/sse"}
SSE_EVENTS, SSE_INTERVAL_MS = 20, 10


def load(stack: Stack, transport: str, path: str, connections: int, seconds: float, errors: list[str],
         what: str) -> dict:
    return load_key(stack, transport, MASTER_KEY, connections, seconds, errors, what, path=path)


def side_by_side(stack: Stack, transport: str, connections: int, seconds: float, errors: list[str],
                 swapped: bool) -> dict[str, dict]:
    """Both routes at once, each through its own gateway set with half the connections:
    `transport` serves the unmetered route and its twin the metered one, or the other way
    round when `swapped`."""
    sets = (twin(transport), transport) if swapped else (transport, twin(transport))
    results: dict[str, dict] = {}

    def run(scenario: str, gateway_set: str) -> None:
        results[scenario] = load(stack, gateway_set, PATHS[scenario], max(1, connections // 2), seconds, errors,
                                 f"{transport}, {connections} connections, {SCENARIOS[scenario]}")

    runners = [threading.Thread(target=run, args=(s, g)) for s, g in zip(PATHS, sets)]
    for r in runners:
        r.start()
    for r in runners:
        r.join()
    return results


def twin(transport: str) -> str:
    """The second gateway set of a transport."""
    return f"{transport}+twin"


def sse(stack: Stack, transport: str, path: str, streams: int, errors: list[str], what: str) -> dict:
    async def run() -> list:
        return [await read_stream("127.0.0.1", stack.ports[f"gateway_{transport}"],
                                  f"{path}?n={SSE_EVENTS}&ms={SSE_INTERVAL_MS}&shape=openai", MASTER_KEY)
                for _ in range(streams)]
    results = asyncio.run(run())
    bad = sum(1 for r in results if r.error or r.status != 200 or r.lost(SSE_EVENTS) or r.reordered)
    if bad:
        errors.append(f"{what}: {bad} of {streams} streams failed, lost or reordered events")
    ttfe = [r.ttfe_ms for r in results if r.ttfe_ms is not None]
    delays = sorted(d for r in results for d in r.delays_ms)
    return {"ttfe": median(ttfe) if ttfe else None,
            "p99": delays[min(len(delays) - 1, int(len(delays) * 0.99))] if delays else None}


def sse_report(rounds: dict[str, list[dict]]) -> str:
    lines = ["| SSE, medians over rounds | unmetered | metered (usage: openai) | unmetered's spread | within it |",
             "|---|---:|---:|---:|---|"]
    for key, label in (("ttfe", "first event ms"), ("p99", "p99 event delay ms")):
        base = [r[key] for r in rounds["baseline"] if r.get(key) is not None]
        metered = [r[key] for r in rounds["metered"] if r.get(key) is not None]
        if not base or not metered:
            lines.append(f"| {label} | not measured | | | |")
            continue
        diff = median(metered) - median(base)
        # The noise: half the range the unmetered route's own medians took from round to round.
        spread = (max(base) - min(base)) / 2
        verdict = "yes" if abs(diff) <= spread else f"no ({diff:+.3f} ms)"
        lines.append(f"| {label} | {median(base):.3f} | {median(metered):.3f} ({diff:+.3f}) | ±{spread:.3f} | {verdict} |")
    return "\n".join(lines)


def main() -> int:
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__)
        return 0
    # A round's ratio moves by ±0.1 on two shared cores: the median of fewer rounds cannot
    # tell 4 % from 6 %.
    rounds, seconds = knob("BENCH_ROUNDS", 15), knob("BENCH_SECONDS", 5.0)
    loads = [int(c) for c in knob("BENCH_CONNECTIONS", "32,2").split(",") if c.strip()]
    sse_streams = knob("BENCH_SSE_STREAMS", 10)
    instances, threads = knob("BENCH_INSTANCES", 1), knob("BENCH_THREADS", 64)
    gateway_bin = Path(knob("GATEWAY_BIN", str(REPO / ".build/release/fcgi-pass-through")))
    transports = [t.strip() for t in knob("BENCH_TRANSPORTS", "curl").split(",") if t.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="fcgi-bench-usage-"))
    prices = workdir / "model_prices.json"
    prices.write_text(json.dumps({
        "rerank-english-v3.0": {"litellm_provider": "cohere", "mode": "rerank", "input_cost_per_query": 0.002,
                                "input_cost_per_token": 0.0, "output_cost_per_token": 0.0},
        "gpt-4o-mini": {"litellm_provider": "openai", "mode": "chat", "input_cost_per_token": 1.5e-07,
                        "output_cost_per_token": 6e-07, "cache_read_input_token_cost": 7.5e-08}}))
    ledger = workdir / "usage.db"
    settings = f"  model_cost_map: {prices}\n  usage_db: {ledger}\n"
    stack = Stack(workdir, gateway_bin, instances, threads, shlex.split(knob("BENCH_GATEWAY_ARGS", "")),
                  front_workers=knob("BENCH_FRONT_WORKERS", "auto"),
                  transports=[s for t in transports for s in (t, twin(t))], extra_settings=settings,
                  extra_endpoints=METERED_ENDPOINT)
    print(f"fcgi-pass-through usage bench: {rounds} rounds × {seconds:g} s per load run, {'/'.join(map(str, loads))} connections, "
          f"transports {', '.join(transports)}, two sets of {instances} gateway instance(s) × {threads} threads per transport, "
          f"{os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.2f}", flush=True)
    started = time.monotonic()
    try:
        stack.start()
        for t in transports:
            for gateway_set in (t, twin(t)):
                for s, path in PATHS.items():
                    problem = check(stack.ports[f"gateway_{gateway_set}"], MASTER_KEY, path)
                    if problem:
                        print(f"{gateway_set}, {SCENARIOS[s]}: the check request failed ({problem}); no measurement",
                              file=sys.stderr)
                        return 1
        errors: list[str] = []
        for t in transports:
            for gateway_set in (t, twin(t)):
                for path in PATHS.values():
                    load(stack, gateway_set, path, loads[0], 1, errors, "warm-up")
        errors.clear()
        results = {(t, c): {s: [] for s in PATHS} for t in transports for c in loads}
        sse_results = {t: {s: [] for s in SSE_PATHS} for t in transports}
        other = OtherLoad()
        for i in range(rounds):
            for t in transports:
                for c in loads:
                    # Which set serves which route alternates: a difference between the sets
                    # (where their threads and sockets landed) falls on both routes alike.
                    both = side_by_side(stack, t, c, seconds, errors, swapped=i % 2 == 1)
                    for s in PATHS:
                        results[t, c][s].append(both[s])
                for s in (list(SSE_PATHS) if i % 2 == 0 else list(reversed(SSE_PATHS))):
                    sse_results[t][s].append(sse(stack, t, SSE_PATHS[s], sse_streams, errors, f"{t}, SSE {s}"))
            print(f"round {i + 1}/{rounds} done ({time.monotonic() - started:.0f} s)", flush=True)
        for t in transports:
            for c in loads:
                rows = [(k, f"{label}, {c} connections" if k == "rps" else label, fmt) for k, label, fmt in ROWS]
                print(f"\nTransport {t}, {c} connections: medians over rounds; the metered cell reads "
                      f"median (− unmetered, ÷ unmetered of the same round)\n")
                print(table(results[t, c], SCENARIOS, rows, {"p50", "p99", "cpu_us"}))
            print()
            print(sse_report(sse_results[t]))
        print("\nGoal, median of per-round ratios (metered ÷ unmetered, gateway CPU per request):\n")
        print("| goal | " + " | ".join(transports) + " |")
        print("|---|" + "---:|" * len(transports))
        for c in loads:
            cells = [goal_cell_for(_paired(results[t, c]["baseline"], results[t, c]["metered"], "cpu_us", _ratio), GOAL)
                     for t in transports]
            print(f"| metering CPU per request ≤ {GOAL} × unmetered, {c} connections | " + " | ".join(cells) + " |")
        print()
        for t in transports:
            for c in loads:
                ratios = [m["cpu_us"] / b["cpu_us"] for b, m in zip(results[t, c]["baseline"], results[t, c]["metered"])
                          if b.get("cpu_us") and m.get("cpu_us")]
                print(f"{t}, {c} connections: per-round ratios " + ", ".join(f"{r:.3f}" for r in ratios))
        time.sleep(1.5)  # the ledger writers' last tick
        with sqlite3.connect(f"file:{ledger}?mode=ro", uri=True) as db:
            by_route = db.execute(
                "SELECT route, metered, partial, search_units, input_tokens, output_tokens, count(*) FROM spend_logs "
                "GROUP BY 1, 2, 3, 4, 5, 6 ORDER BY 1, 7 DESC").fetchall()
        # Rows not metered on a metered route are requests whose client left before the
        # body (wrk stopping mid-request at the end of a run): partial, nothing to read.
        print("\nledger rows: route, metered, partial, search units, input + output tokens: count")
        for route, metered, partial, units, tokens_in, tokens_out, count in by_route:
            print(f"  {route} metered={metered} partial={partial} units={units} tokens={tokens_in}+{tokens_out}: {count}")
        print(f"other processes kept {other.cpus():.2f} of {os.cpu_count()} CPUs busy during the rounds "
              f"(load average at end {os.getloadavg()[0]:.2f}); {time.monotonic() - started:.0f} s")
        for e in errors:
            print("errors:", e)
        return 0
    finally:
        stack.stop()
        remove_workdir(workdir)


if __name__ == "__main__":
    sys.exit(main())
