"""Request bodies are forwarded byte for byte (SPEC §3)."""

from __future__ import annotations

import hashlib

import pytest

from harness.assertions import assert_error_envelope
from harness.mock_upstream import big_body

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /body
      target: {upstream}/echo/body
      forward_headers: true
    - path: /body-plain
      target: {upstream}/echo/body-plain
      headers:
        content-type: application/json
"""

ODD_JSON = b'{ "stream" :false,\n\t"model":"m" ,"metadata" : {"tags":["a"]},"id":5,  "api_key":"x",\r\n "z":[1 ,2.50,-0e0,"\\u00e9\\n"],"a":{} }  '


@pytest.fixture(scope="module")
def stack(stacks):
    return stacks(CONFIG)


@pytest.fixture
def key(canaries):
    return [("x-litellm-api-key", canaries.master_key)]


def forwarded(stack, mock, method, path, headers, body=None, **kwargs):
    resp = stack.request(method, path, headers, body, **kwargs)
    assert resp.status == 200, resp
    rec = mock.only_request()
    assert rec.method == method
    return rec


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_json_is_not_reserialised(stack, mock, key, method):
    rec = forwarded(stack, mock, method, "/body", key + [("Content-Type", "application/json")], ODD_JSON)
    assert rec.body == ODD_JSON


def test_json_on_an_endpoint_without_forward_headers(stack, mock, key):
    rec = forwarded(stack, mock, "POST", "/body-plain", key, ODD_JSON)
    assert rec.body == ODD_JSON
    assert rec.header_values("content-type") == ["application/json"]


def test_empty_post_body_stays_empty(stack, mock, key):
    rec = forwarded(stack, mock, "POST", "/body", key + [("Content-Type", "application/json")], b"")
    assert rec.body == b""
    assert rec.header("Content-Length") in (None, "0")


def test_delete_without_body_sends_no_body(stack, mock, key):
    rec = forwarded(stack, mock, "DELETE", "/body", key)
    assert rec.body == b""
    assert rec.header("Content-Length") in (None, "0")


def test_binary_with_nul_bytes(stack, mock, key):
    body = bytes(range(256)) * 64 + b"\x00\x00\r\n\r\n\x00"
    rec = forwarded(stack, mock, "POST", "/body", key + [("Content-Type", "application/octet-stream")], body)
    assert rec.body == body
    assert rec.header("Content-Type") == "application/octet-stream"


def test_plain_text_is_forwarded_raw(stack, mock, key):
    rec = forwarded(stack, mock, "POST", "/body", key + [("Content-Type", "text/plain")], b"hello")
    assert rec.body == b"hello"
    assert rec.header("Content-Type") == "text/plain"


def test_multipart_keeps_its_boundary(stack, mock, key):
    boundary = "----itestBoundary7MA4YWxkTrZu0gW"
    content_type = f"multipart/form-data; boundary={boundary}"
    parts = [
        (b'Content-Disposition: form-data; name="purpose"\r\n\r\nfine-tune'),
        (b'Content-Disposition: form-data; name="file"; filename="a.jsonl"\r\n'
         b"Content-Type: application/jsonl\r\n\r\n" + b'{"x":1}\n{"x":2}\n'),
        (b'Content-Disposition: form-data; name="file"; filename="b.bin"\r\n'
         b"Content-Type: application/octet-stream\r\n\r\n" + bytes(range(256))),
    ]
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + p + b"\r\n" for p in parts) + b"--" + boundary.encode() + b"--\r\n"
    rec = forwarded(stack, mock, "POST", "/body", key + [("Content-Type", content_type)], body)
    assert rec.body == body
    assert rec.header_values("Content-Type") == [content_type]


def test_body_without_content_type_gets_no_invented_one(stack, mock, key):
    rec = forwarded(stack, mock, "POST", "/body", key, b"raw=bytes&not=a-form")
    assert rec.body == b"raw=bytes&not=a-form"
    assert rec.header("Content-Type") is None, rec.headers


def test_chunked_request_body_is_forwarded_whole(stack, mock, key):
    chunks = [b'{"part":', b'"one",', b'"two":2}']
    rec = forwarded(stack, mock, "POST", "/body", key + [("Content-Type", "application/json")], chunks=chunks)
    assert rec.body == b"".join(chunks)
    assert rec.header("Transfer-Encoding") is None or rec.header("Content-Length") is None


@pytest.mark.timeout_s(60)
def test_five_megabytes(stack, mock, key):
    body = big_body(5 * 1024 * 1024, seed=5)
    rec = forwarded(stack, mock, "POST", "/body", key + [("Content-Type", "application/octet-stream")], body, timeout=30)
    assert len(rec.body) == len(body)
    assert hashlib.sha256(rec.body).hexdigest() == hashlib.sha256(body).hexdigest()


def test_body_over_the_limit_is_413_and_not_forwarded(stack, mock, key):
    headers = key + [("Content-Type", "application/octet-stream"), ("Content-Length", str(65 * 1024 * 1024))]
    resp = stack.request("POST", "/body", headers)
    assert resp.status == 413
    assert mock.requests == []


@pytest.fixture(scope="module")
def small_limit_stack(stacks):
    return stacks(CONFIG, extra_args=["--max-body-size", "1k"])


def test_gateway_body_limit_is_413_envelope_and_not_forwarded(small_limit_stack, mock, key):
    resp = small_limit_stack.request("POST", "/body", key + [("Content-Type", "text/plain")], b"x" * 2048)
    assert_error_envelope(resp, 413)
    assert mock.requests == []
    resp = small_limit_stack.request("POST", "/body", key + [("Content-Type", "text/plain")], b"x" * 1024)
    assert resp.status == 200, resp
