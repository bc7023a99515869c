"""A socket held by a service manager outlives the gateway processes it is handed to.

systemd (fcgi-pass-through@.socket), supervisord's [fcgi-program] and spawn-fcgi -F N
create the listening socket, keep their own copy, and pass it on fd 0 to each gateway
they start: to the next one after a restart, to several at once. Here the test plays
that manager: it binds the socket, keeps it, and starts gateways on it one after the
other, as `systemctl restart fcgi-pass-through@NAME` does.

What the deploy units and OPERATIONS.md promise: a restart loses no request. A request
that arrives while the old process drains waits in the socket's queue and is answered
by the next process. That only holds if the gateway leaves a socket it inherited
usable when it stops accepting: shutdown(2) on it would act on the manager's socket
too (it is one open file), and every later connect would be refused until the socket
unit itself is restarted.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import threading
from pathlib import Path

import pytest

from harness import http_client
from harness.gateway import EXIT_OK, base_env
from harness.nginx import Nginx
from harness.stack import SNIPPET
from harness.waiting import wait_until

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /echo
      target: {upstream}/echo/handover
    - path: /slow
      target: {upstream}/slow
"""

class HeldSocket:
    """The manager's listening socket and the gateways started on it, one after another."""

    def __init__(self, workdir: Path, binary: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.binary = binary
        self.env = env
        self.config = workdir / "config.yaml"
        self.path = workdir / "held.sock"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(str(self.path))
        self.sock.listen(128)
        self.processes: list[subprocess.Popen] = []

    def start_gateway(self) -> subprocess.Popen:
        log = open(self.workdir / f"gateway-{len(self.processes) + 1}.log", "ab")
        with log:
            proc = subprocess.Popen(
                [str(self.binary), "--config", str(self.config), "--threads", "4"],
                stdin=self.sock.fileno(),
                stdout=log,
                stderr=log,
                env=self.env,
                start_new_session=True,
            )
        self.processes.append(proc)
        return proc

    def wait_ready(self, proc: subprocess.Popen) -> None:
        number = self.processes.index(proc) + 1
        log = self.workdir / f"gateway-{number}.log"

        def ready() -> bool:
            if proc.poll() is not None:
                raise RuntimeError(f"gateway {number} exited with {proc.returncode}:\n{log.read_text()}")
            return " ready " in log.read_text() or '"ready"' in log.read_text()

        wait_until(ready, 15, f"gateway {number}'s ready line")

    def logs(self) -> str:
        return "\n".join(f"--- {p.name} ---\n{p.read_text()}" for p in sorted(self.workdir.glob("gateway-*.log")))

    def close(self) -> None:
        for proc in self.processes:
            if proc.poll() is None:
                proc.kill()
                proc.wait(timeout=5)
        self.sock.close()


@pytest.fixture
def held(gateway_binary, mock, canaries, workdir):
    env = base_env(workdir, {"LITELLM_MASTER_KEY": canaries.master_key, "COHERE_API_KEY": canaries.upstream_key})
    manager = HeldSocket(workdir, gateway_binary, env)
    manager.config.write_text(CONFIG.replace("{upstream}", mock.url))
    nginx = Nginx.for_gateway(workdir / "nginx", [manager.path], SNIPPET)
    try:
        yield manager, nginx
    finally:
        nginx.stop()
        manager.close()


def get(nginx: Nginx, key, target: str = "/echo", timeout: float = 10.0):
    return http_client.request(nginx.port, "GET", target, key, timeout=timeout)


@pytest.mark.timeout_s(60)
def test_next_gateway_serves_on_the_socket_after_a_restart(held, key):
    manager, nginx = held
    first = manager.start_gateway()
    manager.wait_ready(first)
    nginx.start()
    assert get(nginx, key).status == 200

    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=15) == EXIT_OK, manager.logs()

    second = manager.start_gateway()
    manager.wait_ready(second)
    response = get(nginx, key)
    assert response.status == 200, f"{response}\n{manager.logs()}\n{nginx.logs_text()}"


@pytest.mark.timeout_s(60)
def test_request_arriving_during_the_drain_is_served_by_the_next_gateway(held, mock, key):
    manager, nginx = held
    first = manager.start_gateway()
    manager.wait_ready(first)
    nginx.start()

    # Keep the first gateway draining for a while with one slow in-flight request.
    results: dict[str, object] = {}
    slow = threading.Thread(target=lambda: results.update(slow=get(nginx, key, "/slow?delay=2")))
    slow.start()
    wait_until(lambda: mock.requests_to("/slow"), 5, "the slow request to reach the upstream")
    first.send_signal(signal.SIGTERM)
    wait_until(lambda: "draining" in manager.logs() or "stopping" in manager.logs(), 5, "the drain to begin")

    # Arrives while the first process drains: it must wait in the socket's queue.
    late = threading.Thread(target=lambda: results.update(late=get(nginx, key, "/echo?late=1", timeout=20)))
    late.start()

    assert first.wait(timeout=15) == EXIT_OK, manager.logs()
    second = manager.start_gateway()
    manager.wait_ready(second)
    slow.join(timeout=20)
    late.join(timeout=20)
    assert results["slow"].status == 200, results["slow"]
    assert results["late"].status == 200, f"{results['late']}\n{manager.logs()}\n{nginx.logs_text()}"
    assert any(r.query == "late=1" for r in mock.requests_to("/echo"))
