"""The ring's kernels, wait strategies and owner as plain Python (NUMBA_DISABLE_JIT=1).

DESIGN.md: kernels run under NUMBA_DISABLE_JIT=1 too, which makes them steppable in a
debugger. numba reads the variable when it is imported, so the run is a subprocess: the other
tests of tests/ring (the model test with fewer examples), with the atomics' plain-indexing
fallbacks in place of the intrinsics.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
FILES = ["test_ring_kernels.py", "test_ring_model.py", "test_ring_owner.py",
         "test_ring_layout.py", "test_ring_atomics.py", "test_ring_wait.py"]


def test_ring_kernels_run_as_plain_python():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", TICKPATH_TEST_EXAMPLES="25")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
         "--hypothesis-seed=0", *(str(HERE / f) for f in FILES)],
        env=env, capture_output=True, text=True, timeout=300, cwd=HERE.parents[1])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout
