"""Gateway processes: `fcgi-pass-through --config <file> --socket unix:<path> --threads N`."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from .ports import accepts_unix
from .waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_BINARY = REPO_ROOT / ".build" / "debug" / "fcgi-pass-through"

EXIT_OK = 0
EXIT_USAGE = 64
EXIT_CONFIG = 78


def configured_binary() -> tuple[Path, bool]:
    """The binary under test and whether it was named explicitly (env GATEWAY_BIN)."""
    named = os.environ.get("GATEWAY_BIN")
    return (Path(named), True) if named else (DEFAULT_BINARY, False)


def base_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment: no inherited secrets, proxies or master key."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir), "LANG": "C.UTF-8"}
    if "LD_LIBRARY_PATH" in os.environ:
        env["LD_LIBRARY_PATH"] = os.environ["LD_LIBRARY_PATH"]
    env.update(extra or {})
    return env


def run_cli(binary: Path, args: list[str], env: dict[str, str], timeout: float = 15) -> subprocess.CompletedProcess:
    """Runs the binary to completion (e.g. `-t`), capturing stdout and stderr as text."""
    return subprocess.run(
        [str(binary), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )


class GatewayProcess:
    def __init__(
        self,
        binary: Path,
        workdir: Path,
        name: str,
        config_path: Path,
        env: dict[str, str],
        threads: int = 8,
        extra_args: list[str] | None = None,
    ) -> None:
        self.binary = binary
        self.name = name
        self.socket_path = workdir / f"{name}.sock"
        self.log_path = workdir / f"{name}.stderr"
        self.args = [
            str(binary),
            "--config", str(config_path),
            "--socket", f"unix:{self.socket_path}",
            "--threads", str(threads),
            *(extra_args or []),
        ]
        self.env = env
        self.proc: subprocess.Popen | None = None

    def start(self) -> "GatewayProcess":
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.args,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=self.env,
                start_new_session=True,
            )
        return self

    def wait_ready(self, timeout: float = 20) -> "GatewayProcess":
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"gateway {self.name} exited with {self.proc.returncode} before listening:\n{self.log_text()}"
                )
            return self.socket_path.exists() and accepts_unix(str(self.socket_path))

        wait_until(ready, timeout, f"gateway {self.name} to accept on {self.socket_path}")
        return self

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def signal(self, sig: int) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=timeout)

    def stop(self, timeout: float = 5) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within `timeout`."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()
        return self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
