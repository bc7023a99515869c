#!/usr/bin/env python3
"""`make bench-soak`: memory of one gateway instance over BENCH_SOAK_REQUESTS (1,000,000).

One soak per transport in BENCH_TRANSPORTS (default "curl,urlsession"; BENCH_TRANSPORT
is the same knob), one after the other, each with a fresh instance and upstreams.
The gateway runs with its defaults (no --threads); wrk drives BENCH_CONNECTIONS (32)
connections in runs of BENCH_SOAK_CHUNK_SECONDS (20) until the count is reached, and the
instance's RSS is sampled after each run. Growth is measured from the first 100,000
requests on (allocator pools and connection caches filled), and the slope (bytes per
request, least squares) says whether it keeps growing. BENCH_SOAK_PATH /tls/v1/rerank
soaks the HTTPS route. Throughout, the instance's /metrics is read twice a second: the
longest stretch in which no request completed is reported (a stall shows there even when
a chunk's total looks fine). BENCH_SOAK_HOG=N runs `stress-ng --cpu N` beside the soak
(2: both cores busy), the way a stall under a saturated machine is reproduced.
"""
from __future__ import annotations

import os
import shlex
import re
import subprocess
import threading
import urllib.request
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import wrk  # noqa: E402
from procstat import OtherLoad, rss_kib  # noqa: E402
from stack import MASTER_KEY, REPO, Stack, remove_workdir  # noqa: E402

WARM = 100_000


def slope(points: list[tuple[int, float]]) -> float:
    n = len(points)
    if n < 2:
        return float("nan")
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    var = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / var if var else float("nan")


class CompletionWatch:
    """Reads the instance's request counter twice a second; the longest stretch without
    a completed request is what a stall looks like."""

    COUNTER = re.compile(r'^fcgi_pass_through_requests_total\{[^}]*route="(?!/metrics)[^"]*"[^}]*\} (\d+)', re.M)

    def __init__(self, url: str):
        self.url = url
        self.stop = threading.Event()
        self.longest = 0.0
        self.longest_at = 0.0
        self.started = time.monotonic()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def count(self) -> int | None:
        try:
            with urllib.request.urlopen(self.url, timeout=5) as resp:
                return sum(int(n) for n in self.COUNTER.findall(resp.read().decode()))
        except OSError:
            return None

    def run(self) -> None:
        last, last_change = self.count(), time.monotonic()
        while not self.stop.wait(0.5):
            now, n = time.monotonic(), self.count()
            if n is not None and n != last:
                last, last_change = n, now
            elif now - last_change > self.longest:
                self.longest, self.longest_at = now - last_change, last_change - self.started

    def finish(self) -> None:
        self.stop.set()
        self.thread.join()


def main() -> int:
    transports = [t.strip() for t in (os.environ.get("BENCH_TRANSPORTS") or os.environ.get("BENCH_TRANSPORT")
                                      or "curl,urlsession").split(",") if t.strip()]
    for i, transport in enumerate(transports):
        if i:
            print()
        soak(transport)
    return 0


def soak(transport: str) -> None:
    target = int(os.environ.get("BENCH_SOAK_REQUESTS") or 1_000_000)
    chunk = float(os.environ.get("BENCH_SOAK_CHUNK_SECONDS") or 20)
    connections = int(os.environ.get("BENCH_CONNECTIONS") or 32)
    path = os.environ.get("BENCH_SOAK_PATH") or "/v1/rerank"
    gateway_bin = Path(os.environ.get("GATEWAY_BIN") or REPO / ".build/release/fcgi-pass-through")
    workdir = Path(tempfile.mkdtemp(prefix="fcgi-bench-soak-"))
    # Logs at warning: a million request lines would only fill the disk.
    stack = Stack(workdir, gateway_bin, 1, None, ["--log-level", "warning",
                                                  *shlex.split(os.environ.get("BENCH_GATEWAY_ARGS", ""))],
                  transports=[transport])
    print(f"soak, transport {transport}: {target:,} requests to {path} at {connections} connections through one "
          f"gateway instance (default flags); load average {os.getloadavg()[0]:.2f}", flush=True)
    try:
        stack.start()
        pids = stack.gateway_pids()
        url = f"http://127.0.0.1:{stack.ports[f'gateway_{transport}']}{path}"
        hog_cpus = int(os.environ.get("BENCH_SOAK_HOG") or 0)
        hog = subprocess.Popen(["stress-ng", "--cpu", str(hog_cpus), "--quiet"]) if hog_cpus else None
        if hog:
            print(f"CPU hog: stress-ng --cpu {hog_cpus} throughout", flush=True)
        watch = CompletionWatch(f"http://127.0.0.1:{stack.ports[f'gateway_{transport}']}/metrics")
        done, errors, started, other = 0, 0, time.monotonic(), OtherLoad()
        kinds = dict.fromkeys(("status", "connect", "read", "write", "timeout"), 0)
        samples = [(0, rss_kib(pids) / 1024)]
        print("| requests | RSS MiB | req/s | errors |\n|---:|---:|---:|---:|")
        print(f"| 0 | {samples[0][1]:.1f} | | |", flush=True)
        while done < target:
            r = wrk(url, connections, chunk, stack.dir / "body.json", MASTER_KEY)
            done += r["requests"]
            errors += r["errors"]
            for k in kinds:
                kinds[k] += r.get(k, 0)
            pids = stack.gateway_pids() or pids
            samples.append((done, rss_kib(pids) / 1024))
            kinds_now = ", ".join(f"{k} {r.get(k, 0)}" for k in kinds if r.get(k, 0))
            print(f"| {done:,} | {samples[-1][1]:.1f} | {r['rps']:,.0f} | {kinds_now} |", flush=True)
            if not stack.gateway_pids():
                print("the gateway exited")
                break
        watch.finish()
        if hog:
            hog.terminate()
            hog.wait()
        after_warm = [(n, m) for n, m in samples if n >= WARM] or samples
        growth = samples[-1][1] - after_warm[0][1]
        per_request = slope(after_warm) * 1024 * 1024
        print(f"\nRSS {samples[0][1]:.1f} MiB idle → {after_warm[0][1]:.1f} MiB at {after_warm[0][0]:,} requests → "
              f"{samples[-1][1]:.1f} MiB at {done:,}: growth {growth:+.1f} MiB after warm-up, "
              f"slope {per_request:.0f} bytes per request (≈ {per_request * 1e6 / 2**20:.0f} MiB per million); "
              f"{errors} errors{' (' + ', '.join(f'{k} {v}' for k, v in kinds.items() if v) + ')' if errors else ''}; "
              f"{time.monotonic() - started:.0f} s")
        print(f"goal, {transport} (growth ≤ 20 MiB per worker over 1,000,000 requests, defaults): "
              f"{'met' if samples[-1][1] - samples[1][1] <= 20 and done >= 1_000_000 else 'GAP' if done >= 1_000_000 else 'not reached'}"
              f" (growth from the first sample: {samples[-1][1] - samples[1][1]:+.1f} MiB)")
        print(f"longest stretch without a completed request: {watch.longest:.1f} s "
              f"(from {watch.longest_at:.0f} s into the soak); goal, no window without completions "
              f"(none of 5 s or more): {'met' if watch.longest < 5 else 'GAP'}")
        print(f"other processes kept {other.cpus():.2f} of {os.cpu_count()} CPUs busy meanwhile")
    finally:
        stack.stop()
        remove_workdir(workdir)


if __name__ == "__main__":
    sys.exit(main())
