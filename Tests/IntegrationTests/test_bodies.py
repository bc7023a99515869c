"""Request bodies: forwarded byte for byte, size limits, framing and smuggling.

docs/BEHAVIOUR.md §3; threat catalogue section E (BODY-*) in docs/SECURITY.md.
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from harness import probes
from harness.assertions import assert_error_envelope
from harness.gateway import REPO_ROOT
from harness.mock_upstream import big_body


# ==================================================================================================
# Request bodies are forwarded byte for byte (docs/BEHAVIOUR.md §3).
# ==================================================================================================


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
def litellm_key(canaries):
    return [("x-litellm-api-key", canaries.master_key)]


def forwarded(stack, mock, method, path, headers, body=None, **kwargs):
    resp = stack.request(method, path, headers, body, **kwargs)
    assert resp.status == 200, resp
    rec = mock.only_request()
    assert rec.method == method
    return rec


@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH", "DELETE"])
def test_json_is_not_reserialised(stack, mock, litellm_key, method):
    rec = forwarded(stack, mock, method, "/body", litellm_key + [("Content-Type", "application/json")], ODD_JSON)
    assert rec.body == ODD_JSON


def test_json_on_an_endpoint_without_forward_headers(stack, mock, litellm_key):
    rec = forwarded(stack, mock, "POST", "/body-plain", litellm_key, ODD_JSON)
    assert rec.body == ODD_JSON
    assert rec.header_values("content-type") == ["application/json"]


def test_empty_post_body_stays_empty(stack, mock, litellm_key):
    rec = forwarded(stack, mock, "POST", "/body", litellm_key + [("Content-Type", "application/json")], b"")
    assert rec.body == b""
    assert rec.header("Content-Length") in (None, "0")


def test_delete_without_body_sends_no_body(stack, mock, litellm_key):
    rec = forwarded(stack, mock, "DELETE", "/body", litellm_key)
    assert rec.body == b""
    assert rec.header("Content-Length") in (None, "0")


def test_binary_with_nul_bytes(stack, mock, litellm_key):
    body = bytes(range(256)) * 64 + b"\x00\x00\r\n\r\n\x00"
    rec = forwarded(stack, mock, "POST", "/body", litellm_key + [("Content-Type", "application/octet-stream")], body)
    assert rec.body == body
    assert rec.header("Content-Type") == "application/octet-stream"


def test_plain_text_is_forwarded_raw(stack, mock, litellm_key):
    rec = forwarded(stack, mock, "POST", "/body", litellm_key + [("Content-Type", "text/plain")], b"hello")
    assert rec.body == b"hello"
    assert rec.header("Content-Type") == "text/plain"


def test_multipart_keeps_its_boundary(stack, mock, litellm_key):
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
    rec = forwarded(stack, mock, "POST", "/body", litellm_key + [("Content-Type", content_type)], body)
    assert rec.body == body
    assert rec.header_values("Content-Type") == [content_type]


def test_body_without_content_type_gets_no_invented_one(stack, mock, litellm_key):
    rec = forwarded(stack, mock, "POST", "/body", litellm_key, b"raw=bytes&not=a-form")
    assert rec.body == b"raw=bytes&not=a-form"
    assert rec.header("Content-Type") is None, rec.headers


def test_chunked_request_body_is_forwarded_whole(stack, mock, litellm_key):
    chunks = [b'{"part":', b'"one",', b'"two":2}']
    rec = forwarded(stack, mock, "POST", "/body", litellm_key + [("Content-Type", "application/json")], chunks=chunks)
    assert rec.body == b"".join(chunks)
    assert rec.header("Transfer-Encoding") is None or rec.header("Content-Length") is None


@pytest.mark.timeout_s(60)
def test_five_megabytes(stack, mock, litellm_key):
    body = big_body(5 * 1024 * 1024, seed=5)
    rec = forwarded(stack, mock, "POST", "/body", litellm_key + [("Content-Type", "application/octet-stream")], body, timeout=30)
    assert len(rec.body) == len(body)
    assert hashlib.sha256(rec.body).hexdigest() == hashlib.sha256(body).hexdigest()


def test_body_over_the_limit_is_413_and_not_forwarded(stack, mock, litellm_key):
    headers = litellm_key + [("Content-Type", "application/octet-stream"), ("Content-Length", str(65 * 1024 * 1024))]
    resp = stack.request("POST", "/body", headers)
    assert resp.status == 413
    assert mock.requests == []


@pytest.fixture(scope="module")
def small_limit_stack(stacks):
    return stacks(CONFIG, extra_args=["--max-body-size", "1k"])


def test_gateway_body_limit_is_413_envelope_and_not_forwarded(small_limit_stack, mock, litellm_key):
    resp = small_limit_stack.request("POST", "/body", litellm_key + [("Content-Type", "text/plain")], b"x" * 2048)
    assert_error_envelope(resp, 413)
    assert mock.requests == []
    resp = small_limit_stack.request("POST", "/body", litellm_key + [("Content-Type", "text/plain")], b"x" * 1024)
    assert resp.status == 200, resp


# ==================================================================================================
# Catalogue section E: request bodies and framing (BODY-01 .. BODY-05).
# ==================================================================================================


FRAMING_CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /body
      target: {upstream}/echo/body
      methods: [POST, PUT]
    - path: /mock
      target: {upstream}
      include_subpath: true
      methods: [POST]
"""

LIMIT = 1 << 20  # the gateway's --max-body-size below nginx's 64m


@pytest.fixture(scope="module")
def framing_stack(stacks):
    return stacks(FRAMING_CONFIG, extra_args=["--max-body-size", "1m"], threads=24)


def assert_forwarded_exactly(mock, body):
    rec = mock.only_request()
    assert len(rec.body) == len(body) and hashlib.sha256(rec.body).digest() == hashlib.sha256(body).digest()
    assert rec.header("Content-Length") == str(len(body))
    assert rec.header("Transfer-Encoding") is None


# --- BODY-01: the limit at its boundary -----------------------------------------------------------


@pytest.mark.parametrize("size", [LIMIT - 1, LIMIT])
@pytest.mark.parametrize("framing", ["length", "chunked"])
def test_body_01_up_to_the_limit_is_forwarded_byte_exact(framing_stack, mock, key, size, framing):
    body = random.Random(size).randbytes(size)
    if framing == "chunked":
        resp = framing_stack.request("POST", "/body", key, chunks=[body[i : i + 65536] for i in range(0, size, 65536)])
    else:
        resp = framing_stack.request("POST", "/body", key, body)
    assert resp.status == 200, resp
    assert_forwarded_exactly(mock, body)


@pytest.mark.parametrize("framing", ["length", "chunked", "expect-100"])
def test_body_01_one_byte_over_the_gateways_limit_is_its_413(framing_stack, mock, key, framing):
    body = b"o" * (LIMIT + 1)
    if framing == "chunked":
        resp = framing_stack.request("POST", "/body", key, chunks=[body[:LIMIT], body[LIMIT:]])
    else:
        extra = [("Expect", "100-continue")] if framing == "expect-100" else []
        resp = framing_stack.request("POST", "/body", key + extra, body)
    assert_error_envelope(resp, 413)
    assert mock.requests == []


def test_body_01_over_nginxs_limit_is_refused_before_the_gateway(framing_stack, mock, key):
    resp = framing_stack.request("POST", "/body", key + [("Content-Length", str((64 << 20) + 1))])
    assert resp.status == 413
    assert mock.requests == []
    assert not [line for line in framing_stack.gateway_logs().splitlines() if "status=413" in line and "/body" in line][-1:]


# --- BODY-02: smuggling and framing ambiguity ------------------------------------------------------


def raw_post(key, headers: str, body: bytes) -> bytes:
    auth = "".join(f"{k}: {v}\r\n" for k, v in key)
    return f"POST /body HTTP/1.1\r\nHost: x\r\n{auth}{headers}Connection: close\r\n\r\n".encode() + body


SMUGGLING = {
    "cl-and-te": ("Content-Length: 4\r\nTransfer-Encoding: chunked\r\n", b"0\r\n\r\nGET /admin HTTP/1.1\r\n\r\n"),
    "two-lengths": ("Content-Length: 4\r\nContent-Length: 40\r\n", b"abcd"),
    "te-chunked-identity": ("Transfer-Encoding: chunked, identity\r\n", b"4\r\nabcd\r\n0\r\n\r\n"),
    "te-xchunked": ("Transfer-Encoding: xchunked\r\n", b"4\r\nabcd\r\n0\r\n\r\n"),
    "bare-lf-chunk-size": ("Transfer-Encoding: chunked\r\n", b"4\nabcd\r\n0\r\n\r\n"),
    "huge-chunk-extension": ("Transfer-Encoding: chunked\r\n", b"4;" + b"e" * (64 << 10) + b"\r\nabcd\r\n0\r\n\r\n"),
    "negative-chunk-size": ("Transfer-Encoding: chunked\r\n", b"-4\r\nabcd\r\n0\r\n\r\n"),
    "overflowing-chunk-size": ("Transfer-Encoding: chunked\r\n", b"10000000000000000004\r\nabcd\r\n0\r\n\r\n"),
    "obs-fold-length": ("Content-Length: 4\r\n 0\r\n", b"abcd"),
    "length-with-sign": ("Content-Length: +4\r\n", b"abcd"),
}


@pytest.mark.parametrize("case", list(SMUGGLING), ids=list(SMUGGLING))
def test_body_02_ambiguous_framing_never_reaches_the_upstream(framing_stack, mock, key, case):
    headers, body = SMUGGLING[case]
    resp = framing_stack.request("POST", "/", raw=raw_post(key, headers, body))
    # nginx refuses these (400, or 501 for an unknown coding); whatever it accepted, the
    # upstream never sees a second request nor the client's framing.
    assert resp.status in (400, 501) or len(mock.requests) <= 1, resp
    for rec in mock.requests:
        assert rec.path == "/echo/body" and rec.header("Transfer-Encoding") is None
    if case in ("cl-and-te", "two-lengths", "te-xchunked", "negative-chunk-size", "overflowing-chunk-size"):
        assert resp.status in (400, 501) and mock.requests == []


def test_body_02_a_request_hidden_in_a_body_is_just_body_bytes(framing_stack, mock, key):
    hidden = b"GET /admin HTTP/1.1\r\nHost: x\r\n\r\n"
    resp = framing_stack.request("POST", "/body", key, hidden)
    assert resp.status == 200
    assert mock.only_request().body == hidden


# --- BODY-03: chunked uploads buffered by nginx ----------------------------------------------------


@pytest.mark.parametrize(
    "pieces",
    [
        [bytes([b]) for b in random.Random(1).randbytes(64 << 10)],
        [random.Random(2).randbytes(8192) for _ in range(96)],
        [random.Random(3).randbytes(random.Random(k).randrange(1, 20000)) for k in range(60)],
    ],
    ids=["64-kib-in-1-byte-chunks", "768-kib-in-8-kib-chunks", "random-sizes"],
)
def test_body_03_chunked_bodies_arrive_whole_with_a_length(framing_stack, mock, key, pieces):
    resp = framing_stack.request("POST", "/body", key, chunks=pieces)
    assert resp.status == 200, resp
    assert_forwarded_exactly(mock, b"".join(pieces))


def test_body_03_chunked_trailers_are_not_forwarded(framing_stack, mock, key):
    auth = "".join(f"{k}: {v}\r\n" for k, v in key)
    raw = (
        f"POST /body HTTP/1.1\r\nHost: x\r\n{auth}Transfer-Encoding: chunked\r\nTrailer: X-Trailer\r\nConnection: close\r\n\r\n"
    ).encode() + b"5\r\nhello\r\n0\r\nX-Trailer: t\r\n\r\n"
    resp = framing_stack.request("POST", "/", raw=raw)
    assert resp.status == 200, resp
    rec = mock.only_request()
    assert rec.body == b"hello" and rec.header("X-Trailer") is None and rec.header("Trailer") is None


def test_body_03_an_empty_chunked_body_stays_empty(framing_stack, mock, key):
    resp = framing_stack.request("POST", "/body", key, chunks=[])
    assert resp.status == 200
    assert mock.only_request().body == b""


# --- BODY-04: slow request bodies never hold a gateway thread --------------------------------------


def test_body_04_snippet_keeps_request_buffering_on():
    snippet = (REPO_ROOT / "nginx" / "fcgi-pass-through.conf").read_text()
    directives = [line.split("#")[0].strip() for line in snippet.splitlines()]
    assert not [d for d in directives if d.startswith("fastcgi_request_buffering") and "off" in d]
    assert not [d for d in directives if d.startswith("underscores_in_headers") and "on" in d]


@pytest.mark.timeout_s(40)
def test_body_04_slow_uploads_and_slow_headers_never_reach_a_gateway_thread(fresh_stacks, mock, key):
    """A gateway with ONE worker thread keeps answering while slow clients trickle."""
    stack = fresh_stacks(FRAMING_CONFIG, threads=1)
    slow = []
    for k in range(5):
        slow.append(stack.exchange("POST", "/", raw=raw_post(key, "Content-Length: 1000000\r\n", b"x" * 100), timeout=10))
        slow.append(stack.exchange("POST", "/", raw=f"POST /body HTTP/1.1\r\nHost: x\r\nX-Slow-{k}: ".encode(), timeout=10))
    try:
        for _ in range(3):
            started = time.monotonic()
            resp = stack.request("POST", "/body", key, b"{}")
            assert resp.status == 200 and time.monotonic() - started < 2
        assert len(mock.requests) == 3
    finally:
        for exchange in slow:
            exchange.close()


# --- BODY-05: the upstream refuses mid-upload --------------------------------------------------------


@probes.skip_memory_bound_if_sanitized
@pytest.mark.timeout_s(60)
def test_body_05_upstream_refusing_mid_upload_is_relayed_and_frees_everything(framing_stack, mock, key):
    pid = framing_stack.gateways[0].proc.pid
    framing_stack.request("POST", "/mock/echo/warm", key, b"{}")
    base_fds, base_threads, base_rss = probes.fd_count(pid), probes.threads(pid), probes.rss_kib(pid)
    body = b"u" * (LIMIT - 1)
    barrier = threading.Barrier(2, timeout=10)

    def client(_):
        barrier.wait()
        statuses = []
        for i in range(10):
            rst = i % 2
            resp = framing_stack.request("POST", f"/mock/reject-upload?status=413&after=65536&rst={rst}", key, body, timeout=20)
            statuses.append(resp.status)
        return statuses

    with ThreadPoolExecutor(max_workers=2) as pool:
        results = [s for statuses in pool.map(client, range(2)) for s in statuses]
    assert set(results) <= {413, 502}, results
    assert framing_stack.gateways[0].alive
    probes.settle(lambda: probes.fd_count(pid), base_fds + 3, 5, "descriptors back to baseline")
    probes.settle(lambda: probes.threads(pid), base_threads + 3, 5, "threads back to baseline")
    probes.settle(lambda: probes.rss_kib(pid), base_rss + 32 * 1024, 10, "RSS back near baseline")
