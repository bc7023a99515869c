"""The Unix socket the gateway creates (docs/BEHAVIOUR.md §7: created with a mode nginx workers
can use; removed on exit only if it is still ours)."""

from __future__ import annotations

import os
import signal
import socket
import stat

from harness.fcgi_client import FastCGIClient, status_of, whole_request
from harness.gateway import GatewayProcess, base_env

CONFIG = "general_settings:\n  pass_through_endpoints: []\n"


def start(gateway_binary, workdir, name="gw", extra_args=None):
    config = workdir / "config.yaml"
    config.write_text(CONFIG)
    gateway = GatewayProcess(gateway_binary, workdir, name, config, base_env(workdir), extra_args=extra_args)
    return gateway.start()


def mode_of(path):
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_socket_is_created_with_a_mode_other_users_can_connect_with(gateway_binary, workdir):
    gateway = start(gateway_binary, workdir).wait_ready()
    try:
        assert stat.S_ISSOCK(os.lstat(gateway.socket_path).st_mode)
        assert mode_of(gateway.socket_path) == 0o666
    finally:
        assert gateway.stop() == 0
    assert not gateway.socket_path.exists(), "the socket file was left behind"


def test_socket_mode_flag_is_applied(gateway_binary, workdir):
    gateway = start(gateway_binary, workdir, extra_args=["--socket-mode", "0660"]).wait_ready()
    try:
        assert mode_of(gateway.socket_path) == 0o660
    finally:
        gateway.stop()


def test_a_stale_socket_file_is_replaced(gateway_binary, workdir):
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(str(workdir / "gw.sock"))
    stale.close()  # the file stays, nobody listens: a crashed process's leftover
    gateway = start(gateway_binary, workdir).wait_ready()
    try:
        assert stat.S_ISSOCK(os.lstat(gateway.socket_path).st_mode)
        # The path is the gateway's listening socket now: a connection is accepted and a
        # request on it is answered (a leftover file would refuse the connect).
        with FastCGIClient(gateway.socket_path) as client:
            client.send(whole_request("GET", "/health/liveness"))
            stdout, ended = client.response(1)
        assert ended, f"the request was not answered to its end: {stdout!r}"
        assert status_of(stdout) == 200 and stdout.endswith(b'"I\'m alive!"'), stdout
    finally:
        gateway.stop()


def test_a_socket_in_use_is_refused_and_left_alone(gateway_binary, workdir):
    first = start(gateway_binary, workdir, name="gw").wait_ready()
    try:
        inode = os.lstat(first.socket_path).st_ino
        second = start(gateway_binary, workdir, name="gw")
        code = second.wait_exit(timeout=10)
        assert code != 0
        assert "in use" in second.log_text()
        assert os.lstat(first.socket_path).st_ino == inode
    finally:
        first.stop()


def test_exit_does_not_remove_a_socket_file_another_process_now_owns(gateway_binary, workdir):
    gateway = start(gateway_binary, workdir).wait_ready()
    os.unlink(gateway.socket_path)
    newer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    newer.bind(str(gateway.socket_path))
    newer.listen(1)
    try:
        gateway.signal(signal.SIGTERM)
        assert gateway.wait_exit(timeout=10) == 0
        assert gateway.socket_path.exists(), "the gateway removed a socket file it no longer owned"
    finally:
        newer.close()
