"""The systemd units in deploy/systemd: systemd's own checker, and the contract with the binary.

`systemd-analyze verify --root` loads the units as systemd would from a root staged by
install.sh (the gateway binary inside it), so a misspelt directive, an unparsable value
or an ExecStart that is not executable fails here. It needs no running systemd.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.gateway import base_env, run_cli

from deploy_support import DEPLOY, UNITS, require_tool, staged_root  # noqa: F401 (fixture)

INSTANCE = "itest-1"
HOST_UNIT_DIR = Path("/usr/lib/systemd/system")


def unit_directives(path: Path) -> dict[str, list[str]]:
    """`Key` -> values, over all sections, comments and blank lines ignored."""
    directives: dict[str, list[str]] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        directives.setdefault(key.strip(), []).append(value.strip())
    return directives


def body_lines(path: Path) -> list[str]:
    """The unit's lines after its leading comment block."""
    lines = path.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("["))
    return lines[start:]


@pytest.fixture(scope="module")
def systemd_analyze() -> str:
    return require_tool("systemd-analyze", "systemd")


@pytest.fixture(scope="module")
def verify_root(staged_root: Path) -> Path:
    """The staged root plus the distribution's units (sysinit.target, ...) the gateway's depend on."""
    if not (HOST_UNIT_DIR / "sysinit.target").exists():
        pytest.skip(f"{HOST_UNIT_DIR} has no sysinit.target: systemd's own units are not installed")
    target = staged_root / "usr" / "lib" / "systemd" / "system"
    if not target.exists():
        shutil.copytree(HOST_UNIT_DIR, target, symlinks=True)
    return staged_root


def verify(systemd_analyze: str, root: Path, *units: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [systemd_analyze, "verify", "--man=no", "--generators=no", f"--root={root}", *units],
        capture_output=True,
        text=True,
        timeout=60,
    )


def instance_units() -> list[str]:
    return [
        f"fcgi-pass-through@{INSTANCE}.socket",
        f"fcgi-pass-through@{INSTANCE}.service",
        "fcgi-pass-through.socket",
        "fcgi-pass-through.service",
    ]


def test_systemd_analyze_verify_accepts_the_installed_units(systemd_analyze, verify_root):
    result = verify(systemd_analyze, verify_root, *instance_units())
    # verify exits 0 on unknown keys and unparsable values ("..., ignoring"), so any
    # output at all is a failure.
    assert result.returncode == 0 and not result.stdout.strip() and not result.stderr.strip(), (
        f"systemd-analyze verify exit {result.returncode}:\n{result.stdout}{result.stderr}"
    )


def test_systemd_analyze_verify_would_catch_a_broken_unit(systemd_analyze, verify_root, tmp_path):
    """The check above can fail: a misspelt key and a missing binary are both reported."""
    root = tmp_path / "root"
    shutil.copytree(verify_root, root, symlinks=True)
    service = root / "etc" / "systemd" / "system" / "fcgi-pass-through@.service"
    service.write_text(service.read_text().replace("ProtectHome=yes", "ProtectHomme=yes"))
    (root / "usr" / "local" / "bin" / "fcgi-pass-through").unlink()
    result = verify(systemd_analyze, root, f"fcgi-pass-through@{INSTANCE}.service")
    output = result.stdout + result.stderr
    assert "ProtectHomme" in output, output
    assert "not executable" in output, output


def test_systemd_analyze_security_rates_the_service_ok(systemd_analyze, verify_root):
    result = subprocess.run(
        [systemd_analyze, "security", "--offline=true", "--no-pager", f"--root={verify_root}",
         f"fcgi-pass-through@{INSTANCE}.service"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", result.stdout + result.stderr)
    if match is None and "offline" in result.stderr.lower():
        pytest.skip(f"this systemd-analyze cannot rate units offline: {result.stderr.strip()}")
    assert match, f"no exposure level in:\n{result.stdout}{result.stderr}"
    # 0 = locked down, 10 = unprotected; systemd calls up to 3.9 "OK". The units score 1.7.
    assert float(match.group(1)) <= 2.5, result.stdout


@pytest.mark.parametrize("kind", ["socket", "service"])
def test_plain_unit_is_the_template_for_one_instance(kind):
    """The plain units are the template units with the instance filled in, nothing else."""
    template = "\n".join(body_lines(DEPLOY / "systemd" / f"fcgi-pass-through@.{kind}"))
    plain = "\n".join(body_lines(DEPLOY / "systemd" / f"fcgi-pass-through.{kind}"))
    expected = (
        template.replace("/run/fcgi-pass-through/%i.sock", "/run/fcgi-pass-through/gateway.sock")
        .replace("fcgi-pass-through@%i", "fcgi-pass-through")
        .replace(" (%i)", "")
        .replace("EnvironmentFile=-/etc/fcgi-pass-through/%i.env\n", "")
    )
    assert plain == expected


def test_socket_unit_lets_only_the_nginx_group_connect():
    socket = unit_directives(DEPLOY / "systemd" / "fcgi-pass-through@.socket")
    assert socket["ListenStream"] == ["/run/fcgi-pass-through/%i.sock"]
    assert socket["Accept"] == ["no"]
    assert socket["SocketGroup"] == ["www-data"]
    assert socket["SocketMode"] == ["0660"]


def test_service_unit_operations_contract():
    service = unit_directives(DEPLOY / "systemd" / "fcgi-pass-through@.service")
    assert service["StandardInput"] == ["socket"]
    assert service["StandardOutput"] == ["journal"] and service["StandardError"] == ["journal"]
    assert "78" in service["RestartPreventExitStatus"][0].split()
    assert service["Restart"] == ["on-failure"]
    assert service["KillSignal"] == ["SIGTERM"]
    assert service["KillMode"] == ["mixed"]
    assert "/bin/kill -HUP $MAINPID" in service["ExecReload"]
    assert service["EnvironmentFile"] == ["-/etc/fcgi-pass-through/common.env", "-/etc/fcgi-pass-through/%i.env"]
    assert any("--test-config" in line for line in service["ExecReload"])
    # A failing ExecStartPre is restarted despite RestartPreventExitStatus (main process only).
    assert "ExecStartPre" not in service
    assert service["NoNewPrivileges"] == ["yes"] and service["ProtectSystem"] == ["strict"]
    drain = re.search(r"--drain-timeout (\d+)", service["ExecStart"][0])
    assert drain, service["ExecStart"]
    # systemd's SIGKILL must never cut a drain short.
    assert int(service["TimeoutStopSec"][0]) >= int(drain.group(1)) + 10


def test_every_flag_the_units_pass_is_one_the_gateway_knows(gateway_binary, tmp_path):
    """ExecStart/ExecReload flags appear in `--help`, and `-t` works as the units call it."""
    flags = set()
    for unit in UNITS:
        for key, values in unit_directives(DEPLOY / "systemd" / unit).items():
            if key.startswith("Exec"):
                for value in values:
                    if "fcgi-pass-through" in value.split()[0]:
                        flags.update(re.findall(r"(--[a-z-]+)", value))
    assert flags >= {"--config", "--test-config", "--drain-timeout"}
    help_text = run_cli(gateway_binary, ["--help"], base_env(tmp_path)).stdout
    assert not [f for f in flags if f not in help_text], help_text

    config = tmp_path / "config.yaml"
    config.write_text((DEPLOY / "etc" / "config.yaml").read_text())
    env = base_env(tmp_path, {"LITELLM_MASTER_KEY": "k", "COHERE_API_KEY": "c", "CONFIG_FILE_PATH": str(config)})
    ok = run_cli(gateway_binary, ["--test-config", "--config", str(config)], env)
    assert ok.returncode == 0, ok.stderr
    del env["COHERE_API_KEY"]
    missing = run_cli(gateway_binary, ["--test-config", "--config", str(config)], env)
    assert missing.returncode == 78 and "COHERE_API_KEY" in missing.stderr, missing.stderr
