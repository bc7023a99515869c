"""Catalogue section I: configuration and start-up (CFG-01 .. CFG-04).

Every refusal: exit 78 before the socket exists, one line per problem naming its
place (file:line, location, variable), never a value.
"""

from __future__ import annotations

import re
import time

import pytest

from harness.gateway import EXIT_CONFIG, EXIT_OK, base_env, run_cli

HEAD = "general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n  pass_through_endpoints:\n"


def endpoint(path: str, target: str, extra: str = "") -> str:
    return f"    - path: {path}\n      target: {target}\n" + "".join(f"      {line}\n" for line in extra.splitlines() if line)


@pytest.fixture
def start(gateway_binary, workdir, canaries):
    """Starts the gateway on a config as a server would; returns (exit code, stderr, socket existed)."""

    def run(config: str | bytes, env: dict[str, str] | None = None, check_only: bool = False):
        path = workdir / "config.yaml"
        path.write_bytes(config if isinstance(config, bytes) else config.encode())
        socket_path = workdir / "gw.sock"
        full_env = base_env(workdir, {"LITELLM_MASTER_KEY": canaries.master_key, **(env or {})})
        args = ["-t", "--config", str(path)] if check_only else ["--config", str(path), "--socket", f"unix:{socket_path}"]
        result = run_cli(gateway_binary, args, full_env, timeout=30)
        return result.returncode, result.stderr, socket_path.exists()

    return run


# --- CFG-01: missing, empty or unreadable secrets and files ------------------------------------


def test_cfg_01_every_missing_variable_is_listed_before_binding(start):
    config = HEAD + endpoint("/a", "https://example.com/a", "headers:\n  x-api-key: os.environ/ITEST_UNSET_A")
    config += endpoint("/b", "https://example.com/b", "headers:\n  Authorization: \"Bearer os.environ/COHRE_KEY\"")
    config += endpoint("/c", "https://example.com/c", "headers:\n  x-api-key: os.environ/ITEST_EMPTY")
    code, stderr, bound = start(config, {"ITEST_EMPTY": ""})
    assert code == EXIT_CONFIG and not bound
    for name, location in (("ITEST_UNSET_A", r"\[0\]\.headers\.x-api-key"), ("COHRE_KEY", r"\[1\]\.headers\.Authorization"),
                           ("ITEST_EMPTY", r"\[2\]\.headers\.x-api-key")):
        assert re.search(rf"config\.yaml:\d+: pass_through_endpoints{location}: .*{name}", stderr), stderr


@pytest.mark.parametrize("kind", ["missing", "directory", "not-utf8"])
def test_cfg_01_an_unreadable_config_refuses_to_start(start, workdir, gateway_binary, canaries, kind):
    if kind == "not-utf8":
        code, stderr, bound = start(b"general_settings:\n  master_key: \xff\xfe\n")
    else:
        path = workdir / "elsewhere"
        if kind == "directory":
            path.mkdir()
        socket_path = workdir / "gw.sock"
        result = run_cli(gateway_binary, ["--config", str(path), "--socket", f"unix:{socket_path}"], base_env(workdir))
        code, stderr, bound = result.returncode, result.stderr, socket_path.exists()
    assert code == EXIT_CONFIG and not bound, stderr
    assert "config" in stderr


# --- CFG-02: invalid YAML and schema errors ----------------------------------------------------------


@pytest.mark.parametrize(
    "config, pattern",
    [
        (HEAD + "\t- path: /tab\n", r"config\.yaml:\d+"),
        (HEAD + '    - path: "/unclosed\n      target: https://example.com\n', r"config\.yaml:\d+"),
        (HEAD + endpoint("/dup", "https://example.com/a") + "      path: /dup-again\n", r"\[0\]\.path: key written twice"),
        (HEAD + endpoint("/typed", "https://example.com/a", 'headers: "x"'), r"\[0\]\.headers"),
        (HEAD + endpoint("/typed", "https://example.com/a", "methods: GET"), r"\[0\]\.methods"),
        (HEAD + endpoint("/typed", "https://example.com/a", "timeout: -1"), r"\[0\]\.timeout"),
        (HEAD + endpoint("/typed", "https://example.com/a", "auth: maybe"), r"\[0\]\.auth"),
    ],
    ids=["tab", "unclosed-quote", "duplicate-key", "headers-not-a-map", "methods-not-a-list", "negative-timeout", "bad-bool"],
)
def test_cfg_02_malformed_config_names_file_line_and_place(start, config, pattern):
    code, stderr, bound = start(config, check_only=True)
    assert code == EXIT_CONFIG, stderr
    assert re.search(pattern, stderr), stderr


def test_cfg_02_unknown_endpoint_keys_warn_by_name(start):
    """SPEC §1 makes an unknown endpoint key a warning (LiteLLM configs carry extra keys)."""
    code, stderr, _ = start(HEAD + endpoint("/typo", "https://example.com/a", "include_subpaths: true\ntagret: x"), check_only=True)
    assert code == EXIT_OK
    assert "include_subpaths" in stderr and "include_subpath" in stderr and "tagret" in stderr


@pytest.mark.timeout_s(40)
def test_cfg_02_an_alias_bomb_is_refused_quickly(start):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for level in range(1, 10):
        bomb += f"{chr(97 + level)}: &{chr(97 + level)} [" + ", ".join([f"*{chr(96 + level)}"] * 10) + "]\n"
    started = time.monotonic()
    code, stderr, _ = start(bomb + HEAD, check_only=True)
    assert code == EXIT_CONFIG and time.monotonic() - started < 10
    assert "alias" in stderr.lower()


@pytest.mark.timeout_s(60)
def test_cfg_02_a_50_mib_config_is_handled_in_bounded_time(start):
    filler = "model_list:\n" + "".join(f"  - model_name: m{k}\n    litellm_params: {{model: {'x' * 200}}}\n" for k in range(200_000))
    started = time.monotonic()
    code, stderr, _ = start(filler + HEAD + endpoint("/a", "https://example.com/a"), check_only=True)
    assert code in (EXIT_OK, EXIT_CONFIG), stderr
    assert time.monotonic() - started < 45


# --- CFG-03: duplicate and overlapping routes --------------------------------------------------------


@pytest.mark.parametrize(
    "routes, ok, pattern",
    [
        (endpoint("/v1/rerank", "https://a.example/x") + endpoint("/v1/rerank", "https://b.example/y"), False, r"\[1\]\.path"),
        (endpoint("/kb", "https://a.example/x", "methods: [GET]") + endpoint("/kb", "https://b.example/y", "methods: [POST]"),
         True, None),
        (endpoint("/kb", "https://a.example/x", "methods: [GET, POST]") + endpoint("/kb", "https://b.example/y", "methods: [post]"),
         False, r"\[1\]"),
        (endpoint("/v1", "https://a.example/x", "include_subpath: true") + endpoint("/v1/rerank", "https://b.example/y"), True, None),
        (endpoint("/health/liveness", "https://a.example/x"), False, r"\[0\]\.path"),
        (endpoint("/metrics", "https://a.example/x"), False, r"\[0\]\.path"),
    ],
    ids=["exact-duplicate", "same-path-other-methods", "method-overlap", "prefix-overlap", "built-in-health", "built-in-metrics"],
)
def test_cfg_03_duplicates_and_built_in_collisions_refuse_to_start(start, routes, ok, pattern):
    code, stderr, _ = start(HEAD + routes, check_only=True)
    if ok:
        assert code == EXIT_OK, stderr
    else:
        assert code == EXIT_CONFIG and re.search(pattern, stderr), stderr


# --- CFG-04: target URL validation --------------------------------------------------------------------


@pytest.mark.parametrize(
    "target",
    [
        "https://user:pass@example.com/x",
        "https://example.com/x#frag",
        "file:///etc/passwd",
        "ftp://example.com/x",
        "gopher://example.com/x",
        "https:///no-host",
        "https://",
        "http://::1/x",
        "example.com/x",
        '"https://example.com/a b"',
    ],
)
def test_cfg_04_unusable_targets_refuse_to_start(start, target):
    code, stderr, bound = start(HEAD + endpoint("/t", target))
    assert code == EXIT_CONFIG and not bound, stderr
    assert re.search(r"\[0\]\.target", stderr), stderr
    assert "pass@" not in stderr


@pytest.mark.parametrize("target", ["http://example.com/x", "https://[::1]:8443/x", "https://example.com./x", "https://169.254.169.254/x"])
def test_cfg_04_valid_targets_are_accepted(start, target):
    """Targets come only from the operator (SPEC §1): plain http and any host are allowed;
    nothing in a request can change them (PATH-04)."""
    code, stderr, _ = start(HEAD + endpoint("/t", target), check_only=True)
    assert code == EXIT_OK, stderr
