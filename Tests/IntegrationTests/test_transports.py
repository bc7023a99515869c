"""The transport setting: `general_settings.transport`, `--transport`, `ssl_ca_file`.

The rest of the suite runs once per transport (`make integration`); these tests cover
the settings themselves.
"""

from __future__ import annotations

import pytest

from harness.gateway import EXIT_CONFIG, EXIT_OK, base_env, run_cli, transport
from harness.tls_upstream import SelfSignedUpstream

PRIVATE_CA = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  transport: curl
  ssl_ca_file: {ca_file}
  pass_through_endpoints:
    - path: /private
      target: {tls}/v1/x
"""


@pytest.fixture
def private_upstream():
    tls = SelfSignedUpstream.start_if_possible()
    if tls is None:
        pytest.skip("openssl is not installed")
    try:
        yield tls
    finally:
        tls.stop()


def test_ssl_ca_file_makes_a_private_ca_trusted(fresh_stacks, key, private_upstream):
    config = PRIVATE_CA.replace("{ca_file}", str(private_upstream.cert_path)).replace("{tls}", private_upstream.url)
    # The configured transport, not the run's: this endpoint needs curl.
    stack = fresh_stacks(config, extra_args=["--transport", "curl"])
    resp = stack.request("GET", "/private", key)
    assert resp.status == 200 and resp.body == b"ok", resp
    assert private_upstream.requests and private_upstream.requests[0].startswith(b"GET /v1/x HTTP/1.1\r\n")


def test_without_the_ca_file_the_same_upstream_is_refused(fresh_stacks, key, private_upstream):
    config = (
        PRIVATE_CA.replace("  ssl_ca_file: {ca_file}\n", "").replace("{tls}", private_upstream.url)
    )
    stack = fresh_stacks(config, extra_args=["--transport", "curl"])
    resp = stack.request("GET", "/private", key)
    assert resp.status == 502, resp
    assert b"TLS handshake with the upstream failed" in resp.body
    assert private_upstream.requests == []


def write(workdir, text: str):
    path = workdir / "config.yaml"
    path.write_text(text)
    return path


def test_a_ca_file_with_urlsession_is_refused_at_start(gateway_binary, workdir, private_upstream):
    text = PRIVATE_CA.replace("{ca_file}", str(private_upstream.cert_path)).replace("{tls}", private_upstream.url)
    env = base_env(workdir, {"LITELLM_MASTER_KEY": "sk-transport-test"})
    config = write(workdir, text.replace("transport: curl", "transport: urlsession"))
    result = run_cli(gateway_binary, ["-t", "--config", str(config)], env)
    assert result.returncode == EXIT_CONFIG
    assert "ssl_ca_file needs `transport: curl`" in result.stderr
    # --transport wins over the file, both ways.
    config = write(workdir, text)
    assert run_cli(gateway_binary, ["-t", "--config", str(config)], env).returncode == EXIT_OK
    assert run_cli(gateway_binary, ["-t", "--config", str(config), "--transport", "urlsession"], env).returncode == EXIT_CONFIG


@pytest.mark.parametrize("value, message", [("http3", "must be urlsession or curl"), ("[curl]", "must be a string")])
def test_an_unknown_transport_is_refused(gateway_binary, workdir, value, message):
    config = write(workdir, f"general_settings:\n  transport: {value}\n")
    result = run_cli(gateway_binary, ["-t", "--config", str(config)], base_env(workdir))
    assert result.returncode == EXIT_CONFIG
    assert f"config.yaml:2: transport: {message}" in result.stderr


def test_the_run_uses_the_transport_it_was_asked_for(fresh_stacks, key):
    """Guards `make integration`: GATEWAY_TRANSPORT really reaches the gateway."""
    stack = fresh_stacks("general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n")
    args = stack.gateways[0].args
    expected = transport()
    chosen = args[args.index("--transport") + 1] if "--transport" in args else "urlsession"
    assert chosen == expected
