"""Built-in routes (docs/BEHAVIOUR.md §7): health and metrics, no key needed."""

from __future__ import annotations

import json
import re

import pytest

from harness.assertions import bearer

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /v1/rerank
      target: {upstream}/v1/rerank
      cost_per_request: 0.5
      id: rerank
"""

PROMETHEUS_LINE = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{.*\})? [-+0-9.eEinfNa]+( \d+)?$")


@pytest.fixture(scope="module")
def stack(stacks):
    return stacks(CONFIG)


@pytest.mark.parametrize("path", ["/health/liveliness", "/health/liveness"])
def test_liveness_without_a_key(stack, mock, path):
    resp = stack.request("GET", path)
    assert resp.status == 200, resp
    assert json.loads(resp.body) == "I'm alive!"
    assert resp.body.strip() == b'"I\'m alive!"'
    assert mock.requests == []


def test_readiness_without_a_key(stack, mock):
    resp = stack.request("GET", "/health/readiness")
    assert resp.status == 200, resp
    assert (resp.header("Content-Type") or "").startswith("application/json")
    assert resp.json()["status"] == "healthy"
    assert mock.requests == []


def test_health_ignores_a_wrong_key(stack, mock):
    resp = stack.request("GET", "/health/readiness", bearer("sk-wrong"))
    assert resp.status == 200, resp


def test_metrics_in_prometheus_text_format(stack, mock, canaries):
    assert stack.request("POST", "/v1/rerank", bearer(canaries.master_key), b"{}").status == 200
    resp = stack.request("GET", "/metrics")
    assert resp.status == 200, resp
    assert (resp.header("Content-Type") or "").startswith("text/plain")
    lines = [line for line in resp.body.decode().splitlines() if line and not line.startswith("#")]
    assert lines, "no samples in /metrics"
    bad = [line for line in lines if not PROMETHEUS_LINE.match(line)]
    assert not bad, f"not Prometheus text format: {bad[:5]}"
