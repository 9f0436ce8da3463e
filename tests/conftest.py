"""Shared fixtures: the reference data beside the checkout, and the external referee tools.

The reference data (real captures, official specifications) lives in ``../shared/data``
beside the project checkout and is never copied into the project; tests that need it skip
with the reason when it is absent. Referee tools (tshark, pdftotext) skip the same way.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from numba.core.dispatcher import Dispatcher

#: ``<checkout>/../shared/data``
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The reference data folder; skips the test when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not found at {SHARED_DATA} (../shared/data beside the "
                    "checkout): real captures and specifications are not redistributed here")
    return SHARED_DATA


@pytest.fixture(scope="session")
def tshark() -> str:
    """Path of the tshark binary (Wireshark's dissectors as referee); skips when absent."""
    path = shutil.which("tshark")
    if path is None:
        pytest.skip("tshark is not installed (Debian: apt-get install tshark, or `make debs`)")
    return path


@pytest.fixture(scope="session")
def pdftotext() -> str:
    """Path of pdftotext (poppler-utils), used to read the specifications' tables."""
    path = shutil.which("pdftotext")
    if path is None:
        pytest.skip("pdftotext is not installed (Debian: apt-get install poppler-utils)")
    return path


def _signatures(prefix: str) -> dict[str, frozenset]:
    """Every signature each numba dispatcher in the loaded modules named ``prefix...`` holds
    now, compiled in this process or loaded from numba's cache."""
    seen: dict[int, Dispatcher] = {}
    for name, mod in list(sys.modules.items()):
        if name.startswith(prefix):
            for obj in list(vars(mod).values()):
                if isinstance(obj, Dispatcher):
                    seen[id(obj)] = obj
    return {f"{d.py_func.__module__}.{d.py_func.__qualname__}": frozenset(d.signatures)
            for d in seen.values()}


@pytest.fixture
def new_signatures() -> Callable[[], dict[str, list[str]]]:
    """Call it to mark a point, then again to get what numba compiled or loaded since, for
    tickpath's compiled functions: ``{function: [new signatures]}`` (empty: nothing). A
    stage that warmed up before serving should show nothing new once it serves."""
    mark = _signatures("tickpath.")

    def since() -> dict[str, list[str]]:
        nonlocal mark
        now = _signatures("tickpath.")
        out = {k: sorted(map(str, v - mark.get(k, frozenset()))) for k, v in now.items()}
        mark = now
        return {k: v for k, v in out.items() if v}
    return since
