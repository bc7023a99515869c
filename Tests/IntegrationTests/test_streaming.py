"""Streaming (SPEC §5): incremental delivery, cancellation, and failures that look like failures."""

from __future__ import annotations

import time

import pytest

from harness.mock_upstream import chunk_piece, sse_event

CONFIG = """
general_settings:
  master_key: os.environ/LITELLM_MASTER_KEY
  pass_through_endpoints:
    - path: /sse
      target: {upstream}/sse
      methods: [GET, POST]
    - path: /chunked
      target: {upstream}/chunked
    - path: /stall
      target: {upstream}/stall-after-head
      timeout: 1
    - path: /sse-idle-timeout
      target: {upstream}/sse
      timeout: 1
    - path: /reset
      target: {upstream}/reset-mid-body
"""

# Generous enough for a loaded 2-core CI machine; streaming itself is proven by each
# event arriving before the upstream sends the next one (intervals are 0.25-0.3 s).
# The benchmark (make bench) measures the real added delay against nginx.
FIRST_EVENT_LATENCY = 0.2
EVENT_LATENCY = 0.2


@pytest.fixture(scope="module")
def stack(stacks):
    return stacks(CONFIG)



def timed_events(stack, method, target, headers, body=None):
    with stack.exchange(method, target, headers, body) as exchange:
        exchange.read_head()
        events = list(exchange.iter_events())
        return exchange, events


def assert_incremental(events, sent_at, interval):
    assert len(events) == len(sent_at), f"{len(events)} events received, {len(sent_at)} sent"
    for k, ((arrived, _), sent) in enumerate(zip(events, sent_at)):
        limit = FIRST_EVENT_LATENCY if k == 0 else EVENT_LATENCY
        assert arrived - sent < limit, f"event {k} arrived {arrived - sent:.3f}s after the upstream sent it"
        if k + 1 < len(sent_at):
            assert arrived < sent_at[k + 1], f"event {k} was held until event {k + 1} was sent"
    gaps = [b[0] - a[0] for a, b in zip(events, events[1:])]
    assert all(abs(gap - interval) < EVENT_LATENCY for gap in gaps), f"inter-arrival gaps {gaps} vs interval {interval}"


def assert_abrupt(resp):
    assert resp.status == 200, resp
    assert not resp.complete, f"the stream ended cleanly: {resp!r}"
    assert resp.error in ("eof", "reset"), f"the stream never ended ({resp.error})"
    assert b'"error"' not in resp.body, "an error body was appended to a relayed stream"


# --- incremental delivery ------------------------------------------------------------------


def test_sse_events_arrive_as_they_are_sent(stack, mock, key):
    exchange, events = timed_events(stack, "GET", "/sse?n=5&interval=0.3", key)
    rec = mock.only_request()
    assert exchange.status == 200
    assert (exchange.header("Content-Type") or "").startswith("text/event-stream")
    assert exchange.header("Content-Length") is None
    assert exchange.complete
    assert [e for _, e in events] == [sse_event(k) for k in range(5)]
    assert_incremental(events, rec.events_sent_at, 0.3)


def test_sse_post_with_stream_true(stack, mock, key):
    body = b'{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}'
    headers = key + [("Content-Type", "application/json")]
    exchange, events = timed_events(stack, "POST", "/sse?n=3&interval=0.25", headers, body)
    rec = mock.only_request()
    assert rec.method == "POST"
    assert_incremental(events, rec.events_sent_at, 0.25)


def test_sse_with_media_type_parameters_is_streamed(stack, mock, key):
    target = "/sse?n=3&interval=0.25&ctype=text%2Fevent-stream%3B%20charset%3Dutf-8"
    exchange, events = timed_events(stack, "GET", target, key)
    assert exchange.header("Content-Type") == "text/event-stream; charset=utf-8"
    assert_incremental(events, mock.only_request().events_sent_at, 0.25)


def test_unknown_length_response_is_streamed(stack, mock, key):
    with stack.exchange("GET", "/chunked?n=4&interval=0.3", key) as exchange:
        exchange.read_head()
        pieces = []
        pending = b""
        for arrived, data in exchange.iter_body():
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                pieces.append((arrived, line + b"\n"))
    assert [p for _, p in pieces] == [chunk_piece(k) for k in range(4)]
    assert_incremental(pieces, mock.only_request().events_sent_at, 0.3)


def test_head_reaches_the_client_before_the_first_event(stack, mock, key):
    with stack.exchange("GET", "/sse?n=1&first_delay=1.0", key) as exchange:
        exchange.read_head()
        rec = mock.only_request()
        assert exchange.status == 200
        assert exchange.head_at - rec.received_at < 0.5, "status line held back until the first event"
        events = list(exchange.iter_events())
    assert len(events) == 1
    assert exchange.head_at < rec.events_sent_at[0]


def test_idle_timeout_does_not_cut_a_stream_that_keeps_talking(stack, mock, key):
    exchange, events = timed_events(stack, "GET", "/sse-idle-timeout?n=6&interval=0.3", key)
    assert exchange.complete, "a stream with progress every 0.3 s was cut by a 1 s idle timeout"
    assert len(events) == 6


# --- the client leaves -------------------------------------------------------------------


@pytest.mark.parametrize("reset", [False, True], ids=["fin", "rst"])
def test_client_disconnect_cancels_the_upstream(stack, mock, key, reset):
    exchange = stack.exchange("GET", "/sse?n=100&interval=0.1", key)
    try:
        exchange.read_head()
        events = exchange.iter_events()
        next(events)
        next(events)
    finally:
        exchange.close(reset=reset)
    left_at = time.monotonic()
    rec = mock.only_request()
    assert rec.closed.wait(1.5), "the upstream request was still open 1.5 s after the client left"
    assert rec.closed_at - left_at < 1.5
    assert len(rec.events_sent_at) < 40


# --- the upstream fails mid-stream ---------------------------------------------------------


@pytest.mark.parametrize("events", [0, 1])
def test_stalled_stream_ends_abruptly_at_the_idle_timeout(stack, mock, key, events):
    with stack.exchange("GET", f"/stall?events={events}", key) as exchange:
        exchange.read_head()
        resp = exchange.read_rest()
    assert_abrupt(resp)
    assert resp.body == b"".join(sse_event(k) for k in range(events))
    assert 0.8 < resp.elapsed < 4, f"ended after {resp.elapsed:.2f}s with timeout 1"
    rec = mock.only_request()
    assert rec.closed.wait(2), "the stalled upstream connection was left open"


def test_upstream_reset_mid_stream_ends_abruptly(stack, mock, key):
    with stack.exchange("GET", "/sse?n=6&interval=0.1&reset_after=3", key) as exchange:
        exchange.read_head()
        resp = exchange.read_rest()
    assert_abrupt(resp)
    assert resp.body == b"".join(sse_event(k) for k in range(3))


def test_upstream_close_without_final_chunk_ends_abruptly(stack, mock, key):
    with stack.exchange("GET", "/sse?n=6&interval=0.1&fin_after=3", key) as exchange:
        exchange.read_head()
        resp = exchange.read_rest()
    assert_abrupt(resp)
    assert resp.body == b"".join(sse_event(k) for k in range(3))


def test_upstream_reset_mid_body_leaves_the_body_incomplete(stack, mock, key):
    resp = stack.request("GET", "/reset?length=2000&sent=1000", key)
    assert_abrupt(resp)
    assert len(resp.body) <= 1000
