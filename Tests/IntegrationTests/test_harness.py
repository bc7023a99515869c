"""The harness checks itself: mock upstream, raw client, and nginx proxying to the mock.

These run without the gateway. Through nginx `proxy_pass` they show that the
streaming, truncation and disconnect assertions used against the gateway can be met
by a reverse proxy that behaves well, and that the client detects the failures.
"""

from __future__ import annotations

import gzip
import hashlib
import json

import pytest

from harness import http_client
from harness.mock_upstream import (
    GZIP_PLAIN,
    MOCK_DATE,
    MOCK_SERVER,
    RERANK_RESPONSE,
    big_body,
    sse_event,
    status_body,
)
from harness.nginx import Nginx
from harness.stack import SNIPPET


@pytest.fixture(scope="module")
def proxy(mock):
    from conftest import make_workdir

    workdir = make_workdir()
    nginx = Nginx.for_proxy(workdir, mock.url, extra="            proxy_read_timeout 1s;\n").start()
    try:
        yield nginx
    finally:
        nginx.stop()
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)


# --- the mock, spoken to directly --------------------------------------------------


def test_mock_records_headers_in_order_with_original_case(mock):
    headers = [("X-First", "1"), ("x-lower-case", "two"), ("X-MiXeD", "Three"), ("X-First", "again")]
    resp = http_client.request(mock.port, "POST", "/echo/a?b=1&b=2", headers, body=b"\x00{ odd }\x00")
    assert resp.status == 200 and resp.complete
    rec = mock.only_request()
    assert rec.method == "POST"
    assert rec.target == "/echo/a?b=1&b=2"
    assert rec.path == "/echo/a" and rec.query == "b=1&b=2"
    sent = [(k, v) for k, v in rec.headers if k.lower().startswith("x-")]
    assert sent == headers
    assert rec.body == b"\x00{ odd }\x00"
    assert resp.json()["body_sha256"] == hashlib.sha256(b"\x00{ odd }\x00").hexdigest()


def test_mock_decodes_a_chunked_request_body(mock):
    resp = http_client.request(mock.port, "POST", "/echo", chunks=[b"hello ", b"chunked ", b"world"])
    assert resp.status == 200
    assert mock.only_request().body == b"hello chunked world"


def test_mock_status_route_sends_the_headers_to_filter(mock):
    resp = http_client.request(mock.port, "GET", "/status/429")
    assert resp.status == 429
    assert resp.body == status_body(429)
    assert resp.header("Server") == MOCK_SERVER
    assert resp.header("Date") == MOCK_DATE
    for name in ("X-Accel-Redirect", "X-Accel-Buffering", "Keep-Alive", "X-RateLimit-Remaining", "Status"):
        assert resp.header(name) is not None, name


def test_mock_gzip_and_big_bodies(mock):
    resp = http_client.request(mock.port, "GET", "/gzip")
    assert resp.header("Content-Encoding") == "gzip"
    assert gzip.decompress(resp.body) == GZIP_PLAIN
    resp = http_client.request(mock.port, "GET", "/big?bytes=300000&seed=7")
    assert resp.complete and resp.body == big_body(300000, 7)


def test_mock_reset_mid_body_is_seen_as_incomplete(mock):
    resp = http_client.request(mock.port, "GET", "/reset-mid-body")
    assert resp.status == 200
    assert not resp.complete
    assert resp.error in ("reset", "eof")
    assert 0 < len(resp.body) < 2000


def test_mock_notices_when_the_client_goes_away(mock):
    with http_client.Exchange(mock.port, "GET", "/hang"):
        rec = mock.wait_for_requests(1)[0]
    assert rec.closed.wait(1.0), "the mock did not notice the closed connection"


def test_mock_sse_events_are_timed(mock):
    with http_client.Exchange(mock.port, "GET", "/sse?n=3&interval=0.1") as exchange:
        exchange.read_head()
        events = list(exchange.iter_events())
    rec = mock.only_request()
    assert [e for _, e in events] == [sse_event(k) for k in range(3)]
    assert exchange.complete
    for (arrived, _), sent in zip(events, rec.events_sent_at):
        assert 0 <= arrived - sent < 0.05


# --- nginx proxy_pass to the mock: the assertions are meetable and failures visible ---


def test_proxy_sanity_echo_and_rerank(proxy, mock):
    resp = http_client.request(proxy.port, "POST", "/v1/rerank", [("Content-Type", "application/json")], b"{}")
    assert resp.status == 200 and resp.body == RERANK_RESPONSE
    resp = http_client.request(proxy.port, "GET", "/echo/x?y=1")
    assert resp.json()["target"] == "/echo/x?y=1"


def test_proxy_streams_sse_incrementally(proxy, mock):
    with http_client.Exchange(proxy.port, "GET", "/sse?n=4&interval=0.25") as exchange:
        exchange.read_head()
        events = list(exchange.iter_events())
    rec = mock.only_request()
    assert len(events) == 4 and exchange.complete
    for k, ((arrived, _), sent) in enumerate(zip(events, rec.events_sent_at)):
        assert arrived - sent < 0.1, f"event {k} arrived {arrived - sent:.3f}s after it was sent"
        if k + 1 < len(rec.events_sent_at):
            assert arrived < rec.events_sent_at[k + 1]


def test_proxy_client_disconnect_reaches_the_mock(proxy, mock):
    with http_client.Exchange(proxy.port, "GET", "/sse?n=100&interval=0.1") as exchange:
        exchange.read_head()
        events = exchange.iter_events()
        next(events)
        next(events)
    rec = mock.only_request()
    assert rec.closed.wait(1.5), "upstream connection still open 1.5 s after the client left"


def test_proxy_stall_after_head_is_seen_as_abrupt(proxy, mock):
    with http_client.Exchange(proxy.port, "GET", "/stall-after-head?events=1") as exchange:
        exchange.read_head()
        resp = exchange.read_rest()
    assert resp.status == 200
    assert resp.framing == "chunked"
    assert not resp.complete and resp.error in ("eof", "reset")
    assert resp.body == sse_event(0)


def test_proxy_reset_mid_body_is_seen_as_incomplete(proxy, mock):
    resp = http_client.request(proxy.port, "GET", "/reset-mid-body")
    assert resp.status == 200
    assert not resp.complete


def test_proxy_relays_redirects_without_following(proxy, mock):
    resp = http_client.request(proxy.port, "GET", "/redirect")
    assert resp.status == 302
    assert resp.header("Location") == mock.url + "/redirect-target"
    assert not mock.requests_to("/redirect-target")


# --- nginx with the project's snippet --------------------------------------------


def test_snippet_loads_and_nginx_answers_502_without_a_gateway(workdir):
    nginx = Nginx.for_gateway(workdir / "nginx", [workdir / "gw-1.sock"], SNIPPET)
    check = nginx.test_config()
    assert check.returncode == 0, check.stderr
    nginx.start()
    try:
        resp = http_client.request(nginx.port, "GET", "/health/readiness")
        assert resp.status == 502
        line = nginx.access_line_with("/health/readiness")
        assert len(Nginx.request_id(line)) == 32
    finally:
        nginx.stop()


def test_snippet_is_the_repository_file():
    text = SNIPPET.read_text()
    assert "fastcgi_pass fcgi_pass_through;" in text
    assert 'fastcgi_param HTTP_PROXY        "";' in text or 'HTTP_PROXY ""' in " ".join(text.split())
    assert "REQUEST_ID" in text
    assert json.dumps(str(SNIPPET))  # an absolute path nginx can include
