"""BENCH_LITELLM=1: LiteLLM Proxy with the same pass-through routes, behind the same nginx.

Installed with pip into a throwaway venv inside the run's directory (BENCH_LITELLM_SPEC,
default the version issue 5 measured); skipped with a note when pip cannot install it
within BENCH_LITELLM_INSTALL_TIMEOUT seconds (300). BENCH_LITELLM_VENV=DIR keeps the venv
there and reuses it on the next run. BENCH_LITELLM_WORKERS sets its worker count (1).
"""
from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

from stack import MASTER_KEY, UPSTREAM_KEY, Stack, free_port

SPEC = os.environ.get("BENCH_LITELLM_SPEC") or "litellm[proxy]==1.108.7"


def prepare_litellm(stack: Stack) -> None:
    home = Path(os.environ.get("BENCH_LITELLM_VENV") or stack.dir / "litellm")
    stack.dir.mkdir(parents=True, exist_ok=True)
    if not (home / "bin/litellm").exists():
        print(f"installing {SPEC} into a venv at {home}...", flush=True)
        venv.create(home, with_pip=True)
        if not _install(home):
            return
    stack.litellm_port = free_port()
    stack.ports["litellm_front"] = free_port()
    stack.litellm_setup = lambda: _start(stack, home)


def _install(home: Path) -> bool:
    try:
        subprocess.run([str(home / "bin/python"), "-m", "pip", "install", "-q", SPEC], check=True,
                       timeout=float(os.environ.get("BENCH_LITELLM_INSTALL_TIMEOUT") or 300),
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as error:
        print(f"note: LiteLLM left out, pip could not install {SPEC}: {error}", file=sys.stderr, flush=True)
        return False
    return True


def _config(stack: Stack) -> str:
    p = stack.ports
    headers = f"""      headers:
        Authorization: "bearer {UPSTREAM_KEY}"
        content-type: application/json
        accept: application/json"""
    # Under /bench (nginx maps / to it): LiteLLM's built-in /v1/rerank would shadow the route.
    return f"""general_settings:
  master_key: {MASTER_KEY}
  pass_through_endpoints:
    - path: /bench/v1/rerank
      target: http://127.0.0.1:{p['up_http']}/v1/rerank
{headers}
    - path: /bench/tls/v1/rerank
      target: https://localhost:{p['up_https']}/v1/rerank
{headers}
    - path: /bench/sse
      target: http://127.0.0.1:{p['up_sse']}/sse
litellm_settings:
  ssl_verify: {stack.dir / 'ca-bundle.crt'}
"""


def _start(stack: Stack, home) -> None:
    config = stack.dir / "litellm.yaml"
    config.write_text(_config(stack))
    # No network here: the bundled model cost map, not a download attempt at start-up.
    env = dict(os.environ, SSL_CERT_FILE=str(stack.dir / "ca-bundle.crt"), LITELLM_LOCAL_MODEL_COST_MAP="True")
    workers = os.environ.get("BENCH_LITELLM_WORKERS") or "1"
    stack.litellm = stack._spawn([str(home / "bin/litellm"), "--config", str(config), "--host", "127.0.0.1",
                                  "--port", str(stack.litellm_port), "--num_workers", workers], "litellm", env=env)
