"""tests/book: the compiled order books against tests/reference/book.py."""

import sys
from pathlib import Path

# the reference models live in tests/reference (importable as ``reference``)
_TESTS = str(Path(__file__).resolve().parents[1])
if _TESTS not in sys.path:
    sys.path.insert(0, _TESTS)
