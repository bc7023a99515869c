"""What nginx, with the project's snippet, hands a FastCGI application (no gateway needed).

A small FastCGI probe stands where the gateway will be. These tests pin the facts
the gateway and the rest of this suite rely on: the raw REQUEST_URI, the blanked
HTTP_PROXY, REQUEST_ID equal to the access log's $request_id, chunked request bodies
delivered whole, `Status:` and `X-Accel-Buffering: no` honoured, and how a truncated
body can be made to look truncated to the client: closing the FastCGI connection is
not enough; an invalid record or a relayed Content-Length that comes up short is.
"""

from __future__ import annotations

import shutil

import pytest

from harness import http_client
from harness.fcgi_probe import FastCGIProbe
from harness.nginx import Nginx
from harness.stack import SNIPPET


@pytest.fixture(scope="module")
def probe_stack():
    from conftest import make_workdir

    workdir = make_workdir()
    probe = FastCGIProbe(workdir / "gw-1.sock").start()
    nginx = Nginx.for_gateway(workdir / "nginx", [probe.socket_path], SNIPPET).start()
    try:
        yield nginx, probe
    finally:
        nginx.stop()
        probe.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def params_for(nginx: Nginx, method: str, target: str, headers=(), body=None, **kwargs) -> dict:
    resp = http_client.request(nginx.port, method, target, headers, body, **kwargs)
    assert resp.status == 200, resp
    return resp.json()


def test_request_uri_is_raw(probe_stack):
    nginx, _ = probe_stack
    target = "/sub/%2e%2e/a%2Fb//c/./d?x=%20y&z"  # nginx resolves this to /a/b/c/d for $uri
    got = params_for(nginx, "GET", target)["params"]
    assert got["REQUEST_URI"] == target
    assert got["QUERY_STRING"] == "x=%20y&z"
    assert got["REQUEST_METHOD"] == "GET"


def test_proxy_header_is_blanked(probe_stack, sink):
    nginx, _ = probe_stack
    got = params_for(nginx, "GET", "/probe/params", [("Proxy", sink.url)])["params"]
    assert got.get("HTTP_PROXY", "") == ""


def test_request_id_matches_the_access_log(probe_stack):
    nginx, _ = probe_stack
    got = params_for(nginx, "GET", "/probe/params?marker=rid-check")["params"]
    line = nginx.access_line_with("marker=rid-check")
    assert got["REQUEST_ID"] == Nginx.request_id(line)


def test_client_headers_arrive_upper_cased(probe_stack):
    nginx, _ = probe_stack
    got = params_for(nginx, "GET", "/probe/params", [("X-Pass-Anthropic-Beta", "b1"), ("x-litellm-api-key", "k")])
    assert got["params"]["HTTP_X_PASS_ANTHROPIC_BETA"] == "b1"
    assert got["params"]["HTTP_X_LITELLM_API_KEY"] == "k"


def test_chunked_request_body_arrives_whole(probe_stack):
    nginx, _ = probe_stack
    chunks = [b"first,", b"second,", b"third"]
    got = params_for(nginx, "POST", "/probe/params", [("Content-Type", "text/plain")], chunks=chunks)
    assert got["stdin_len"] == len(b"".join(chunks))
    # nginx buffers the chunked body and passes its real length.
    assert got["params"]["CONTENT_LENGTH"] == str(len(b"".join(chunks)))


def test_content_length_is_empty_on_get(probe_stack):
    nginx, _ = probe_stack
    assert params_for(nginx, "GET", "/probe/params")["params"]["CONTENT_LENGTH"] == ""


def test_status_header_sets_the_status(probe_stack):
    nginx, _ = probe_stack
    resp = http_client.request(nginx.port, "GET", "/probe/status")
    assert resp.status == 418 and resp.body == b"teapot"
    assert resp.header("Status") is None


def test_x_accel_buffering_no_streams_each_record(probe_stack):
    nginx, probe = probe_stack
    probe.events_sent_at.clear()
    with http_client.Exchange(nginx.port, "GET", "/probe/stream?n=3&interval=0.25") as exchange:
        exchange.read_head()
        events = list(exchange.iter_events())
    assert len(events) == 3 and exchange.complete
    assert exchange.header("X-Accel-Buffering") is None, "nginx hides X-Accel-* from clients"
    for (arrived, _), sent in zip(events, probe.events_sent_at):
        assert arrived - sent < 0.1


@pytest.mark.parametrize("how", ["/probe/abort", "/probe/abort-rst", "/probe/clean-short"])
def test_a_closed_fastcgi_connection_reads_as_a_clean_end(probe_stack, how):
    """The trap: on a unix socket there is no RST, and with the snippet's settings nginx
    takes EOF (with or without FCGI_END_REQUEST) as the normal end of a streamed body.
    An aborted upstream needs one of the two signals tested below."""
    nginx, _ = probe_stack
    resp = http_client.request(nginx.port, "GET", how)
    assert resp.status == 200 and resp.framing == "chunked"
    assert resp.body == b"data: first\n\n"
    assert resp.complete


def test_an_invalid_fastcgi_record_truncates_the_client_stream(probe_stack):
    nginx, _ = probe_stack
    resp = http_client.request(nginx.port, "GET", "/probe/abort-garbage")
    assert resp.status == 200 and resp.framing == "chunked"
    assert resp.body == b"data: first\n\n"
    assert not resp.complete, "a broken FastCGI stream must not look complete"


def test_a_short_content_length_is_seen_as_truncated(probe_stack):
    nginx, _ = probe_stack
    resp = http_client.request(nginx.port, "GET", "/probe/short-length")
    assert resp.status == 200
    assert not resp.complete and len(resp.body) == 10
