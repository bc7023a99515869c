"""Several gateway "hosts" behind one nginx: each host a group of instances with its own
config file, host-wide limits table and usage database (the state a real host keeps to
itself), all in one round-robin `upstream {}`. What they share is only what the config
points them all at (Redis)."""

from __future__ import annotations

from pathlib import Path

from .fcgi_client import FastCGIClient, status_of, whole_request
from .gateway import GatewayProcess
from .nginx import Nginx
from .stack import SNIPPET, BehindNginx


class Host:
    def __init__(self, binary: Path, workdir: Path, name: str, config_text: str, env: dict[str, str],
                 instances: int, threads: int) -> None:
        self.name = name
        self.dir = workdir / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.limits_path = self.dir / "limits"
        self.db_path = self.dir / "usage.db"
        self.config_path = self.dir / "config.yaml"
        self.config_path.write_text(
            config_text.replace("{limits}", str(self.limits_path)).replace("{db}", str(self.db_path)).replace("{host}", name))
        self.gateways = [
            GatewayProcess(binary, self.dir, f"{name}-gw{i}", self.config_path, {**env, "STATE_DIRECTORY": str(self.dir)}, threads)
            for i in range(1, instances + 1)
        ]

    def metrics(self) -> list[str]:
        """Each instance's /metrics, asked over its own socket (nginx would pick one)."""
        texts = []
        for gateway in self.gateways:
            with FastCGIClient(gateway.socket_path) as client:
                client.send(whole_request("GET", "/metrics"))
                out, _ = client.response()
                assert status_of(out) in (None, 200), out[:200]
                texts.append(out.split(b"\r\n\r\n", 1)[-1].decode(errors="replace"))
        return texts

    def log_text(self) -> str:
        return "\n".join(g.log_text() for g in self.gateways)

    def kill(self) -> None:
        """SIGKILL every instance: a host that is gone, without a chance to give anything back."""
        for gateway in self.gateways:
            gateway.kill()


class Fleet(BehindNginx):
    """`configs`: one config text per host; `{limits}`, `{db}` and `{host}` in it become the
    host's own table, database and name."""

    def __init__(self, workdir: Path, binary: Path, configs: list[str], env: dict[str, str], instances: int = 1,
                 threads: int = 8) -> None:
        self.dir = workdir
        self.hosts = [Host(binary, workdir, f"host{h}", text, env, instances, threads) for h, text in enumerate(configs, 1)]
        servers = [g.nginx_server for host in self.hosts for g in host.gateways]
        self.nginx = Nginx.for_gateway(workdir / "nginx", servers, SNIPPET)

    @property
    def gateways(self) -> list[GatewayProcess]:
        return [g for host in self.hosts for g in host.gateways]

    def logs_text(self) -> str:
        return "\n".join(f"--- {g.name} ---\n{g.log_text()}" for g in self.gateways)
