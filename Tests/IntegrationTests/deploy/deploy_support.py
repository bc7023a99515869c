"""Helpers and fixtures for the deploy/ tests: paths, tools installed on demand, install.sh runs.

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

DEPLOY = REPO_ROOT / "deploy"
INSTALL_SH = DEPLOY / "install.sh"
SPAWN_WRAPPER = DEPLOY / "spawn-fcgi" / "fcgi-pass-through-spawn"
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
