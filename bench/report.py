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
# Connection counts near zero: a ratio between 0.4 and a baseline's 0.1 (or 0.0) says nothing.
NO_RATIO_KEYS = {"conn32", "conn32s"}


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


def _ratio_text(r: float) -> str:
    return f"{r:.2f} ×" if r < 10 else f"{r:.1f} ×" if r < 100 else f"{r:.0f} ×"


def table(results: dict[str, list[dict]], names: dict[str, str], rows: list[tuple[str, str, str]] = ROWS,
          diff_keys: set[str] = DIFF_KEYS) -> str:
    """One column per target: its median, then (÷ and, for `diff_keys`, − the baseline of the same
    round). `rows` and `diff_keys` default to `make bench`'s; bench/keys.py passes its own."""
    base = results["baseline"]
    others = [t for t in results if t != "baseline"]
    head = "| measure | " + " | ".join(names[t] for t in ["baseline", *others]) + " |"
    sep = "|---|" + "---:|" * (1 + len(others))
    lines = [head, sep]
    for key, label, fmt in rows:
        b = _med(_values(base, key))
        if b is None and all(_med(_values(results[t], key)) is None for t in others):
            continue
        cells = [label, fmt.format(b) if b is not None else "–"]
        for t in others:
            v = _med(_values(results[t], key))
            if v is None:
                cells.append("–")
                continue
            ratio = _paired(base, results[t], key, _ratio) if key not in NO_RATIO_KEYS else None
            diff = _paired(base, results[t], key, _diff) if key in diff_keys else None
            extra = [x for x in (f"{diff:+.2f}" if diff is not None else None,
                                 _ratio_text(ratio) if ratio is not None else None) if x]
            cells.append(fmt.format(v) + (f" ({', '.join(extra)})" if extra else ""))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


GOALS = [
    # label, how it is computed, test, shown
    ("throughput, 32 connections, HTTP ≥ 0.25 × nginx keep-alive proxy_pass", "rps_ratio", lambda v: v >= 0.25,
     "{:.2f} ×"),
    ("throughput, HTTPS ≥ 0.9 × the gateway's own HTTP", "https_own", lambda v: v >= 0.9, "{:.2f} ×"),
    ("new upstream connections ≤ 1 per 1,000 requests, HTTP", "conn32", lambda v: v <= 1, "{:.1f}"),
    ("new upstream connections ≤ 1 per 1,000 requests, HTTPS", "conn32s", lambda v: v <= 1, "{:.1f}"),
    ("added latency, 1 connection, p50 ≤ 0.2 ms", "p50_1", lambda v: v <= 0.2, "{:+.3f} ms"),
    ("SSE time to first event ≤ 0.3 ms over nginx", "ttfe", lambda v: v <= 0.3, "{:+.2f} ms"),
]


def _goal_value(base: list[dict], gw: list[dict], how: str) -> float | None:
    if how == "rps_ratio":
        return _paired(base, gw, "rps32", _ratio)
    if how == "https_own":
        return _med([r["rps32s"] / r["rps32"] for r in gw if r.get("rps32s") and r.get("rps32")])
    if how in ("conn32", "conn32s"):
        return _med(_values(gw, how))
    return _paired(base, gw, how, _diff)


def goals(results: dict[str, list[dict]], targets: list[str]) -> list[str]:
    """Each goal `make bench` measures, for each gateway target: the figure and met / GAP."""
    base = results["baseline"]
    out = ["| goal | " + " | ".join(targets) + " |", "|---|" + "---:|" * len(targets)]
    for label, how, ok, shown in GOALS:
        cells = []
        for t in targets:
            v = _goal_value(base, results[t], how)
            cells.append("not measured" if v is None else f"{shown.format(v)} {'met' if ok(v) else 'GAP'}")
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    out.append("(1,000 concurrent SSE streams: make bench-sse; memory over 1,000,000 requests: make bench-soak)")
    return out
