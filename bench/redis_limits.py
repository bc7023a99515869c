#!/usr/bin/env python3
"""`make bench-redis`: what counting a key's limits in Redis costs, against the same key's
host-wide limits and a key without limits, in one run.

Two gateway stacks (bench/stack.py) with the same keys: one counts limits in its host-wide
table, the other in a private redis-server (Tests/IntegrationTests/harness/redis_server.py)
on loopback. Three scenarios load the seed POST route (/v1/rerank):

    baseline  a client key without limits (host-wide stack)
    hostwide  a key with limits far above the load (rpm_limit 100,000,000,
              max_parallel_requests 100,000), counted in the host-wide table
    redis     the same key on the Redis stack: one script per request (admits that
              arrive together share a write), the slot given back with a later admit
              or on its own within 1 ms

Each round runs every scenario at 1 connection (p50) and at BENCH_CONNECTIONS (throughput),
interleaved so drift in the machine's load hits all three. Goals (docs/SHARED_STATE.md):
Redis limits add at most 0.3 ms to the p50 at 1 connection and keep at least 0.8 × the
throughput of limits off, as medians of per-round differences and ratios. redis-server runs
on the same machine here, so its CPU (reported) is taken from the gateway's; on a separate
Redis host it is not. Timing never fails the command.

Knobs (environment): BENCH_ROUNDS (3), BENCH_SECONDS per load run (4), BENCH_CONNECTIONS
(32), BENCH_INSTANCES per stack (2), BENCH_THREADS per instance (64), BENCH_KEEP=1,
GATEWAY_BIN. The curl transport only: the upstream side is not what is measured.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from keys import check, knob, load  # noqa: E402
from report import _diff, _paired, _ratio, table  # noqa: E402
from stack import REPO, Stack, remove_workdir  # noqa: E402

from harness.redis_server import RedisServer, available  # noqa: E402  (path set by stack.py)

P50_GOAL_MS = 0.3
RPS_GOAL = 0.8
SCENARIOS = {"baseline": "limits off", "hostwide": "host-wide limits", "redis": "limits in Redis"}
ROWS = [("p50_1", "p50 ms, 1 connection", "{:.3f}"), ("rps", "req/s, {c} connections", "{:,.0f}"),
        ("p50", "p50 ms, {c} connections", "{:.2f}"), ("p99", "p99 ms, {c} connections", "{:.2f}"),
        ("cpu_us", "gateway CPU µs per request, {c} connections", "{:.1f}"),
        ("redis_us", "redis-server CPU µs per request, {c} connections", "{:.1f}")]


def redis_cpu_s(redis: RedisServer) -> float:
    """The server's own CPU seconds (INFO cpu): on this machine it competes with the gateway."""
    info = redis.command("INFO", "cpu").decode()
    fields = dict(line.split(":", 1) for line in info.splitlines() if ":" in line)
    return float(fields["used_cpu_sys"]) + float(fields["used_cpu_user"])


def settings(limits: Path, redis_url: str | None) -> tuple[str, dict[str, str]]:
    free, limited = "sk-" + secrets.token_hex(32), "sk-" + secrets.token_hex(32)
    lines = [f"  limits_file: {limits}", *([f"  redis_url: {redis_url}"] if redis_url else []), "  keys:",
             "    - key_alias: bench-free", f"      key_hash: {hashlib.sha256(free.encode()).hexdigest()}",
             "    - key_alias: bench-limited", f"      key_hash: {hashlib.sha256(limited.encode()).hexdigest()}",
             "      rpm_limit: 100000000", "      max_parallel_requests: 100000"]
    return "\n".join(lines) + "\n", {"free": free, "limited": limited}


def main() -> int:
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__)
        return 0
    if (reason := available()) is not None:
        print(f"no measurement: {reason}", file=sys.stderr)
        return 1
    rounds, seconds, connections = knob("BENCH_ROUNDS", 3), knob("BENCH_SECONDS", 4.0), knob("BENCH_CONNECTIONS", 32)
    instances, threads = knob("BENCH_INSTANCES", 2), knob("BENCH_THREADS", 64)
    gateway_bin = Path(knob("GATEWAY_BIN", str(REPO / ".build/release/fcgi-pass-through")))
    workdir = Path(tempfile.mkdtemp(prefix="fcgi-bench-redis-"))
    redis = RedisServer(workdir)
    stacks: dict[str, Stack] = {}
    print(f"fcgi-pass-through Redis limits bench: {rounds} rounds × {seconds:g} s per load run, 1 and {connections} "
          f"connections, {instances} instance(s) × {threads} threads per stack, {os.cpu_count()} CPUs, load average at "
          f"start {os.getloadavg()[0]:.2f}", flush=True)
    started = time.monotonic()
    try:
        redis.start()
        host_settings, keys = settings(workdir / "host" / "limits", None)
        redis_settings, redis_keys = settings(workdir / "redis" / "limits", redis.url)
        for name, text in (("host", host_settings), ("redis", redis_settings)):
            stacks[name] = Stack(workdir / name, gateway_bin, instances, threads, [], transports=["curl"],
                                 extra_settings=text)
            stacks[name].start()
        runs = {"baseline": (stacks["host"], keys["free"]), "hostwide": (stacks["host"], keys["limited"]),
                "redis": (stacks["redis"], redis_keys["limited"])}
        for s, (stack, key) in runs.items():
            if problem := check(stack.ports["gateway_curl"], key):
                print(f"{SCENARIOS[s]}: the check request failed ({problem}); no measurement", file=sys.stderr)
                return 1
        if not any(name.endswith(":requests") for name in redis.keys()):
            print("the Redis stack left nothing in Redis: limits are not counted there", file=sys.stderr)
            return 1
        errors: list[str] = []
        for stack, key in runs.values():  # warm-up
            load(stack, "curl", key, connections, 1, errors, "warm-up")
        errors.clear()
        results: dict[str, list[dict]] = {s: [] for s in runs}
        for i in range(rounds):
            for s, (stack, key) in runs.items():
                one = load(stack, "curl", key, 1, seconds, errors, f"{SCENARIOS[s]}, 1 connection")
                before = redis_cpu_s(redis)
                many = load(stack, "curl", key, connections, seconds, errors, f"{SCENARIOS[s]}, {connections} connections")
                if s == "redis" and many.get("rps"):
                    many["redis_us"] = (redis_cpu_s(redis) - before) * 1e6 / (many["rps"] * seconds)
                many["p50_1"] = one.get("p50")
                results[s].append(many)
            print(f"round {i + 1}/{rounds} done ({time.monotonic() - started:.0f} s)", flush=True)
        rows = [(k, label.format(c=connections), fmt) for k, label, fmt in ROWS]
        print("\nMedians over rounds; a cell reads median (− limits off, ÷ limits off of the same round)\n")
        print(table(results, SCENARIOS, rows, {"p50_1", "p50", "p99", "cpu_us"}))
        added = _paired(results["baseline"], results["redis"], "p50_1", _diff)
        ratio = _paired(results["baseline"], results["redis"], "rps", _ratio)
        print("\n| goal | measured |\n|---|---:|")
        print(f"| added p50 at 1 connection ≤ +{P50_GOAL_MS} ms (Redis limits vs limits off) | "
              + ("not measured" if added is None else f"{added:+.3f} ms " + ("met" if added <= P50_GOAL_MS else
                 f"GAP ({added - P50_GOAL_MS:+.3f} ms over)")) + " |")
        print(f"| throughput at {connections} connections ≥ {RPS_GOAL} × limits off | "
              + ("not measured" if ratio is None else f"{ratio:.3f} × " + ("met" if ratio >= RPS_GOAL else
                 f"GAP ({RPS_GOAL - ratio:.3f} short)")) + " |")
        print(f"\nload average at end {os.getloadavg()[0]:.2f}; {time.monotonic() - started:.0f} s")
        for e in errors:
            print("errors:", e)
        return 0
    finally:
        for stack in stacks.values():
            stack.stop()
        redis.stop()
        remove_workdir(workdir)


if __name__ == "__main__":
    sys.exit(main())
