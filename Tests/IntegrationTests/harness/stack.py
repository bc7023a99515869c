"""One system under test: N gateway processes behind a private nginx using the project's snippet."""

from __future__ import annotations

from pathlib import Path

from . import http_client
from .gateway import REPO_ROOT, GatewayProcess
from .http_client import Exchange, Headers, Response
from .nginx import Nginx
from .waiting import wait_until

SNIPPET = REPO_ROOT / "nginx" / "fcgi-pass-through.conf"


class BehindNginx:
    """What a test does with gateways behind one nginx: requests through it, their logs,
    and stopping them. `self.nginx` and `self.gateways` are the subclass's."""

    nginx: Nginx
    gateways: list[GatewayProcess]

    @property
    def port(self) -> int:
        return self.nginx.port

    def start(self):
        for gateway in self.gateways:
            gateway.start()
        for gateway in self.gateways:
            gateway.wait_ready()
        self.nginx.start()
        # nginx spreads requests round-robin: one healthy answer per gateway.
        for _ in self.gateways:
            self.wait_healthy()
        return self

    def wait_healthy(self, timeout: float = 10) -> None:
        def healthy() -> bool:
            try:
                return self.request("GET", "/health/readiness", timeout=2).status == 200
            except OSError:
                return False

        wait_until(healthy, timeout, "GET /health/readiness through nginx to answer 200", interval=0.05)

    def request(self, method: str, target: str, headers: Headers = (), body: bytes | None = None, **kwargs) -> Response:
        return http_client.request(self.port, method, target, headers, body, **kwargs)

    def exchange(self, method: str, target: str, headers: Headers = (), body: bytes | None = None, **kwargs) -> Exchange:
        return Exchange(self.port, method, target, headers, body, **kwargs)

    def log_files(self) -> list[Path]:
        return [g.log_path for g in self.gateways] + self.nginx.log_files()

    def close(self) -> None:
        try:
            self.nginx.stop()
        finally:
            for gateway in self.gateways:
                gateway.stop()


class Stack(BehindNginx):
    def __init__(
        self,
        workdir: Path,
        binary: Path,
        config_text: str,
        env: dict[str, str],
        instances: int = 1,
        threads: int = 8,
        extra_args: list[str] | None = None,
        listen: str = "unix",
        nginx_extra: str = "",
    ) -> None:
        self.dir = workdir
        self.config_path = workdir / "config.yaml"
        self.config_path.write_text(config_text)
        self.gateways = [
            GatewayProcess(binary, workdir, f"gw-{i}", self.config_path, env, threads, extra_args, listen)
            for i in range(1, instances + 1)
        ]
        self.nginx = Nginx.for_gateway(workdir / "nginx", [g.nginx_server for g in self.gateways], SNIPPET, nginx_extra)

    def call_id_from_access_log(self, marker: str) -> str:
        return Nginx.request_id(self.nginx.access_line_with(marker))

    def gateway_logs(self) -> str:
        return "\n".join(f"--- {g.name} stderr ---\n{g.log_text()}" for g in self.gateways)
