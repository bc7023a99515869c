"""Resource probes of a running process, read from /proc (Linux).

The fault tests compare these before and after: open descriptors and threads must
return to their baseline, memory must stay bounded.
"""

from __future__ import annotations

import os
import socket
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .gateway import sanitized
from .waiting import wait_until

# A memory bound means nothing under ASan or TSan: shadow memory and the quarantine of
# freed blocks grow RSS by hundreds of MiB. make test-sanitize skips those tests.
skip_memory_bound_if_sanitized = pytest.mark.skipif(sanitized(), reason="RSS is the sanitizer's under ASan/TSan")


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def status_field(pid: int, name: str) -> int:
    """A numeric field of /proc/<pid>/status (`VmRSS`, `VmHWM` in KiB, `Threads`)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise KeyError(name)


def context_switches(pid: int) -> int:
    """Voluntary context switches of every thread of `pid` so far: how often its threads slept
    and were woken."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            total += status_field_of(f"/proc/{pid}/task/{task}/status", "voluntary_ctxt_switches")
        except (FileNotFoundError, ProcessLookupError):
            pass  # the thread ended meanwhile
    return total


def status_field_of(path: str, name: str) -> int:
    with open(path) as f:
        for line in f:
            if line.startswith(name + ":"):
                return int(line.split()[1])
    raise KeyError(name)


def rss_kib(pid: int) -> int:
    return status_field(pid, "VmRSS")


def threads(pid: int) -> int:
    return status_field(pid, "Threads")


def spool_files(pid: int) -> list[int]:
    """Sizes in bytes of the response spool files the gateway holds open (unlinked
    `fcgi-pass-through-spool.*` in its TMPDIR, docs/BEHAVIOUR.md §5.5)."""
    sizes = []
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            if "/fcgi-pass-through-spool." in os.readlink(f"/proc/{pid}/fd/{fd}"):
                sizes.append(os.stat(f"/proc/{pid}/fd/{fd}").st_size)
        except OSError:  # closed meanwhile
            continue
    return sizes


def environ(pid: int) -> dict[str, str]:
    with open(f"/proc/{pid}/environ", "rb") as f:
        entries = f.read().split(b"\0")
    pairs = (e.decode("utf-8", "replace").partition("=") for e in entries if e)
    return {k: v for k, _, v in pairs}


def settle(probe, limit: int, timeout: float, what: str) -> int:
    """Waits until `probe()` is at most `limit`; returns the last value."""
    last = [probe()]

    def ok() -> bool:
        last[0] = probe()
        return last[0] <= limit

    try:
        wait_until(ok, timeout, what, interval=0.05)
    except AssertionError as error:
        raise AssertionError(f"{error} (last value {last[0]}, limit {limit})") from None
    return last[0]


@dataclass
class PeakSampler:
    """Samples a probe in the background and keeps the peak, e.g. VmRSS during a stream."""

    probe: object
    interval: float = 0.02
    peak: int = 0
    samples: list[int] = field(default_factory=list)

    def __enter__(self) -> "PeakSampler":
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                value = self.probe()
            except (OSError, KeyError):
                return
            self.samples.append(value)
            self.peak = max(self.peak, value)
            time.sleep(self.interval)

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=2)


class BlackholePort:
    """A TCP port whose connects hang: a listener with a full accept queue.

    Linux drops further SYNs while the queue of a backlog-0 listener is full, so a
    connect() neither succeeds nor fails until the caller gives up.
    """

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self.port: int = self._listener.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._fillers: list[socket.socket] = []
        # Fill the queue (backlog 0 admits one pending connection, sometimes two).
        for _ in range(4):
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            try:
                filler.connect(("127.0.0.1", self.port))
            except BlockingIOError:
                pass
            self._fillers.append(filler)

    def close(self) -> None:
        for filler in self._fillers:
            filler.close()
        self._listener.close()


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def owner_of_tcp_port(pids: list[int], local_port: int) -> int | None:
    """Which of `pids` holds the loopback TCP socket bound to `local_port`."""
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    inodes = {row[9] for row in rows if int(row[1].split(":")[1], 16) == local_port}
    return next((pid for pid in pids if socket_inodes(pid) & inodes), None)


def listen_queue(gateway) -> tuple[int, int]:
    """(connections waiting to be accepted, backlog) of a gateway's listening socket, from `ss`.

    For a listening socket `ss` shows the queue length as Recv-Q and the backlog the
    kernel applies (the one asked for, capped at net.core.somaxconn) as Send-Q."""
    if gateway.listen == "tcp":
        args = ["ss", "-tlnH", f"sport = :{gateway.port}"]
    else:
        args = ["ss", "-xlnH", "src", str(gateway.socket_path)]
    rows = [line.split() for line in subprocess.run(args, capture_output=True, text=True, check=True).stdout.splitlines()]
    assert rows, f"no listening socket for {gateway.nginx_server}"
    return int(rows[0][2]), int(rows[0][3])


def somaxconn() -> int:
    with open("/proc/sys/net/core/somaxconn") as f:
        return int(f.read())


def children(pid: int) -> list[int]:
    """Direct child processes of `pid` (a supervisor's workers)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return sorted(found)


def sample_values(text: str, name: str, **labels: str) -> list[float]:
    """The values of a Prometheus text sample `name` whose labels include `labels`."""
    values = []
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            values.append(float(line.rsplit(" ", 1)[1]))
    return values


def wait_for_workers(gateway, count: int) -> None:
    """The stack is ready once one worker answers; on a loaded machine another may take
    seconds more. A test that needs every worker's threads waits for all of them."""
    wait_until(lambda: gateway.log_text().count("ready socket=fd:") >= count, 20, f"{count} workers to be ready")
