#!/usr/bin/env python3
"""`make bench`: the gateway against nginx proxy_pass to the same upstreams, in one run.

One set of gateway instances per upstream transport (BENCH_TRANSPORTS, default
"curl,urlsession"), each behind its own front port. Rounds interleave the targets
scenario by scenario (baseline, urlsession, curl, baseline, urlsession, curl...) so drift
in the machine's load hits all of them; the table shows medians over rounds and, per
round, each gateway's figure divided by (and minus) the baseline's of the same round.
Timing never fails the command; errors (non-2xx, resets) are printed next to the table.

Knobs (environment): BENCH_TRANSPORTS (curl,urlsession), BENCH_ROUNDS (5), BENCH_SECONDS
per load run (5), BENCH_CONNECTIONS (32), BENCH_INSTANCES gateway instances per transport
(2), BENCH_THREADS per instance (64),
BENCH_GATEWAY_ARGS extra gateway flags, BENCH_FRONT_WORKERS nginx workers (auto),
BENCH_BASELINE_KEEPALIVE=0 (nginx's default: a new upstream connection per request),
BENCH_FASTCGI_KEEPALIVE=N (nginx keeps N idle FastCGI connections per worker: fastcgi_keep_conn on),
BENCH_LIBCURL_DEFAULTS=1 (bench/libcurl_defaults.c: what two libcurl defaults cost URLSession),
BENCH_CURL_IGNORE_MAXCONNECTS=1 / BENCH_CURL_KEEP_CAPATH=1 (the same aid: undo one of the curl transport's settings),
BENCH_SSE_STREAMS per round (10), BENCH_ONLY (a subset of http,https,latency,sse), BENCH_LITELLM=1 adds LiteLLM Proxy, BENCH_KEEP=1 keeps
the temporary directory, GATEWAY_BIN.
"""
from __future__ import annotations

import asyncio
import os
import shlex
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from statistics import median

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import wrk  # noqa: E402
from procstat import OtherLoad, cpu_ms, rss_kib, wakeup_costs  # noqa: E402
from report import goals, table  # noqa: E402
from sse_client import read_stream  # noqa: E402
from stack import MASTER_KEY, REPO, Stack, remove_workdir  # noqa: E402

SSE_EVENTS, SSE_INTERVAL_MS = 20, 10


def knob(name: str, default):
    value = os.environ.get(name)
    return type(default)(value) if value not in (None, "") else default


def ms(us: float | None) -> float | None:
    return None if us is None else us / 1000


def post(port: int, path: str) -> int:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=b'{"query":"q","documents":["d"]}',
                                 headers={"Authorization": f"Bearer {MASTER_KEY}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            r.read()
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


class Bench:
    def __init__(self, stack: Stack, seconds: float, connections: int, sse_streams: int) -> None:
        self.stack = stack
        self.seconds = seconds
        self.connections = connections
        self.sse_streams = sse_streams
        self.errors: list[str] = []
        self.scenarios = knob("BENCH_ONLY", "http,https,latency,sse").split(",")

    def target_pids(self, target: str) -> list[int]:
        if target in self.stack.transports:
            return self.stack.gateway_pids(target)
        if target == "litellm":
            return self.stack.litellm_pids()
        return []

    def load(self, target: str, port: int, path: str, connections: int, seconds: float) -> dict:
        front, own = self.stack.front_pids(), self.target_pids(target)
        accepted, cpu_front, cpu_own = self.stack.upstream_accepts(), cpu_ms(front), cpu_ms(own)
        r = wrk(f"http://127.0.0.1:{port}{path}", connections, seconds, self.stack.dir / "body.json", MASTER_KEY)
        if r.get("hung"):
            self.errors.append(f"{target} {path} c={connections}: wrk did not finish; run left out")
            return {k: None for k in ("rps", "p50_us", "p99_us", "cpu_total", "cpu_own", "conns", "rss_mib")}
        n = max(1, r["requests"])
        r["cpu_total"] = (cpu_ms(front) - cpu_front + cpu_ms(own) - cpu_own) / n
        r["cpu_own"] = (cpu_ms(own) - cpu_own) / n
        r["conns"] = (self.stack.upstream_accepts() - accepted) * 1000 / n
        r["rss_mib"] = rss_kib(own or front) / 1024
        if r["errors"]:
            self.errors.append(f"{target} {path} c={connections}: {r['errors']} errors of {r['requests']} "
                               f"(status {r['status']}, connect {r['connect']}, read {r['read']}, timeout {r['timeout']})")
        return r

    def sse(self, port: int) -> tuple[float | None, float | None, int]:
        async def streams():
            results = []
            for _ in range(self.sse_streams):
                results.append(await read_stream("127.0.0.1", port, f"/sse?n={SSE_EVENTS}&ms={SSE_INTERVAL_MS}", MASTER_KEY))
            return results
        results = asyncio.run(streams())
        ttfe = [r.ttfe_ms for r in results if r.ttfe_ms is not None]
        gaps = [g for r in results for g in r.added_gaps_ms]
        bad = sum(1 for r in results if r.error or r.status != 200 or r.lost(SSE_EVENTS) or r.reordered)
        return (median(ttfe) if ttfe else None), (max(gaps) if gaps else None), bad

    def round(self, targets: dict[str, int], https: dict[str, bool]) -> dict[str, dict]:
        out: dict[str, dict] = {t: {} for t in targets}
        c, s = self.connections, self.seconds
        for t, port in targets.items():
            if "http" not in self.scenarios:
                break
            r = self.load(t, port, "/v1/rerank", c, s)
            out[t].update(rps32=r["rps"], p50_32=ms(r["p50_us"]), p99_32=ms(r["p99_us"]),
                          cpu32=r["cpu_total"], cpu32_own=r["cpu_own"] if t != "baseline" else None,
                          conn32=r["conns"], rss=r["rss_mib"])
        for t, port in targets.items():
            if https[t] and "https" in self.scenarios:
                r = self.load(t, port, "/tls/v1/rerank", c, s)
                out[t].update(rps32s=r["rps"], p50_32s=ms(r["p50_us"]), p99_32s=ms(r["p99_us"]),
                              cpu32s=r["cpu_total"], conn32s=r["conns"])
        for t, port in targets.items():
            if "latency" not in self.scenarios:
                break
            r = self.load(t, port, "/v1/rerank", 1, s)
            out[t].update(p50_1=ms(r["p50_us"]), p99_1=ms(r["p99_us"]))
        for t, port in targets.items():
            if "sse" not in self.scenarios:
                break
            ttfe, gap, bad = self.sse(port)
            out[t].update(ttfe=ttfe, gap=gap)
            if bad:
                self.errors.append(f"{t} SSE: {bad} of {self.sse_streams} streams failed, lost or reordered events")
        return out


def main() -> int:
    rounds, seconds = knob("BENCH_ROUNDS", 5), knob("BENCH_SECONDS", 5.0)
    instances, threads = knob("BENCH_INSTANCES", 2), knob("BENCH_THREADS", 64)
    gateway_bin = Path(knob("GATEWAY_BIN", str(REPO / ".build/release/fcgi-pass-through")))
    transports = [t.strip() for t in knob("BENCH_TRANSPORTS", "curl,urlsession").split(",") if t.strip()]
    workdir = Path(tempfile.mkdtemp(prefix="fcgi-bench-"))
    stack = Stack(workdir, gateway_bin, instances, threads, shlex.split(knob("BENCH_GATEWAY_ARGS", "")),
                  front_workers=knob("BENCH_FRONT_WORKERS", "auto"), ca_trust=knob("BENCH_CA_TRUST", "mount"),
                  baseline_keepalive=knob("BENCH_BASELINE_KEEPALIVE", "1") != "0", transports=transports)
    if knob("BENCH_LITELLM", "") == "1":
        from litellm_target import prepare_litellm
        prepare_litellm(stack)
    print(f"fcgi-pass-through bench: {rounds} rounds × {seconds:g} s per load run, transports {', '.join(transports)}, "
          f"{instances} gateway instance(s) × {threads} threads per transport, {os.cpu_count()} CPUs, "
          f"load average at start {os.getloadavg()[0]:.2f}", flush=True)
    started = time.monotonic()
    try:
        stack.start()
        targets = {"baseline": stack.ports["baseline"]}
        names = {"baseline": "nginx proxy_pass"}
        for t in transports:
            targets[t] = stack.ports[f"gateway_{t}"]
            names[t] = f"gateway, {t}"
        if stack.litellm_port:
            targets["litellm"] = stack.ports["litellm_front"]
            names["litellm"] = "LiteLLM"
        https = {t: post(p, "/tls/v1/rerank") == 200 for t, p in targets.items()}
        for t, ok in https.items():
            if not ok:
                print(f"note: {names[t]} cannot reach the HTTPS upstream; its HTTPS rows are left out", flush=True)
        bench = Bench(stack, seconds, knob("BENCH_CONNECTIONS", 32), knob("BENCH_SSE_STREAMS", 10))
        for t, port in targets.items():  # warm-up: connections, caches, page faults
            bench.load(t, port, "/v1/rerank", bench.connections, 1)
            if https[t]:
                bench.load(t, port, "/tls/v1/rerank", bench.connections, 1)
        bench.errors.clear()
        results: dict[str, list[dict]] = {t: [] for t in targets}
        other = OtherLoad()
        for i in range(rounds):
            for t, r in bench.round(targets, https).items():
                results[t].append(r)
            print(f"round {i + 1}/{rounds} done ({time.monotonic() - started:.0f} s)", flush=True)
        print()
        print(table(results, names))
        print()
        print("Goals, medians of per-round figures:")
        print("\n".join(goals(results, transports)))
        print(f"\nother processes kept {other.cpus():.2f} of {os.cpu_count()} CPUs busy during the rounds "
              f"(load average at end {os.getloadavg()[0]:.2f}, which counts the benchmark's own threads); "
              f"{time.monotonic() - started:.0f} s")
        print(f"this machine: {wakeup_costs(workdir)}")
        for e in bench.errors:
            print("errors:", e)
        return 0
    finally:
        stack.stop()
        remove_workdir(workdir)


if __name__ == "__main__":
    sys.exit(main())
