"""The book kernels as plain Python: a subset of tests/book under NUMBA_DISABLE_JIT=1.

DESIGN.md: kernels run under NUMBA_DISABLE_JIT=1 too, which makes them steppable in a
debugger. The run is a subprocess (numba reads the variable when it is imported) with few
hypothesis examples, so it stays quick.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BOOK_TESTS = Path(__file__).resolve().parent
SUBSET = [
    str(BOOK_TESTS / "test_book_props.py") + "::test_random_streams_match_reference",
    str(BOOK_TESTS / "test_book_refusals.py"),
    str(BOOK_TESTS / "test_book_capacity.py"),
    str(BOOK_TESTS / "test_book_adversarial.py") + "::test_executions_that_exactly_empty_a_level",
    str(BOOK_TESTS / "test_book_adversarial.py") + "::test_refs_that_share_one_home_slot",
    str(BOOK_TESTS / "test_book_crossing.py") + "::test_locked_and_crossed_per_instrument",
]


def test_book_kernels_run_as_plain_python():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", TICKPATH_TEST_EXAMPLES="10")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
         "-W", "ignore::RuntimeWarning", "--hypothesis-seed=0", "-k", "not 4096", *SUBSET],
        env=env, capture_output=True, text=True, timeout=300, cwd=BOOK_TESTS.parents[1])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout
