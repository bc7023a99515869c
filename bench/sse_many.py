#!/usr/bin/env python3
"""`make bench-sse`: many concurrent SSE streams through ONE gateway instance.

Each stream carries BENCH_SSE_EVENTS events (300) one every BENCH_SSE_INTERVAL_MS (100 ms),
so the default is 1,000 streams × 30 s. The same streams go through nginx proxy_pass
first: its delays are the floor of this client and machine. Reports events lost or
reordered, per-event delay (upstream write → client read) p50/p99/max, CPU per event
(nginx alone; nginx + gateway) and the gateway's peak RSS. Knobs: BENCH_SSE_CONCURRENT (1000), BENCH_SSE_EVENTS, BENCH_SSE_INTERVAL_MS,
BENCH_THREADS (streams + 64: each stream holds a worker thread), BENCH_GATEWAY_ARGS.
"""
from __future__ import annotations

import asyncio
import os
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procstat import OtherLoad, cpu_ms, rss_kib, threads  # noqa: E402
from sse_client import read_stream  # noqa: E402
from stack import MASTER_KEY, REPO, Stack  # noqa: E402


def env(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


async def run(port: int, streams: int, events: int, interval_ms: int, sample, pids) -> dict:
    peak = {"rss": 0, "threads": 0}
    done = asyncio.Event()

    async def sampler():
        while not done.is_set():
            rss, n = sample()
            peak["rss"], peak["threads"] = max(peak["rss"], rss), max(peak["threads"], n)
            await asyncio.sleep(0.5)

    task = asyncio.create_task(sampler())
    path = f"/sse?n={events}&ms={interval_ms}"
    started, cpu = time.monotonic(), cpu_ms(pids())
    results = await asyncio.gather(*(read_stream("127.0.0.1", port, path, MASTER_KEY,
                                                 timeout=events * interval_ms / 1000 + 60) for _ in range(streams)))
    elapsed = time.monotonic() - started
    cpu = cpu_ms(pids()) - cpu
    done.set()
    await task
    delays = [d for r in results for d in r.delays_ms]
    return {
        "failed": sum(1 for r in results if r.error or r.status != 200),
        "lost": sum(r.lost(events) for r in results),
        "reordered": sum(r.reordered for r in results),
        "events": len(delays),
        "p50": percentile(delays, 50), "p99": percentile(delays, 99), "max": max(delays, default=float("nan")),
        "ttfe_p99": percentile([r.ttfe_ms for r in results if r.ttfe_ms is not None], 99),
        "cpu_us_per_event": cpu * 1000 / max(1, len(delays)),
        "rss_mib": peak["rss"] / 1024, "threads": peak["threads"], "seconds": elapsed,
        "errors": sorted({r.error for r in results if r.error})[:3],
    }


def main() -> int:
    streams, events, interval = env("BENCH_SSE_CONCURRENT", 1000), env("BENCH_SSE_EVENTS", 300), env("BENCH_SSE_INTERVAL_MS", 100)
    gateway_bin = Path(os.environ.get("GATEWAY_BIN") or REPO / ".build/release/fcgi-pass-through")
    workdir = Path(tempfile.mkdtemp(prefix="fcgi-bench-sse-"))
    stack = Stack(workdir, gateway_bin, 1, env("BENCH_THREADS", streams + 64),
                  shlex.split(os.environ.get("BENCH_GATEWAY_ARGS", "")))
    print(f"{streams} concurrent SSE streams × {events} events every {interval} ms, one gateway instance; "
          f"load average {os.getloadavg()[0]:.2f}", flush=True)
    try:
        stack.start()
        idle_rss = rss_kib(stack.gateway_pids()) / 1024
        other = OtherLoad()
        rows = {}
        for name, port, sample, pids in (
            ("nginx proxy_pass", stack.ports["baseline"], lambda: (rss_kib(stack.front_pids()), 0), stack.front_pids),
            ("gateway", stack.ports["gateway"],
             lambda: (rss_kib(stack.gateway_pids()), sum(threads(p) for p in stack.gateway_pids())),
             lambda: stack.gateway_pids() + stack.front_pids()),
        ):
            rows[name] = asyncio.run(run(port, streams, events, interval, sample, pids))
            print(f"{name} done in {rows[name]['seconds']:.0f} s", flush=True)
        print()
        print("| | streams failed | events lost | reordered | delay p50 ms | p99 ms | max ms | CPU µs per event | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, r in rows.items():
            print(f"| {name} | {r['failed']} | {r['lost']} | {r['reordered']} | {r['p50']:.2f} | {r['p99']:.2f} | "
                  f"{r['max']:.1f} | {r['cpu_us_per_event']:.0f} | {r['rss_mib']:.1f} |")
        g, b = rows["gateway"], rows["nginx proxy_pass"]
        added = g["p99"] - b["p99"]
        print(f"\ngateway: idle RSS {idle_rss:.1f} MiB, peak {g['rss_mib']:.1f} MiB with {g['threads']} threads; "
              f"p99 delay added over nginx {added:+.2f} ms")
        ok = g["lost"] == 0 and g["reordered"] == 0 and g["failed"] == 0
        print(f"goal (0 lost or reordered, p99 added ≤ 50 ms, RSS ≤ 256 MiB): "
              f"{'met' if ok and added <= 50 and g['rss_mib'] <= 256 else 'GAP'}")
        for name, r in rows.items():
            for e in r["errors"]:
                print(f"errors ({name}): {e}")
        print(f"other processes kept {other.cpus():.2f} of {os.cpu_count()} CPUs busy meanwhile")
        return 0
    finally:
        stack.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
