"""Fixtures: one mock upstream per session, stacks (nginx + gateways) per module.

Every test gets a fresh view of the mock's records, a SIGALRM deadline and, at
teardown, a scan for the canary secrets (harness/leaks.py) of everything that left
the gateway: logs, client responses, upstream requests, and the attacker stand-in
(the sink), which must not have received a single connection.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
from pathlib import Path

import pytest

from harness.assertions import bearer
from harness.gateway import base_env, configured_binary, sanitizer_report
from harness.http_client import clear_transcript, transcript_snapshot
from harness.leaks import Canaries, LeakWatch
from harness.mock_upstream import MockUpstream, TcpSink
from harness.ports import ClosedPort
from harness.stack import Stack

DEFAULT_TEST_SECONDS = 30
LEAKS = LeakWatch()


class TestDeadlineExceeded(Exception):
    pass


# --- session-wide servers and secrets -------------------------------------------


@pytest.fixture(scope="session")
def canaries() -> Canaries:
    return Canaries.fresh()


@pytest.fixture(scope="session")
def mock():
    upstream = MockUpstream().start()
    try:
        yield upstream
    finally:
        upstream.stop()


@pytest.fixture(scope="session")
def sink():
    listener = TcpSink().start()
    try:
        yield listener
    finally:
        listener.stop()


@pytest.fixture(scope="session")
def short_keepalive_mock():
    """A second upstream that closes connections idle for 0.3 s (UP-04)."""
    upstream = MockUpstream(keepalive_timeout=0.3).start()
    try:
        yield upstream
    finally:
        upstream.stop()


@pytest.fixture(scope="session")
def closed_port():
    port = ClosedPort()
    try:
        yield port
    finally:
        port.close()


@pytest.fixture(scope="session")
def gateway_binary() -> Path:
    binary, named = configured_binary()
    if binary.is_file() and os.access(binary, os.X_OK):
        return binary
    if named:
        pytest.fail(f"GATEWAY_BIN={binary} is not an executable file")
    pytest.skip(f"gateway not built at {binary}: run `swift build` or set GATEWAY_BIN")


# --- temp dirs and stacks ----------------------------------------------------


def make_workdir() -> Path:
    path = Path(tempfile.mkdtemp(prefix="fcgi-itest-"))
    path.chmod(0o755)
    return path


class StackFactory:
    """Starts stacks from YAML templates and tears all of them down at the end.

    Templates may use {upstream} (the mock's base URL), {sink}, {closed} (a URL
    whose port refuses connections) and {master_key}.
    """

    def __init__(self, binary: Path, mock: MockUpstream, sink: TcpSink, closed: ClosedPort, canaries: Canaries):
        self.binary = binary
        self.canaries = canaries
        self.values = {
            "upstream": mock.url,
            "sink": sink.url,
            "closed": closed.url,
            "master_key": canaries.master_key,
        }
        self._stacks: list[Stack] = []
        self._dirs: list[Path] = []

    def render(self, template: str, **extra: str) -> str:
        values = {**self.values, **extra}
        return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), m.group(0)), template)

    def env(self, extra: dict[str, str] | None = None, master_key_env: bool = True) -> dict[str, str]:
        env = {"COHERE_API_KEY": self.canaries.upstream_key, "SECOND_API_KEY": self.canaries.second_key}
        if master_key_env:
            env["LITELLM_MASTER_KEY"] = self.canaries.master_key
        env.update(extra or {})
        return env

    def workdir(self) -> Path:
        path = make_workdir()
        self._dirs.append(path)
        return path

    def __call__(
        self,
        template: str,
        env: dict[str, str] | None = None,
        master_key_env: bool = True,
        instances: int = 1,
        threads: int = 8,
        extra_args: list[str] | None = None,
        listen: str = "unix",
        start: bool = True,
        nginx_extra: str = "",
    ) -> Stack:
        workdir = self.workdir()
        stack = Stack(
            workdir,
            self.binary,
            self.render(template),
            base_env(workdir, self.env(env, master_key_env)),
            instances=instances,
            threads=threads,
            extra_args=extra_args,
            listen=listen,
            nginx_extra=nginx_extra,
        )
        self._stacks.append(stack)
        LEAKS.watch(*stack.log_files())
        if start:
            try:
                stack.start()
            except Exception as error:
                raise RuntimeError(f"stack did not start: {error}\n{stack.gateway_logs()}\n{stack.nginx.logs_text()}") from error
        return stack

    def close(self) -> None:
        for stack in self._stacks:
            stack.close()
        # Reports printed at exit (leaks) or by a gateway that crashed; read before the logs go.
        failures = [failure for stack in self._stacks for g in stack.gateways if (failure := g.failure())]
        for path in self._dirs:
            shutil.rmtree(path, ignore_errors=True)
        assert not failures, "\n".join(failures)


@pytest.fixture(scope="module")
def stacks(gateway_binary, mock, sink, closed_port, canaries):
    """Module-scoped: a module's stacks live for all of its tests."""
    factory = StackFactory(gateway_binary, mock, sink, closed_port, canaries)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def fresh_stacks(gateway_binary, mock, sink, closed_port, canaries):
    """Function-scoped: for tests that stop, signal or reconfigure gateways."""
    factory = StackFactory(gateway_binary, mock, sink, closed_port, canaries)
    try:
        yield factory
    finally:
        factory.close()


@pytest.fixture
def key(canaries):
    """Headers that authenticate with this run's master key."""
    return bearer(canaries.master_key)


@pytest.fixture
def workdir():
    path = make_workdir()
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


# --- per-test guard: deadline, fresh records, leak scan ----------------------------


@pytest.fixture(autouse=True)
def _test_guard(request, mock, sink, canaries):
    marker = request.node.get_closest_marker("timeout_s")
    seconds = int(marker.args[0]) if marker else DEFAULT_TEST_SECONDS

    def on_alarm(signum, frame):
        raise TestDeadlineExceeded(f"test exceeded its {seconds}s deadline")

    mock.reset()
    sink.reset()
    clear_transcript()
    LEAKS.begin_test()
    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    leaks = LEAKS.scan(canaries, transcript_snapshot(), mock.requests, sink.connections)
    assert not leaks, "secret leaked: " + "; ".join(leaks)
    reports = [f"{path.name}: {report}" for path, text in LEAKS.new_logs().items() if (report := sanitizer_report(text))]
    assert not reports, "sanitizer report:\n" + "\n".join(reports)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        for path, text in LEAKS.new_logs().items():
            tail = text if len(text) < 8000 else "...\n" + text[-8000:]
            report.sections.append((f"{path.parent.name}/{path.name}", tail))
