"""Gateway processes: `fcgi-pass-through --config <file> --socket unix:<path> --threads N`."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
from pathlib import Path

from .leaks import record_output
from .ports import accepts_tcp, accepts_unix, free_port
from .waiting import wait_until

REPO_ROOT = Path(__file__).resolve().parents[3]
DEFAULT_BINARY = REPO_ROOT / ".build" / "debug" / "fcgi-pass-through"

EXIT_OK = 0
EXIT_USAGE = 64
EXIT_CONFIG = 78

# Passed on to the gateway: the sanitizer builds (make test-sanitize) read their options here.
PASSED_THROUGH = ("LD_LIBRARY_PATH", "ASAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS", "SWIFT_BACKTRACE")
SANITIZER_REPORT = re.compile(r"^.*(ERROR: (Address|Leak)Sanitizer|WARNING: ThreadSanitizer|ThreadSanitizer: ).*$", re.M)
CRASH_SIGNALS = {signal.SIGSEGV, signal.SIGABRT, signal.SIGBUS, signal.SIGILL, signal.SIGTRAP, signal.SIGFPE}


def sanitized() -> bool:
    """Under make test-sanitize: memory figures and a few exit paths are then the sanitizer's."""
    return "ASAN_OPTIONS" in os.environ or "TSAN_OPTIONS" in os.environ


def sanitizer_report(text: str) -> str | None:
    """The first sanitizer report in a log, from its headline on, or None."""
    match = SANITIZER_REPORT.search(text)
    return text[match.start() : match.start() + 6000] if match else None


def configured_binary() -> tuple[Path, bool]:
    """The binary under test and whether it was named explicitly (env GATEWAY_BIN)."""
    named = os.environ.get("GATEWAY_BIN")
    return (Path(named), True) if named else (DEFAULT_BINARY, False)


def transport() -> str:
    """The upstream transport under test: env GATEWAY_TRANSPORT (default: the gateway's own)."""
    return os.environ.get("GATEWAY_TRANSPORT", "urlsession")


def transport_args() -> list[str]:
    """`--transport NAME` when a transport was chosen for the run, else nothing."""
    chosen = os.environ.get("GATEWAY_TRANSPORT")
    return ["--transport", chosen] if chosen else []


def base_env(workdir: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A clean environment: no inherited secrets, proxies or master key."""
    # STATE_DIRECTORY: each test's spend ledger (usage.db) in its own directory, as systemd's
    # StateDirectory= gives it.
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(workdir),
        "LANG": "C.UTF-8",
        "STATE_DIRECTORY": str(workdir),
    }
    env.update({name: os.environ[name] for name in PASSED_THROUGH if name in os.environ})
    env.update(extra or {})
    return env


def run_cli(binary: Path, args: list[str], env: dict[str, str], timeout: float = 15) -> subprocess.CompletedProcess:
    """Runs the binary to completion (e.g. `-t`), capturing stdout and stderr as text."""
    result = subprocess.run(
        [str(binary), *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    # What the gateway printed left it too: the secret scan reads it.
    record_output(f"output of {' '.join(args[:3])}", result.stdout + result.stderr)
    report = sanitizer_report(result.stderr)
    assert report is None, f"sanitizer report from {binary.name} {' '.join(args)}:\n{report}"
    return result


class GatewayProcess:
    """One instance. `listen` is how it gets its socket:

    - "unix": `--socket unix:<workdir>/<name>.sock` (the gateway creates it)
    - "tcp": `--socket tcp:127.0.0.1:<free port>`
    - "inherited": a listening unix socket made here and passed on fd 0, no `--socket`
      (as spawn-fcgi and systemd `StandardInput=socket` do)

    `threads` None leaves `--threads` out (the gateway's default); `transport` names the
    `--transport` to pass (default: GATEWAY_TRANSPORT's, if set); `log_path` is where
    stdout and stderr go (default: <workdir>/<name>.stderr).
    """

    def __init__(
        self,
        binary: Path,
        workdir: Path,
        name: str,
        config_path: Path,
        env: dict[str, str],
        threads: int | None = 8,
        extra_args: list[str] | None = None,
        listen: str = "unix",
        transport: str | None = None,
        log_path: Path | None = None,
    ) -> None:
        self.binary = binary
        self.name = name
        self.listen = listen
        self.socket_path = workdir / f"{name}.sock"
        self.log_path = log_path or workdir / f"{name}.stderr"
        self.port = free_port() if listen == "tcp" else None
        self._inherited: socket.socket | None = None
        self.args = [str(binary), "--config", str(config_path)]
        if listen == "unix":
            self.args += ["--socket", f"unix:{self.socket_path}"]
        elif listen == "tcp":
            self.args += ["--socket", f"tcp:127.0.0.1:{self.port}"]
        elif listen != "inherited":
            raise ValueError(f"unknown listen mode {listen!r}")
        if threads is not None:
            self.args += ["--threads", str(threads)]
        self.args += [*(["--transport", transport] if transport else transport_args()), *(extra_args or [])]
        self.env = env
        self.proc: subprocess.Popen | None = None

    @property
    def nginx_server(self) -> str:
        """The address for this instance's line in nginx's upstream block."""
        return f"127.0.0.1:{self.port}" if self.listen == "tcp" else f"unix:{self.socket_path}"

    def start(self) -> "GatewayProcess":
        stdin = subprocess.DEVNULL
        if self.listen == "inherited":
            self._inherited = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._inherited.bind(str(self.socket_path))
            self._inherited.listen(128)
            stdin = self._inherited.fileno()
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.args,
                stdin=stdin,
                stdout=log,
                stderr=log,
                env=self.env,
                start_new_session=True,
            )
        if self._inherited is not None:
            self._inherited.close()  # the gateway holds its own copy on fd 0
        return self

    def wait_ready(self, timeout: float = 20) -> "GatewayProcess":
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"gateway {self.name} exited with {self.proc.returncode} before listening:\n{self.log_text()}"
                )
            if self.listen == "tcp":
                return accepts_tcp(self.port)
            return self.socket_path.exists() and accepts_unix(str(self.socket_path))

        wait_until(ready, timeout, f"gateway {self.name} to accept on {self.nginx_server}")
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

    def failure(self) -> str | None:
        """After it stopped: a sanitizer report in its log, or a crash signal it died of."""
        report = sanitizer_report(self.log_text())
        if report:
            return f"gateway {self.name}: {report}"
        code = self.proc.returncode if self.proc is not None else None
        if code is not None and code < 0 and -code in CRASH_SIGNALS:
            return f"gateway {self.name} died of {signal.Signals(-code).name}:\n{self.log_text()[-4000:]}"
        return None

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
