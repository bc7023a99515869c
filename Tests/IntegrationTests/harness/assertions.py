"""Assertions and request helpers shared by the test modules."""

from __future__ import annotations

import json
from base64 import b64decode

from .http_client import Response

NO_KEY = "Authentication Error, No api key passed in."
MALFORMED_KEY = "Authentication Error, Malformed API Key passed in. Ensure Key has `Bearer ` prefix."
INVALID_KEY = "Authentication Error, Invalid proxy server token passed."

ERROR_TYPES = {401: "auth_error"}

def bearer(key: str) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {key}")]


def expected_error_type(status: int) -> str:
    if status == 401:
        return "auth_error"
    if 400 <= status < 500:
        return "invalid_request_error"
    return "internal_server_error"


def assert_error_envelope(resp: Response, status: int, message: str | None = None) -> dict:
    """The gateway's own error: LiteLLM's envelope, `code` a string, JSON content type."""
    assert resp.status == status, f"expected {status}, got {resp!r}"
    content_type = resp.header("Content-Type") or ""
    assert content_type.split(";")[0].strip() == "application/json", f"Content-Type {content_type!r}"
    body = json.loads(resp.body)
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == {"message", "type", "param", "code"}, error
    assert error["type"] == expected_error_type(status), error
    assert error["param"] is None, error
    assert error["code"] == str(status), error
    assert isinstance(error["message"], str) and error["message"], error
    if message is not None:
        assert error["message"] == message, error
    return error


def echoed(resp: Response) -> dict:
    """The mock's /echo description of what reached the upstream."""
    assert resp.status == 200, resp
    description = json.loads(resp.body)
    if "body_b64" in description:
        description["body"] = b64decode(description["body_b64"])
    return description
