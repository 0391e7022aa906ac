"""The capture under openai 1.x and 2.x, while the venv has 3.x.

scripts/setup.sh installs openai 1.109.1 and 2.54.0 (with the httpx < 1 they send
through) in ``.venv/compat-openai1`` / ``compat-openai2``. For each, pytest runs a
representative subset of the capture tests in a subprocess with that directory first
on PYTHONPATH: the real client of that version over the replay transport, and the
tests' own exact assertions on the record. Each (version, test) pair is reported here
as a test of its own, from the subprocess's JUnit XML.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
VERSIONS = {
    "1.109.1": ROOT / ".venv" / "compat-openai1",
    "2.54.0": ROOT / ".venv" / "compat-openai2",
}
SUBSET = [
    # chat, sync, full record on our own span
    "tests/capture/test_chat_record.py::test_monitor_mode_records_the_full_record_on_our_own_span",
    # async chat, async enforce block, async embeddings.with_raw_response
    "tests/capture/test_chat_record.py::test_async_chat_and_block",
    # streams ended early (break, then the stream is dropped)
    "tests/capture/test_streams.py::test_early_break_then_drop",
    "tests/capture/test_streams.py::test_async_break_then_drop",
    # Responses API, plain and streamed
    "tests/capture/test_chat_record.py::test_responses_api",
    "tests/capture/test_streams.py::test_responses_stream",
    "tests/capture/test_chat_record.py::test_embeddings",
    "tests/capture/test_chat_record.py::test_with_raw_response",
    "tests/capture/test_chat_record.py::test_with_streaming_response_non_stream",
    "tests/capture/test_chat_record.py::test_azure_content_filter_refusal",
    "tests/capture/test_chat_record.py::test_enforce_block_raises_before_any_http_request",
    # the replay transport is built from the httpx module this client sends through
    "tests/capture/test_testing_helpers.py::test_http_module_is_what_openai_sends_through",
]
# Imports openai first (reporting which one), then runs pytest in the same process.
RUNNER = (
    "import json, sys, httpx, openai, pytest; "
    "print(json.dumps({'openai': openai.__version__, 'openai_file': openai.__file__, 'httpx_file': httpx.__file__})); "
    "sys.exit(pytest.main(['-q', '-p', 'no:cacheprovider', '--junitxml', sys.argv[1], *sys.argv[2:]]))"
)


def nodeid(case: ET.Element) -> str:
    """``tests.capture.test_x`` + ``test_y`` -> ``tests/capture/test_x.py::test_y``."""
    return case.attrib["classname"].replace(".", "/") + ".py::" + case.attrib["name"]


@pytest.fixture(scope="module", params=sorted(VERSIONS))
def version_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    version = request.param
    target = VERSIONS[version]
    if not target.is_dir():
        pytest.skip(f"{target} missing: run scripts/setup.sh (it installs openai=={version} there)")
    junit = tmp_path_factory.mktemp(f"openai-{version}") / "junit.xml"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in (str(target), os.environ.get("PYTHONPATH")) if p))
    proc = subprocess.run([sys.executable, "-c", RUNNER, str(junit), *SUBSET], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=300)
    assert proc.returncode in (0, 1), (proc.returncode, proc.stdout[-3000:], proc.stderr[-3000:])
    outcomes: dict[str, str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        bad = next((c for c in case if c.tag in ("failure", "error", "skipped")), None)
        outcomes[nodeid(case)] = "passed" if bad is None else f"{bad.tag}: {bad.attrib.get('message', '')}\n{bad.text or ''}"
    return {"version": version, "target": target, "info": json.loads(proc.stdout.splitlines()[0]),
            "outcomes": outcomes, "output": proc.stdout[-3000:]}


def test_the_subprocess_ran_that_openai_over_httpx(version_run: dict[str, Any]) -> None:
    info, target = version_run["info"], str(version_run["target"])
    assert info["openai"] == version_run["version"]
    assert info["openai_file"].startswith(target + os.sep)
    assert info["httpx_file"].startswith(target + os.sep)
    assert sorted(version_run["outcomes"]) == sorted(SUBSET), version_run["output"]


@pytest.mark.parametrize("test", SUBSET, ids=[s.split("::")[-1] for s in SUBSET])
def test_capture_test_passes(version_run: dict[str, Any], test: str) -> None:
    outcome = version_run["outcomes"].get(test, "not run")
    assert outcome == "passed", f"openai {version_run['version']}: {test}\n{outcome}"
