"""A private Redis for one test: `redis-server` from Debian on a free loopback port, its
files in the test's directory, a random password; stopped and restarted on the same port
to stand in for an outage. No system service is touched."""

from __future__ import annotations

import secrets
import shutil
import signal
import socket
import subprocess
from pathlib import Path

from .ports import accepts_tcp, free_port
from .waiting import wait_until

REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"


def available() -> str | None:
    """None when redis-server can run here, else why not (the skip reason)."""
    if not Path(REDIS_BIN).is_file():
        return "redis-server is not installed (Debian package redis-server)"
    return None


class RedisServer:
    def __init__(self, workdir: Path) -> None:
        self.dir = workdir / "redis"
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.password = secrets.token_hex(16)
        self.log_path = self.dir / "redis.log"
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    def start(self) -> "RedisServer":
        args = [
            REDIS_BIN, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--dir", str(self.dir), "--requirepass", self.password, "--logfile", str(self.log_path),
            "--daemonize", "no",
        ]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        wait_until(lambda: self._ping(), 10, f"redis-server on port {self.port}", interval=0.02)
        return self

    def kill(self) -> None:
        """SIGKILL: the outage a crash or a lost host makes (nothing is saved)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=5)
        wait_until(lambda: not accepts_tcp(self.port), 5, f"port {self.port} to close")

    def pause(self) -> None:
        """SIGSTOP: a server that hangs, its port still accepting connections."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)  # a paused server would not act on SIGTERM
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)

    def command(self, *args: str) -> object:
        """One command over RESP; the reply (bytes, int, list or None). Raises on an error reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            reader = sock.makefile("rb")
            sock.sendall(encode("AUTH", self.password) + encode(*args))
            read_reply(reader)
            return read_reply(reader)

    def keys(self) -> list[str]:
        """Every key in the server (SCAN, all databases the gateway uses: 0)."""
        found, cursor = [], b"0"
        while True:
            cursor, batch = self.command("SCAN", cursor.decode(), "COUNT", "1000")
            found += [k.decode() for k in batch]
            if cursor == b"0":
                return found

    def _ping(self) -> bool:
        try:
            return self.command("PING") == "PONG"
        except OSError:
            return False


def encode(*args: str) -> bytes:
    out = f"*{len(args)}\r\n".encode()
    for arg in args:
        data = arg.encode()
        out += f"${len(data)}\r\n".encode() + data + b"\r\n"
    return out


def read_reply(reader) -> object:
    line = reader.readline()
    if not line:
        raise ConnectionError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise RuntimeError(rest.decode())
    if kind == b":":
        return int(rest)
    if kind == b"$":
        size = int(rest)
        return None if size < 0 else reader.read(size + 2)[:-2]
    if kind == b"*":
        count = int(rest)
        return None if count < 0 else [read_reply(reader) for _ in range(count)]
    raise RuntimeError(f"unexpected reply {line!r}")
