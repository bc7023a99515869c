"""The headers a client can carry the gateway key in (docs/BEHAVIOUR.md §3, §4), written out once.

The gateway reads the key from any of them and forwards none of them upstream on a
route that authenticates.
"""

from __future__ import annotations

# As clients spell them, in the order docs/BEHAVIOUR.md §4 lists them.
KEY_HEADERS = (
    "Authorization",
    "x-litellm-api-key",
    "API-Key",
    "x-api-key",
    "x-goog-api-key",
    "Ocp-Apim-Subscription-Key",
)

# The same names lower-cased, as the mock upstream records header names.
CREDENTIAL_HEADERS = tuple(name.lower() for name in KEY_HEADERS)

# One id per way of presenting a key (key_carriers), for pytest parameters.
KEY_CARRIER_IDS = (
    "authorization-bearer",
    "x-litellm-api-key",
    "x-litellm-api-key-bearer",
    "api-key",
    "x-api-key",
    "x-goog-api-key",
    "ocp-apim-subscription-key",
)


def key_carriers(key: str) -> list[list[tuple[str, str]]]:
    """Every way a client can present `key`: each header with the raw key, Authorization
    as `Bearer <key>`, and x-litellm-api-key both raw and with `Bearer `."""
    carriers = [[("Authorization", f"Bearer {key}")]]
    for name in KEY_HEADERS[1:]:
        carriers.append([(name, key)])
        if name == "x-litellm-api-key":
            carriers.append([(name, f"Bearer {key}")])
    return carriers


def one_per_key_header(key: str) -> list[list[tuple[str, str]]]:
    """`key` presented once in each header (Authorization as `Bearer <key>`)."""
    return [[(name, f"Bearer {key}" if name == "Authorization" else key)] for name in KEY_HEADERS]
