"""Configuration: `-t` checks and exit codes, values as the running gateway applies them,
and refusals at start-up.

docs/BEHAVIOUR.md §1, §7; threat catalogue section I (CFG-*) in docs/SECURITY.md.
"""

from __future__ import annotations

import re
import textwrap
import time
from base64 import b64encode

import pytest

from harness.gateway import EXIT_CONFIG, EXIT_OK, EXIT_USAGE, base_env, run_cli


# ==================================================================================================
# `-t` config checks and exit codes (docs/BEHAVIOUR.md §1, §7): 0 ok, 78 bad configuration, 64 bad usage.
#
# A bad config names its location and the variable involved, never a secret's value.
# ==================================================================================================


GOOD = """
general_settings:
  master_key: {master_key}
  pass_through_endpoints:
    - path: "/v1/rerank"
      target: "https://api.cohere.com/v1/rerank"
      headers:
        Authorization: "bearer os.environ/COHERE_API_KEY"
        content-type: application/json
        accept: application/json
"""


@pytest.fixture
def check(gateway_binary, workdir, canaries):
    """Writes a config and runs `-t` on it; returns (exit code, stderr lines, config path)."""

    def run(config: str, env: dict[str, str] | None = None, args: list[str] | None = None):
        path = workdir / "gateway-config.yaml"
        path.write_text(textwrap.dedent(config).replace("{master_key}", canaries.master_key))
        full_env = base_env(workdir, {"COHERE_API_KEY": canaries.upstream_key, **(env or {})})
        result = run_cli(gateway_binary, (args or ["-t", "--config", str(path)]), full_env)
        for secret in (canaries.master_key, canaries.upstream_key):
            assert secret not in result.stderr + result.stdout, "a secret value was printed"
        return result.returncode, [line for line in result.stderr.splitlines() if line.strip()], path

    return run


def endpoint(lines: str) -> str:
    return GOOD + textwrap.indent(textwrap.dedent(lines), "    ")


# --- good configs -------------------------------------------------------------------------


def test_the_seed_config_is_valid(check):
    code, lines, _ = check(GOOD)
    assert code == EXIT_OK, lines


def test_no_master_key_at_all_is_valid(check):
    code, lines, _ = check(GOOD.replace("  master_key: {master_key}\n", ""))
    assert code == EXIT_OK, lines


def test_unknown_top_level_sections_are_accepted(check):
    config = textwrap.dedent("""
        model_list:
          - model_name: gpt-x
            litellm_params: {model: openai/gpt-x}
        litellm_settings:
          drop_params: true
        router_settings:
          routing_strategy: simple-shuffle
    """) + GOOD
    code, lines, _ = check(config)
    assert code == EXIT_OK, lines


def test_environment_variables_section_feeds_references(check):
    config = "environment_variables:\n  ITEST_FROM_SECTION: abc\n" + endpoint("""
        - path: /from-section
          target: https://example.com/x
          headers:
            X-Key: os.environ/ITEST_FROM_SECTION
    """)
    code, lines, _ = check(config)
    assert code == EXIT_OK, lines


def test_several_references_in_one_value(check):
    config = endpoint("""
        - path: /multi
          target: https://example.com/x
          headers:
            X-Both: "os.environ/ITEST_A:os.environ/ITEST_B"
    """)
    code, lines, _ = check(config, {"ITEST_A": "a", "ITEST_B": "b"})
    assert code == EXIT_OK, lines


def test_unknown_endpoint_key_is_a_warning_naming_it(check):
    config = endpoint("""
        - path: /typo
          target: https://example.com/x
          include_subpaths: true
    """)
    code, lines, _ = check(config)
    assert code == EXIT_OK, lines
    assert any("include_subpaths" in line for line in lines), lines


# --- bad configs ---------------------------------------------------------------------------


def test_unset_variable_names_the_variable_the_location_and_the_line(check):
    config = GOOD + textwrap.indent(textwrap.dedent("""
        - path: /second
          target: https://example.com/second
          headers:
            Authorization: "bearer os.environ/ITEST_UNSET_VARIABLE"
    """), "    ")
    code, lines, path = check(config)
    assert code == EXIT_CONFIG, lines
    line_no = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if "ITEST_UNSET_VARIABLE" in text)
    problem = [line for line in lines if "ITEST_UNSET_VARIABLE" in line]
    assert problem, lines
    assert re.search(r"pass_through_endpoints\[\d+\]\.headers\.Authorization", problem[0]), problem
    assert f"{path.name}:{line_no}" in problem[0], problem


def test_every_problem_is_listed(check):
    config = endpoint("""
        - path: /one
          target: https://example.com/one
          headers:
            X-A: os.environ/ITEST_MISSING_ONE
        - path: /two
          target: ftp://example.com/two
        - path: /three
          target: https://example.com/three
          headers:
            X-B: "x os.environ/ITEST_MISSING_THREE"
    """)
    code, lines, _ = check(config)
    assert code == EXIT_CONFIG, lines
    assert any("ITEST_MISSING_ONE" in line for line in lines), lines
    assert any("ITEST_MISSING_THREE" in line for line in lines), lines
    assert any("target" in line for line in lines), lines
    assert len(lines) >= 3, lines


# Each case: config, extra environment, and a pattern the problem's line must match
# (the config location, or the variable involved).
BAD = {
    "empty master key": ('general_settings:\n  master_key: ""\n  pass_through_endpoints: []\n', {}, "master_key"),
    "master key from an empty variable": (
        "general_settings:\n  master_key: os.environ/ITEST_EMPTY\n  pass_through_endpoints: []\n",
        {"ITEST_EMPTY": ""},
        "master_key",
    ),
    "secret with CR/LF": (
        endpoint("""
            - path: /crlf
              target: https://example.com/x
              headers:
                X-Key: os.environ/ITEST_CRLF
        """),
        {"ITEST_CRLF": "abc\r\nX-Injected: itest-injected"},
        "ITEST_CRLF",
    ),
    "duplicate path and method": (
        endpoint("""
            - path: /v1/rerank
              target: https://example.com/other
        """),
        {},
        r"pass_through_endpoints\[\d+\]\.path|/v1/rerank",
    ),
    "built-in route": (
        endpoint("""
            - path: /health/liveliness
              target: https://example.com/x
        """),
        {},
        r"pass_through_endpoints\[\d+\]\.path|/health/liveliness",
    ),
    "target not http(s)": (endpoint("- path: /ftp\n  target: ftp://example.com/x\n"), {}, "target"),
    "relative target": (endpoint("- path: /rel\n  target: /just/a/path\n"), {}, "target"),
    "path not starting with a slash": (endpoint("- path: no-slash\n  target: https://example.com/x\n"), {}, "path"),
    "missing target": (endpoint("- path: /no-target\n"), {}, "target"),
    "wrong type": (endpoint("- path: /typed\n  target: https://example.com/x\n  include_subpath: [1, 2]\n"), {}, "include_subpath"),
    "wrong timeout type": (endpoint("- path: /typed\n  target: https://example.com/x\n  timeout: soon\n"), {}, "timeout"),
    "invalid YAML": ("general_settings:\n  master_key: [unclosed\n  pass_through_endpoints:\n", {}, r"gateway-config\.yaml:\d+"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_config_exits_78_and_names_the_problem(check, case):
    config, env, expected = BAD[case]
    code, lines, _ = check(config, env)
    assert code == EXIT_CONFIG, (code, lines)
    assert lines, "no problem reported on stderr"
    assert any(re.search(expected, line) for line in lines), lines
    assert not any("itest-injected" in line for line in lines), "the secret's value was printed"


def test_refuses_to_start_with_a_bad_config(gateway_binary, workdir, canaries):
    path = workdir / "gateway-config.yaml"
    path.write_text(endpoint("- path: /x\n  target: https://example.com/x\n  headers:\n    X: os.environ/ITEST_UNSET\n"))
    socket_path = workdir / "gw.sock"
    env = base_env(workdir, {"COHERE_API_KEY": canaries.upstream_key})
    result = run_cli(gateway_binary, ["--config", str(path), "--socket", f"unix:{socket_path}"], env)
    assert result.returncode == EXIT_CONFIG, result.stderr
    assert "ITEST_UNSET" in result.stderr
    assert not socket_path.exists()


@pytest.mark.parametrize(
    "args",
    [["--no-such-flag"], ["-t", "--config"], ["--threads", "many", "-t", "--config", "x"]],
    ids=["unknown-flag", "missing-value", "non-numeric-threads"],
)
def test_bad_usage_exits_64(check, args):
    code, lines, _ = check(GOOD, args=args)
    assert code == EXIT_USAGE, (code, lines)


# ==================================================================================================
# Config values as the running gateway applies them: environment references, the
# environment_variables section, whole-value targets, the Langfuse pair, LiteLLM sections.
# ==================================================================================================


CONFIG = """
environment_variables:
  ITEST_FROM_SECTION: value-from-section
model_list:
  - model_name: gpt-x
    litellm_params:
      model: openai/gpt-x
litellm_settings:
  drop_params: true
router_settings:
  routing_strategy: simple-shuffle
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /refs
      id: refs-endpoint
      cost_per_request: 0.25
      target: {upstream}/echo/refs
      headers:
        X-Two-Refs: "a-os.environ/ITEST_VAR_A-b-os.environ/ITEST_VAR_B-c"
        X-From-Section: os.environ/ITEST_FROM_SECTION
        Authorization: "bearer os.environ/COHERE_API_KEY"
    - path: /whole-target
      target: os.environ/ITEST_TARGET
    - path: /langfuse
      target: {upstream}/echo/langfuse
      headers:
        LANGFUSE_PUBLIC_KEY: os.environ/ITEST_LF_PUBLIC
        LANGFUSE_SECRET_KEY: os.environ/ITEST_LF_SECRET
"""


@pytest.fixture(scope="module")
def stack(stacks, mock):
    env = {
        "ITEST_VAR_A": "alpha",
        "ITEST_VAR_B": "beta",
        "ITEST_TARGET": f"{mock.url}/echo/from-env-target",
        "ITEST_LF_PUBLIC": "pk-lf-itest",
        "ITEST_LF_SECRET": "sk-lf-itest",
    }
    return stacks(CONFIG, env=env)


def test_references_inside_values_are_substituted(stack, mock, key, canaries):
    assert stack.request("GET", "/refs", key).status == 200
    rec = mock.only_request()
    assert rec.header("X-Two-Refs") == "a-alpha-b-beta-c"
    assert rec.header("X-From-Section") == "value-from-section"
    assert rec.header_values("Authorization") == [f"bearer {canaries.upstream_key}"]


def test_whole_value_reference_in_a_target(stack, mock, key):
    resp = stack.request("GET", "/whole-target", key)
    assert resp.status == 200, resp
    assert mock.only_request().path == "/echo/from-env-target"


def test_langfuse_pair_becomes_basic_authorization(stack, mock, key):
    assert stack.request("GET", "/langfuse", key).status == 200
    rec = mock.only_request()
    assert rec.header_values("Authorization") == ["Basic " + b64encode(b"pk-lf-itest:sk-lf-itest").decode()]
    names = rec.header_names()
    assert "langfuse_public_key" not in names and "langfuse-public-key" not in names
    assert "langfuse_secret_key" not in names and "langfuse-secret-key" not in names


# ==================================================================================================
# Catalogue section I: configuration and start-up (CFG-01 .. CFG-04).
#
# Every refusal: exit 78 before the socket exists, one line per problem naming its
# place (file:line, location, variable), never a value.
# ==================================================================================================


HEAD = "general_settings:\n  master_key: os.environ/LITELLM_MASTER_KEY\n  pass_through_endpoints:\n"


def endpoint_entry(path: str, target: str, extra: str = "") -> str:
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
    config = HEAD + endpoint_entry("/a", "https://example.com/a", "headers:\n  x-api-key: os.environ/ITEST_UNSET_A")
    config += endpoint_entry("/b", "https://example.com/b", "headers:\n  Authorization: \"Bearer os.environ/COHRE_KEY\"")
    config += endpoint_entry("/c", "https://example.com/c", "headers:\n  x-api-key: os.environ/ITEST_EMPTY")
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
        (HEAD + endpoint_entry("/dup", "https://example.com/a") + "      path: /dup-again\n", r"\[0\]\.path: key written twice"),
        (HEAD + endpoint_entry("/typed", "https://example.com/a", 'headers: "x"'), r"\[0\]\.headers"),
        (HEAD + endpoint_entry("/typed", "https://example.com/a", "methods: GET"), r"\[0\]\.methods"),
        (HEAD + endpoint_entry("/typed", "https://example.com/a", "timeout: -1"), r"\[0\]\.timeout"),
        (HEAD + endpoint_entry("/typed", "https://example.com/a", "auth: maybe"), r"\[0\]\.auth"),
    ],
    ids=["tab", "unclosed-quote", "duplicate-key", "headers-not-a-map", "methods-not-a-list", "negative-timeout", "bad-bool"],
)
def test_cfg_02_malformed_config_names_file_line_and_place(start, config, pattern):
    code, stderr, bound = start(config, check_only=True)
    assert code == EXIT_CONFIG, stderr
    assert re.search(pattern, stderr), stderr


def test_cfg_02_unknown_endpoint_keys_warn_by_name(start):
    """docs/BEHAVIOUR.md §1 makes an unknown endpoint key a warning (LiteLLM configs carry extra keys)."""
    code, stderr, _ = start(HEAD + endpoint_entry("/typo", "https://example.com/a", "include_subpaths: true\ntagret: x"), check_only=True)
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
    code, stderr, _ = start(filler + HEAD + endpoint_entry("/a", "https://example.com/a"), check_only=True)
    assert code in (EXIT_OK, EXIT_CONFIG), stderr
    assert time.monotonic() - started < 45


# --- CFG-03: duplicate and overlapping routes --------------------------------------------------------


@pytest.mark.parametrize(
    "routes, ok, pattern",
    [
        (endpoint_entry("/v1/rerank", "https://a.example/x") + endpoint_entry("/v1/rerank", "https://b.example/y"), False, r"\[1\]\.path"),
        (endpoint_entry("/kb", "https://a.example/x", "methods: [GET]") + endpoint_entry("/kb", "https://b.example/y", "methods: [POST]"),
         True, None),
        (endpoint_entry("/kb", "https://a.example/x", "methods: [GET, POST]") + endpoint_entry("/kb", "https://b.example/y", "methods: [post]"),
         False, r"\[1\]"),
        (endpoint_entry("/v1", "https://a.example/x", "include_subpath: true") + endpoint_entry("/v1/rerank", "https://b.example/y"), True, None),
        (endpoint_entry("/health/liveness", "https://a.example/x"), False, r"\[0\]\.path"),
        (endpoint_entry("/metrics", "https://a.example/x"), False, r"\[0\]\.path"),
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
    code, stderr, bound = start(HEAD + endpoint_entry("/t", target))
    assert code == EXIT_CONFIG and not bound, stderr
    assert re.search(r"\[0\]\.target", stderr), stderr
    assert "pass@" not in stderr


@pytest.mark.parametrize("target", ["http://example.com/x", "https://[::1]:8443/x", "https://example.com./x", "https://169.254.169.254/x"])
def test_cfg_04_valid_targets_are_accepted(start, target):
    """Targets come only from the operator (docs/BEHAVIOUR.md §1): plain http and any host are allowed;
    nothing in a request can change them (PATH-04)."""
    code, stderr, _ = start(HEAD + endpoint_entry("/t", target), check_only=True)
    assert code == EXIT_OK, stderr
