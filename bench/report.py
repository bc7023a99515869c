"""Turns per-round measurements into the table `make bench` prints."""
from __future__ import annotations

from statistics import median

# key, label, format; latency rows also show the difference (what the gateway adds).
ROWS = [
    ("rps32", "req/s, 32 connections, HTTP upstream", "{:,.0f}"),
    ("p50_32", "p50 ms, 32 connections, HTTP", "{:.2f}"),
    ("p99_32", "p99 ms, 32 connections, HTTP", "{:.2f}"),
    ("rps32s", "req/s, 32 connections, HTTPS upstream", "{:,.0f}"),
    ("p50_32s", "p50 ms, 32 connections, HTTPS", "{:.2f}"),
    ("p99_32s", "p99 ms, 32 connections, HTTPS", "{:.2f}"),
    ("p50_1", "p50 ms, 1 connection, HTTP", "{:.3f}"),
    ("p99_1", "p99 ms, 1 connection, HTTP", "{:.3f}"),
    ("cpu32", "CPU ms per request, HTTP (nginx + gateway)", "{:.3f}"),
    ("cpu32_own", "  of which the gateway processes", "{:.3f}"),
    ("cpu32s", "CPU ms per request, HTTPS (nginx + gateway)", "{:.3f}"),
    ("rss", "RSS MiB after the HTTP run (all processes)", "{:.1f}"),
    ("ttfe", "SSE time to first event, ms (median)", "{:.2f}"),
    ("gap", "SSE largest added gap between events, ms", "{:.2f}"),
    ("conn32", "upstream TCP connections opened per 1,000 requests", "{:.1f}"),
    ("conn32s", "upstream TLS connections opened per 1,000 requests", "{:.1f}"),
]
DIFF_KEYS = {"p50_32", "p99_32", "p50_32s", "p99_32s", "p50_1", "p99_1", "ttfe", "gap"}


def _values(rounds: list[dict], key: str) -> list[float]:
    return [r[key] for r in rounds if r.get(key) is not None]


def _med(values: list[float]) -> float | None:
    return median(values) if values else None


def _paired(base: list[dict], other: list[dict], key: str, op) -> float | None:
    # A ratio to a baseline of (almost) nothing says nothing: connection counts of 0.0.
    floor = 0.1 if key in ("conn32", "conn32s") else 0
    pairs = [op(o[key], b[key]) for b, o in zip(base, other)
             if b.get(key) is not None and o.get(key) is not None and (op is not _ratio or b[key] > floor)]
    return _med(pairs)


def _ratio(a: float, b: float) -> float:
    return a / b


def _diff(a: float, b: float) -> float:
    return a - b


def table(results: dict[str, list[dict]], names: dict[str, str]) -> str:
    base = results["baseline"]
    others = [t for t in results if t != "baseline"]
    head = "| measure | " + names["baseline"] + " | " + " | ".join(
        f"{names[t]} | ÷ nginx | − nginx" for t in others) + " |"
    sep = "|---|---:|" + "|".join("---:|---:|---:" for _ in others) + "|"
    lines = [head, sep]
    for key, label, fmt in ROWS:
        b = _med(_values(base, key))
        if b is None and all(_med(_values(results[t], key)) is None for t in others):
            continue
        cells = [label, fmt.format(b) if b is not None else "–"]
        for t in others:
            v = _med(_values(results[t], key))
            ratio = _paired(base, results[t], key, _ratio)
            diff = _paired(base, results[t], key, _diff) if key in DIFF_KEYS else None
            cells += [fmt.format(v) if v is not None else "–",
                      f"{ratio:.2f}" if ratio is not None else "–",
                      f"{diff:+.2f}" if diff is not None else ""]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def goals(results: dict[str, list[dict]]) -> list[str]:
    base, gw = results["baseline"], results["gateway"]
    out = []

    def line(goal: str, value: float | None, ok, shown: str) -> None:
        if value is None:
            out.append(f"  {goal:<60} not measured")
        else:
            out.append(f"  {goal:<60} {shown.format(value):<14} {'met' if ok(value) else 'GAP'}")

    line("throughput 32 conn HTTP ≥ 0.25 × nginx", _paired(base, gw, "rps32", _ratio), lambda v: v >= 0.25, "{:.2f} ×")
    own = _med([r["rps32s"] / r["rps32"] for r in gw if r.get("rps32s") and r.get("rps32")])
    line("throughput HTTPS ≥ 0.8 × gateway's own HTTP", own, lambda v: v >= 0.8, "{:.2f} ×")
    line("upstream connections ≤ 10 per 1,000 requests, HTTP", _med(_values(gw, "conn32")), lambda v: v <= 10, "{:.1f}")
    line("upstream connections ≤ 10 per 1,000 requests, HTTPS", _med(_values(gw, "conn32s")), lambda v: v <= 10, "{:.1f}")
    line("added latency, 1 connection, p50 ≤ 0.3 ms", _paired(base, gw, "p50_1", _diff), lambda v: v <= 0.3, "{:+.3f} ms")
    line("SSE time to first event ≤ 1 ms over nginx", _paired(base, gw, "ttfe", _diff), lambda v: v <= 1.0, "{:+.2f} ms")
    return out
