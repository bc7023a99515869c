"""Config values as the running gateway applies them: environment references, the
environment_variables section, whole-value targets, the Langfuse pair, LiteLLM sections."""

from __future__ import annotations

from base64 import b64encode

import pytest

from harness.assertions import bearer

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
