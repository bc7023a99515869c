"""Helpers and fixtures for the deploy/ tests: paths, tools installed on demand, install.sh
runs, and systemd booted as PID 1 over a throwaway root (systemd_boot.sh) to run a driver
script in.

`systemd-analyze` (Debian package systemd) and `spawn-fcgi` are installed with apt-get
when missing and this runs as root; set FCGI_ITEST_NO_APT=1 to forbid that. A tool
that cannot be had skips its tests with the reason.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from harness.gateway import REPO_ROOT
from harness.waiting import WaitTimeout, wait_until

DEPLOY = REPO_ROOT / "deploy"
INSTALL_SH = DEPLOY / "install.sh"
SPAWN_WRAPPER = DEPLOY / "spawn-fcgi" / "fcgi-pass-through-spawn"
SYSTEMD_BOOT = Path(__file__).with_name("systemd_boot.sh")
UNITS = ("fcgi-pass-through@.socket", "fcgi-pass-through@.service", "fcgi-pass-through.socket", "fcgi-pass-through.service")

_apt_updated = False


def require_tool(command: str, package: str) -> str:
    """The path of `command`, installing Debian `package` if needed; skips the test if impossible."""
    global _apt_updated
    found = shutil.which(command) or next(
        (str(p) for p in (Path("/usr/bin") / command, Path("/usr/sbin") / command) if p.is_file()), None
    )
    if found:
        return found
    reason = f"{command} not found (Debian package {package})"
    if os.environ.get("FCGI_ITEST_NO_APT"):
        pytest.skip(f"{reason}; FCGI_ITEST_NO_APT forbids installing it")
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        pytest.skip(f"{reason}; not root or no apt-get, so it cannot be installed here")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # The install is not the test: pause the per-test deadline (conftest's SIGALRM) meanwhile.
    remaining = signal.alarm(0)
    try:
        if not _apt_updated:
            subprocess.run(["apt-get", "update", "-qq"], env=env, capture_output=True, timeout=300, check=True)
            _apt_updated = True
        subprocess.run(
            ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package],
            env=env,
            capture_output=True,
            timeout=600,
            check=True,
        )
    except (subprocess.SubprocessError, OSError) as error:
        pytest.skip(f"{reason}; apt-get install {package} failed: {error}")
    finally:
        if remaining:
            signal.alarm(remaining)
    found = shutil.which(command)
    if not found:
        pytest.skip(f"{reason}; still missing after apt-get install {package}")
    return found


def run_install(destdir: Path, binary: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    """deploy/install.sh into `destdir` (DESTDIR), with a clean environment plus `env`."""
    return subprocess.run(
        ["bash", str(INSTALL_SH), "--bin", str(binary), *args],
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "DESTDIR": str(destdir), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.fixture(scope="module")
def staged_root(gateway_binary, tmp_path_factory) -> Path:
    """A filesystem root holding what `DESTDIR=<root> deploy/install.sh` put there.

    Import it into a test module to use it (a conftest.py here would shadow the suite's
    `conftest` module, which other test modules import from).
    """
    root = tmp_path_factory.mktemp("staged-root")
    result = run_install(root, gateway_binary)
    assert result.returncode == 0, f"install.sh failed:\n{result.stdout}\n{result.stderr}"
    return root


# --- systemd as PID 1 over a throwaway root (systemd_boot.sh) ------------------------

BOOT_TARGET = """
[Unit]
Description=fcgi-pass-through deploy test
Wants=systemd-journald.socket itest-driver.service
"""

# The driver: /results/driver.sh, run once systemd is up; `systemctl exit` ends the boot.
DRIVER_UNIT = """
[Unit]
After=systemd-journald.socket
[Service]
Type=oneshot
ExecStart=/bin/bash /results/driver.sh
ExecStopPost=/bin/systemctl exit 0
StandardOutput=append:/results/driver.log
StandardError=append:/results/driver.log
"""


def read(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def can_boot() -> str | None:
    """Why systemd cannot be booted here, or None."""
    if os.geteuid() != 0:
        return "needs root (namespaces, pivot_root)"
    for tool in ("unshare", "pivot_root", "setpriv"):
        if not shutil.which(tool):
            return f"{tool} not found (util-linux)"
    if not Path("/lib/systemd/systemd").exists():
        return "/lib/systemd/systemd not found (Debian package systemd)"
    return None


def boot_root(base: Path) -> tuple[Path, Path]:
    """A throwaway root (a copy of /etc, the boot target and the driver unit) and the
    results directory the driver writes to, both under `base`."""
    root, results = base / "root", base / "results"
    results.mkdir()
    results.chmod(0o777)  # the driver writes here as root; the gateway never does
    shutil.copytree("/etc", root / "etc", symlinks=True, ignore_dangling_symlinks=True)
    units = root / "etc" / "systemd" / "system"
    (units / "itest.target").write_text(BOOT_TARGET)
    (units / "itest-driver.service").write_text(DRIVER_UNIT)
    return root, results


def boot(root: Path, results: Path, driver: str, *options: str, timeout: float = 120) -> dict[str, str]:
    """Boots systemd over `root` (systemd_boot.sh `options`), runs `driver` inside and
    returns the facts it recorded (`fact NAME VALUE` lines in /results/facts), plus
    `_exited_by_itself` and `_log` (the tail of every log in `results`). Skips the test
    when systemd did not come up far enough to run the driver."""
    (results / "driver.sh").write_text(driver)
    facts_file = results / "facts"
    remaining = signal.alarm(0)  # the boot has its own deadlines
    try:
        with open(results / "console.log", "wb") as console:
            process = subprocess.Popen(
                ["bash", str(SYSTEMD_BOOT), *options, str(root), str(results), str(REPO_ROOT)],
                stdin=subprocess.DEVNULL, stdout=console, stderr=console, start_new_session=True,
            )
        try:
            wait_until(lambda: process.poll() is not None or "done=yes" in read(facts_file), timeout,
                       "the driver inside systemd to finish", interval=0.2)
            process.wait(timeout=30)  # systemd stops the units and exits
        except (WaitTimeout, subprocess.TimeoutExpired):
            pass
        finally:
            if process.poll() is None:
                process.kill()  # unshare --kill-child takes systemd and its namespace with it
                process.wait(timeout=10)
    finally:
        signal.alarm(remaining or 200)
    if not facts_file.exists():
        tail = read(results / "console.log")[-3000:]
        pytest.skip(f"systemd did not boot here (exit {process.returncode}); the driver never ran:\n{tail}")
    found = dict(line.split("=", 1) for line in facts_file.read_text().splitlines() if "=" in line)
    found["_exited_by_itself"] = process.returncode == 0
    found["_log"] = "\n".join(
        f"--- {p.name} ---\n{p.read_text(errors='replace')[-4000:]}" for p in sorted(results.glob("*.log"))
    )
    return found
