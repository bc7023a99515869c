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

CONF_TEMPLATE = """\
daemon off;
master_process on;
worker_processes 1;
error_log {dir}/error.log info;
pid {dir}/nginx.pid;
{user}
events {{
    worker_connections 1024;
}}

http {{
    log_format itest {log_format};
    access_log {dir}/access.log itest;
    client_body_temp_path {dir}/client_body;
    fastcgi_temp_path {dir}/fastcgi_temp;
    proxy_temp_path {dir}/proxy_temp;
    uwsgi_temp_path {dir}/uwsgi_temp;
    scgi_temp_path {dir}/scgi_temp;

{upstream}
    server {{
        listen 127.0.0.1:{port};
{server_body}
    }}
}}
"""


class Nginx:
    def __init__(self, workdir: Path, server_body: str, upstream: str = "") -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.conf_path = self.dir / "nginx.conf"
        self.error_log = self.dir / "error.log"
        self.access_log = self.dir / "access.log"
        self.stderr_path = self.dir / "nginx.stderr"
        self.proc: subprocess.Popen | None = None
        # As root, nginx workers default to "nobody", who could not enter the private
        # temp dirs or connect to the gateway's socket; run them as the harness's user.
        user = "user root root;" if os.geteuid() == 0 else ""
        self.conf_path.write_text(
            CONF_TEMPLATE.format(
                dir=self.dir,
                user=user,
                log_format=LOG_FORMAT,
                upstream=upstream,
                port=self.port,
                server_body=server_body,
            )
        )

    @classmethod
    def for_gateway(cls, workdir: Path, servers: list[str | Path], snippet: Path, server_extra: str = "") -> "Nginx":
        """`servers`: upstream addresses ("unix:/path", "127.0.0.1:9000"); a Path means a unix socket.
        `server_extra`: directives added to the server block before the snippet."""
        lines = "\n".join(f"        server {f'unix:{s}' if isinstance(s, Path) else s};" for s in servers)
        upstream = f"    upstream fcgi_pass_through {{\n{lines}\n    }}\n"
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

    def start(self) -> "Nginx":
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
            return accepts_tcp(self.port)

        wait_until(ready, 10, "nginx to listen")
        return self

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=5)
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
