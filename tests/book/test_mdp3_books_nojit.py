"""The MDP3 book kernels as plain Python: a subset of the depth and order-book tests under
NUMBA_DISABLE_JIT=1 (steppable in a debugger). A subprocess, since numba reads the variable
when it is imported, with few hypothesis examples so it stays quick."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BOOK_TESTS = Path(__file__).resolve().parent
SUBSET = [
    str(BOOK_TESTS / "test_depth_books.py") + "::test_random_streams_match_reference",
    str(BOOK_TESTS / "test_depth_books.py") + "::test_refused_snapshot_changes_nothing",
    str(BOOK_TESTS / "test_depth_books.py") + "::test_merged_view_adds_equal_prices_and_takes_"
                                              "orders_from_outright_only",
    str(BOOK_TESTS / "test_depth_books.py") + "::test_kernel_called_from_compiled_code",
    str(BOOK_TESTS / "test_mbo_books.py") + "::test_random_streams_match_reference",
    str(BOOK_TESTS / "test_mbo_books.py") + "::test_refusals_change_nothing",
    str(BOOK_TESTS / "test_mbo_books.py") + "::test_clear_makes_orders_stale_and_compaction_"
                                            "reclaims_them",
    str(BOOK_TESTS / "test_mbo_books.py") + "::test_compaction_with_chains_that_wrap_past_the_"
                                            "table_end",
    str(BOOK_TESTS / "test_mbo_books.py") + "::test_snapshot_that_fits_only_once_the_"
                                            "instrument_is_cleared",
    str(BOOK_TESTS / "test_mbo_books.py") + "::test_kernel_called_from_compiled_code",
]


def test_mdp3_book_kernels_run_as_plain_python():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", TICKPATH_TEST_EXAMPLES="10")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
         "-W", "ignore::RuntimeWarning", "--hypothesis-seed=0", *SUBSET],
        env=env, capture_output=True, text=True, timeout=300, cwd=BOOK_TESTS.parents[1])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout
