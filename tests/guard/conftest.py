"""Every guard test runs twice: with the Hyperscan prefilter (scanners.hyperscan_prefilter)
and with the pure-Python one (the path of platforms without the ``hyperscan`` wheel,
and of ``OTEL_LLM_SECURITY_HYPERSCAN=0``). test_hyperscan.py compares the two itself."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from otel_llm_security.guard.scanners import hyperscan_prefilter

PATHS = ["hyperscan", "python"]


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "scan_path" in metafunc.fixturenames and not metafunc.module.__name__.endswith("test_hyperscan"):
        metafunc.parametrize("scan_path", PATHS, indirect=True)


@pytest.fixture(autouse=True)
def scan_path(request: pytest.FixtureRequest) -> Iterator[str | None]:
    path = getattr(request, "param", None)
    if path is None:
        yield None
        return
    if path == "hyperscan":
        if not hyperscan_prefilter.installed():
            pytest.skip("hyperscan is not installed on this platform")
        # compiled once per machine (then loaded from the user cache): wait for it, so the
        # tests see the Hyperscan path and not the Python one used while it compiles
        assert hyperscan_prefilter.wait_all(timeout=600)
    previous = hyperscan_prefilter.set_enabled(path == "hyperscan")
    try:
        yield path
    finally:
        hyperscan_prefilter.set_enabled(previous)
