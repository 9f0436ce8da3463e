"""The risk kernels as plain Python: tests/risk under NUMBA_DISABLE_JIT=1 (DESIGN.md: kernels
run that way too, steppable in a debugger). A subprocess, since numba reads the variable
when it is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

RISK_TESTS = Path(__file__).resolve().parent


def test_risk_kernels_run_as_plain_python():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
         "--hypothesis-seed=0", "-k", "not nojit",
         str(RISK_TESTS / "test_new_order.py"), str(RISK_TESTS / "test_kill_switch.py")],
        env=env, capture_output=True, text=True, timeout=300, cwd=RISK_TESTS.parents[1])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout
