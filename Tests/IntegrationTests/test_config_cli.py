"""`-t` config checks and exit codes (SPEC §1, §7): 0 ok, 78 bad configuration, 64 bad usage.

A bad config names its location and the variable involved, never a secret's value.
"""

from __future__ import annotations

import re
import textwrap

import pytest

from harness.gateway import EXIT_CONFIG, EXIT_OK, EXIT_USAGE, base_env, run_cli

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
