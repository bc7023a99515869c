#!/usr/bin/env python3
"""`make bench-sse`: many concurrent SSE streams through ONE gateway instance per transport.

Each stream carries BENCH_SSE_EVENTS events (300) one every BENCH_SSE_INTERVAL_MS (100 ms),
so the default is 1,000 streams × 30 s. The same streams go through nginx proxy_pass
first: its delays are the floor of this client and machine. Then through one gateway
instance per transport in BENCH_TRANSPORTS (default "curl,urlsession"; BENCH_TRANSPORT
is the same knob), one transport after the other, never at once, and through nginx
again: the gateway rows are compared with the lower of the two nginx p99 delays, since
the load of a shared machine changes between runs. Reports events lost or
reordered, per-event delay (upstream write → client read) p50/p99/max, CPU per event
(nginx alone; nginx + gateway), the gateway's peak RSS, threads and highest fd number.

Each stream holds a gateway worker thread for its whole length, so an instance needs
more threads than streams (BENCH_THREADS, default streams + 64), and an fd for the
FastCGI connection plus one for the upstream connection per stream. BENCH_SSE_WORKERS=N
runs the instance as a supervisor with N worker processes (--workers N), threads split
between them. Knobs: BENCH_SSE_CONCURRENT (1000), BENCH_SSE_EVENTS, BENCH_SSE_INTERVAL_MS,
BENCH_THREADS, BENCH_SSE_WORKERS (1), BENCH_GATEWAY_ARGS, BENCH_SSE_HOG (1: a CPU hog,
`stress-ng --cpu 1`, keeps one core busy through every run, nginx's included; 0: none).
"""
from __future__ import annotations

import asyncio
import os
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from procstat import OtherLoad, cpu_ms, highest_fd, rss_kib, threads  # noqa: E402
from sse_client import read_stream  # noqa: E402
from stack import MASTER_KEY, REPO, Stack, remove_workdir  # noqa: E402


def env(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p / 100))]


async def run(port: int, streams: int, events: int, interval_ms: int, sample, pids) -> dict:
    peak = {"rss": 0, "threads": 0, "fds": 0}
    done = asyncio.Event()

    async def sampler():
        while not done.is_set():
            rss, n, fds = sample()
            peak["rss"], peak["threads"], peak["fds"] = max(peak["rss"], rss), max(peak["threads"], n), max(peak["fds"], fds)
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
        "rss_mib": peak["rss"] / 1024, "threads": peak["threads"], "fds": peak["fds"], "seconds": elapsed,
        "errors": sorted({r.error for r in results if r.error})[:3],
    }


def main() -> int:
    streams, events, interval = env("BENCH_SSE_CONCURRENT", 1000), env("BENCH_SSE_EVENTS", 300), env("BENCH_SSE_INTERVAL_MS", 100)
    transports = [t.strip() for t in (os.environ.get("BENCH_TRANSPORTS") or os.environ.get("BENCH_TRANSPORT")
                                      or "curl,urlsession").split(",") if t.strip()]
    workers = env("BENCH_SSE_WORKERS", 1)
    hog = env("BENCH_SSE_HOG", 1) == 1
    per_process = env("BENCH_THREADS", -(-streams // workers) + 64)
    args = shlex.split(os.environ.get("BENCH_GATEWAY_ARGS", ""))
    if workers > 1:
        args += ["--workers", str(workers)]
    gateway_bin = Path(os.environ.get("GATEWAY_BIN") or REPO / ".build/release/fcgi-pass-through")
    workdir = Path(tempfile.mkdtemp(prefix="fcgi-bench-sse-"))
    stack = Stack(workdir, gateway_bin, 1, per_process, args, transports=transports)
    shape = f"{workers} worker processes × {per_process} threads" if workers > 1 else f"{per_process} threads"
    print(f"{streams} concurrent SSE streams × {events} events every {interval} ms, one gateway instance "
          f"({shape}) per transport: {', '.join(transports)}; load average {os.getloadavg()[0]:.2f}", flush=True)
    hog_process = None
    try:
        stack.start()
        idle_rss = {t: rss_kib(stack.gateway_pids(t)) / 1024 for t in transports}
        if hog:
            # One core kept busy for the whole run, nginx's rows included: the floor moves too.
            hog_process = subprocess.Popen(["stress-ng", "--cpu", "1", "--quiet"], stdout=subprocess.DEVNULL)
            print("CPU hog: stress-ng --cpu 1 runs throughout", flush=True)
        other = OtherLoad()
        rows = {}

        def gateway_sample(t: str):
            pids = stack.gateway_pids(t)
            return rss_kib(pids), sum(threads(p) for p in pids), max((highest_fd(p) for p in pids), default=0)

        nginx = (stack.ports["baseline"], lambda: (rss_kib(stack.front_pids()), 0, 0), stack.front_pids)
        targets = [("nginx proxy_pass", *nginx)]
        for t in transports:
            targets.append((f"gateway, {t}", stack.ports[f"gateway_{t}"], lambda t=t: gateway_sample(t),
                            lambda t=t: stack.gateway_pids(t) + stack.front_pids()))
        # nginx again at the end: on a shared machine the load can change between runs, and
        # the gateway rows are compared with the better of the two floors.
        targets.append(("nginx proxy_pass, again", *nginx))
        for name, port, sample, pids in targets:
            rows[name] = asyncio.run(run(port, streams, events, interval, sample, pids))
            print(f"{name} done in {rows[name]['seconds']:.0f} s", flush=True)
        print()
        print("| | streams failed | events lost | reordered | delay p50 ms | p99 ms | max ms | CPU µs per event | peak RSS MiB |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for name, r in rows.items():
            print(f"| {name} | {r['failed']} | {r['lost']} | {r['reordered']} | {r['p50']:.2f} | {r['p99']:.2f} | "
                  f"{r['max']:.1f} | {r['cpu_us_per_event']:.0f} | {r['rss_mib']:.1f} |")
        b = min(rows["nginx proxy_pass"], rows["nginx proxy_pass, again"], key=lambda r: r["p99"])
        print()
        for t in transports:
            g = rows[f"gateway, {t}"]
            added = g["p99"] - b["p99"]
            alive = all(gateway.alive for gateway in stack.gateways[t])
            print(f"gateway, {t}: idle RSS {idle_rss[t]:.1f} MiB, peak {g['rss_mib']:.1f} MiB with {g['threads']} threads "
                  f"highest fd number {g['fds']}; p99 delay added over nginx {added:+.2f} ms"
                  + ("" if alive else "; THE GATEWAY EXITED (see its log)"))
            ok = g["lost"] == 0 and g["reordered"] == 0 and g["failed"] == 0
            print(f"  goal (0 lost or reordered, p99 added ≤ 20 ms{' with a CPU hog on one core' if hog else ''}, "
                  f"RSS ≤ 256 MiB): {'met' if ok and added <= 20 and g['rss_mib'] <= 256 else 'GAP'}")
        for name, r in rows.items():
            for e in r["errors"]:
                print(f"errors ({name}): {e}")
        print(f"other processes kept {other.cpus():.2f} of {os.cpu_count()} CPUs busy meanwhile")
        for t in transports:
            for gateway in stack.gateways[t]:
                crashed = [line for line in gateway.log_text().splitlines()
                           if "out of range" in line or "fatal" in line.lower() or "exited" in line]
                for line in crashed[:5]:
                    print(f"gateway {t} log: {line}")
        return 0
    finally:
        if hog_process:
            hog_process.terminate()
            hog_process.wait()
        stack.stop()
        remove_workdir(workdir)


if __name__ == "__main__":
    sys.exit(main())
