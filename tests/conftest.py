"""Shared fixtures: the reference data beside the checkout, and the external referee tools.

The reference data (real captures, official specifications) lives in ``../shared/data``
beside the project checkout and is never copied into the project; tests that need it skip
with the reason when it is absent. Referee tools (tshark, pdftotext) skip the same way.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

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
