"""Everything one benchmark run starts, on loopback, in one temporary directory.

    upstream nginx   :up_http  seed rerank JSON        (1 worker, counts accepted connections)
                     :up_https the same over TLS, certificate from a CA made for this run
    SSE upstream     :up_sse   bench/sse_upstream.py
    front nginx      :baseline proxy_pass to those upstreams (keepalive pool, as a careful operator sets it)
                     :gateway_<transport>  nginx/fcgi-pass-through.conf → that transport's gateway
                                           instances on unix sockets, one set per transport

Each transport gets its own config file (general_settings.transport). The urlsession
gateways trust the bench CA through a private mount namespace (URLSession on Linux has
no CA setting); the curl gateways through general_settings.ssl_ca_file.

The nginx instances and the gateway processes are started by the integration suite's
launcher (Tests/IntegrationTests/harness: nginx.py, gateway.py); what is the benchmark's
own stays here: the upstreams, TLS and CA trust, the libcurl measurement aid, and the
process trees whose CPU and memory bench/procstat.py reads.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

from procstat import children, tree

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
# The integration suite's launcher starts this run's nginx and gateway processes too.
sys.path.insert(1, str(REPO / "Tests" / "IntegrationTests"))

from harness.gateway import GatewayProcess  # noqa: E402
from harness.nginx import Nginx, upstream_block  # noqa: E402
from harness.ports import accepts_tcp, free_port  # noqa: E402
from harness.stack import SNIPPET  # noqa: E402
from harness.waiting import wait_until  # noqa: E402

SYSTEM_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
TRANSPORTS = ("urlsession", "curl")
MASTER_KEY = "sk-bench"
UPSTREAM_KEY = "bench-upstream-key"

# What Cohere's /v1/rerank answers to the README's seed request.
RERANK_JSON = (
    '{"id":"07734bd2-2473-4f07-94e1-0d9f0e6843cf","results":[{"index":0,"relevance_score":0.9997},'
    '{"index":2,"relevance_score":0.0213},{"index":1,"relevance_score":0.0009}],'
    '"meta":{"api_version":{"version":"1"},"billed_units":{"search_units":1}}}'
)
RERANK_REQUEST = (
    '{"model":"rerank-english-v3.0","query":"What is the capital of the United States?","top_n":3,'
    '"documents":["Carson City is the capital city of the American state of Nevada.",'
    '"The Commonwealth of the Northern Mariana Islands is a group of islands in the Pacific Ocean. Its capital is Saipan.",'
    '"Washington, D.C. (also known as simply Washington or D.C., and officially as the District of Columbia) is the capital of the United States."]}'
)



def wait_for(check, what: str, timeout: float = 20.0) -> None:
    wait_until(check, timeout, what, interval=0.05)


class Stack:
    def __init__(self, workdir: Path, gateway_bin: Path, instances: int, threads: int | None, gateway_args: list[str],
                 front_workers: str = "auto", ca_trust: str = "mount", baseline_keepalive: bool = True,
                 transports: list[str] | None = None, extra_settings: str = "",
                 extra_endpoints: str = "") -> None:
        self.dir = workdir
        self.gateway_bin = gateway_bin
        self.instances = instances
        self.threads = threads
        self.gateway_args = gateway_args
        self.front_workers = front_workers
        self.ca_trust = ca_trust
        self.baseline_keepalive = baseline_keepalive
        # YAML lines (indented two spaces) added under general_settings of every config, e.g.
        # bench/keys.py's keys and limits_file; empty for the other benchmarks.
        self.extra_settings = extra_settings
        # Endpoint entries (YAML, indented as list items under pass_through_endpoints) added
        # after the standard ones; {up_http} is the upstream's plain HTTP port.
        self.extra_endpoints = extra_endpoints
        # Gateway sets by name: a transport, or `transport+label` for a second set with the same
        # transport (bench/usage.py loads two identical sets at once, one route each).
        self.transports = list(transports or ["urlsession"])
        for t in self.transports:
            if transport_of(t) not in TRANSPORTS:
                raise ValueError(f"unknown transport {t!r} (expected {' or '.join(TRANSPORTS)})")
        self.procs: list[subprocess.Popen] = []  # what is not nginx or a gateway: SSE upstream, LiteLLM
        self.nginxes: list[Nginx] = []
        self.gateways: dict[str, list[GatewayProcess]] = {t: [] for t in self.transports}
        self.upstream: Nginx | None = None
        self.front: Nginx | None = None
        self.ports = {name: free_port() for name in ("up_http", "up_https", "up_status", "up_sse", "baseline")}
        for t in self.transports:
            self.ports[f"gateway_{t}"] = free_port()
        self.https_trusted = True
        self.litellm_port: int | None = None
        self.litellm_setup = None  # set by litellm_target.prepare_litellm
        self.litellm: subprocess.Popen | None = None

    # ---- lifecycle -------------------------------------------------------------------

    def start(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "body.json").write_text(RERANK_REQUEST)
        self._make_certificates()
        self._start_upstreams()
        self._start_gateways()
        if self.litellm_setup:
            self.litellm_setup()
            wait_for(lambda: accepts_tcp(self.litellm_port), "LiteLLM", timeout=120)
        self._start_front()

    def stop(self) -> None:
        """The nginx instances (front first), the other processes, then the gateways; each
        gets 10 s to exit after SIGTERM."""
        for nginx in reversed(self.nginxes):
            nginx.stop(timeout=10)
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for gateway in (g for gateways in self.gateways.values() for g in gateways):
            gateway.stop(timeout=10)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def _spawn(self, args: list[str], name: str, **kwargs) -> subprocess.Popen:
        log = open(self.dir / f"{name}.log", "ab")
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **kwargs)
        self.procs.append(proc)
        return proc

    def _start_nginx(self, name: str, workers: str, http_body: str, ports: list[int]) -> Nginx:
        """The integration suite's private nginx, with this run's servers and sizes."""
        nginx = Nginx.with_http(self.dir / name, http_body, ports, workers=workers, worker_connections=8192,
                                error_level="warn")
        self.nginxes.append(nginx)
        return nginx.start(timeout=20)

    # ---- TLS ----------------------------------------------------------------------------

    def _make_certificates(self) -> None:
        d = self.dir
        def openssl(*args: str) -> None:
            subprocess.run(["openssl", *args], cwd=d, check=True, capture_output=True)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        openssl("req", "-x509", *ec, "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
                "-subj", "/CN=fcgi-pass-through bench CA")
        openssl("req", *ec, "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=localhost")
        (d / "server.ext").write_text(
            "subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\n"
            "keyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n")
        openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                "-out", "server.pem", "-days", "2", "-extfile", "server.ext")
        # The gateway's CA bundle: the system's (so each TLS handshake costs what it costs in
        # production, where libcurl loads the whole bundle) plus this run's CA.
        system = SYSTEM_CA_BUNDLE.read_bytes() if SYSTEM_CA_BUNDLE.exists() else b""
        (d / "ca-bundle.crt").write_bytes(system + b"\n" + (d / "ca.pem").read_bytes())

    # ---- upstreams ----------------------------------------------------------------------

    def _start_upstreams(self) -> None:
        p, d = self.ports, self.dir
        body = RERANK_JSON.replace("'", "\\'")
        self.upstream = self._start_nginx("upstream", "1", f"""
    # Connections live as long as the client wants: every one the gateway opens is its own choice.
    keepalive_requests 100000000;
    keepalive_timeout 600s;
    server {{
        listen 127.0.0.1:{p['up_http']} backlog=4096;
        listen 127.0.0.1:{p['up_https']} ssl backlog=4096;
        ssl_certificate {d}/server.pem;
        ssl_certificate_key {d}/server.key;
        location / {{
            default_type application/json;
            return 200 '{body}';
        }}
    }}
    server {{
        listen 127.0.0.1:{p['up_status']};
        location / {{ stub_status; }}
    }}
""", [p["up_http"], p["up_https"], p["up_status"]])
        self.sse = self._spawn([sys.executable, str(BENCH_DIR / "sse_upstream.py"), str(p["up_sse"])], "sse-upstream")
        wait_for(lambda: accepts_tcp(p["up_sse"]), "upstream port up_sse")

    def upstream_accepts(self) -> int:
        """Connections the upstream nginx has accepted so far (HTTP and HTTPS)."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.ports['up_status']}/", timeout=5) as r:
            text = r.read().decode()
        # "Active connections: N \nserver accepts handled requests\n A H R \n..."
        accepted = int(text.splitlines()[2].split()[0])
        return accepted - 1  # this status request's own connection

    # ---- gateway ------------------------------------------------------------------------

    def gateway_config(self, name: str) -> Path:
        p, transport = self.ports, transport_of(name)
        headers = f"""      headers:
        Authorization: "bearer os.environ/COHERE_API_KEY"
        content-type: application/json
        accept: application/json"""
        path = self.dir / f"config-{name}.yaml"
        # The curl transport trusts the bench CA through configuration; URLSession has no such setting.
        ca = f"\n  ssl_ca_file: {self.dir / 'ca-bundle.crt'}" if transport == "curl" else ""
        extra = "\n" + self.extra_settings.rstrip("\n") if self.extra_settings else ""
        # The run's own ledger, shared by every gateway as on one host: the default (usage.db
        # in the working directory) would carry rows over from earlier runs, and a ledger of
        # millions of rows costs its writer more per row than a new one.
        if "usage_db:" not in self.extra_settings:
            extra += f"\n  usage_db: {self.dir / 'usage.db'}"
        path.write_text(f"""general_settings:
  master_key: {MASTER_KEY}
  transport: {transport}{ca}{extra}
  pass_through_endpoints:
    - path: /v1/rerank
      target: http://127.0.0.1:{p['up_http']}/v1/rerank
{headers}
    - path: /tls/v1/rerank
      target: https://localhost:{p['up_https']}/v1/rerank
{headers}
    - path: /sse
      target: http://127.0.0.1:{p['up_sse']}/sse
{self._with_ports(self.extra_endpoints)}""")
        return path

    def _with_ports(self, text: str) -> str:
        """`{up_http}`, `{up_sse}`, ... in extra endpoints become this run's ports."""
        for name, port in self.ports.items():
            text = text.replace("{" + name + "}", str(port))
        return text

    def _ca_mount(self, transport: str) -> list[str]:
        """The command prefix that lets a urlsession gateway trust the bench CA, if one is needed."""
        if transport == "curl":
            return []  # ssl_ca_file in its config
        if self.ca_trust == "mount" and os.geteuid() == 0 and shutil.which("unshare"):
            # FoundationNetworking on Linux has no setting for a CA bundle (its
            # URLSessionCertificateAuthorityInfoFile variable is read on Android only) and
            # libcurl uses the distribution's bundle: give the gateway, and only it, a view
            # of that file with this run's CA appended, in a private mount namespace.
            script = 'mount --bind "$1" "$2" && shift 2 && exec "$@"'
            return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh",
                    str(self.dir / "ca-bundle.crt"), str(SYSTEM_CA_BUNDLE)]
        self.https_trusted = self.ca_trust == "env"  # to be confirmed by a request
        return []

    def _start_gateways(self) -> None:
        for t in self.transports:
            self._start_transport(t)
        for gateways in self.gateways.values():
            for gateway in gateways:
                gateway.wait_ready(timeout=20)

    def _start_transport(self, set_name: str) -> None:
        transport = transport_of(set_name)
        env = dict(os.environ, COHERE_API_KEY=UPSTREAM_KEY)
        # The measurement aid (bench/libcurl_defaults.c) changes what FoundationNetworking leaves
        # at libcurl's defaults; for the curl transport, it can undo the transport's own settings.
        undo = [k for k in ("BENCH_CURL_IGNORE_MAXCONNECTS", "BENCH_CURL_KEEP_CAPATH") if os.environ.get(k) == "1"]
        if (os.environ.get("BENCH_LIBCURL_DEFAULTS") == "1" and transport == "urlsession") or (undo and transport == "curl"):
            shim = self.dir / "libcurl_defaults.so"
            if not shim.exists():
                subprocess.run(["cc", "-shared", "-fPIC", "-O2", "-o", str(shim), str(BENCH_DIR / "libcurl_defaults.c"),
                                "-ldl"], check=True)
            if transport == "urlsession":
                env.setdefault("BENCH_CURL_MAXCONNECTS", "1024")
                env.setdefault("BENCH_CURL_NO_CAPATH", "1")
                for k in undo:
                    env.pop(k, None)
            env["LD_PRELOAD"] = str(shim)
        if self.ca_trust == "env" and transport == "urlsession":
            env["URLSessionCertificateAuthorityInfoFile"] = str(self.dir / "ca-bundle.crt")
            env["SSL_CERT_FILE"] = str(self.dir / "ca-bundle.crt")
        config = self.gateway_config(set_name)
        prefix = self._ca_mount(transport)
        for i in range(1, self.instances + 1):
            name = f"gateway-{nginx_name(set_name)}-{i}"
            # The integration suite's launcher; the transport is also in the config file.
            gateway = GatewayProcess(self.gateway_bin, self.dir, name, config, env, threads=self.threads,
                                     extra_args=self.gateway_args, transport=transport,
                                     log_path=self.dir / f"{name}.log")
            gateway.args = [*prefix, *gateway.args]
            self.gateways[set_name].append(gateway)
            gateway.start()

    def sockets(self, transport: str) -> list[Path]:
        return [g.socket_path for g in self.gateways[transport]]

    def litellm_pids(self) -> list[int]:
        return tree([self.litellm.pid]) if self.litellm else []

    def gateway_pids(self, transport: str | None = None) -> list[int]:
        """The gateway processes of one transport (None: of every transport)."""
        chosen = [transport] if transport else self.transports
        return tree([g.proc.pid for t in chosen for g in self.gateways[t] if g.proc])

    # ---- front nginx --------------------------------------------------------------------

    def _start_front(self) -> None:
        p, d = self.ports, self.dir
        # With the pool, nginx keeps upstream connections open as a careful operator configures
        # it; without (BENCH_BASELINE_KEEPALIVE=0), nginx's default: one connection per request.
        pool = "keepalive 128;\n        keepalive_requests 100000000;\n        keepalive_timeout 600s;"
        if not self.baseline_keepalive:
            pool = ""
        http11 = 'proxy_http_version 1.1;\n        proxy_set_header Connection "";' if self.baseline_keepalive else ""
        # One upstream group and one server block per transport; each includes the snippet as
        # users do, with only the group's name changed.
        snippet = SNIPPET.read_text()
        groups, gateways = [], []
        for t in self.transports:
            group = f"fcgi_pass_through_{nginx_name(t)}"
            block = upstream_block(self.sockets(t), group)
            text = snippet.replace("fastcgi_pass fcgi_pass_through;", f"fastcgi_pass {group};")
            # A comparison, not a deployment (docs/PERFORMANCE.md, "FastCGI connections kept
            # open"): N idle FastCGI connections per nginx worker, reused for the next request.
            if keep := os.environ.get("BENCH_FASTCGI_KEEPALIVE", ""):
                block = block.replace("    }\n", f"        keepalive {int(keep)};\n    }}\n")
                text = text.replace("fastcgi_keep_conn off;", "fastcgi_keep_conn on;")
            groups.append(block)
            conf = d / f"fcgi-pass-through-{nginx_name(t)}.conf"
            conf.write_text(text)
            gateways.append(f"""    # The gateway set {t}, as users include it.
    server {{
        listen 127.0.0.1:{p[f'gateway_{t}']} backlog=4096;
        include {conf};
    }}""")
        litellm = ""
        if self.litellm_port:
            litellm = f"""
    server {{
        listen 127.0.0.1:{self.ports['litellm_front']};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_buffering off;
        location / {{ proxy_pass http://127.0.0.1:{self.litellm_port}/bench/; }}
    }}"""
        front_ports = [port for name, port in p.items() if name == "baseline" or name.startswith("gateway_")]
        self.front = self._start_nginx("front", self.front_workers, f"""
    keepalive_requests 100000000;
    upstream up_http {{
        server 127.0.0.1:{p['up_http']};
        {pool}
    }}
    upstream up_https {{
        server 127.0.0.1:{p['up_https']};
        {pool}
    }}
    upstream up_sse {{
        server 127.0.0.1:{p['up_sse']};
        {pool}
    }}
{''.join(groups)}
    # The baseline: what nginx alone does with the same routes and the same secret header.
    server {{
        listen 127.0.0.1:{p['baseline']} backlog=4096;
        {http11}
        proxy_set_header Authorization "bearer {UPSTREAM_KEY}";
        location /v1/rerank {{ proxy_pass http://up_http; }}
        location /tls/v1/rerank {{
            proxy_pass https://up_https/v1/rerank;
            proxy_ssl_verify on;
            proxy_ssl_trusted_certificate {d}/ca-bundle.crt;
            proxy_ssl_name localhost;
            proxy_ssl_server_name on;
        }}
        location /sse {{
            proxy_pass http://up_sse;
            proxy_buffering off;
        }}
    }}
{chr(10).join(gateways)}{litellm}
""", front_ports)

    def front_pids(self) -> list[int]:
        return tree([self.front.proc.pid])

    def front_worker_pids(self) -> list[int]:
        return children(self.front.proc.pid)


def transport_of(set_name: str) -> str:
    """The transport of a gateway set: `curl` for `curl` and for `curl+b`."""
    return set_name.split("+", 1)[0]


def nginx_name(set_name: str) -> str:
    """A gateway set's name as nginx and file names take it."""
    return set_name.replace("+", "_")


def remove_workdir(workdir: Path) -> None:
    """The run's temporary directory goes, unless BENCH_KEEP=1 asks to keep it."""
    if os.environ.get("BENCH_KEEP", "") == "1":
        print(f"kept {workdir}")
    else:
        shutil.rmtree(workdir, ignore_errors=True)
