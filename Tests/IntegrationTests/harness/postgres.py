"""A throwaway PostgreSQL server (Debian's binaries) in a test's directory.

`initdb` into `<workdir>/pg/data`, then `postgres` on a free loopback port with its
socket in `<workdir>/pg`; nothing of the system's PostgreSQL (services, clusters,
/var/run/postgresql) is used. Started as the `postgres` OS user when the tests run as
root, since initdb and postgres refuse root. `stop()` and `start()` again on the same
port and data are an outage; `close()` stops it for good.

The gateway's role `gw` logs in with a password over TCP (scram), so the URL it gets
carries a secret the tests can search for in what the gateway wrote.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import time
from pathlib import Path

from .ports import free_port


def bin_dir() -> Path | None:
    """The newest installed PostgreSQL server's binaries, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"), key=lambda p: int(p.split("/")[4]))
    return Path(found[-1]).parent if found else None


def missing_reason() -> str | None:
    """Why PostgreSQL tests cannot run here, or None."""
    if bin_dir() is None:
        return "PostgreSQL server binaries not installed (scripts/install-deps.sh installs the postgresql package)"
    if shutil.which("psql") is None:
        return "psql not installed (postgresql-client)"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no postgres user to run the server as"
    return None


class Postgres:
    def __init__(self, workdir: Path, database: str = "ledger") -> None:
        self.dir = workdir / "pg"
        self.data = self.dir / "data"
        self.log_path = self.dir / "server.log"
        self.port = free_port()
        self.database = database
        self.password = "pw-" + secrets.token_hex(12)
        self.bin = bin_dir()
        self._process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"postgresql://gw:{self.password}@127.0.0.1:{self.port}/{self.database}"

    def _as_server_user(self, command: list[str]) -> list[str]:
        return ["runuser", "-u", "postgres", "--", *command] if os.geteuid() == 0 else command

    def _run(self, command: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(
            self._as_server_user(command), check=True, capture_output=True, text=True, timeout=60, **kwargs
        )

    def start(self) -> "Postgres":
        first = not self.data.exists()
        if first:
            self.dir.mkdir(parents=True)
            if os.geteuid() == 0:
                shutil.chown(self.dir, "postgres", "postgres")
            self._run(
                [
                    str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
                    "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync",
                ]
            )
        log = open(self.log_path, "ab")
        self._process = subprocess.Popen(
            self._as_server_user(
                [
                    str(self.bin / "postgres"), "-D", str(self.data), "-k", str(self.dir), "-p", str(self.port),
                    "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                    "-c", "full_page_writes=off",
                ]
            ),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self._wait_ready()
        if first:
            self.psql(f"CREATE ROLE gw LOGIN PASSWORD '{self.password}'", database="postgres")
            self.psql(f"CREATE DATABASE {self.database} OWNER gw", database="postgres")
        return self

    def _wait_ready(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process and self._process.poll() is not None:
                raise RuntimeError(f"postgres exited: {self.log_path.read_text(errors='replace')[-2000:]}")
            ready = subprocess.run(
                [str(self.bin / "pg_isready"), "-h", str(self.dir), "-p", str(self.port), "-q"], capture_output=True
            )
            if ready.returncode == 0:
                return
            time.sleep(0.05)
        raise RuntimeError(f"postgres not ready after {timeout} s: {self.log_path.read_text(errors='replace')[-2000:]}")

    def psql(self, sql: str, database: str | None = None) -> str:
        """Runs `sql` as the superuser over the socket; the unaligned, tuples-only output."""
        result = self._run(
            [
                "psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h", str(self.dir), "-p", str(self.port),
                "-U", "postgres", "-d", database or self.database, "-c", sql,
            ]
        )
        return result.stdout.strip()

    def scalar(self, sql: str) -> int:
        return int(self.psql(sql) or 0)

    def stop(self) -> None:
        """A fast shutdown: clients are disconnected, the server is gone until `start()`."""
        if self._process is None:
            return
        self._run([str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"])
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def close(self) -> None:
        try:
            self.stop()
        except (subprocess.SubprocessError, OSError):
            # The server outlives a killed runuser: stop it by its data directory.
            subprocess.run(
                self._as_server_user([str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "immediate"]),
                capture_output=True,
                timeout=30,
            )
            if self._process is not None:
                self._process.kill()
                self._process.wait()
                self._process = None
