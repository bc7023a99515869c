"""Drives HTTP load with wrk and returns its summary as a dict."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent


def wrk(url: str, connections: int, seconds: float, body_file: Path, key: str, threads: int = 1) -> dict:
    env = dict(os.environ, BENCH_BODY_FILE=str(body_file), BENCH_KEY=key)
    args = ["wrk", f"-t{min(threads, connections)}", f"-c{connections}", f"-d{max(1, round(seconds))}s",
            "--timeout", "10s", "-s", str(BENCH_DIR / "wrk_post.lua"), url]
    try:
        out = subprocess.run(args, env=env, capture_output=True, text=True, timeout=seconds + 60)
    except subprocess.TimeoutExpired:
        # wrk itself stuck (seen once on a saturated machine): report the run as failed, go on.
        return {"requests": 0, "duration_us": seconds * 1e6, "p50_us": 0, "p99_us": 0, "connect": 0, "read": 0,
                "write": 0, "status": 0, "timeout": 1, "rps": 0.0, "errors": 1, "hung": True}
    for line in out.stdout.splitlines():
        if line.startswith("BENCH "):
            r = json.loads(line[6:])
            r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
            r["errors"] = r["connect"] + r["read"] + r["write"] + r["status"] + r["timeout"]
            return r
    raise RuntimeError(f"wrk printed no summary: {out.stdout}\n{out.stderr}")
