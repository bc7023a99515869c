"""deploy/spawn-fcgi/fcgi-pass-through-spawn for real: spawn-fcgi, the gateway, nginx, the mock upstream.

What it must prove: the secrets reach the gateway from the env file (and only from
there: nothing of the caller's environment leaks in), they never appear on a command
line, options in FCGI_PASS_THROUGH_OPTS apply, and the socket gets spawn-fcgi's mode.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
from pathlib import Path

import pytest

from harness import http_client
from harness.gateway import EXIT_CONFIG
from harness.nginx import Nginx
from harness.stack import SNIPPET
from harness.waiting import wait_until

from deploy_support import SPAWN_WRAPPER, require_tool

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /echo
      target: {upstream}/echo/spawned
      headers:
        Authorization: "bearer os.environ/COHERE_API_KEY"
"""

# What the caller of the wrapper has in its environment: none of it may reach the gateway.
CALLER_ENV = {
    "COHERE_API_KEY": "caller-decoy-must-not-be-used",
    "CALLER_ONLY_TOKEN": "caller-only",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
}


@pytest.fixture(scope="module")
def spawn_fcgi() -> str:
    return require_tool("spawn-fcgi", "spawn-fcgi")


def environ_of(pid: int) -> dict[str, str]:
    raw = Path(f"/proc/{pid}/environ").read_bytes()
    return dict(item.decode().split("=", 1) for item in raw.split(b"\0") if item)


def gone(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    return "\nState:\tZ" in status  # exited, waiting for its (adoptive) parent to reap it


def wrapper_run(args: list[str], log: Path, extra_env: dict[str, str] | None = None, timeout: float = 20):
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **CALLER_ENV, **(extra_env or {})}
    with open(log, "ab") as out:
        return subprocess.run(["bash", str(SPAWN_WRAPPER), *args], stdin=subprocess.DEVNULL,
                              stdout=out, stderr=out, env=env, timeout=timeout)


def write_env_file(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


@pytest.mark.timeout_s(40)
def test_spawned_gateway_gets_exactly_the_env_file_and_serves_through_nginx(
    spawn_fcgi, gateway_binary, mock, canaries, workdir, key
):
    config = workdir / "config.yaml"
    config.write_text(CONFIG.replace("{upstream}", mock.url))
    env_file = write_env_file(workdir / "gateway.env", [
        "# secrets for the spawned gateway",
        f"LITELLM_MASTER_KEY={canaries.master_key}",
        f'export COHERE_API_KEY="{canaries.upstream_key}"',
        "FCGI_PASS_THROUGH_OPTS=--log-format json --threads 4",
    ])
    sock, pidfile = workdir / "gw.sock", workdir / "gw.pid"
    log, spawn_log = workdir / "gateway.log", workdir / "spawn.log"
    nginx = None
    pid = None
    try:
        result = wrapper_run(
            ["--env-file", str(env_file), "--log", str(log), "--gateway", str(gateway_binary),
             "--spawn-fcgi", spawn_fcgi, "-s", str(sock), "-M", "0660", "-P", str(pidfile),
             "--", "--config", str(config)],
            spawn_log,
        )
        assert result.returncode == 0, spawn_log.read_text()
        pid = int(pidfile.read_text())
        wait_until(lambda: '"msg":"ready"' in log.read_text(), 10, "the gateway's ready line (JSON: the options applied)")
        assert stat.S_IMODE(sock.stat().st_mode) == 0o660

        environment = environ_of(pid)
        assert environment["COHERE_API_KEY"] == canaries.upstream_key
        assert environment["LITELLM_MASTER_KEY"] == canaries.master_key
        leaked = set(environment) & {"CALLER_ONLY_TOKEN", "HTTPS_PROXY", "https_proxy"}
        assert not leaked, f"caller's variables reached the gateway: {sorted(leaked)}"
        assert "FCGI_PASS_THROUGH_OPTS" not in environment and "FCGI_PASS_THROUGH_LOG" not in environment
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode()
        assert canaries.upstream_key not in cmdline and canaries.master_key not in cmdline

        nginx = Nginx.for_gateway(workdir / "nginx", [sock], SNIPPET).start()
        response = http_client.request(nginx.port, "GET", "/echo", key)
        assert response.status == 200, response
        assert mock.only_request().header("Authorization") == f"bearer {canaries.upstream_key}"

        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: gone(pid), 10, "the spawned gateway to exit after SIGTERM")
        pid = None
    finally:
        if nginx is not None:
            nginx.stop()
        if pid is not None and not gone(pid):
            os.kill(pid, signal.SIGKILL)
    text = log.read_text() + spawn_log.read_text()
    assert canaries.upstream_key not in text and canaries.master_key not in text
    assert '"msg":"stopped"' in text, text


def test_a_variable_only_the_caller_has_does_not_reach_the_gateway(spawn_fcgi, gateway_binary, mock, workdir):
    """spawn-fcgi -n: the wrapper's process becomes the gateway, which refuses the config (78)."""
    config = workdir / "config.yaml"
    config.write_text(CONFIG.replace("{upstream}", mock.url).replace("COHERE_API_KEY", "CALLER_ONLY_TOKEN"))
    env_file = write_env_file(workdir / "gateway.env", ["LITELLM_MASTER_KEY=k"])
    log = workdir / "spawn.log"
    result = wrapper_run(
        ["--env-file", str(env_file), "--gateway", str(gateway_binary), "--spawn-fcgi", spawn_fcgi,
         "-n", "-s", str(workdir / "gw.sock"), "--", "--config", str(config)],
        log,
    )
    assert result.returncode == EXIT_CONFIG, log.read_text()
    assert "CALLER_ONLY_TOKEN" in log.read_text()


def test_env_file_errors_name_the_line_never_its_content(spawn_fcgi, gateway_binary, workdir):
    env_file = write_env_file(workdir / "gateway.env", ["GOOD=1", "not an assignment sk-secret-value"])
    log = workdir / "spawn.log"
    result = wrapper_run(
        ["--env-file", str(env_file), "--gateway", str(gateway_binary), "--spawn-fcgi", spawn_fcgi,
         "-n", "-s", str(workdir / "gw.sock"), "--", "--config", "unused.yaml"],
        log,
    )
    assert result.returncode == EXIT_CONFIG
    text = log.read_text()
    assert f"{env_file}:2: expected NAME=value" in text and "sk-secret-value" not in text
    assert not (workdir / "gw.sock").exists()


def test_values_are_taken_literally(spawn_fcgi, workdir):
    """No $VAR expansion or command substitution: the file is data, not a script."""
    env_file = write_env_file(workdir / "gateway.env", [
        "DOLLAR=pa$HOME$(touch pwned)",
        "QUOTED='single quoted'",
        'DOUBLE="a b"',
    ])
    probe = workdir / "probe.sh"
    probe.write_text(f"#!/bin/sh\nenv > {workdir}/probe.env\n")
    probe.chmod(0o755)
    result = wrapper_run(
        ["--env-file", str(env_file), "--gateway", str(probe), "--spawn-fcgi", spawn_fcgi,
         "-n", "-s", str(workdir / "probe.sock"), "--"],
        workdir / "spawn.log",
    )
    assert result.returncode == 0, (workdir / "spawn.log").read_text()
    seen = dict(line.split("=", 1) for line in (workdir / "probe.env").read_text().splitlines() if "=" in line)
    assert seen["DOLLAR"] == "pa$HOME$(touch pwned)"
    assert seen["QUOTED"] == "single quoted" and seen["DOUBLE"] == "a b"
    assert not Path("pwned").exists() and not (workdir / "pwned").exists()
    assert set(seen) - {"DOLLAR", "QUOTED", "DOUBLE"} <= {"PATH", "LANG", "PWD", "SHLVL", "_"}
