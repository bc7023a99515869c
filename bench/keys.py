#!/usr/bin/env python3
"""`make bench-keys`: what authenticating with a client key costs, against the master key, in one run.

The gateway's config holds BENCH_KEYS (10,000) client keys (`general_settings.keys`, random
keys given as `key_hash`, aliases bench-00000...) and a `limits_file` in the run's directory.
Three scenarios load the seed POST route (/v1/rerank) through the same instances:

    master    the master key
    key       a client key without limits (the last entry of the list)
    limited   a client key with limits far above the load (rpm_limit 100,000,000,
              max_parallel_requests 100,000), so every request goes through the host-wide table

Rounds interleave them (master, key, limited, master, ...) per transport, so drift in the
machine's load hits all three. The figure that matters is the gateway's CPU per request:
user + system time of the gateway processes over a wrk run, divided by its requests. The
goal (the keys issue): a client key costs at most 2 % more gateway CPU per request than the
master key, as the median of per-round ratios. Timing never fails the command; non-2xx
answers are printed as errors (a 429 would mean the limits were hit: there must be none).

Knobs (environment): BENCH_TRANSPORTS (curl; curl,urlsession for both), BENCH_ROUNDS (5),
BENCH_SECONDS per load run (5), BENCH_CONNECTIONS (32), BENCH_KEYS (10000), BENCH_INSTANCES
gateway instances per transport (2), BENCH_THREADS per instance (64), BENCH_GATEWAY_ARGS extra
gateway flags, BENCH_FRONT_WORKERS nginx workers (auto), BENCH_KEEP=1 keeps the temporary
directory, GATEWAY_BIN.
"""
from __future__ import annotations

import hashlib
import os
import secrets
import shlex
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import wrk  # noqa: E402
from procstat import OtherLoad, cpu_ms  # noqa: E402
from report import _paired, _ratio, table  # noqa: E402
from stack import MASTER_KEY, REPO, RERANK_REQUEST, Stack, remove_workdir  # noqa: E402

GOAL = 1.02  # client key's gateway CPU per request ≤ 1.02 × the master key's
SCENARIOS = {"baseline": "master key", "key": "client key", "limited": "client key with limits"}
ROWS = [
    ("rps", "req/s", "{:,.0f}"),
    ("p50", "p50 ms", "{:.2f}"),
    ("p99", "p99 ms", "{:.2f}"),
    ("cpu_us", "gateway CPU µs per request", "{:.1f}"),
]


def knob(name: str, default):
    value = os.environ.get(name)
    return type(default)(value) if value not in (None, "") else default


def key_settings(count: int, limits_file: Path) -> tuple[str, dict[str, str]]:
    """The YAML lines under general_settings and the two keys the load presents. Both are the
    last entries of the list, where a search through it would take longest."""
    lines = [f"  limits_file: {limits_file}", "  keys:"]
    used: dict[str, str] = {}
    for i in range(count):
        key, alias = "sk-" + secrets.token_hex(32), f"bench-{i:05d}"
        lines += [f"    - key_alias: {alias}", f"      key_hash: {hashlib.sha256(key.encode()).hexdigest()}"]
        if i == count - 2:
            lines += ["      rpm_limit: 100000000", "      max_parallel_requests: 100000"]
            used["limited"] = key
        elif i == count - 1:
            used["key"] = key
    # "baseline" is the master key: report.table compares every column with that one.
    return "\n".join(lines) + "\n", {"baseline": MASTER_KEY, "key": used["key"], "limited": used["limited"]}


def check(port: int, key: str, path: str = "/v1/rerank") -> str | None:
    """One request with the key: None if it is answered 200, else what went wrong."""
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=RERANK_REQUEST.encode(),
                                 headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            return None if r.status == 200 else f"status {r.status}"
    except urllib.error.HTTPError as e:
        return f"status {e.code}: {e.read()[:200]!r}"
    except OSError as e:
        return str(e)


def load(stack: Stack, transport: str, key: str, connections: int, seconds: float, errors: list[str],
         what: str, path: str = "/v1/rerank") -> dict:
    """One wrk run; gateway CPU is that transport's gateway processes, before and after."""
    port, pids = stack.ports[f"gateway_{transport}"], stack.gateway_pids(transport)
    before = cpu_ms(pids)
    r = wrk(f"http://127.0.0.1:{port}{path}", connections, seconds, stack.dir / "body.json", key)
    if r.get("hung"):
        errors.append(f"{what}: wrk did not finish; run left out")
        return {"status": 0}
    if r["errors"]:
        errors.append(f"{what}: {r['errors']} errors of {r['requests']} (non-2xx {r['status']}, "
                      f"connect {r['connect']}, read {r['read']}, timeout {r['timeout']})")
    return {"rps": r["rps"], "p50": r["p50_us"] / 1000, "p99": r["p99_us"] / 1000,
            "cpu_us": (cpu_ms(pids) - before) * 1000 / max(1, r["requests"]), "status": r["status"]}


def goal_cell_for(v: float | None, goal: float) -> str:
    if v is None:
        return "not measured"
    return f"{v:.3f} × met" if v <= goal else f"{v:.3f} × GAP (+{(v - 1) * 100:.1f} %, goal +{(goal - 1) * 100:.0f} %)"


def goal_cell(v: float | None) -> str:
    return goal_cell_for(v, GOAL)


def main() -> int:
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(__doc__)
        return 0
    rounds, seconds, connections = knob("BENCH_ROUNDS", 5), knob("BENCH_SECONDS", 5.0), knob("BENCH_CONNECTIONS", 32)
    count, instances, threads = knob("BENCH_KEYS", 10000), knob("BENCH_INSTANCES", 2), knob("BENCH_THREADS", 64)
    if count < 2:
        print("BENCH_KEYS must be at least 2", file=sys.stderr)
        return 2
    gateway_bin = Path(knob("GATEWAY_BIN", str(REPO / ".build/release/fcgi-pass-through")))
    transports = [t.strip() for t in knob("BENCH_TRANSPORTS", "curl").split(",") if t.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="fcgi-bench-keys-"))
    settings, keys = key_settings(count, workdir / "limits")
    stack = Stack(workdir, gateway_bin, instances, threads, shlex.split(knob("BENCH_GATEWAY_ARGS", "")),
                  front_workers=knob("BENCH_FRONT_WORKERS", "auto"), transports=transports, extra_settings=settings)
    print(f"fcgi-pass-through keys bench: {count:,} configured keys, {rounds} rounds × {seconds:g} s per load run, "
          f"{connections} connections, transports {', '.join(transports)}, {instances} gateway instance(s) × "
          f"{threads} threads per transport, {os.cpu_count()} CPUs, load average at start {os.getloadavg()[0]:.2f}",
          flush=True)
    started = time.monotonic()
    try:
        stack.start()
        print(f"gateways ready ({time.monotonic() - started:.1f} s after start, config of "
              f"{(workdir / f'config-{transports[0]}.yaml').stat().st_size / 1e6:.1f} MB)", flush=True)
        for t in transports:  # a key that is refused would make every figure meaningless
            for s, key in keys.items():
                problem = check(stack.ports[f"gateway_{t}"], key)
                if problem:
                    print(f"{t}, {SCENARIOS[s]}: the check request failed ({problem}); no measurement", file=sys.stderr)
                    return 1
        errors: list[str] = []
        for t in transports:  # warm-up: connections, caches, page faults
            for key in keys.values():
                load(stack, t, key, connections, 1, errors, "warm-up")
        errors.clear()
        results = {t: {s: [] for s in keys} for t in transports}
        other = OtherLoad()
        for i in range(rounds):
            for t in transports:
                for s, key in keys.items():
                    results[t][s].append(load(stack, t, key, connections, seconds, errors, f"{t}, {SCENARIOS[s]}"))
            print(f"round {i + 1}/{rounds} done ({time.monotonic() - started:.0f} s)", flush=True)
        rows = [(k, f"{label}, {connections} connections" if k == "rps" else label, fmt) for k, label, fmt in ROWS]
        for t in transports:
            print(f"\nTransport {t}: medians over rounds; a client key's cell reads "
                  f"median (− master key, ÷ master key of the same round)\n")
            print(table(results[t], SCENARIOS, rows, {"p50", "p99", "cpu_us"}))
            non2xx = ", ".join(f"{SCENARIOS[s]} {sum(r['status'] for r in results[t][s])}" for s in keys)
            print(f"non-2xx answers (a 429 would mean the limits were hit; all must be 0): {non2xx}")
        print("\nGoal, median of per-round ratios (client key ÷ master key, gateway CPU per request):\n")
        print("| goal | " + " | ".join(transports) + " |")
        print("|---|" + "---:|" * len(transports))
        for s, label in (("key", f"client key CPU per request ≤ {GOAL} × master key, 1 of {count:,} keys"),
                         ("limited", "the same with limits (host-wide table; informational)")):
            cells = [goal_cell(_paired(results[t]["baseline"], results[t][s], "cpu_us", _ratio)) for t in transports]
            print(f"| {label} | " + " | ".join(cells) + " |")
        print(f"\nother processes kept {other.cpus():.2f} of {os.cpu_count()} CPUs busy during the rounds "
              f"(load average at end {os.getloadavg()[0]:.2f}); {time.monotonic() - started:.0f} s")
        for e in errors:
            print("errors:", e)
        return 0
    finally:
        stack.stop()
        remove_workdir(workdir)


if __name__ == "__main__":
    sys.exit(main())
