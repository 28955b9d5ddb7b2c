"""The C copy sender under AddressSanitizer (issue 12).

``server/sfu/_copy_sender.c`` is built again with ``-fsanitize=address``
into a temporary directory, and the tests that exercise it (the fuzzed
writer, the input checks, the protected send on a real route) run in a
subprocess that loads that build in place of the installed one: Python is
not built with ASan, so the runtime is preloaded, and Python's allocator is
set to malloc so that bytes objects live where ASan watches. Any report, or
any failing test, fails this one. It never skips: without gcc and libasan it
fails and says what is missing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import server.sfu

_SOURCE = Path(server.sfu.__file__).parent / "_copy_sender.c"
_TESTS = Path(__file__).parent
# What runs on the ASan build: every test of the C types (test_copy_sender),
# the fan-out past a failing subscriber, the route test that protects and
# sends through a real socket, and transport-wide numbering.
_EXERCISED = [
    f"{_TESTS / 'test_copy_sender.py'}",
    f"{_TESTS / 'test_published_track.py'}",
    f"{_TESTS / 'test_aiortc_internals.py'}::"
    "test_copy_sender_protects_as_pylibsrtp_and_sends_on_the_route",
    f"{_TESTS / 'test_mtu.py'}::test_the_budget_fits_a_1500_byte_mtu_with_turn_framing",
    f"{_TESTS / 'test_transport_cc.py'}::"
    "test_every_copy_of_a_connection_is_numbered_once_and_logged",
]
# Put the ASan build where the installed module would be imported from.
_RUNNER = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("server.sfu._copy_sender", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
sys.modules["server.sfu._copy_sender"] = module
import server.sfu.copy_sender
assert server.sfu.copy_sender.CopySender is module.CopySender, "not the ASan build"
import pytest
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", *sys.argv[2:]]))
"""
_BOUND_S = 60


def _asan_runtime() -> str:
    path = subprocess.run(
        ["gcc", "-print-file-name=libasan.so"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if not os.path.isabs(path):
        pytest.fail("gcc has no libasan.so (install libasan for this gcc)")
    return path


@pytest.mark.asan
def test_the_copy_sender_under_address_sanitizer(tmp_path: Path) -> None:
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    built = tmp_path / f"_copy_sender{suffix}"
    compiled = subprocess.run(
        [
            "gcc",
            "-shared",
            "-fPIC",
            "-g",
            "-O1",
            "-fsanitize=address",
            "-fno-omit-frame-pointer",
            "-Wall",
            "-Wextra",
            "-Wno-missing-field-initializers",
            f"-I{sysconfig.get_paths()['include']}",
            str(_SOURCE),
            "-o",
            str(built),
        ],
        capture_output=True,
        text=True,
        timeout=_BOUND_S,
    )
    assert compiled.returncode == 0, compiled.stderr
    reports = tmp_path / "asan"
    environment = {
        **os.environ,
        "LD_PRELOAD": _asan_runtime(),
        # CPython's own allocations are not freed at exit: leaks would be its.
        # Reports go to files: pytest in the subprocess captures its stderr.
        "ASAN_OPTIONS": f"detect_leaks=0:halt_on_error=1:log_path={reports}",
        "PYTHONMALLOC": "malloc",
    }
    run = subprocess.run(
        [sys.executable, "-c", _RUNNER, str(built), *_EXERCISED],
        capture_output=True,
        text=True,
        env=environment,
        cwd=_TESTS.parent.parent.parent,
        timeout=_BOUND_S,
    )
    found = [path.read_text(errors="replace") for path in tmp_path.glob("asan.*")]
    assert not found, found[0][:6000]
    output = run.stdout + run.stderr
    assert "AddressSanitizer" not in output, output[-6000:]
    assert run.returncode == 0, output[-6000:]
    passed = re.search(r"(\d+) passed", run.stdout)
    # The ASan build really ran the C tests (not an empty selection).
    assert passed is not None and int(passed.group(1)) >= 10, run.stdout[-2000:]
