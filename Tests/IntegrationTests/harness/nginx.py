"""A private nginx per stack: `nginx -p <dir> -c <dir>/nginx.conf`, nothing under /etc touched."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from .ports import accepts_tcp, free_port
from .waiting import wait_until

NGINX_BIN = os.environ.get("NGINX_BIN", "/usr/sbin/nginx")

# $request_id is logged so a test can match the x-litellm-call-id the gateway returns.
LOG_FORMAT = (
    "'$remote_addr \"$request\" $status $body_bytes_sent '\n"
    "        'rid=$request_id up=\"$upstream_addr\" ustatus=\"$upstream_status\" rt=$request_time'"
)

MAIN_TEMPLATE = """\
daemon off;
master_process on;
worker_processes {workers};
error_log {dir}/error.log {error_level};
pid {dir}/nginx.pid;
{user}
events {{
    worker_connections {worker_connections};
}}

http {{
{http}
}}
"""

TEMP_PATHS = """\
    client_body_temp_path {dir}/client_body;
    fastcgi_temp_path {dir}/fastcgi_temp;
    proxy_temp_path {dir}/proxy_temp;
    uwsgi_temp_path {dir}/uwsgi_temp;
    scgi_temp_path {dir}/scgi_temp;
"""

# The http block of a test's nginx: one server, every request in the access log.
TEST_HTTP = """\
    log_format itest {log_format};
    access_log {dir}/access.log itest;
{temp_paths}
{upstream}
    server {{
        listen 127.0.0.1:{port};
{server_body}
    }}"""


def upstream_block(servers: list[str | Path], name: str = "fcgi_pass_through") -> str:
    """An upstream block for gateway instances: `servers` are addresses ("unix:/path",
    "127.0.0.1:9000"); a Path means a unix socket."""
    lines = "\n".join(f"        server {f'unix:{s}' if isinstance(s, Path) else s};" for s in servers)
    return f"    upstream {name} {{\n{lines}\n    }}\n"


class Nginx:
    """A private nginx in `workdir`. The constructor makes a test's: one server block on a
    free port, with `server_body` inside it and `upstream` before it; `with_http` takes a
    whole http block (the benchmark's several servers)."""

    def __init__(self, workdir: Path, server_body: str, upstream: str = "") -> None:
        port = free_port()
        http = TEST_HTTP.format(
            dir=workdir,
            log_format=LOG_FORMAT,
            temp_paths=TEMP_PATHS.format(dir=workdir),
            upstream=upstream,
            port=port,
            server_body=server_body,
        )
        self._configure(workdir, http, [port])

    @classmethod
    def with_http(
        cls,
        workdir: Path,
        http_body: str,
        ports: list[int],
        workers: int | str = 1,
        worker_connections: int = 1024,
        error_level: str = "info",
    ) -> "Nginx":
        """`http_body`: the http block's content after the temp paths (no access log unless
        it sets one); `ports`: the ports its servers listen on, all waited for by start()."""
        nginx = cls.__new__(cls)
        http = "    access_log off;\n" + TEMP_PATHS.format(dir=workdir) + http_body
        nginx._configure(workdir, http, ports, workers, worker_connections, error_level)
        return nginx

    def _configure(
        self,
        workdir: Path,
        http: str,
        ports: list[int],
        workers: int | str = 1,
        worker_connections: int = 1024,
        error_level: str = "info",
    ) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.ports = list(ports)
        self.port = self.ports[0]
        self.conf_path = self.dir / "nginx.conf"
        self.error_log = self.dir / "error.log"
        self.access_log = self.dir / "access.log"
        self.stderr_path = self.dir / "nginx.stderr"
        self.proc: subprocess.Popen | None = None
        # As root, nginx workers default to "nobody", who could not enter the private
        # temp dirs or connect to the gateway's socket; run them as the harness's user.
        user = "user root root;" if os.geteuid() == 0 else ""
        self.conf_path.write_text(
            MAIN_TEMPLATE.format(
                dir=self.dir,
                user=user,
                workers=workers,
                worker_connections=worker_connections,
                error_level=error_level,
                http=http,
            )
        )

    @classmethod
    def for_gateway(cls, workdir: Path, servers: list[str | Path], snippet: Path, server_extra: str = "") -> "Nginx":
        """`servers`: upstream addresses ("unix:/path", "127.0.0.1:9000"); a Path means a unix socket.
        `server_extra`: directives added to the server block before the snippet."""
        upstream = upstream_block(servers)
        extra = "".join(f"        {line}\n" for line in server_extra.splitlines() if line.strip())
        return cls(workdir, f"{extra}        include {snippet};", upstream)

    @classmethod
    def for_proxy(cls, workdir: Path, upstream_url: str, extra: str = "") -> "Nginx":
        body = (
            "        location / {\n"
            f"            proxy_pass {upstream_url};\n"
            "            proxy_http_version 1.1;\n"
            '            proxy_set_header Connection "";\n'
            "            proxy_buffering off;\n"
            "            proxy_redirect off;\n"
            f"{extra}"
            "        }"
        )
        return cls(workdir, body)

    def test_config(self) -> subprocess.CompletedProcess:
        return subprocess.run(
            [NGINX_BIN, "-t", "-p", str(self.dir), "-c", str(self.conf_path)],
            capture_output=True,
            text=True,
            timeout=10,
        )

    def start(self, timeout: float = 10) -> "Nginx":
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                [NGINX_BIN, "-p", str(self.dir), "-c", str(self.conf_path)],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
            )

        def ready() -> bool:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited with {self.proc.returncode}:\n{self.logs_text()}")
            return all(accepts_tcp(port) for port in self.ports)

        wait_until(ready, timeout, "nginx to listen")
        return self

    def stop(self, timeout: float = 5) -> None:
        """SIGTERM, then SIGKILL to its process group if it has not exited within `timeout`."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=5)

    def log_files(self) -> list[Path]:
        return [self.error_log, self.access_log, self.stderr_path]

    def logs_text(self) -> str:
        return "\n".join(
            f"--- {p.name} ---\n{p.read_text(errors='replace')}" for p in self.log_files() if p.exists()
        )

    def access_lines(self) -> list[str]:
        if not self.access_log.exists():
            return []
        return self.access_log.read_text(errors="replace").splitlines()

    def access_line_with(self, marker: str, timeout: float = 3.0) -> str:
        """The access-log line whose request contains `marker` (written when the request ends)."""
        return wait_until(
            lambda: next((line for line in self.access_lines() if marker in line), None),
            timeout,
            f"an access-log line containing {marker!r}",
        )

    @staticmethod
    def request_id(line: str) -> str:
        match = re.search(r"\brid=([0-9a-f]+)", line)
        assert match, f"no request id in access-log line: {line}"
        return match.group(1)

    @staticmethod
    def upstream_addr(line: str) -> str:
        match = re.search(r'\bup="([^"]*)"', line)
        assert match, f"no upstream address in access-log line: {line}"
        return match.group(1)
