"""Fixtures for the deploy/ tests (helpers in deploy_support.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploy_support import run_install


@pytest.fixture(scope="module")
def staged_root(gateway_binary, tmp_path_factory) -> Path:
    """A filesystem root holding what `DESTDIR=<root> deploy/install.sh` put there."""
    root = tmp_path_factory.mktemp("staged-root")
    result = run_install(root, gateway_binary)
    assert result.returncode == 0, f"install.sh failed:\n{result.stdout}\n{result.stderr}"
    return root
