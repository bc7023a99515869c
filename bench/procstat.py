"""CPU time and resident memory of process trees, read from /proc."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

TICK_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _ppid_map() -> dict[int, int]:
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat[stat.rindex(")") + 2 :].split()[1])
            except (OSError, ValueError):
                pass
    return parents


def tree(roots: list[int]) -> list[int]:
    """The roots and all their descendants (a supervisor's worker processes included)."""
    parents = _ppid_map()
    found = [pid for pid in roots if pid in parents]
    frontier = list(found)
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        found += frontier
    return found


def children(pid: int) -> list[int]:
    return [p for p, parent in _ppid_map().items() if parent == pid]


def cpu_ms(pids: list[int]) -> float:
    """User + system CPU consumed so far by these processes (their own threads)."""
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            fields = stat[stat.rindex(")") + 2 :].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, ValueError):
            pass
    return total * TICK_MS


def rss_kib(pids: list[int]) -> int:
    total = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except (OSError, ValueError):
            pass
    return total


def threads(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/task"))
    except OSError:
        return 0


def highest_fd(pid: int) -> int:
    """The highest open file descriptor number (libfcgi's select() cannot take one ≥ 1024)."""
    try:
        return max((int(n) for n in os.listdir(f"/proc/{pid}/fd")), default=-1)
    except OSError:
        return -1


def busy_ms() -> float:
    """CPU time the whole machine has spent busy (all CPUs), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle, iowait
    return (sum(fields[:8]) - idle) * TICK_MS


def own_ms() -> float:
    """CPU time of this process, its live descendants and its reaped children (wrk runs)."""
    t = os.times()
    return cpu_ms(tree([os.getpid()])[1:]) + (t.user + t.system + t.children_user + t.children_system) * 1000


class OtherLoad:
    """How many CPUs processes outside this benchmark kept busy since it was created."""

    def __init__(self) -> None:
        self.busy, self.own, self.wall = busy_ms(), own_ms(), time.monotonic()

    def cpus(self) -> float:
        wall = (time.monotonic() - self.wall) * 1000
        return max(0.0, (busy_ms() - self.busy) - (own_ms() - self.own)) / wall if wall else 0.0


def wakeup_costs(workdir: Path) -> str:
    """What one thread waking another costs here, across CPUs and on one (bench/wakeup.c),
    as a sentence for a report; every hop of a proxied request is such a wake-up."""
    compiler = next((c for c in ("cc", "clang", "gcc") if shutil.which(c)), None)
    if compiler is None:
        return "wake-up cost not measured (no C compiler)"
    binary = workdir / "wakeup"
    try:
        subprocess.run([compiler, "-O2", "-pthread", "-o", str(binary), str(Path(__file__).with_name("wakeup.c"))],
                       check=True, capture_output=True, timeout=60)
        out = subprocess.run([str(binary)], check=True, capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as error:
        return f"wake-up cost not measured ({error})"
    fields = dict(part.split("=", 1) for part in out.split())
    return (f"one thread waking another costs {fields['cross_cpu_us']} µs across CPUs and {fields['same_cpu_us']} µs "
            "on one CPU here (bench/wakeup.c); a request through the gateway makes two such hops more than "
            "one through nginx alone")
