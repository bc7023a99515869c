"""The seed: LiteLLM's documented rerank pass-through, called the way its docs call it with curl."""

from __future__ import annotations

import pytest

from harness.assertions import NO_KEY, assert_error_envelope, bearer
from harness.mock_upstream import RERANK_RESPONSE

SEED_CONFIG = """
general_settings:
  master_key: {master_key}
  pass_through_endpoints:
    - path: "/v1/rerank"
      target: "{upstream}/v1/rerank"
      headers:
        Authorization: "bearer os.environ/COHERE_API_KEY"
        content-type: application/json
        accept: application/json
"""

# What `curl --data '{...}'` sends for the documented example, byte for byte.
SEED_BODY = (
    b'{\n    "model": "rerank-english-v3.0",\n'
    b'    "query": "What is the capital of the United States?",\n'
    b'    "top_n": 3,\n'
    b'    "documents": ["Carson City is the capital city of the American state of Nevada.",\n'
    b'                  "The Commonwealth of the Northern Mariana Islands is a group of islands in the Pacific Ocean. Its capital is Saipan.",\n'
    b'                  "Washington, D.C. (also known as simply Washington or DC, and officially as the District of Columbia) is the capital of the United States. It is a federal district.",\n'
    b'                  "Capitalization or capitalisation in English grammar is the use of a capital letter at the start of a word. English usage varies from capitalization in other contexts.",\n'
    b'                  "Capital punishment (the death penalty) has existed in the United States since beforethe United States was a country. As of 2017, capital punishment is legal in 30 of the 50 U.S. states."]\n'
    b"}"
)


@pytest.fixture(scope="module")
def stack(stacks):
    return stacks(SEED_CONFIG, master_key_env=False)


def curl_headers(key: str) -> list[tuple[str, str]]:
    return [
        ("User-Agent", "curl/7.88.1"),
        ("accept", "application/json"),
        ("content-type", "application/json"),
        *bearer(key),
    ]


def test_seed_request_end_to_end(stack, mock, canaries):
    resp = stack.request("POST", "/v1/rerank", curl_headers(canaries.master_key), SEED_BODY)

    assert resp.status == 200, resp
    assert resp.complete
    assert resp.body == RERANK_RESPONSE
    assert (resp.header("Content-Type") or "").startswith("application/json")
    assert resp.header("x-litellm-call-id")

    upstream = mock.only_request()
    assert upstream.method == "POST"
    assert upstream.target == "/v1/rerank"
    assert upstream.header_values("Authorization") == [f"bearer {canaries.upstream_key}"]
    assert upstream.header_values("content-type") == ["application/json"]
    assert upstream.header_values("accept") == ["application/json"]
    assert upstream.body == SEED_BODY


def test_seed_without_a_key_is_refused_before_the_upstream(stack, mock):
    headers = [h for h in curl_headers("unused") if h[0] != "Authorization"]
    resp = stack.request("POST", "/v1/rerank", headers, SEED_BODY)
    assert_error_envelope(resp, 401, NO_KEY)
    assert mock.requests == []


def test_seed_repeated_requests_each_reach_the_upstream(stack, mock, canaries):
    for _ in range(3):
        resp = stack.request("POST", "/v1/rerank", curl_headers(canaries.master_key), SEED_BODY)
        assert resp.status == 200 and resp.body == RERANK_RESPONSE
    assert len(mock.requests) == 3
    assert all(r.body == SEED_BODY for r in mock.requests)
